"""A local SMTP server that keeps every message it receives as an .eml file.

The demo's stand-in for the organiser's real mail server: invitations really go over SMTP on
the loopback interface, and a newcomer can open what was sent in any mail client.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.smtp import SMTP, Envelope, Session


class _Keeper:
    def __init__(self, folder: Path, refuse: frozenset[str]) -> None:
        self.folder = folder
        self.refuse = refuse
        self.count = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            # What a real server says for a mailbox that does not exist.
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        recipient = envelope.rcpt_tos[0] if envelope.rcpt_tos else "unknown"
        name = f"{self.count:05d}-{recipient.replace('@', '_at_')}.eml"
        content: Any = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else str(content).encode()
        await asyncio.to_thread((self.folder / name).write_bytes, data)
        return "250 2.0.0 Ok: kept"


class MailSink:
    """``async with MailSink(folder) as sink:`` listens on 127.0.0.1:``sink.port``."""

    def __init__(self, folder: Path, *, refuse: frozenset[str] = frozenset()) -> None:
        """``refuse``: addresses answered with 550 5.1.1, as for a mailbox that does not exist."""
        self.folder = folder
        self._keeper = _Keeper(folder, frozenset(a.lower() for a in refuse))
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def received(self) -> int:
        return self._keeper.count

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self._keeper, hostname="dondoc-demo", data_size_limit=10_000_000),
            "127.0.0.1",
            0,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
