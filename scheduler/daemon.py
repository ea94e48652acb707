"""The daemon behind ``dondoc run``: passes on a timer, the mailbox watched, a clean stop.

The database is the truth and APScheduler (3.x, an in-memory job store) is only an alarm clock:
its one interval job wakes the worker, which runs a pass — recover deliveries a crash left
``sending`` and plan every active campaign (``scheduler.tick`` without channels, so whatever
planning ``tick`` does the daemon does too), then send what is due through a ``Dispatcher`` this
module keeps a hand on, so a stop can tell it to claim nothing new. Nothing the scheduler holds
matters after a restart: the first pass runs at start-up and catches up with whatever the
database says is due, and wake-ups missed while a pass ran coalesce into one more pass.

Every part (SMTP pool, IMAP watcher, worker, scheduler) is entered in one ``AsyncExitStack``
and left in reverse order once ``stop`` is set: the scheduler stops waking anyone, the
dispatcher sends and records the batch in flight but claims no other, the watcher finishes its
message, the SMTP connections say goodbye — within ``SHUTDOWN_SECONDS`` in all. A pass that fails
(database restarting, a bug) is logged with its traceback and the next pass tries again; a
watcher that fails is started again (Promise 9). Signals are not handled here: the one caller
that owns them sets ``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.gone import delivery_chat_gone
from mail.channel import EmailChannel
from mail.config import ImapConfig, MailIdentity, SmtpConfig
from mail.imap import ImapWatcher
from mail.inbound import active_completion_rules
from mail.smtp import SmtpSender
from scheduler.calendar import HolidayCalendar
from scheduler.context import ChatInvite
from scheduler.dispatch import Dispatcher, DispatchStats
from scheduler.planning import PlanningMemo
from scheduler.rejections import recipient_gone
from scheduler.tick import TickReport, tick
from storage.backoff import Backoff
from storage.channel import Channel, RecipientGone
from storage.models import Campaign, CampaignState, Delivery, utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

SHUTDOWN_SECONDS: Final = 10.0
"""From ``stop`` to ``run`` returning, whatever the servers do."""

DRAIN_SECONDS: Final = 6.0
"""How long the batch in flight may take to finish once ``stop`` is set; then it is cut."""

BATCH_SECONDS: Final = 4.0
"""A batch holds what the SMTP rate limit lets out in this time, so it drains before a stop's
deadline (at the default 30 messages a minute a batch is 2 mails, not 50 held for 100 s)."""

MAX_BATCH: Final = 50
WATCHER_STOP_SECONDS: Final = 2.0
LEASE: Final = timedelta(minutes=10)
"""A claimed delivery still ``sending`` after this was cut off by a crash: recovered as
``uncertain`` by the next pass (of any process). It must exceed the longest batch, SMTP
time-outs included, or a slow send would be reported uncertain while it is still going."""

JOB_ID: Final = "dondoc-pass"


class Service(AbstractAsyncContextManager[Any], Protocol):
    """Something the daemon runs beside the mail (a chat bot such as
    ``bot.telegram_bot.TelegramBot``, the Zalo service, the LimeSurvey pollers): entered for the
    daemon's life, ``run`` until the stop, its ``channels`` (maybe none) used by the dispatcher."""

    @property
    def channels(self) -> Mapping[str, Channel]: ...

    async def run(self, stop: asyncio.Event) -> None: ...


async def on_gone(
    session: AsyncSession, delivery: Delivery, error: RecipientGone, now: datetime
) -> None:
    """An address that no longer reaches its person: a mail address or a chat."""
    await recipient_gone(session, delivery, error, now)
    await delivery_chat_gone(session, delivery, error, now)


def batch_size(smtp: SmtpConfig) -> int:
    """Deliveries claimed at once: what the server's per-minute limit sends in BATCH_SECONDS."""
    return max(1, min(MAX_BATCH, int(smtp.per_minute * BATCH_SECONDS / 60)))


