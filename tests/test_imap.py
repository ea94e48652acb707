"""The IMAP watcher against a real Dovecot, reading real DSNs and auto-replies from a real Postfix.

The scenario is sent once per session (tests/mailserver.py): an invitation to an unknown user,
one to a mailbox over quota, one to a user with a Sieve vacation rule, one to a domain whose
server refuses connections, a person's reply with the signed Reply-To tag, a completion notice
from the survey platform and an unrelated mail. Each test copies what came back into a folder
of its own and points the watcher at it, on a fresh database (SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mail.config import ImapConfig
from mail.imap import KEYWORD, ImapError, ImapWatcher, connect
from mail.imapcheck import check_imap
from mail.inbound import read_cursor
from mail.signing import make_tag, tagged_address
from mail.triage import CompletionRule
from storage.backoff import Backoff
from storage.db import session_factory
from storage.models import (
    Campaign,
    Contact,
    Delivery,
    DeliveryState,
    EmailHealth,
    Event,
    Group,
    InboundMessage,
    Respondent,
    RespondentState,
    Unit,
)
from storage.outbox import enqueue
from storage.roster import import_roster
from storage.text import fold
from tests.mailserver import (
    DOMAIN,
    PASSWORD,
    SECRET,
    SURVEY_DOMAIN,
    MailServers,
    Traffic,
    mail_servers,  # noqa: F401 - a fixture
    organiser_address,
    real_traffic,  # noqa: F401 - a fixture
)
from tests.sample import PEOPLE, roster_file

NOW = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)
RULE = CompletionRule(sender=f"@{SURVEY_DOMAIN}", pattern=r"Mã phiếu:\s*(?P<token>[\w-]{16,})")
DEADLINE = 30.0


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
def folder(real_traffic: Traffic) -> str:  # noqa: F811
    """A folder of the test's own holding a copy of everything the scenario brought back."""
    name = f"T{uuid.uuid4().hex[:12]}"
    real_traffic.servers.copy_folder(real_traffic.folder, name)
    return name


@pytest.fixture
async def world(
    session: AsyncSession,
    province: Campaign,
    tmp_path: Path,
    real_traffic: Traffic,  # noqa: F811
) -> dict[int, Respondent]:
    """The sample province, plus the scenario's people under the ids their tags carry."""
    await import_roster(session, province, roster_file(tmp_path, PEOPLE), actor="test")
    unit = await session.scalar(select(Unit).where(Unit.name == "Sở Nội vụ"))
    group = await session.scalar(select(Group).where(Group.campaign_id == province.id))
    assert unit is not None and group is not None
    names = {
        real_traffic.unknown_id: "Lường Văn Ma",
        real_traffic.full_id: "Quàng Thị Đầy",
        real_traffic.vacation_id: "Hà Văn Vắng",
        real_traffic.unreachable_id: "Cầm Thị Xa",
        real_traffic.replier_id: "Nguyễn Thị Alice",
        real_traffic.completed_id: "Tòng Văn Xong",
    }
    for rid, email in real_traffic.emails.items():
        token = (
            real_traffic.completion_token
            if rid == real_traffic.completed_id
            else f"tok-{rid}-{uuid.uuid4().hex}"
        )
        session.add(
            Respondent(
                id=rid,
                campaign_id=province.id,
                full_name=names[rid],
                name_key=fold(names[rid]),
                unit_id=unit.id,
                group_id=group.id,
                email=email,
                token=token,
                state=RespondentState.INVITED,
            )
        )
    await session.flush()
    for rid in (real_traffic.unknown_id, real_traffic.full_id):
        await enqueue(
            session,
            campaign_id=province.id,
            channel="email",
            reason="reminder",
            dedupe_key=f"reminder:1:{rid}:email",
            due_at=NOW,
            respondent_id=rid,
        )
    await session.commit()
    return {p.id: p for p in await session.scalars(select(Respondent).where(Respondent.id > 9000))}


def watcher_for(
    servers: MailServers,
    folder: str,
    sessions: async_sessionmaker[AsyncSession],
    **kwargs: Any,
) -> ImapWatcher:
    config = kwargs.pop("config", None) or servers.imap_config(folder)
    return ImapWatcher(
        config, sessions, secret=SECRET, completion_rules=[RULE], clock=lambda: NOW, **kwargs
    )


