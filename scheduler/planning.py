"""The planning pass: turn the reminder policy into outbox rows, for a whole campaign at once.

Planning reads the campaign's people, their chasing history and their linked chats in three
queries, decides each person's next reminder with the pure planner (``scheduler.reminders``) and
its channel (``bot.routing``: policy.channels' order, a live chat or else email), and writes the
new rows with dedupe keys — so planning twice, or two planners racing, adds each reminder once. The
database is the truth: nothing about who was reminded lives in this process's memory.

A daemon plans every minute, and most minutes nothing has changed: a ``PlanningMemo`` lets it
skip the pass when a two-query fingerprint of the campaign (people by state and email health,
chasing deliveries by reason and state, the campaign's own row and where ``now`` stands against
its dates) is what it was after the last full pass — and never for longer than ``max_age``, so
a change the fingerprint cannot see is planned at most that much later.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.routing import pick_channel
from scheduler.calendar import HolidayCalendar
from scheduler.reminders import Planned, ReminderPlanner
from storage.models import (
    Campaign,
    ChatIdentity,
    Delivery,
    DeliveryState,
    EmailHealth,
    Respondent,
    RespondentState,
)
from storage.outbox import CHASING, enqueue_many
from storage.policy import Policy

CHANNEL = "email"
"""The channel when the policy names no other that reaches the person."""


@dataclass(slots=True)
class PlanReport:
    queued: int = 0
    already_queued: int = 0
    # Skipped: nothing changed since the last full pass (see PlanningMemo).
    unchanged: bool = False
    # Why people get nothing now: "no email", "answered"... (counts).
    skipped: dict[str, int] = field(default_factory=dict)
    # What would be or was queued, for `dondoc plan`: (respondent id, planned reminder).
    planned: list[tuple[int, Planned]] = field(default_factory=list)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


Fingerprint = tuple[Any, ...]


class PlanningMemo:
    """One process's memory of each campaign's fingerprint after its last full planning pass."""

    def __init__(
        self, *, max_age: float = 600.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age = max_age
        self._monotonic = monotonic
        self._seen: dict[int, tuple[Fingerprint, float]] = {}

    def unchanged(self, campaign_id: int, fingerprint: Fingerprint) -> bool:
        seen = self._seen.get(campaign_id)
        return (
            seen is not None
            and seen[0] == fingerprint
            and self._monotonic() - seen[1] < self.max_age
        )

    def remember(self, campaign_id: int, fingerprint: Fingerprint) -> None:
        self._seen[campaign_id] = (fingerprint, self._monotonic())


async def fingerprint(session: AsyncSession, campaign: Campaign, now: datetime) -> Fingerprint:
    """What the planner's decisions depend on, other than the passing of time within the
    campaign's dates (reminders are queued ahead, with their due times)."""
    people = await session.execute(
        select(
            Respondent.state,
            Respondent.email_health,
            Respondent.email.is_not(None),
            func.count(),
        )
        .where(Respondent.campaign_id == campaign.id)
        .group_by(Respondent.state, Respondent.email_health, Respondent.email.is_not(None))
    )
    chasing = await session.execute(
        select(Delivery.reason, Delivery.state, func.count())
        .where(
            Delivery.campaign_id == campaign.id,
            Delivery.reason.in_(CHASING),
            Delivery.respondent_id.is_not(None),
        )
        .group_by(Delivery.reason, Delivery.state)
    )
    linked = await session.execute(
        select(ChatIdentity.channel, ChatIdentity.gone_at.is_(None), func.count())
        .where(ChatIdentity.campaign_id == campaign.id, ChatIdentity.respondent_id.is_not(None))
        .group_by(ChatIdentity.channel, ChatIdentity.gone_at.is_(None))
    )
    return (
        campaign.state,
        campaign.updated_at,
        now >= campaign.opens_at,
        now >= campaign.deadline,
        tuple(sorted((str(a), str(b), bool(c), n) for a, b, c, n in people)),
        tuple(sorted((str(a), str(b), n) for a, b, n in chasing)),
        tuple(sorted((str(a), bool(b), n) for a, b, n in linked)),
    )


