"""``dondoc run`` as it runs in production: a real process, real servers in other ones.

The daemon is started with the console script against a SQLite file the test prepares, and
sends through an aiosmtpd server in its own process that writes down the Message-ID of every
message it accepts (so a killed daemon cannot take the evidence with it). Time is never waited
for with a sleep: every wait polls a condition up to a deadline.

* SIGTERM: the invitations all arrive, then the daemon exits 0 well within 10 s.
* The crash test (Promise 2): SIGKILL mid-wave, a restart, a SIGTERM mid-wave (which must
  finish what is in flight and claim nothing new), a restart to the end. No Message-ID arrives
  twice, and every person got exactly one invitation or has a delivery reported ``uncertain``.
* Promise 9, in process: passes fail while the database is missing and sends fail while the
  SMTP server is down; the daemon goes on and catches up when they come back.
* With IMAP (the session's Dovecot): the watcher records a completion email, and a SIGTERM
  while it idles still stops the daemon within 10 s.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dondoc.sample_roster import national_layout, write_sample_roster
from mail.compose import message_id
from mail.config import MailIdentity, SmtpConfig
from scheduler.calendar import HolidayCalendar
from scheduler.daemon import Daemon
from scheduler.invitations import plan_invitations
from storage import migrate
from storage.campaign_file import load_campaign_file
from storage.campaigns import save_campaign
from storage.db import create_engine, session_factory
from storage.models import (
    Campaign,
    CampaignState,
    Delivery,
    DeliveryState,
    Respondent,
    RespondentState,
)
from storage.roster import import_roster
from tests.conftest import POSTGRES_MISSING, reset_postgres
from tests.mailserver import ORGANISER, PASSWORD, MailServers, mail_servers  # noqa: F401 - a fixture
from tests.sample import PEOPLE, roster_file

MAIL_FROM = "cchc@snv.sonla.gov.vn"
SECRET = "s" * 40

# The sink: aiosmtpd on a loopback port chosen by the kernel (its Controller cannot take port
# 0, so it runs its own asyncio server), appending each accepted Message-ID to a file.
SINK = r"""
import asyncio, re, sys
from aiosmtpd.smtp import SMTP

port_file, ids_file, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>]+>)", re.IGNORECASE | re.MULTILINE)

class Recorder:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(delay)  # a slower server, so a wave takes a few seconds
        found = MESSAGE_ID.search(envelope.original_content)
        self.out.write((found.group(1).decode() if found else "<none>") + "\n")
        self.out.flush()
        return "250 2.0.0 Ok: queued"

async def main():
    with open(ids_file, "a", encoding="ascii") as out:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(Recorder(out)), "127.0.0.1", 0)
        with open(port_file + ".tmp", "w") as f:
            f.write(str(server.sockets[0].getsockname()[1]))
        import os; os.replace(port_file + ".tmp", port_file)
        stop = asyncio.Event()
        loop.add_signal_handler(15, stop.set)
        await stop.wait()
        server.close()