async def count(session: AsyncSession, model: type[Any], *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def event_kinds(session: AsyncSession, respondent_id: int) -> list[str]:
    rows = await session.scalars(
        select(Event.kind).where(Event.respondent_id == respondent_id).order_by(Event.id)
    )
    return list(rows.all())


def new_reply(n: int) -> bytes:
    message = EmailMessage()
    message["From"] = f"alice@{DOMAIN}"
    message["To"] = tagged_address(organiser_address(), make_tag(SECRET, "r", 9005))
    message["Subject"] = f"Re: câu hỏi số {n}"
    message["Message-ID"] = f"<later-{n}-{uuid.uuid4().hex}@{DOMAIN}>"
    message.set_content(f"Câu trả lời số {n}.")
    return message.as_bytes()


async def recorded(sessions: async_sessionmaker[AsyncSession], n: int) -> bool:
    async with sessions() as s:
        return await count(s, InboundMessage) >= n


@contextlib.asynccontextmanager
async def running(watcher: ImapWatcher, stop: asyncio.Event) -> AsyncIterator[None]:
    """``run_forever`` in a task that is stopped and awaited however the test ends."""
    task = asyncio.create_task(watcher.run_forever(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Bounded polling of the database while a real server delivers."""
    deadline = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


# --- one pass over real mail -----------------------------------------------------------------


async def test_real_bounces_auto_replies_and_replies_are_told_apart_and_applied(
    sessions: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    world: dict[int, Respondent],
    real_traffic: Traffic,  # noqa: F811
    folder: str,
) -> None:
    servers, t = real_traffic.servers, real_traffic
    async with watcher_for(servers, folder, sessions) as watcher:
        report = await watcher.run_once()
    assert report.processed == real_traffic.count and report.fetched == real_traffic.count
    assert dict(report.kinds) == {
        "bounce": 3,  # 5.1.1, 5.2.2, and the unreachable domain given up (4.4.1)
        "delayed": 1,
        "auto_reply": 1,
        "reply": 1,
        "completion": 1,
        "other": 1,
    }
    session.expire_all()  # the test's own session still holds the people as they were
    people = {
        p.id: p for p in await session.scalars(select(Respondent).where(Respondent.id > 9000))
    }
    # Unknown user: address bad, pending email cancelled, focal point and IT told by name.
    assert people[t.unknown_id].email_health == EmailHealth.BOUNCED
    assert await event_kinds(session, t.unknown_id) == ["bounced"]
    reminders = {
        d.respondent_id: d.state
        for d in await session.scalars(select(Delivery).where(Delivery.reason == "reminder"))
    }
    assert reminders == {t.unknown_id: DeliveryState.CANCELLED, t.full_id: DeliveryState.QUEUED}
    contacts = {c.id: c.full_name for c in await session.scalars(select(Contact))}
    alerts = (
        await session.scalars(select(Delivery).where(Delivery.reason == "bounce_alert"))
    ).all()
    assert sorted(contacts[a.contact_id or 0] for a in alerts) == ["Bùi Quang Huy", "Vũ Thị Lan"]
    assert {a.payload["person"]["full_name"] for a in alerts} == {"Lường Văn Ma"}
    assert {a.payload["bounce_class"] for a in alerts} == {"bad_address"}
    # Over quota: a full mailbox, counted, nothing cancelled, nobody alerted.
    assert people[t.full_id].email_health == EmailHealth.FULL
    assert await event_kinds(session, t.full_id) == ["mailbox_full"]
    # The vacation rule: an auto-reply, never a bounce nor a reply.
    assert people[t.vacation_id].email_health == EmailHealth.OK
    assert await event_kinds(session, t.vacation_id) == ["auto_reply"]
    # The unreachable domain: delayed, then given up on a temporary error; the address stays.
    assert people[t.unreachable_id].email_health == EmailHealth.OK
    assert sorted(await event_kinds(session, t.unreachable_id)) == [
        "bounce_transient",
        "mail_delayed",
    ]
    # The human reply: recorded with the person's own words, forwarded to the focal point.
    reply = await session.scalar(select(Event).where(Event.kind == "reply"))
    assert reply is not None and reply.respondent_id == t.replier_id
    assert reply.data["excerpt"] == (
        "Tôi đã chuyển công tác sang Sở Tư pháp từ tháng 11, đề nghị cập nhật danh sách."
    )
    forward = await session.scalar(select(Delivery).where(Delivery.reason == "reply_forward"))
    assert forward is not None and contacts[forward.contact_id or 0] == "Vũ Thị Lan"
    # The completion notice: answered, by email.
    done = people[t.completed_id]
    assert (done.state, done.answer_source) == (RespondentState.ANSWERED, "email")
    # Everything recorded once, the cursor at the last UID, every message flagged; only the
    # mail that is not ours stays unread for the organiser.
    assert await count(session, InboundMessage) == real_traffic.count
    cursor = await read_cursor(session, folder)
    flags = servers.flags(folder)
    assert cursor is not None and cursor.last_uid == max(flags)
    assert all(KEYWORD in f for f in flags.values())
    unread = [uid for uid, f in flags.items() if "\\Seen" not in f]
    other = await session.scalar(select(InboundMessage).where(InboundMessage.kind == "other"))
    assert other is not None and unread == [other.uid]


async def test_each_message_is_processed_once_across_passes_restarts_and_crashes(
    sessions: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    world: dict[int, Respondent],
    real_traffic: Traffic,  # noqa: F811
    folder: str,
) -> None:
    servers = real_traffic.servers
    async with watcher_for(servers, folder, sessions) as first:
        assert (await first.run_once()).processed == real_traffic.count
        again = await first.run_once()
        assert (again.fetched, again.processed) == (0, 0)
    events_before = await count(session, Event)
    deliveries_before = await count(session, Delivery)
    # A crash between the commit and the flags: the message is recorded but unflagged.
    reply = await session.scalar(select(InboundMessage).where(InboundMessage.kind == "reply"))
    assert reply is not None
    servers.remove_flags(folder, reply.uid, f"\\Seen {KEYWORD}")
    async with watcher_for(servers, folder, sessions) as restarted:
        report = await restarted.run_once()
    assert (report.fetched, report.processed, report.flagged) == (0, 0, 1)
    assert {"\\Seen", KEYWORD} <= servers.flags(folder)[reply.uid]
    assert await count(session, Event) == events_before
    assert await count(session, Delivery) == deliveries_before
    assert await count(session, InboundMessage) == real_traffic.count


async def test_a_uidvalidity_change_is_recorded_and_nothing_acts_twice(
    sessions: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    world: dict[int, Respondent],
    real_traffic: Traffic,  # noqa: F811
    folder: str,
) -> None:
    servers = real_traffic.servers
    async with watcher_for(servers, folder, sessions) as watcher:
        first = await watcher.run_once()
        events_before = await count(session, Event)
        servers.set_uidvalidity(folder, first.uidvalidity + 1000)
        servers.append(folder, new_reply(1))
        try:
            report = await watcher.run_once()
        except ImapError:
            # Dovecot may end the session of a mailbox whose UIDVALIDITY changed under it.
            report = await watcher.run_once()
    assert report.reset and report.uidvalidity == first.uidvalidity + 1000
    assert (report.duplicates, report.processed) == (real_traffic.count, 1)
    kinds = (await session.scalars(select(Event.kind).order_by(Event.id))).all()
    assert kinds[events_before:] == ["mail_uidvalidity_changed", "reply"]
    assert await count(session, Event, Event.kind == "bounced") == 1
    cursor = await read_cursor(session, folder)
    assert cursor is not None and cursor.uidvalidity == first.uidvalidity + 1000
    assert await count(session, InboundMessage) == 2 * real_traffic.count + 1


async def test_processed_mail_can_be_moved_to_a_folder(
    sessions: async_sessionmaker[AsyncSession],
    world: dict[int, Respondent],
    real_traffic: Traffic,  # noqa: F811
    folder: str,
) -> None:
    servers = real_traffic.servers
    done = f"{folder}-done"
    config = servers.imap_config(folder, processed_folder=done)
    async with watcher_for(servers, folder, sessions, config=config) as watcher:
        report = await watcher.run_once()
    assert report.moved == real_traffic.count - 1
    # The organiser's own mail stays where it was; nothing was deleted.
    assert servers.count(folder) == 1 and servers.count(done) == real_traffic.count - 1


# --- the loop --------------------------------------------------------------------------------


@pytest.mark.parametrize("idle", [None, False], ids=["idle", "polling"])
async def test_the_loop_picks_up_new_mail_and_stops_promptly(
    sessions: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    world: dict[int, Respondent],
    real_traffic: Traffic,  # noqa: F811
    folder: str,
    idle: bool | None,
) -> None:
    servers = real_traffic.servers
    idles: list[str] = []
    arrived_mid_pass: list[bytes] = []

    def spying_connect(config: ImapConfig) -> IMAPClient:
        client = connect(config)
        real_idle, real_add_flags = client.idle, client.add_flags

        def idle_spy() -> Any:
            idles.append(config.mailbox)
            return real_idle()

        def add_flags_spy(*args: Any, **kwargs: Any) -> Any:
            if not arrived_mid_pass:
                # Mail arriving while a pass runs is announced in the answer to the pass's own
                # commands, not in the IDLE that follows: it must not wait for the next mail.
                arrived_mid_pass.append(new_reply(20))
                servers.append(folder, arrived_mid_pass[0])
            return real_add_flags(*args, **kwargs)

        client.idle = idle_spy
        client.add_flags = add_flags_spy
        return client

    stop = asyncio.Event()
    watcher = watcher_for(
        servers, folder, sessions, idle=idle, idle_slice=0.2, connector=spying_connect
    )
    async with running(watcher, stop):
        await eventually(lambda: recorded(sessions, real_traffic.count + 1), "the first passes")
        servers.append(folder, new_reply(2))
        await eventually(lambda: recorded(sessions, real_traffic.count + 2), "the new message")
        started = time.monotonic()
    assert time.monotonic() - started < 2.0
    # Dovecot offers IDLE, so the watcher used it unless told to poll.
    assert bool(idles) == (idle is None)
    assert await count(session, Event, Event.kind == "reply") == 3


async def test_the_loop_reconnects_with_backoff_after_failures_and_drops(
    sessions: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    world: dict[int, Respondent],
    real_traffic: Traffic,  # noqa: F811
    folder: str,
) -> None:
    servers = real_traffic.servers
    attempts: list[float] = []
    delays: list[float] = []

    def flaky_connect(config: ImapConfig) -> IMAPClient:
        attempts.append(time.monotonic())
        if len(attempts) <= 2:
            raise ConnectionRefusedError("server not up yet")
        return connect(config)

    async def fast_sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0.01)

    stop = asyncio.Event()
    watcher = watcher_for(
        servers,
        folder,
        sessions,
        connector=flaky_connect,
        sleep=fast_sleep,
        rand=lambda: 0.5,  # no jitter: the delays are exactly the schedule
        backoff=Backoff(initial=1.0, maximum=30.0),
        idle_slice=0.2,
    )
    async with running(watcher, stop):
        await eventually(lambda: recorded(sessions, real_traffic.count), "the first pass")
        assert delays == [1.0, 2.0] and len(attempts) == 3
        # The server drops every session (a restart): the watcher comes back and catches up.
        servers.kick()
        servers.append(folder, new_reply(3))
        await eventually(
            lambda: recorded(sessions, real_traffic.count + 1), "the message after the drop"
        )
    assert len(attempts) >= 4 and watcher.failures == 0
    assert await count(session, Event, Event.kind == "reply") == 2


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    backoff = Backoff(initial=1.0, maximum=60.0, factor=2.0, jitter=0.25)
    assert [backoff.delay(n, 0.5) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay(3, 0.0) == 3.0 and backoff.delay(3, 0.999999) == pytest.approx(5.0)
    assert backoff.delay(20, 0.999999) == 60.0


# --- secrets and checks ----------------------------------------------------------------------


async def test_the_password_never_appears_in_logs_or_errors(
    sessions: async_sessionmaker[AsyncSession],
    world: dict[int, Respondent],
    real_traffic: Traffic,  # noqa: F811
    folder: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    servers = real_traffic.servers
    caplog.set_level(logging.DEBUG)
    async with watcher_for(servers, folder, sessions) as watcher:
        await watcher.run_once()
    wrong = servers.imap_config(folder, password=PASSWORD + "-sai")
    async with watcher_for(servers, folder, sessions, config=wrong) as refused:
        with pytest.raises(ImapError) as caught:
            await refused.run_once()
    error = caught.value
    assert "AUTHENTICATIONFAILED" in str(error) or "Authentication failed" in str(error)
    for text in (str(error), repr(error), error.message_vi, caplog.text, repr(wrong)):
        assert PASSWORD not in text
    findings = await check_imap(wrong)
    assert PASSWORD not in repr(findings)


async def test_the_connection_check_says_what_is_wrong(
    real_traffic: Traffic,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    servers = real_traffic.servers
    good = await check_imap(servers.imap_config("INBOX", processed_folder="Đã xử lý"))
    assert all(f.ok for f in good)
    assert any("IDLE" in f.message_vi for f in good)
    assert any("Đã xử lý" in f.message_vi for f in good)

    refused = await check_imap(servers.imap_config(password="sai-mat-khau"))
    assert not refused[-1].ok and "Đăng nhập" in refused[-1].message_vi

    closed = await check_imap(servers.imap_config(port=servers.dead_port))
    assert not closed[-1].ok and "từ chối kết nối" in closed[-1].message_vi

    no_tls = await check_imap(servers.imap_config(security="ssl"))
    assert not no_tls[-1].ok and "TLS" in no_tls[-1].message_vi

    no_starttls = await check_imap(servers.imap_config(security="starttls"))
    assert not no_starttls[-1].ok and "STARTTLS" in no_starttls[-1].message_vi

    missing = await check_imap(servers.imap_config("Không có"))
    assert not missing[-1].ok and "Không mở được thư mục" in missing[-1].message_vi

    def no_dns(*_args: Any, **_kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    unknown = await check_imap(ImapConfig(host="mail.khong-co.gov.vn", password="x"))
    assert [f.ok for f in unknown] == [False] and "DNS" in unknown[0].message_vi
