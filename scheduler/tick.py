"""One pass of the scheduler: recover, plan (reminders, digests, escalations), send.

``dondoc tick`` runs it once (for cron and tests); the daemon runs it on a timer. Every step is
idempotent, so a pass repeated or run by two processes at once sends nothing twice: the
database decides, not this process."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scheduler.calendar import HolidayCalendar, SendingCalendar
from scheduler.digests import plan_digests, plan_escalations
from scheduler.dispatch import Dispatcher, DispatchStats, GoneHandler
from scheduler.planning import PlanReport, plan_reminders
from storage.channel import Channel
from storage.models import Campaign, CampaignState
from storage.outbox import recover_stale
from storage.policy import Policy


@dataclass(slots=True)
class TickReport:
    uncertain: int = 0
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
) -> TickReport:
    """Recover deliveries a crash left ``sending``, plan every active campaign, then send what
    is due through ``channels`` (planning only when there are none)."""
    report = TickReport()
    async with sessions() as session, session.begin():
        report.uncertain = await recover_stale(session, now=now)
        query = select(Campaign).where(Campaign.state == CampaignState.ACTIVE)
        if campaign_code is not None:
            query = query.where(Campaign.code == campaign_code)
        for campaign in await session.scalars(query.order_by(Campaign.id)):
            report.planned[campaign.code] = await plan_reminders(
                session, campaign, now=now, holidays=holidays
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
    if channels:
        dispatcher = Dispatcher(
            sessions, channels, clock=lambda: now, holidays=holidays, on_gone=on_gone
        )
        report.dispatched = await dispatcher.run_once()
    return report