asyncio.run(main())
"""


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Sink:
    port: int
    ids_file: Path

    def ids(self) -> list[str]:
        if not self.ids_file.exists():
            return []
        return [line for line in self.ids_file.read_text().splitlines() if line]


@pytest.fixture
def sink_factory(tmp_path: Path) -> Iterator[Callable[[float], Sink]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(delay: float) -> Sink:
        script = tmp_path / "sink.py"
        script.write_text(SINK, encoding="utf-8")
        port_file, ids_file = tmp_path / "sink.port", tmp_path / "sink.ids"
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), str(port_file), str(ids_file), str(delay)]
            )
        )
        wait_for(port_file.exists, 20, "the SMTP sink to listen")
        return Sink(int(port_file.read_text()), ids_file)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def dondoc_command() -> str:
    found = shutil.which("dondoc") or str(Path(sys.executable).parent / "dondoc")
    assert Path(found).exists(), "the dondoc console script is not installed (pip install -e .)"
    return found


def environment(database: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONDOC_")}
    env.update(
        DONDOC_DATABASE_URL=f"sqlite:///{database}",
        DONDOC_SMTP_HOST="127.0.0.1",
        DONDOC_SMTP_PORT=str(port),
        DONDOC_SMTP_SECURITY="none",
        DONDOC_SMTP_PER_MINUTE="1000000",
        DONDOC_SMTP_CONNECTIONS="2",
        DONDOC_MAIL_FROM=MAIL_FROM,
        DONDOC_SECRET_KEY=SECRET,
        # Port 0: the kernel picks a free port for each daemon's web service.
        DONDOC_WEB_PORT="0",
        COLUMNS="200",
    )
    return env


class DaemonProcess:
    """One ``dondoc run`` process, its output kept in a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [dondoc_command(), "-v", "run", "--tick-seconds", "1"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def terminate(self) -> float:
        """SIGTERM; seconds until the process was gone. Fails unless it exits 0 within 10 s."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"dondoc run did not stop within 10 s of SIGTERM:\n{self.output()}")
        elapsed = time.monotonic() - started
        assert code == 0, f"dondoc run exited {code}:\n{self.output()}"
        return elapsed

    def kill(self) -> None:
        self.proc.kill()
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], DaemonProcess]]:
    """Starts ``dondoc run`` processes; any still running when the test ends is killed."""
    started: list[DaemonProcess] = []

    def start(env: dict[str, str]) -> DaemonProcess:
        started.append(DaemonProcess(env, tmp_path / "run.log"))
        return started[-1]

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(timeout=10)


def campaign_toml(code: str, extra: str = "", *, left: timedelta = timedelta(days=30)) -> str:
    # Running now; by default with a deadline far enough away that no reminder falls due.
    now = datetime.now(UTC)
    return f"""
[campaign]
code = "{code}"
title = "Điều tra XHH xác định Chỉ số CCHC"
survey_url = "https://survey.example.vn/s/{{token}}"
opens_at = {(now - timedelta(days=1)).isoformat(timespec="seconds")}
deadline = {(now + left).isoformat(timespec="seconds")}
groups = "bnv-cap-tinh"
{extra}"""


async def prepare(database: Path, roster: Path, code: str, extra: str = "") -> int:
    """A migrated database with the campaign, its roster and its invitations queued."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        await migrate.upgrade(engine)
        toml = database.parent / "campaign.toml"
        toml.write_text(campaign_toml(code, extra), encoding="utf-8")
        return await queue_invitations(engine, toml, roster, now=datetime.now(UTC))
    finally:
        await engine.dispose()


async def queue_invitations(engine: AsyncEngine, toml: Path, roster: Path, *, now: datetime) -> int:
    """Create the campaign, import its roster, queue its invitations; how many were queued."""
    async with session_factory(engine)() as session, session.begin():
        campaign, _ = await save_campaign(session, load_campaign_file(toml), actor="test")
        await import_roster(session, campaign, roster, actor="test")
        plan = await plan_invitations(session, campaign, now=now)
        # What `dondoc send invitations` does: queueing the invitations starts the campaign.
        await session.execute(
            update(Campaign).where(Campaign.id == campaign.id).values(state=CampaignState.ACTIVE)
        )
    return plan.queued


@dataclass(frozen=True)
class Invitation:
    id: int
    state: DeliveryState
    message_id: str  # what the sink saw for it, or would have
    provider_id: str | None


async def _invitations(database: Path) -> tuple[int, list[Invitation]]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        async with session_factory(engine)() as session:
            people = len((await session.scalars(select(Respondent.id))).all())
            rows = (
                await session.scalars(select(Delivery).where(Delivery.reason == "invitation"))
            ).all()
    finally:
        await engine.dispose()
    domain = MAIL_FROM.rpartition("@")[2]
    return people, [
        Invitation(d.id, d.state, message_id(d.id, d.dedupe_key, domain), d.provider_message_id)
        for d in rows
    ]


def invitations(database: Path) -> tuple[int, list[Invitation]]:
    """(number of respondents, their invitation deliveries) as the database has them."""
    return asyncio.run(_invitations(database))


def states(database: Path) -> Counter[DeliveryState]:
    return Counter(i.state for i in invitations(database)[1])


def test_run_sends_the_invitations_and_stops_on_sigterm(
    tmp_path: Path,
    sink_factory: Callable[[float], Sink],
    daemons: Callable[[dict[str, str]], DaemonProcess],
) -> None:
    database = tmp_path / "dondoc.db"
    queued = asyncio.run(prepare(database, roster_file(tmp_path, PEOPLE), "cchc-run"))
    assert queued == 5
    sink = sink_factory(0.0)
    daemon = daemons(environment(database, sink.port))

    wait_for(lambda: len(sink.ids()) >= queued, 30, "every invitation at the SMTP server")
    wait_for(lambda: states(database)[DeliveryState.SENT] == queued, 10, "the sends recorded")
    elapsed = daemon.terminate()

    assert elapsed < 10
    people, sent = invitations(database)
    assert people == queued
    assert sorted(sink.ids()) == sorted(i.message_id for i in sent)
    assert all(i.provider_id == i.message_id for i in sent)
    output = daemon.output()
    assert "dondoc đang chạy" in output and "dondoc đã dừng" in output
    assert re.search(r"dondoc daemon stopped in \d+\.\d+ s", output), output
    print(f"shutdown after SIGTERM: {elapsed:.2f} s")  # noqa: T201 - the figure for the report


def test_a_crash_mid_wave_sends_nothing_twice_and_reports_the_uncertain(
    tmp_path: Path,
    sink_factory: Callable[[float], Sink],
    daemons: Callable[[dict[str, str]], DaemonProcess],
) -> None:
    database = tmp_path / "dondoc.db"
    roster = write_sample_roster(
        tmp_path / "roster.xlsx", national_layout(units=20, people=200), contacts=False
    )
    queued = asyncio.run(prepare(database, roster.path, "cchc-crash"))
    assert queued == 200
    sink = sink_factory(0.05)  # 50 ms a message: a wave of 200 takes about 5 s
    env = environment(database, sink.port)

    # 1. SIGKILL in the middle of the wave: what was claimed stays `sending`, some of it sent.
    first = daemons(env)
    wait_for(lambda: len(sink.ids()) >= 70, 30, "the wave to be well under way")
    first.kill()
    cut_off = {i.id for i in invitations(database)[1] if i.state == DeliveryState.SENDING}
    assert cut_off, "the kill should have caught a batch in flight"
    at_kill = len(sink.ids())

    # 2. A restart goes on with the rest, never with what the dead process held. SIGTERM in
    #    the middle: the batch in flight is sent and recorded, nothing new is claimed.
    second = daemons(env)
    wait_for(lambda: len(sink.ids()) >= at_kill + 20, 30, "the restarted wave")
    elapsed = second.terminate()
    assert elapsed < 10
    after_term = invitations(database)[1]
    assert {i.id for i in after_term if i.state == DeliveryState.SENDING} == cut_off
    assert Counter(i.state for i in after_term)[DeliveryState.QUEUED] > 0, "stopped mid-wave"

    # 3. Another restart finishes the wave.
    third = daemons(env)
    wait_for(
        lambda: (
            states(database)[DeliveryState.QUEUED] == 0
            and states(database)[DeliveryState.SENT] == queued - len(cut_off)
        ),
        60,
        "the rest of the wave",
    )
    third.terminate()

    # The lease of the killed process runs out (the clock moved, not waited for): the next
    # pass reports its deliveries `uncertain`; nothing is sent.
    later = (datetime.now(UTC) + timedelta(minutes=11)).isoformat()
    no_smtp = {k: v for k, v in env.items() if not k.startswith("DONDOC_SMTP")}
    ticked = subprocess.run(
        [dondoc_command(), "tick", "--at", later], env=no_smtp, capture_output=True, timeout=60
    )
    assert ticked.returncode == 0, ticked.stderr.decode()

    people, final = invitations(database)
    received = Counter(sink.ids())
    duplicates = {mid: n for mid, n in received.items() if n > 1}
    assert not duplicates, f"Message-IDs received twice: {duplicates}"
    assert people == queued == len(final)
    uncertain = {i.id for i in final if i.state == DeliveryState.UNCERTAIN}
    assert uncertain == cut_off
    for invitation in final:
        if invitation.state == DeliveryState.SENT:
            assert invitation.provider_id == invitation.message_id
            assert received[invitation.message_id] == 1
        else:
            assert invitation.state == DeliveryState.UNCERTAIN
            assert received[invitation.message_id] <= 1
    assert set(received) <= {i.message_id for i in final}
    reached = sum(1 for i in final if i.state == DeliveryState.UNCERTAIN and received[i.message_id])

    listed = subprocess.run(
        [dondoc_command(), "deliveries", "--state", "uncertain", "--limit", "1000"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr.decode()
    text = listed.stdout.decode()
    assert f"Hộp thư đi ({len(uncertain)})" in text
    assert {int(n) for n in re.findall(r"^│\s*(\d+)\s*│", text, re.MULTILINE)} == uncertain
    print(  # noqa: T201 - the figures for the report
        f"crash test: {queued} people, {len(uncertain)} uncertain ({reached} of them had "
        f"reached the server), {sum(received.values())} messages, no duplicate; "
        f"SIGTERM mid-wave stopped in {elapsed:.2f} s"
    )


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.live: set[SMTP] = set()

    async def handle_DATA(self, server: SMTP, session: object, envelope: Any) -> str:
        self.messages.append(bytes(envelope.original_content))
        return "250 2.0.0 Ok"


class _Session(SMTP):  # type: ignore[misc]
    """aiosmtpd's protocol, telling the inbox which sessions are open."""

    def __init__(self, inbox: _Inbox) -> None:
        super().__init__(inbox)
        self.inbox = inbox

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.inbox.live.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.inbox.live.discard(self)
        super().connection_lost(error)


async def until(condition: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        await asyncio.sleep(0.02)


async def test_the_daemon_outlives_its_database_and_smtp_server_going_away(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Promise 9 in process: passes fail while the database is not there and are retried;
    sends fail while the SMTP server is down and go once it is back; no pass ends the daemon."""
    caplog.set_level(logging.INFO, logger="scheduler.daemon")
    with socket.socket() as probe:  # a loopback port where, for now, nobody listens
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    shift = timedelta(0)

    def clock() -> datetime:
        return datetime.now(UTC) + shift

    engine = create_engine(f"sqlite:///{tmp_path / 'dondoc.db'}")  # not migrated yet
    sessions = session_factory(engine)
    daemon = Daemon(
        sessions,
        smtp=SmtpConfig(host="127.0.0.1", port=port, security="none", per_minute=60_000),
        identity=MailIdentity(from_address=MAIL_FROM, from_name="Sở Nội vụ", secret=b"k" * 32),
        holidays=HolidayCalendar(),
        clock=clock,
        tick_seconds=0.1,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    inbox = _Inbox()
    server: asyncio.Server | None = None
    try:

        async def failed_twice() -> bool:
            return daemon.failed_passes >= 2

        await until(failed_twice, 10, "two passes failing on the missing database")
        failures = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert failures and all(r.exc_info for r in failures), "failures logged with traceback"

        # The database arrives; the SMTP server is still away.
        await migrate.upgrade(engine)
        toml = tmp_path / "campaign.toml"
        toml.write_text(campaign_toml("cchc-p9"), encoding="utf-8")
        queued = await queue_invitations(engine, toml, roster_file(tmp_path, PEOPLE), now=clock())

        async def deliveries() -> list[Delivery]:
            # The invitations: once they are sent, passes plan reminders, due much later.
            async with sessions() as session:
                query = select(Delivery).where(Delivery.reason == "invitation")
                return list((await session.scalars(query)).all())

        async def all_tried() -> bool:
            rows = await deliveries()
            return len(rows) == queued and all(d.attempts == 1 and d.last_error for d in rows)

        await until(all_tried, 10, "the sends to fail on the SMTP server being down")
        assert {d.state for d in await deliveries()} == {DeliveryState.QUEUED}

        # The server comes back; the retries fall due (the clock moves, nobody waits).
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Session(inbox), "127.0.0.1", port)
        shift = timedelta(hours=1)

        async def all_sent() -> bool:
            return {d.state for d in await deliveries()} == {DeliveryState.SENT}

        await until(all_sent, 10, "the retries to go out")
        assert len(inbox.messages) == queued
        assert not running.done(), "the daemon is still running"
    finally:
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(running, 10)
        elapsed = time.monotonic() - started
        if server is not None:
            server.close()
            await server.wait_closed()
        leaked = engine.pool.checkedout()  # type: ignore[attr-defined]
        await engine.dispose()
    assert elapsed < 10
    assert not inbox.live, "the SMTP connections were closed at the stop"
    assert leaked == 0


def test_run_watches_the_mailbox_and_stops_while_idling(
    tmp_path: Path,
    sink_factory: Callable[[float], Sink],
    daemons: Callable[[dict[str, str]], DaemonProcess],
    mail_servers: MailServers,  # noqa: F811 - the fixture
) -> None:
    folder = "Daemon"
    with mail_servers.imap() as client:
        client.create(folder)
    database = tmp_path / "dondoc.db"
    rule = (
        '[[completion_email]]\nsender = "@khaosat.example.vn"\n'
        'pattern = "Mã phiếu: (?P<token>[A-Za-z0-9_-]{16,})"\n'
    )
    queued = asyncio.run(prepare(database, roster_file(tmp_path, PEOPLE), "cchc-imap", rule))
    sink = sink_factory(0.0)
    env = environment(database, sink.port) | {
        "DONDOC_IMAP_HOST": "127.0.0.1",
        "DONDOC_IMAP_PORT": str(mail_servers.imap_port),
        "DONDOC_IMAP_SECURITY": "none",
        "DONDOC_IMAP_USERNAME": ORGANISER,
        "DONDOC_IMAP_PASSWORD": PASSWORD,
        "DONDOC_IMAP_MAILBOX": folder,
    }
    daemon = daemons(env)
    wait_for(lambda: len(sink.ids()) >= queued, 30, "the invitations")

    with sqlite3.connect(database) as db:
        (token,) = db.execute(
            "SELECT token FROM respondents WHERE email = 'hoatt@snv.gov.vn'"
        ).fetchone()
    mail_servers.append(
        folder,
        (
            "From: noreply@khaosat.example.vn\r\nSubject: Phieu da hoan thanh\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Mã phiếu: {token}\r\n"
        ).encode(),
    )

    def answered() -> bool:
        with sqlite3.connect(database) as db:
            (state,) = db.execute(
                "SELECT state FROM respondents WHERE email = 'hoatt@snv.gov.vn'"
            ).fetchone()
        return bool(state == RespondentState.ANSWERED.value)

    wait_for(answered, 30, "the watcher to record the completion email")
    elapsed = daemon.terminate()  # the watcher is in IDLE by now
    assert elapsed < 10
    assert "watching the mailbox" in daemon.output()
    print(f"shutdown after SIGTERM with the IMAP watcher idling: {elapsed:.2f} s")  # noqa: T201


# --- two daemons, one PostgreSQL --------------------------------------------------------------

TWO_DAEMONS_POLICY = """
[policy]
reminders_before_deadline = ["2d", "1d"]
min_gap = "20h"
max_reminders = 2
window = { days = "t2-cn", start = "00:00", end = "23:59", skip_holidays = false }
escalate_below = 0.99
escalate_at = ["2d"]
digest_at = "00:00"
"""


async def _prepare_shared_campaign(url: str, roster: Path, toml: Path) -> tuple[int, int]:
    """A campaign half of whose people were invited two days ago (so their first reminder, the
    units' digests and the escalations are all due now) and half not yet invited."""
    await reset_postgres(url)
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        now = datetime.now(UTC)
        await queue_invitations(engine, toml, roster, now=now)
        async with session_factory(engine)() as session, session.begin():
            ids = (await session.scalars(select(Delivery.id).order_by(Delivery.id))).all()
            earlier = ids[: len(ids) // 2]
            invited_at = now - timedelta(days=2)
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(earlier))
                .values(
                    state=DeliveryState.SENT, sent_at=invited_at, provider_message_id="<earlier>"
                )
            )
            await session.execute(
                update(Respondent)
                .where(
                    Respondent.id.in_(
                        select(Delivery.respondent_id).where(Delivery.id.in_(earlier))
                    )
                )
                .values(state=RespondentState.INVITED)
            )
        return len(ids) - len(earlier), len(earlier)
    finally:
        await engine.dispose()


async def _outbox(url: str) -> list[tuple[int, str, str, DeliveryState]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(Delivery.id, Delivery.dedupe_key, Delivery.reason, Delivery.state).where(
                    Delivery.provider_message_id.is_distinct_from("<earlier>")
                )
            )
            return [(i, k, r, s) for i, k, r, s in rows]
    finally:
        await engine.dispose()


def _sent_by(log: str) -> int:
    return sum(int(n) for n in re.findall(r"; (\d+) sent, \d+ to retry", log))


@pytest.mark.postgres
def test_two_daemons_on_one_postgresql_walk_a_campaign_sending_nothing_twice(
    tmp_path: Path, sink_factory: Callable[[float], Sink], postgres_url: str | None
) -> None:
    """The way a deployment outgrows one machine: two whole ``dondoc run`` processes on one
    PostgreSQL database, started together on a campaign where invitations, reminders, digests
    and escalations are all due. Each message goes out once, and both processes share the
    work (the claim is what divides it; the planning lock only saves repeated planning)."""
    if postgres_url is None:
        pytest.skip(POSTGRES_MISSING)
    roster = write_sample_roster(
        tmp_path / "roster.xlsx", national_layout(units=12, people=160), contacts=True
    )
    toml = tmp_path / "campaign.toml"
    toml.write_text(
        campaign_toml("cchc-two", TWO_DAEMONS_POLICY, left=timedelta(days=1, hours=2)),
        encoding="utf-8",
    )
    to_invite, invited = asyncio.run(_prepare_shared_campaign(postgres_url, roster.path, toml))
    sink = sink_factory(0.02)
    env = environment(tmp_path / "unused.db", sink.port)
    env["DONDOC_DATABASE_URL"] = postgres_url
    first = DaemonProcess(env, tmp_path / "first.log")
    second = DaemonProcess(env, tmp_path / "second.log")
    try:

        def settled() -> bool:
            outbox = asyncio.run(_outbox(postgres_url))
            reasons = Counter(r for _, _, r, _ in outbox)
            pending = [s for *_, s in outbox if s in (DeliveryState.QUEUED, DeliveryState.SENDING)]
            return (
                reasons["invitation"] == to_invite
                and reasons["reminder"] == invited
                and reasons["digest"] > 0
                and reasons["escalation"] > 0
                and not pending
            )

        wait_for(settled, 90, "every due message sent by the two daemons")
        first.terminate()
        second.terminate()
    finally:
        for daemon in (first, second):
            if daemon.proc.poll() is None:
                daemon.proc.kill()
                daemon.proc.wait(timeout=10)

    outbox = asyncio.run(_outbox(postgres_url))
    assert len({k for _, k, _, _ in outbox}) == len(outbox)
    assert {s for *_, s in outbox} == {DeliveryState.SENT}, Counter(s for *_, s in outbox)
    domain = MAIL_FROM.rpartition("@")[2]
    expected = {message_id(i, k, domain) for i, k, _, _ in outbox}
    received = Counter(sink.ids())
    duplicates = {mid: n for mid, n in received.items() if n > 1}
    assert not duplicates, f"Message-IDs received twice: {duplicates}"
    assert set(received) == expected
    by_first, by_second = _sent_by(first.output()), _sent_by(second.output())
    assert by_first + by_second == len(outbox)
    assert by_first > 0 and by_second > 0, (by_first, by_second)
    reasons = Counter(r for _, _, r, _ in outbox)
    print(  # noqa: T201 - the figures for the report
        f"two daemons: {len(outbox)} messages ({dict(reasons)}), {by_first} + {by_second} "
        "sent by each, none twice"
    )
