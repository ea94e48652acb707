"""The IMAP watcher: reads the organiser's mailbox and hands each new message to triage, once.

imapclient is synchronous, so every network call runs in a worker thread (``asyncio.to_thread``)
and the event loop stays free for the other channels. One pass (``run_once``) selects the
mailbox, compares its UIDVALIDITY with the stored cursor, fetches the messages above the cursor
(``BODY.PEEK[]``: reading does not mark them read), triages each one, applies it in one database
transaction together with the cursor (``mail.inbound``), and only then flags it on the server
(``\\Seen`` and ``$DondocProcessed``) and optionally moves it to the processed folder. Mail
that is not ours (triage says "other") gets the keyword only: it stays unread, and in place, for
the person who reads the organiser's mailbox. Nothing is ever deleted. A crash between the
commit and the flag leaves the message recorded and unflagged; the next pass flags it without
processing it again.

``run_forever`` repeats passes and waits in between with IDLE when the server offers it (in
bounded slices, so a stop request is seen within a second and the IDLE is renewed before servers
drop it) and by polling every ``ImapConfig.poll_seconds`` otherwise. When the server or the
database goes away it reconnects with exponential backoff and jitter (Promise 9); sleep, clock
and randomness are injected so tests can drive it.

The password is sent once, at LOGIN, and never appears in a log line or an exception: every
error leaves this module as ``ImapError``, whose text is scrubbed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mail.config import ImapConfig
from mail.inbound import (
    Applied,
    InboundRef,
    KnownMessages,
    apply_inbound,
    digest_of,
    has_other_generations,
    load_known,
    read_cursor,
    reset_cursor,
)
from mail.triage import CompletionRule, Other, Result, triage
from storage.backoff import Backoff, sleep_or_stop
from storage.errors import DondocError
from storage.models import InboundMessage, utcnow

log = logging.getLogger(__name__)

KEYWORD = "$DondocProcessed"
SEEN = r"\Seen"
# Kinds a person should still see as unread in the organiser's mailbox: mail that is not ours.
LEFT_UNREAD = frozenset({"other"})

P = ParamSpec("P")
T = TypeVar("T")


class ImapError(DondocError):
    """The IMAP server could not be reached, refused us, or broke off. Safe to log and show."""


@dataclass(slots=True)
class PassReport:
    """What one pass did."""

    uidvalidity: int = 0
    # True when the mailbox's UIDVALIDITY differed from the stored cursor.
    reset: bool = False
    fetched: int = 0
    processed: int = 0
    # Recorded before: under this UID (a re-run) or, after a reset, under an older UID.
    already: int = 0
    duplicates: int = 0
    flagged: int = 0
    moved: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    applied: list[Applied] = field(default_factory=list)


def tls_context(config: ImapConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not config.verify_tls:
        # Only for test servers with self-signed certificates; production keeps verification.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def scrub(text: str, config: ImapConfig) -> str:
    """``text`` without the password, however a library put it there."""
    if config.password:
        text = text.replace(config.password, "***")
    return text


def connect(config: ImapConfig) -> IMAPClient:
    """Open, secure and log in (blocking: call it in a thread). Raises the library's errors."""
    context = tls_context(config)
    client = IMAPClient(
        config.host,
        port=config.port,
        ssl=config.security == "ssl",
        ssl_context=context if config.security == "ssl" else None,
        timeout=config.timeout,
    )
    try:
        if config.security == "starttls":
            client.starttls(context)
        client.login(config.username, config.password or "")
    except BaseException:
        _quietly(client.shutdown)
        raise
    return client


