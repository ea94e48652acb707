"""The planning pass: turn the reminder policy into outbox rows, for a whole campaign at once.

Planning reads the campaign's people and their chasing history in two queries, decides each
person's next reminder with the pure planner (``scheduler.reminders``), and writes the new rows
with dedupe keys — so planning twice, or two planners racing, adds each reminder once. The
database is the truth: nothing about who was reminded lives in this process's memory.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.calendar import HolidayCalendar
from scheduler.reminders import Planned, ReminderPlanner
from storage.models import (
    Campaign,
    Delivery,
    DeliveryState,
    EmailHealth,
    Respondent,
    RespondentState,
)
from storage.outbox import CHASING, enqueue_many

CHANNEL = "email"


@dataclass(slots=True)
class PlanReport:
    queued: int = 0
    already_queued: int = 0
    # Why people get nothing now: "no email", "answered"... (counts).
    skipped: dict[str, int] = field(default_factory=dict)
    # What would be or was queued, for `dondoc plan`: (respondent id, planned reminder).
    planned: list[tuple[int, Planned]] = field(default_factory=list)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


async def plan_reminders(
    session: AsyncSession,
    campaign: Campaign,
    *,
    now: datetime,
    holidays: HolidayCalendar,
    dry_run: bool = False,
) -> PlanReport:
    """Queue every person's next reminder that is due by now or later; the caller commits."""
    planner = ReminderPlanner.for_campaign(campaign, holidays)
    people = (
        await session.execute(
            select(Respondent.id, Respondent.state, Respondent.email, Respondent.email_health)
            .where(Respondent.campaign_id == campaign.id)
            .order_by(Respondent.id)
        )
    ).all()
    history: dict[int, list[tuple[str, DeliveryState, datetime | None]]] = defaultdict(list)
    for owner, reason, delivery_state, sent_at in await session.execute(
        select(Delivery.respondent_id, Delivery.reason, Delivery.state, Delivery.sent_at).where(
            Delivery.campaign_id == campaign.id,
            Delivery.reason.in_(CHASING),
            Delivery.respondent_id.is_not(None),
        )
    ):
        if owner is not None:
            history[owner].append((reason, delivery_state, sent_at))

    report = PlanReport()
    rows: list[dict[str, Any]] = []
    # Invitations go out in waves, so most people share their history: decide once per history.
    decided: dict[tuple[RespondentState, tuple[datetime, ...], datetime], Planned | None] = {}
    for rid, state, email, health in people:
        if state in (RespondentState.ANSWERED, RespondentState.EXCLUDED):
            report.skip("đã trả lời" if state == RespondentState.ANSWERED else "đã loại")
            continue
        if not email or health == EmailHealth.BOUNCED:
            report.skip("không có email dùng được")
            continue
        past = history.get(rid, [])
        invited = [t for r, s, t in past if r == "invitation" and s == DeliveryState.SENT and t]
        if not invited:
            report.skip("chưa được mời")
            continue
        reminded = sorted(
            t for r, s, t in past if r != "invitation" and s == DeliveryState.SENT and t
        )
        key = (state, tuple(reminded), max(invited))
        if key not in decided:
            decided[key] = planner.plan(state, reminded, key[2], now)
        planned = decided[key]
        if planned is None:
            report.skip("không còn lần nhắc nào")
            continue
        report.planned.append((rid, planned))
        rows.append(
            {
                "campaign_id": campaign.id,
                "channel": CHANNEL,
                "reason": planned.reason,
                "dedupe_key": planned.dedupe_key(rid, CHANNEL),
                "due_at": planned.due_at,
                "respondent_id": rid,
                "payload": {"reminder_number": planned.number},
            }
        )
    if dry_run:
        report.queued = len(rows)
        return report
    added = await enqueue_many(session, rows)
    report.queued = added
    report.already_queued = len(rows) - added
    return report
