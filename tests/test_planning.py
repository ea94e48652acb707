"""Reminder planning through the outbox, and a campaign walked from invitation to deadline."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from scheduler.calendar import HolidayCalendar
from scheduler.dispatch import Dispatcher
from scheduler.invitations import plan_invitations
from scheduler.planning import PlanningMemo, plan_reminders
from scheduler.tick import PLANNING_LOCK, tick
from storage.channel import Outgoing, Receipt
from storage.db import session_factory
from storage.models import (
    Campaign,
    CampaignState,
    Delivery,
    DeliveryState,
    Respondent,
    RespondentState,
)
from storage.roster import import_roster
from tests.sample import PEOPLE, roster_file

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
HOLIDAYS = HolidayCalendar()


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=HANOI).astimezone(UTC)  # type: ignore[misc]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    name = "email"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sent: list[tuple[str, str, int | None, datetime]] = []

    async def send(self, message: Outgoing) -> Receipt:
        number = message.context.get("reminder_number")
        self.sent.append(
            (
                message.recipient.email or "",
                message.reason,
                number,
                self.clock.now.astimezone(HANOI),
            )
        )
        return Receipt(provider_id=f"<{message.delivery_id}@test>")

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def invited(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, tmp_path: Path
) -> tuple[Clock, Recorder]:
    await import_roster(session, province, roster_file(tmp_path, PEOPLE), actor="test")
    province.state = CampaignState.ACTIVE
    clock = Clock(local(2024, 12, 20, 9, 0))  # Friday, the day the campaign opens
    await plan_invitations(session, province, now=clock.now)
    await session.commit()
    recorder = Recorder(clock)
    await dispatcher(engine, recorder, clock).run_once()
    return clock, recorder


def dispatcher(engine: AsyncEngine, recorder: Recorder, clock: Clock) -> Dispatcher:
    return Dispatcher(
        session_factory(engine),
        {"email": recorder},
        clock=clock,
        rng=random.Random(3),
        holidays=HOLIDAYS,
    )


async def test_planning_twice_queues_once_and_skips_who_needs_nothing(
    session: AsyncSession, province: Campaign, invited: tuple[Clock, Recorder]
) -> None:
    duc = await session.scalar(select(Respondent).where(Respondent.email == "duclv@snv.gov.vn"))
    assert duc is not None
    duc.state = RespondentState.ANSWERED
    await session.commit()
    now = local(2025, 1, 2, 10, 0)
    first = await plan_reminders(session, province, now=now, holidays=HOLIDAYS)
    second = await plan_reminders(session, province, now=now, holidays=HOLIDAYS)
    await session.commit()
    assert (first.queued, second.queued, second.already_queued) == (4, 0, 4)
    assert first.skipped == {"đã trả lời": 1}
    rows = (await session.scalars(select(Delivery).where(Delivery.reason == "reminder"))).all()
    # The first reminder (7 days before Fri 10/01 17:00) falls on Fri 03/01 17:00, when the
    # window has closed: it is due at the next opening, Monday 06/01 07:30.
    assert {r.due_at for r in rows} == {local(2025, 1, 6, 7, 30)}
    assert all(
        r.dedupe_key.startswith("reminder:1:") and r.payload == {"reminder_number": 1} for r in rows
    )


async def test_planners_racing_without_the_lock_queue_each_message_once(
    engine: AsyncEngine, province: Campaign, invited: tuple[Clock, Recorder]
) -> None:
    """Correctness never depends on the planning lock: four passes planning at the same moment
    (as four daemons would without it) add each reminder, digest and escalation once."""
    now = local(2025, 1, 7, 10, 0)  # after the first reminder's offset and an escalation's
    sessions = session_factory(engine)
    reports = await asyncio.gather(
        *(tick(sessions, now=now, holidays=HOLIDAYS, exclusive_planning=False) for _ in range(4)),
        return_exceptions=True,
    )
    # On SQLite the writers queue behind one another; on PostgreSQL they overlap and the
    # unique dedupe keys decide. Either way no pass may fail.
    assert not [r for r in reports if isinstance(r, BaseException)], reports
    async with sessions() as session:
        keys = (await session.scalars(select(Delivery.dedupe_key))).all()
    assert len(keys) == len(set(keys))
    queued = [r.planned[province.code].queued for r in reports if not isinstance(r, BaseException)]
    reminders = [k for k in keys if k.startswith("reminder:")]
    assert sum(queued) == len(reminders) == 5


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_the_planning_lock_lets_one_process_plan_at_a_time(
    engine: AsyncEngine, province: Campaign, invited: tuple[Clock, Recorder]
) -> None:
    now = local(2025, 1, 7, 10, 0)
    sessions = session_factory(engine)
    async with sessions() as holder, holder.begin():
        # Another process is planning: this pass recovers and sends, and plans nothing.
        assert await holder.scalar(select(func.pg_try_advisory_xact_lock(PLANNING_LOCK)))
        busy = await tick(sessions, now=now, holidays=HOLIDAYS)
        assert busy.planned_elsewhere and busy.planned == {}
    # The holder committed, which released the lock: the next pass plans.
    free = await tick(sessions, now=now, holidays=HOLIDAYS)
    assert not free.planned_elsewhere and free.planned[province.code].queued == 5


async def test_the_memo_skips_an_unchanged_campaign_and_notices_every_change(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, invited: tuple[Clock, Recorder]
) -> None:
    clock, recorder = invited
    ticks = [0.0]
    memo = PlanningMemo(max_age=600, monotonic=lambda: ticks[0])
    now = local(2025, 1, 2, 10, 0)

    async def plan() -> tuple[bool, int]:
        async with session_factory(engine)() as s, s.begin():
            campaign = await s.get(Campaign, province.id)
            assert campaign is not None
            report = await plan_reminders(s, campaign, now=now, holidays=HOLIDAYS, memo=memo)
        return report.unchanged, report.queued

    assert await plan() == (False, 5)  # the first pass plans
    assert await plan() == (True, 0)  # nothing changed: skipped

    # Someone answers: the people's fingerprint changes, the pass runs (and queues nothing).
    duc = await session.scalar(select(Respondent).where(Respondent.email == "duclv@snv.gov.vn"))
    assert duc is not None
    duc.state = RespondentState.ANSWERED
    await session.commit()
    assert await plan() == (False, 0)
    assert await plan() == (True, 0)

    # The queued reminders go out: the next ones must be planned at once.
    clock.now = local(2025, 1, 6, 7, 30)
    stats = await dispatcher(engine, recorder, clock).run_once()
    assert stats.sent == 4
    now = local(2025, 1, 6, 8, 0)
    unchanged, queued = await plan()
    assert not unchanged and queued == 4

    # Nothing changes, but the memo never trusts itself for longer than max_age.
    assert await plan() == (True, 0)
    ticks[0] += 601
    assert await plan() == (False, 0)


async def test_a_reminder_claimed_outside_the_window_waits_for_the_opening(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, invited: tuple[Clock, Recorder]
) -> None:
    clock, recorder = invited
    await plan_reminders(session, province, now=local(2025, 1, 2, 10, 0), holidays=HOLIDAYS)
    rows = (await session.scalars(select(Delivery).where(Delivery.reason == "reminder"))).all()
    for row in rows:  # as if queued for Saturday by an older policy
        row.due_at = local(2025, 1, 4, 9, 0)
    await session.commit()
    clock.now = local(2025, 1, 4, 10, 0)  # Saturday
    stats = await dispatcher(engine, recorder, clock).run_once()
    assert stats.handled == 0 and not [s for s in recorder.sent if s[1] == "reminder"]
    session.expunge_all()
    waiting = (await session.scalars(select(Delivery).where(Delivery.reason == "reminder"))).all()
    assert {(d.state, d.due_at, d.attempts) for d in waiting} == {
        (DeliveryState.QUEUED, local(2025, 1, 6, 7, 30), 0)
    }


async def test_a_campaign_from_invitation_to_deadline(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, invited: tuple[Clock, Recorder]
) -> None:
    clock, recorder = invited
    end = local(2025, 1, 10, 18, 0)
    send = dispatcher(engine, recorder, clock)
    while clock.now < end:
        clock.now += timedelta(hours=1)
        if clock.now == local(2025, 1, 7, 9, 0):
            # Hoà answers on Tuesday morning: she gets nothing more.
            hoa = await session.scalar(
                select(Respondent).where(Respondent.email == "hoatt@snv.gov.vn")
            )
            assert hoa is not None
            hoa.state = RespondentState.ANSWERED
        await plan_reminders(session, province, now=clock.now, holidays=HOLIDAYS)
        await session.commit()
        await send.run_once()

    people = sorted(
        e for e in (await session.scalars(select(Respondent.email))).all() if e is not None
    )
    invitations = {
        (e, r, n, t.strftime("%a %d/%m %H:%M")) for e, r, n, t in recorder.sent if r == "invitation"
    }
    assert invitations == {(e, "invitation", None, "Fri 20/12 09:00") for e in people}
    reminders = sorted(
        (e, r, n, t.strftime("%a %d/%m %H:%M")) for e, r, n, t in recorder.sent if r != "invitation"
    )
    expected = []
    for email in people:
        expected.append((email, "reminder", 1, "Mon 06/01 08:00"))
        if email != "hoatt@snv.gov.vn":
            expected.append((email, "reminder", 2, "Wed 08/01 08:00"))
            expected.append((email, "last_day", 3, "Fri 10/01 08:00"))
    assert reminders == sorted(expected)
    # Nothing on a weekend, nothing after the deadline.
    assert all(t.weekday() < 5 for _, _, _, t in recorder.sent)
