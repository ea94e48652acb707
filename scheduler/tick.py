"""One pass of the scheduler: recover, plan (reminders, digests, escalations), send.

``dondoc tick`` runs it once (for cron and tests); the daemon runs it on a timer. Every step is
idempotent, so a pass repeated or run by two processes at once sends nothing twice: the
database decides, not this process. On PostgreSQL a transaction-scoped advisory lock lets one
process plan at a time and the others skip straight to sending; that only saves work — planning
without it (SQLite, or ``exclusive_planning=False``) is just as correct."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scheduler.calendar import HolidayCalendar, SendingCalendar
from scheduler.digests import plan_digests, plan_escalations
from scheduler.dispatch import Dispatcher, DispatchStats, GoneHandler
from scheduler.planning import PlanningMemo, PlanReport, plan_reminders
from storage.channel import Channel
from storage.models import Campaign, CampaignState
from storage.outbox import recover_stale
from storage.policy import Policy

PLANNING_LOCK: Final = 0x646F6E646F63
"""The PostgreSQL advisory lock key of the planner ("dondoc" in ASCII)."""


@dataclass(slots=True)
class TickReport:
    uncertain: int = 0
    # Another process held the planning lock: this pass only recovered and sent.
    planned_elsewhere: bool = False
    planned: dict[str, PlanReport] = field(default_factory=dict)
    # Digests and escalations queued, per campaign code.
    digests: dict[str, int] = field(default_factory=dict)
    escalations: dict[str, int] = field(default_factory=dict)
    dispatched: DispatchStats | None = None


async def tick(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    holidays: HolidayCalendar,
    channels: Mapping[str, Channel] | None = None,
    campaign_code: str | None = None,
    on_gone: GoneHandler | None = None,
    exclusive_planning: bool = True,
    memo: PlanningMemo | None = None,
) -> TickReport:
    """Recover deliveries a crash left ``sending``, plan every active campaign, then send what
    is due through ``channels`` (planning only when there are none). A long-running caller
    passes a ``memo`` so reminders are not planned again for a campaign that has not changed."""
    report = TickReport()
    async with sessions() as session, session.begin():
        report.uncertain = await recover_stale(session, now=now)
        if exclusive_planning and not await _planning_turn(session):
            report.planned_elsewhere = True
        else:
            await _plan(
                session,
                report,
                now=now,
                holidays=holidays,
                campaign_code=campaign_code,
                memo=memo,
            )
    if channels:
        dispatcher = Dispatcher(
            sessions, channels, clock=lambda: now, holidays=holidays, on_gone=on_gone
        )
        report.dispatched = await dispatcher.run_once()
    return report


async def _planning_turn(session: AsyncSession) -> bool:
    """Whether this process may plan now: always on SQLite (one writer at a time anyway); on
    PostgreSQL when no other transaction holds the planning lock, released at commit."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(PLANNING_LOCK))))


async def _plan(
    session: AsyncSession,
    report: TickReport,
    *,
    now: datetime,
    holidays: HolidayCalendar,
    campaign_code: str | None,
    memo: PlanningMemo | None,
) -> None:
    query = select(Campaign).where(Campaign.state == CampaignState.ACTIVE)
    if campaign_code is not None:
        query = query.where(Campaign.code == campaign_code)
    for campaign in await session.scalars(query.order_by(Campaign.id)):
        report.planned[campaign.code] = await plan_reminders(
            session, campaign, now=now, holidays=holidays, memo=memo
        )
        calendar = SendingCalendar(
            Policy.from_json(campaign.policy).window, campaign.timezone, holidays=holidays
        )
        report.digests[campaign.code] = await plan_digests(
            session, campaign, now=now, calendar=calendar
        )
        report.escalations[campaign.code] = await plan_escalations(
            session, campaign, now=now, calendar=calendar
        )
