"""An in-process SMTP server for the mail tests: aiosmtpd on a loopback port, failures on demand.

``Smtpd`` runs in the test's own event loop (no thread, no sleeps), with STARTTLS or implicit TLS
on a self-signed certificate made by the ``openssl`` command, and AUTH against a dict of users.
What it should refuse is declared up front, per address:

    server.rcpt_failures["gone@x.test"] = Fail("550 5.1.1 User unknown")
    server.rcpt_failures["busy@x.test"] = Fail("421 4.7.0 Try later")     # closes the session
    server.data_failures["spam@x.test"] = Fail("554 5.7.1 Rejected as spam")
    server.sender_failures["other@x.test"] = Fail("553 5.7.1 Sender not owned by user")
    server.drop_mid_data = 1          # the next DATA: 354, one line read, connection cut

It records every message it accepted (``received``) and counts the connections it saw, so a
test can tell a reused connection from a new one. ``close_connections`` plays the server that
hangs up idle sessions. ``SilentServer`` accepts and never greets, for time-outs.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session

from mail.config import Security, SmtpConfig

HOST = "127.0.0.1"
_ADDRESS = re.compile(r"<([^>]*)>")


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (certificate, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the TLS tests need the openssl command (Debian: apt install openssl)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@dataclass
class Fail:
    """A reply to give instead of accepting; ``times`` None means every time."""

    reply: str
    times: int | None = None

    def take(self) -> bool:
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    connection: int
    tls: bool
    authenticated: bool


class _InjectingSMTP(SMTP):  # type: ignore[misc]
    """aiosmtpd's protocol with the failures of its ``Smtpd`` applied before the real work."""

    def __init__(self, owner: Smtpd, **kwargs: Any) -> None:
        super().__init__(_Handler(owner), **kwargs)
        self.owner = owner
        self.number = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # called again after STARTTLS
        super().connection_made(transport)
        if first:
            self.owner.connections += 1
            self.number = self.owner.connections
            self.owner.live.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.owner.live.discard(self)
        super().connection_lost(error)

    def _address(self, arg: str) -> str:
        match = _ADDRESS.search(arg)
        return (match[1] if match else arg).strip().lower()

    async def _refuse(self, failure: Fail | None) -> bool:
        if failure is None or not failure.take():
            return False
        self.owner.refused += 1
        await self.push(failure.reply)
        if failure.reply.startswith("421"):  # "closing transmission channel"
            self.transport.close()
        return True

    async def smtp_MAIL(self, arg: str) -> None:
        ready = arg and self.session is not None and self.session.host_name
        if ready and await self._refuse(self.owner.sender_failures.get(self._address(arg))):
            return
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str) -> None:
        ready = arg and self.envelope.mail_from is not None
        if ready and await self._refuse(self.owner.rcpt_failures.get(self._address(arg))):
            return
        await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg: str) -> None:
        if self.owner.drop_mid_data > 0 and self.envelope.rcpt_tos:
            self.owner.drop_mid_data -= 1
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readuntil(b"\r\n")  # the first line of the message arrives
            self.owner.dropped += 1
            self.transport.abort()
            return
        await super().smtp_DATA(arg)


class _Handler:
    def __init__(self, owner: Smtpd) -> None:
        self.owner = owner

    async def handle_DATA(self, server: _InjectingSMTP, session: Session, envelope: Any) -> str:
        for address in envelope.rcpt_tos:
            failure = self.owner.data_failures.get(address.lower())
            if failure is not None and failure.take():
                self.owner.refused += 1
                return failure.reply
        self.owner.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                data=bytes(envelope.original_content),
                connection=server.number,
                tls=session.ssl is not None or self.owner.security == "ssl",
                authenticated=bool(session.authenticated),
            )
        )
        return f"250 2.0.0 Ok: queued as T{len(self.owner.received)}"


@dataclass
class Smtpd:
    """The server; use ``async with Smtpd(...) as server`` and ``server.config()``."""

    security: Security = "none"
    tls: ssl.SSLContext | None = None
    users: dict[str, str] = field(default_factory=dict)
    rcpt_failures: dict[str, Fail] = field(default_factory=dict)
    data_failures: dict[str, Fail] = field(default_factory=dict)
    sender_failures: dict[str, Fail] = field(default_factory=dict)
    drop_mid_data: int = 0
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    refused: int = 0
    dropped: int = 0
    live: set[_InjectingSMTP] = field(default_factory=set)
    port: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        if self.security != "none" and self.tls is None:
            raise ValueError("a TLS server needs a certificate (tls=server_tls_context(...))")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: self._protocol(loop),
            host=HOST,
            port=0,
            ssl=self.tls if self.security == "ssl" else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _protocol(self, loop: asyncio.AbstractEventLoop) -> _InjectingSMTP:
        starttls = self.security == "starttls"
        return _InjectingSMTP(
            self,
            hostname="smtpd.test",
            ident="dondoc test smtpd",
            tls_context=self.tls if starttls else None,
            require_starttls=starttls,
            # AUTH is required where TLS protects it; aiosmtpd sees implicit TLS as plain text,
            # so there it is offered without TLS checks (and without being required).
            auth_required=bool(self.users) and starttls,
            auth_require_tls=starttls,
            authenticator=self._authenticate,
            loop=loop,
        )

    def _authenticate(
        self, server: Any, session: Session, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if login in self.users and self.users[login] == password:
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)

    def config(self, **changes: Any) -> SmtpConfig:
        """Client settings for this server; ``changes`` override any field."""
        base = SmtpConfig(
            host=HOST,
            port=self.port,
            security=self.security,
            username=next(iter(self.users), None),
            password=next(iter(self.users.values()), None),
            per_minute=60_000,
            connections=2,
            timeout=5.0,
            verify_tls=False,
        )
        return replace(base, **changes)

    def close_connections(self, reply: str | None = None) -> int:
        """Hang up every open session, first saying ``reply`` (e.g. "421 4.4.2 Idle timeout")
        when given; how many were closed."""
        closing = list(self.live)
        for protocol in closing:
            if reply is not None:
                protocol.transport.write(reply.encode() + b"\r\n")
            protocol.transport.close()
        return len(closing)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        handlers = [p._handler_coroutine for p in self.live if p._handler_coroutine is not None]
        for protocol in list(self.live):
            # After a failed TLS handshake the TLS transport never reports the loss: cut the
            # socket underneath too, and stop the session's task ourselves.
            for transport in (protocol.transport, protocol._original_transport):
                if transport is not None:
                    transport.abort()
        for handler in handlers:
            handler.cancel()
        await self._server.wait_closed()
        if handlers:
            await asyncio.wait(handlers, timeout=5)


class SilentServer:
    """Accepts connections and never says a word: every client time-out fires against it."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        await reader.read()  # until the client gives up and closes

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._hold, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()