async def plan_reminders(
    session: AsyncSession,
    campaign: Campaign,
    *,
    now: datetime,
    holidays: HolidayCalendar,
    dry_run: bool = False,
    memo: PlanningMemo | None = None,
) -> PlanReport:
    """Queue every person's next reminder that is due by now or later; the caller commits.

    With a ``memo``, a campaign unchanged since the last full pass is not planned again."""
    if memo is not None and not dry_run:
        if memo.unchanged(campaign.id, await fingerprint(session, campaign, now)):
            return PlanReport(unchanged=True)
    planner = ReminderPlanner.for_campaign(campaign, holidays)
    # Plain Core rows, not the ORM's: 100,000 rows through the ORM's loading cost a third more.
    connection = await session.connection()
    people = (
        await connection.execute(
            select(Respondent.id, Respondent.state, Respondent.email, Respondent.email_health)
            .where(Respondent.campaign_id == campaign.id)
            .order_by(Respondent.id)
        )
    ).all()
    history: dict[int, list[tuple[str, DeliveryState, datetime | None]]] = defaultdict(list)
    # Keys already in the outbox are not offered again: a pass with nothing new writes nothing.
    existing: set[str] = set()
    # Reminders waiting in the outbox, by person: the channels they wait on.
    waiting: dict[int, set[str]] = defaultdict(set)
    for owner, reason, delivery_state, sent_at, dedupe_key, waits_on in await connection.execute(
        select(
            Delivery.respondent_id,
            Delivery.reason,
            Delivery.state,
            Delivery.sent_at,
            Delivery.dedupe_key,
            Delivery.channel,
        ).where(
            Delivery.campaign_id == campaign.id,
            Delivery.reason.in_(CHASING),
            Delivery.respondent_id.is_not(None),
        )
    ):
        if owner is not None:
            history[owner].append((reason, delivery_state, sent_at))
            if reason != "invitation":
                existing.add(dedupe_key)
                if delivery_state in (DeliveryState.QUEUED, DeliveryState.SENDING):
                    waiting[owner].add(waits_on)
    # Linked chats that still reach their person: reminders follow policy.channels' order.
    chats: dict[int, set[str]] = defaultdict(set)
    for owner, chat_channel in await connection.execute(
        select(ChatIdentity.respondent_id, ChatIdentity.channel).where(
            ChatIdentity.campaign_id == campaign.id,
            ChatIdentity.respondent_id.is_not(None),
            ChatIdentity.gone_at.is_(None),
        )
    ):
        if owner is not None:
            chats[owner].add(chat_channel)
    preference = Policy.from_json(campaign.policy).channels

    report = PlanReport()
    rows: list[dict[str, Any]] = []
    # Invitations go out in waves, so most people share their history: decide once per history.
    decided: dict[tuple[RespondentState, tuple[datetime, ...], datetime], Planned | None] = {}
    for rid, state, email, health in people:
        if state in (RespondentState.ANSWERED, RespondentState.EXCLUDED):
            report.skip("đã trả lời" if state == RespondentState.ANSWERED else "đã loại")
            continue
        channel = pick_channel(
            preference,
            chats.get(rid, set()),
            email_usable=bool(email) and health != EmailHealth.BOUNCED,
        )
        if channel is None:
            report.skip("không có email dùng được")
            continue
        if waiting.get(rid, set()) - {channel}:
            # Its next reminder already waits on another channel (a chat linked or gone since):
            # the dispatcher settles that one first, so the person never gets the same one twice.
            report.skip("đã xếp lịch trên kênh khác")
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
        if planned.dedupe_key(rid, CHANNEL) in existing:
            report.already_queued += 1
            continue
        rows.append(
            {
                "campaign_id": campaign.id,
                "channel": channel,
                "reason": planned.reason,
                "dedupe_key": planned.dedupe_key(rid, channel),
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
    report.already_queued += len(rows) - added
    if memo is not None:
        # After the inserts, in the same transaction: the next pass compares with this.
        memo.remember(campaign.id, await fingerprint(session, campaign, now))
    return report
