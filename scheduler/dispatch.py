"""The dispatcher: claim due deliveries, send them through their channel, record what happened.

Record intent, send, record the outcome: a delivery is ``sending`` in the database before a
byte leaves, so a crash leaves evidence (it becomes ``uncertain``), never a silent duplicate.
Outcomes follow the channel contract: transient -> retried later with exponential backoff and
jitter (a provider's retry-after honoured), permanent -> failed and reported, recipient gone ->
failed and the address no longer used. Anything else is a bug: the delivery is marked
``uncertain`` and the traceback logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scheduler.calendar import HolidayCalendar, SendingCalendar
from scheduler.context import ChatInvite, build_outgoing
from storage.channel import (
    Channel,
    ChannelError,
    Outgoing,
    PermanentError,
    Receipt,
    RecipientGone,
    TransientError,
)
from storage.models import (
    Campaign,
    Delivery,
    DeliveryState,
    Event,
    Respondent,
    RespondentState,
)
from storage.outbox import claim_due, defer, record_failed, record_retry, record_sent_many
from storage.policy import Policy

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
GoneHandler = Callable[[AsyncSession, Delivery, RecipientGone, datetime], Awaitable[None]]

# Sent only inside the campaign's sending window; everything else goes when due.
WINDOWED = frozenset({"reminder", "last_day", "digest", "escalation"})

# What a successful send means for the person, as an Event kind.
SENT_EVENTS = {"invitation": "invited", "reminder": "reminded", "last_day": "reminded"}


@dataclass(slots=True)
class DispatchStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.uncertain


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first: timedelta = timedelta(minutes=2)
    factor: float = 2.0
    ceiling: timedelta = timedelta(hours=6)
    max_attempts: int = 8
    jitter: float = 0.2

    def next_try(
        self, attempts: int, now: datetime, rng: random.Random, retry_after: float | None
    ) -> datetime:
        delay = min(self.first * self.factor ** max(attempts - 1, 0), self.ceiling)
        # Spread retries so a server that came back is not hit by every delivery at once.
        delay *= 1 + rng.uniform(-self.jitter, self.jitter)
        if retry_after is not None:
            delay = max(delay, timedelta(seconds=retry_after))
        return now + delay


@dataclass(frozen=True, slots=True)
class _Outcome:
    delivery: Delivery
    receipt: Receipt | None = None
    error: ChannelError | None = None
    crash: BaseException | None = None


class Dispatcher:
    """Sends what is due, a batch at a time, until nothing due is left (or ``limit`` is hit)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channels: Mapping[str, Channel],
        *,
        clock: Clock,
        batch: int = 50,
        concurrency: int = 4,
        lease: timedelta = timedelta(minutes=10),
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        on_gone: GoneHandler | None = None,
        on_progress: Callable[[DispatchStats], None] | None = None,
        holidays: HolidayCalendar | None = None,
        chat_invite: ChatInvite | None = None,
    ) -> None:
        self.sessions = sessions
        self.chat_invite = chat_invite
        self.channels = channels
        self.clock = clock
        self.batch = batch
        self.lease = lease
        self.retry = retry or RetryPolicy()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.on_gone = on_gone
        self.on_progress = on_progress
        self.holidays = holidays or HolidayCalendar()
        self._deferred_last = 0
        self._slots = asyncio.Semaphore(concurrency)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Claim nothing new; what is in flight finishes and is recorded."""
        self._stopping.set()

    async def run_once(
        self, *, campaign_id: int | None = None, limit: int | None = None
    ) -> DispatchStats:
        stats = DispatchStats()
        while not self._stopping.is_set() and (limit is None or stats.handled < limit):
            size = self.batch if limit is None else min(self.batch, limit - stats.handled)
            if not await self.handle_one_batch(stats, campaign_id=campaign_id, size=size):
                break
        return stats

    async def handle_one_batch(
        self, stats: DispatchStats, *, campaign_id: int | None = None, size: int | None = None
    ) -> bool:
        """Claim, send and record one batch; False when nothing was due."""
        now = self.clock()
        async with self.sessions() as session:
            async with session.begin():
                claimed = await claim_due(
                    session,
                    now=now,
                    limit=size or self.batch,
                    lease=self.lease,
                    channels=list(self.channels),
                    campaign_id=campaign_id,
                )
                claimed = await self._inside_window(session, claimed, now)
                messages = await build_outgoing(
                    session, claimed, now=now, chat_invite=self.chat_invite
                )
            if not claimed:
                return bool(self._deferred_last)
            outcomes = await asyncio.gather(
                *(self._send(d, m) for d, m in zip(claimed, messages, strict=True))
            )
            async with session.begin():
                await self._record_batch(session, outcomes, self.clock(), stats)
        if self.on_progress is not None:
            self.on_progress(stats)
        return True

    async def _inside_window(
        self, session: AsyncSession, claimed: list[Delivery], now: datetime
    ) -> list[Delivery]:
        """Claimed messages that may go now; windowed ones outside the window wait (Promise 3).

        What the organiser sends now (invitations) and alerts go at once; reminders, digests
        and escalations only inside the campaign's sending window.
        """
        self._deferred_last = 0
        windowed = [d for d in claimed if d.reason in WINDOWED]
        if not windowed:
            return claimed
        campaigns = {
            c.id: c
            for c in await session.scalars(
                select(Campaign).where(Campaign.id.in_({d.campaign_id for d in windowed}))
            )
        }
        calendars = {
            cid: SendingCalendar(
                Policy.from_json(c.policy).window, c.timezone, holidays=self.holidays
            )
            for cid, c in campaigns.items()
        }
        keep = []
        for delivery in claimed:
            calendar = calendars.get(delivery.campaign_id)
            if delivery.reason in WINDOWED and calendar and not calendar.is_open(now):
                await defer(session, delivery.id, until=calendar.next_open(now), now=now)
                self._deferred_last += 1
            else:
                keep.append(delivery)
        return keep

    async def _send(self, delivery: Delivery, message: Outgoing) -> _Outcome:
        async with self._slots:
            try:
                receipt = await self.channels[delivery.channel].send(message)
            except ChannelError as exc:
                return _Outcome(delivery, error=exc)
            except Exception as exc:
                log.exception("channel %s crashed on delivery %s", delivery.channel, delivery.id)
                return _Outcome(delivery, crash=exc)
            return _Outcome(delivery, receipt=receipt)

    async def _record_batch(
        self, session: AsyncSession, outcomes: list[_Outcome], now: datetime, stats: DispatchStats
    ) -> None:
        # Successes are the bulk of a wave: recorded set-wise, a few statements per batch.
        sent = [o for o in outcomes if o.receipt is not None]
        await record_sent_many(
            session,
            [(o.delivery.id, o.receipt.provider_id) for o in sent if o.receipt is not None],
            now=now,
        )
        stats.sent += len(sent)
        reached = [o.delivery for o in sent if o.delivery.respondent_id is not None]
        invited = [d.respondent_id for d in reached if d.reason == "invitation"]
        if invited:
            await session.execute(
                update(Respondent)
                .where(Respondent.id.in_(invited), Respondent.state == RespondentState.PENDING)
                .values(state=RespondentState.INVITED, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        events = [
            {
                "campaign_id": d.campaign_id,
                "respondent_id": d.respondent_id,
                "kind": SENT_EVENTS[d.reason],
                "actor": f"dispatcher:{d.channel}",
                "at": now,
                "data": {"delivery": d.id, **d.payload},
            }
            for d in reached
            if d.reason in SENT_EVENTS
        ]
        if events:
            await session.execute(insert(Event), events)
        for outcome in outcomes:
            if outcome.receipt is None:
                await self._record_failure(session, outcome, now, stats)

    async def _record_failure(
        self, session: AsyncSession, outcome: _Outcome, now: datetime, stats: DispatchStats
    ) -> None:
        delivery = outcome.delivery
        if outcome.crash is not None:
            await record_failed(
                session,
                delivery.id,
                error=f"unexpected {type(outcome.crash).__name__} in the channel",
                now=now,
                state=DeliveryState.UNCERTAIN,
            )
            stats.uncertain += 1
            stats.errors["lỗi không xác định"] += 1
            return
        error = outcome.error
        if error is None:
            raise AssertionError("an outcome has a receipt, an error or a crash")
        stats.errors[error.detail[:80]] += 1
        if isinstance(error, TransientError) and delivery.attempts < self.retry.max_attempts:
            retry_at = self.retry.next_try(delivery.attempts, now, self.rng, error.retry_after)
            await record_retry(session, delivery.id, error=error.detail, retry_at=retry_at, now=now)
            stats.retried += 1
            return
        await record_failed(session, delivery.id, error=error.detail, now=now)
        stats.failed += 1
        session.add(
            Event(
                campaign_id=delivery.campaign_id,
                respondent_id=delivery.respondent_id,
                contact_id=delivery.contact_id,
                kind="send_failed",
                actor=f"dispatcher:{delivery.channel}",
                at=now,
                data={
                    "delivery": delivery.id,
                    "reason": delivery.reason,
                    "error": error.detail,
                    "permanent": isinstance(error, PermanentError),
                },
            )
        )
        if isinstance(error, RecipientGone) and self.on_gone is not None:
            await self.on_gone(session, delivery, error, now)