class Daemon:
    """One process's scheduler, sender and mailbox watcher; ``await daemon.run(stop)``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        smtp: SmtpConfig,
        identity: MailIdentity,
        imap: ImapConfig | None = None,
        holidays: HolidayCalendar,
        clock: Clock = utcnow,
        tick_seconds: float = 60.0,
        lease: timedelta = LEASE,
        services: Sequence[Service] = (),
        chat_invite: ChatInvite | None = None,
    ) -> None:
        if tick_seconds <= 0:
            raise ValueError(f"tick_seconds must be positive, not {tick_seconds}")
        self.sessions = sessions
        self.smtp = smtp
        self.identity = identity
        self.imap = imap
        self.holidays = holidays
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.lease = lease
        self.services = tuple(services)
        self.chat_invite = chat_invite
        self._sender: SmtpSender | None = None
        self._email: tuple[frozenset[tuple[str, str]], EmailChannel] | None = None
        self._wake = asyncio.Event()
        self._halt = asyncio.Event()
        self._dispatcher: Dispatcher | None = None
        self._memo = PlanningMemo()
        self._stop_started = 0.0
        self._deadline = 0.0
        self.passes = 0
        self.failed_passes = 0

    # --- the lifecycle -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then stop within SHUTDOWN_SECONDS."""
        async with AsyncExitStack() as stack:
            # Entered first, left last: the pool outlives every send that may still use it.
            sender = SmtpSender(self.smtp)
            stack.push_async_callback(self._close_sender, sender)
            self._sender = sender
            # A bad From address fails here, at start, rather than on every pass.
            self._email_channel({})
            tasks: set[asyncio.Task[None]] = set()
            for number, service in enumerate(self.services):
                # Entered before the worker starts, left after it stops: sends need the bot.
                await stack.enter_async_context(service)
                listener = asyncio.create_task(
                    service.run(self._halt), name=f"dondoc-service-{number}"
                )
                stack.push_async_callback(self._finish_task, listener, WATCHER_STOP_SECONDS)
                tasks.add(listener)
            if self.imap is not None:
                watcher = asyncio.create_task(self._watch(self.imap), name="dondoc-imap")
                stack.push_async_callback(self._finish_task, watcher, WATCHER_STOP_SECONDS)
                tasks.add(watcher)
            worker = asyncio.create_task(self._work(), name="dondoc-worker")
            stack.push_async_callback(self._finish_worker, worker)
            tasks.add(worker)
            scheduler = self._scheduler()
            scheduler.start()
            stack.callback(scheduler.shutdown, wait=False)
            # Left first: from here on nothing new starts and every part is told to finish.
            stack.callback(self._begin_stop)
            log.info(
                "dondoc daemon started: a pass every %g s%s",
                self.tick_seconds,
                ", watching the mailbox" if self.imap is not None else "",
            )
            await self._until(stop, tasks)
        log.info("dondoc daemon stopped in %.2f s", time.monotonic() - self._stop_started)

    def _scheduler(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": AsyncIOExecutor()},
            timezone=UTC,
        )
        scheduler.add_job(
            self._alarm,
            IntervalTrigger(seconds=self.tick_seconds, timezone=UTC),
            id=JOB_ID,
            name="wake the scheduler pass",
            # The first alarm rings at once: the catch-up pass at start-up.
            next_run_time=datetime.now(UTC),
            max_instances=1,
            # Alarms missed (a suspended machine, a busy loop) ring once, however late: a late
            # pass is still the right pass, since it reads what is due from the database.
            coalesce=True,
            misfire_grace_time=None,
        )
        return scheduler

    async def _alarm(self) -> None:
        # Only a wake-up: the pass runs in the worker, so a scheduler shutdown (which cancels
        # its running jobs) can never cut a send in half.
        self._wake.set()

    async def _until(self, stop: asyncio.Event, tasks: set[asyncio.Task[None]]) -> None:
        """Wait for ``stop``; a part that ends before it is a bug and ends the daemon."""
        stopping = asyncio.create_task(stop.wait(), name="dondoc-stop")
        try:
            done, _ = await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        for task in done - {stopping}:
            await task  # re-raises what it died of
            raise RuntimeError(f"{task.get_name()} ended before the daemon was stopped")

    def _begin_stop(self) -> None:
        if self._halt.is_set():
            return
        self._stop_started = time.monotonic()
        self._deadline = self._stop_started + SHUTDOWN_SECONDS
        log.info("dondoc daemon stopping: claiming nothing new, finishing what is in flight")
        self._halt.set()
        if self._dispatcher is not None:
            self._dispatcher.stop()

    def _left(self, cap: float) -> float:
        return max(0.0, min(cap, self._deadline - time.monotonic()))

    async def _finish_worker(self, worker: asyncio.Task[None]) -> None:
        await self._finish_task(worker, DRAIN_SECONDS)

    async def _finish_task(self, task: asyncio.Task[None], cap: float) -> None:
        """Let ``task`` end on its own within ``cap`` seconds (and the budget), else cancel it."""
        self._begin_stop()  # already done, unless the start-up itself failed half-way
        _done, pending = await asyncio.wait({task}, timeout=self._left(cap))
        if pending:
            log.warning(
                "%s did not finish within %.1f s of the stop; cancelling it (a delivery cut off "
                "mid-send is reported uncertain, never sent again on its own)",
                task.get_name(),
                cap,
            )
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        if task.done() and not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s failed while stopping", task.get_name(), exc_info=error)

    async def _close_sender(self, sender: SmtpSender) -> None:
        try:
            async with asyncio.timeout(max(self._left(SHUTDOWN_SECONDS), 0.5)):
                await sender.aclose()
        except TimeoutError:
            log.warning("the SMTP server did not answer QUIT in time; connections dropped")

    # --- the passes ----------------------------------------------------------------------------

    async def _work(self) -> None:
        """One pass per wake-up; wake-ups during a pass make one more pass after it."""
        while True:
            await _first(self._wake, self._halt)
            if self._halt.is_set():
                return
            self._wake.clear()
            await self.run_pass()

    async def run_pass(self) -> DispatchStats | None:
        """Recover, plan, send what is due; a failure is logged and left to the next pass."""
        started = time.monotonic()
        self.passes += 1
        try:
            report = await tick(
                self.sessions, now=self.clock(), holidays=self.holidays, memo=self._memo
            )
            if self._halt.is_set():
                return None
            channels = await self._channels()
            if self._halt.is_set():
                return None
            dispatcher = Dispatcher(
                self.sessions,
                channels,
                clock=self.clock,
                batch=batch_size(self.smtp),
                concurrency=max(1, self.smtp.connections),
                lease=self.lease,
                on_gone=on_gone,
                holidays=self.holidays,
                chat_invite=self.chat_invite,
            )
            self._dispatcher = dispatcher
            try:
                stats = await dispatcher.run_once()
            finally:
                self._dispatcher = None
        except Exception:
            # Database or server away, or a bug: the traceback goes to the log and the next
            # pass starts from what the database says, so nothing is lost or sent twice.
            self.failed_passes += 1
            log.exception("scheduler pass %d failed; the next pass tries again", self.passes)
            return None
        _log_pass(self.passes, report, stats, time.monotonic() - started)
        return stats

    async def _channels(self) -> Mapping[str, Channel]:
        """The channels for this pass; campaigns with their own templates are read afresh."""
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(Campaign.code, Campaign.templates_dir).where(
                        Campaign.state != CampaignState.CLOSED,
                        Campaign.templates_dir.is_not(None),
                    )
                )
            ).all()
        email = self._email_channel({code: folder for code, folder in rows if folder})
        channels: dict[str, Channel] = {"email": email}
        for service in self.services:
            channels |= service.channels
        return channels

    def _email_channel(self, template_dirs: Mapping[str, str]) -> EmailChannel:
        # Kept while the template folders stay the same, so its compiled templates are reused.
        key = frozenset(template_dirs.items())
        if self._email is None or self._email[0] != key:
            if self._sender is None:
                raise RuntimeError("the SMTP sender is opened by run()")
            channel = EmailChannel(
                self._sender,
                self.identity,
                template_dirs={code: Path(folder) for code, folder in template_dirs.items()},
            )
            self._email = (key, channel)
        return self._email[1]

    # --- the mailbox ---------------------------------------------------------------------------

    async def _watch(self, config: ImapConfig) -> None:
        """The IMAP watcher until the stop; started again, after a pause, if it fails."""
        backoff = Backoff(initial=5.0)
        failures = 0
        while not self._halt.is_set():
            try:
                async with self.sessions() as session:
                    rules = await active_completion_rules(session)
                watcher = ImapWatcher(
                    config, self.sessions, secret=self.identity.secret, completion_rules=rules
                )
                async with watcher:
                    await watcher.run_forever(self._halt)
            except Exception:
                failures += 1
                delay = backoff.delay(failures, random.random())  # noqa: S311 - jitter
                log.exception("the IMAP watcher failed; starting it again in %.0f s", delay)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._halt.wait()


async def _first(*events: asyncio.Event) -> None:
    """Wait until one of ``events`` is set."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


def _log_pass(number: int, report: TickReport, stats: DispatchStats, seconds: float) -> None:
    planned = sum(p.queued for p in report.planned.values())
    digests = sum(report.digests.values())
    escalations = sum(report.escalations.values())
    if report.uncertain:
        log.warning(
            "%d deliveries were cut off mid-send by a crash and are now uncertain: they are "
            "not sent again unless a person decides so (dondoc deliveries --state uncertain)",
            report.uncertain,
        )
    if stats.failed or stats.uncertain:
        log.warning(
            "pass %d: %d failed, %d uncertain: %s",
            number,
            stats.failed,
            stats.uncertain,
            dict(stats.errors),
        )
    log.info(
        "pass %d in %.2f s: %s; %d sent, %d to retry, %d failed, %d uncertain",
        number,
        seconds,
        "planning left to another process holding the planning lock"
        if report.planned_elsewhere
        else f"{planned} reminders, {digests} digests, {escalations} escalations planned",
        stats.sent,
        stats.retried,
        stats.failed,
        stats.uncertain,
    )