def _quietly(call: Callable[[], object]) -> None:
    try:
        call()
    except (IMAPClientError, OSError) as exc:
        log.debug("ignored while closing an IMAP connection: %s", type(exc).__name__)


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _has_news(responses: Sequence[Any]) -> bool:
    """New mail (EXISTS, RECENT), or the server saying goodbye (BYE): either way, stop idling."""
    for response in responses:
        if not isinstance(response, tuple) or not response:
            continue
        if response[0] == b"BYE" or (len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")):
            return True
    return False


class ImapWatcher:
    """Watches one mailbox. Use ``async with`` (or ``aclose``) so the connection is logged out."""

    def __init__(
        self,
        config: ImapConfig,
        sessions: async_sessionmaker[AsyncSession],
        *,
        secret: bytes | None = None,
        completion_rules: Sequence[CompletionRule] = (),
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
        idle: bool | None = None,
        idle_slice: float = 1.0,
        idle_renew: float = 600.0,
        batch_size: int = 100,
        connector: Callable[[ImapConfig], IMAPClient] = connect,
    ) -> None:
        self.config = config
        self._sessions = sessions
        self._secret = secret
        self._rules = tuple(completion_rules)
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._monotonic = monotonic
        self._backoff = backoff or Backoff()
        # None: IDLE when the server announces it. False forces polling (servers whose IDLE
        # is broken behind a proxy); True insists on IDLE and fails where it is missing.
        self._idle = idle
        self._idle_slice = idle_slice
        self._idle_renew = idle_renew
        self._batch_size = batch_size
        self._connector = connector
        self._client: IMAPClient | None = None
        self._folder_ready = False
        # Messages recorded under earlier UIDVALIDITYs of the mailbox, loaded when needed.
        self._known: KnownMessages | None = None
        self._known_for: int | None = None
        # The highest UID the last pass looked at; IDLE starts only if nothing is above it.
        self._seen_uid: int | None = None
        self.failures = 0

    async def __aenter__(self) -> ImapWatcher:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # --- the connection ----------------------------------------------------------------------

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one blocking imapclient call in a thread; any failure becomes ImapError."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (IMAPClientError, OSError, ssl.SSLError, EOFError) as exc:
            await self._drop()
            detail = scrub(f"{type(exc).__name__}: {exc}", self.config)
            raise ImapError(
                f"Lỗi khi làm việc với hộp thư IMAP {self.config.host}:{self.config.port}: "
                f"{detail}",
                f"IMAP {self.config.host}:{self.config.port}: {detail}",
            ) from None

    async def _connected(self) -> IMAPClient:
        if self._client is None:
            self._client = await self._call(self._connector, self.config)
            self._folder_ready = False
            log.info(
                "IMAP connected to %s:%s as %s",
                self.config.host,
                self.config.port,
                self.config.username,
            )
        return self._client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(_quietly, client.shutdown)

    async def aclose(self) -> None:
        """Log out politely (servers keep a dropped session around) and close."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(client.logout), self.config.timeout)
        except (IMAPClientError, OSError, ssl.SSLError, EOFError, TimeoutError) as exc:
            log.debug("IMAP logout failed (%s); closing the socket", type(exc).__name__)
            await asyncio.to_thread(_quietly, client.shutdown)

    async def _use_idle(self, client: IMAPClient) -> bool:
        if self._idle is not None:
            return self._idle
        return bool(await self._call(client.has_capability, "IDLE"))

    # --- one pass ----------------------------------------------------------------------------

    async def run_once(self) -> PassReport:
        """One pass over the mailbox: everything above the cursor, processed and flagged."""
        client = await self._connected()
        mailbox = self.config.mailbox
        selected = await self._call(client.select_folder, mailbox)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        report = PassReport(uidvalidity=uidvalidity)
        last_uid = await self._cursor(uidvalidity, report)
        found = await self._call(client.search, ["UID", f"{last_uid + 1}:*"])
        # "n:*" always matches the last message, even when its UID is below n (RFC 3501).
        uids = sorted(int(u) for u in found if int(u) > last_uid)
        for batch in _chunks(uids, self._batch_size):
            await self._process_batch(client, uidvalidity, batch, report)
        self._seen_uid = max([last_uid, *uids])
        await self._heal_flags(client, uidvalidity, self._seen_uid, report)
        if report.processed or report.reset:
            log.info(
                "IMAP %s: %d new message(s) %s%s",
                mailbox,
                report.processed,
                dict(report.kinds),
                " after a UIDVALIDITY change" if report.reset else "",
            )
        return report

    async def _cursor(self, uidvalidity: int, report: PassReport) -> int:
        mailbox = self.config.mailbox
        async with self._sessions() as session, session.begin():
            cursor = await read_cursor(session, mailbox)
            if cursor is not None and cursor.uidvalidity == uidvalidity:
                last_uid = cursor.last_uid
            else:
                old = await reset_cursor(session, mailbox, uidvalidity, now=self._clock())
                report.reset = old is not None
                if report.reset:
                    log.warning(
                        "IMAP %s: UIDVALIDITY changed from %s to %s; reading the mailbox again, "
                        "skipping messages already processed",
                        mailbox,
                        old,
                        uidvalidity,
                    )
                last_uid = 0
            if self._known_for != uidvalidity or report.reset:
                self._known_for = uidvalidity
                self._known = (
                    await load_known(session, mailbox, except_uidvalidity=uidvalidity)
                    if await has_other_generations(session, mailbox, uidvalidity)
                    else None
                )
        return last_uid

    async def _triage(self, raw: bytes) -> Result:
        try:
            return await asyncio.to_thread(
                triage, raw, secret=self._secret, completion_rules=self._rules
            )
        except Exception as exc:
            # One message that breaks the parser must not stop the mailbox forever: it is
            # recorded as unreadable (and left unread for a person), and the pass goes on.
            log.exception("triage failed on a message; recording it as unreadable")
            return Other(reason=f"triage failed: {type(exc).__name__}")

    async def _process_batch(
        self, client: IMAPClient, uidvalidity: int, batch: list[int], report: PassReport
    ) -> None:
        fetched = await self._call(client.fetch, batch, ["BODY.PEEK[]"])
        done: dict[int, str] = {}
        try:
            for uid in batch:
                raw = fetched.get(uid, {}).get(b"BODY[]")
                if not isinstance(raw, bytes):
                    continue  # expunged between SEARCH and FETCH
                report.fetched += 1
                result = await self._triage(raw)
                async with self._sessions() as session, session.begin():
                    applied = await apply_inbound(
                        session,
                        InboundRef(self.config.mailbox, uidvalidity, uid),
                        result,
                        now=self._clock(),
                        digest=digest_of(raw),
                        known=self._known,
                    )
                report.applied.append(applied)
                if applied.already_recorded:
                    report.already += 1
                elif applied.duplicate_of is not None:
                    report.duplicates += 1
                else:
                    report.processed += 1
                    report.kinds[result.kind] += 1
                done[uid] = result.kind
        finally:
            # Whatever committed is flagged, even when a later message in the batch failed.
            if done and self._client is client:
                await self._finish(client, done, report)

    async def _finish(self, client: IMAPClient, done: dict[int, str], report: PassReport) -> None:
        handled = sorted(uid for uid, kind in done.items() if kind not in LEFT_UNREAD)
        others = sorted(uid for uid, kind in done.items() if kind in LEFT_UNREAD)
        if handled:
            await self._call(client.add_flags, handled, [SEEN, KEYWORD], silent=True)
        if others:
            await self._call(client.add_flags, others, [KEYWORD], silent=True)
        report.flagged += len(done)
        folder = self.config.processed_folder
        if folder and handled:
            await self._ensure_folder(client, folder)
            if await self._call(client.has_capability, "MOVE"):
                await self._call(client.move, handled, folder)
            else:
                # Without MOVE, moving means copy + delete + expunge; we never delete, so the
                # original stays where it is, flagged.
                await self._call(client.copy, handled, folder)
            report.moved += len(handled)

    async def _ensure_folder(self, client: IMAPClient, folder: str) -> None:
        if self._folder_ready:
            return
        if not await self._call(client.folder_exists, folder):
            await self._call(client.create_folder, folder)
            log.info("IMAP: created the folder %s for processed messages", folder)
        self._folder_ready = True

    async def _heal_flags(
        self, client: IMAPClient, uidvalidity: int, last_uid: int, report: PassReport
    ) -> None:
        """Flag messages recorded earlier whose flagging was cut short (a crash, a dropped link)."""
        if last_uid < 1:
            return
        unflagged = await self._call(client.search, ["UNKEYWORD", KEYWORD, "UID", f"1:{last_uid}"])
        uids = sorted(int(u) for u in unflagged if int(u) <= last_uid)[:1000]
        if not uids:
            return
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(InboundMessage.uid, InboundMessage.kind).where(
                        InboundMessage.mailbox == self.config.mailbox,
                        InboundMessage.uidvalidity == uidvalidity,
                        InboundMessage.uid.in_(uids),
                    )
                )
            ).all()
        recorded = {int(uid): kind for uid, kind in rows}
        if recorded:
            await self._finish(client, recorded, report)

    # --- the loop ----------------------------------------------------------------------------

    async def wait_for_news(self, stop: asyncio.Event) -> None:
        """IDLE until the server reports new mail, a renewal is due or ``stop`` is set;
        or, without IDLE, sleep one poll interval."""
        client = await self._connected()
        if not await self._use_idle(client):
            await sleep_or_stop(self.config.poll_seconds, stop, sleep=self._sleep)
            return
        # Mail that arrived during the pass was announced (EXISTS) in the answer to one of its
        # commands, where imapclient keeps it to itself; IDLE would then wait for the next
        # message. Looking once more closes that gap; what comes after is announced in IDLE.
        if self._seen_uid is not None:
            above = await self._call(client.search, ["UID", f"{self._seen_uid + 1}:*"])
            if any(int(uid) > self._seen_uid for uid in above):
                return
        await self._call(client.idle)
        started = self._monotonic()
        quiet_returns = 0
        try:
            while not stop.is_set():
                asked = self._monotonic()
                responses = await self._call(client.idle_check, timeout=self._idle_slice)
                if _has_news(responses):
                    return
                if self._monotonic() - started >= self._idle_renew:
                    return  # servers end an IDLE after ~30 minutes; renew well before
                # imapclient returns at once, with nothing, when the server has closed the
                # socket; a run of those means the connection is gone.
                quick = not responses and self._monotonic() - asked < self._idle_slice / 10
                quiet_returns = quiet_returns + 1 if quick else 0
                if quiet_returns >= 3:
                    return
        finally:
            still_connected = self._client is client
            if still_connected:
                await self._call(client.idle_done)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Passes until ``stop`` is set, surviving the server and the database going away."""
        try:
            while not stop.is_set():
                try:
                    await self.run_once()
                    self.failures = 0
                    await self.wait_for_news(stop)
                except (ImapError, SQLAlchemyError, OSError) as exc:
                    self.failures += 1
                    delay = self._backoff.delay(self.failures, self._rand())
                    log.warning(
                        "IMAP watcher: %s; trying again in %.1f s (failure %d)",
                        scrub(str(exc), self.config),
                        delay,
                        self.failures,
                    )
                    await self._drop()
                    await sleep_or_stop(delay, stop, sleep=self._sleep)
        finally:
            await self.aclose()
