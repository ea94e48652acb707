"""What the organiser's report says: the summary, each unit with its focal points, each group, and
the people who have not answered, by unit; for the whole campaign or a set of units (a focal
point's scope). Counted by ``storage.progress`` from the respondents' current state; no tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Campaign, Contact, ContactRole, ContactUnit, Unit
from storage.progress import PendingPerson, Tally, campaign_progress
from storage.text import fold


@dataclass(frozen=True, slots=True)
class UnitLine:
    tally: Tally
    focal_points: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReportData:
    campaign_code: str
    title: str
    timezone: str
    deadline: datetime
    now: datetime
    overall: Tally
    # Sorted by unit name, the order of the organiser's own lists.
    units: list[UnitLine]
    groups: list[Tally]
    # Sorted by unit, then by Vietnamese name order.
    pending: list[PendingPerson]
    # None when the report covers every unit of the campaign.
    scope: frozenset[int] | None

    @property
    def units_done(self) -> int:
        return sum(1 for line in self.units if line.tally.total and line.tally.pending == 0)


async def report_data(
    session: AsyncSession, campaign: Campaign, *, unit_ids: frozenset[int] | None, now: datetime
) -> ReportData:
    progress = await campaign_progress(
        session,
        campaign,
        unit_ids=None if unit_ids is None else sorted(unit_ids),
        with_pending=True,
        now=now,
    )
    focal: dict[str, list[str]] = {}
    rows = await session.execute(
        select(Unit.code, Contact.full_name)
        .join(ContactUnit, ContactUnit.unit_id == Unit.id)
        .join(Contact, Contact.id == ContactUnit.contact_id)
        .where(Contact.campaign_id == campaign.id, Contact.role == ContactRole.UNIT_FOCAL)
        .order_by(Unit.code, Contact.full_name)
    )
    for code, name in rows:
        focal.setdefault(code, []).append(name)
    units = sorted(
        (UnitLine(t, tuple(focal.get(t.code, ()))) for t in progress.by_unit),
        key=lambda line: (fold(line.tally.name), line.tally.code),
    )
    return ReportData(
        campaign_code=campaign.code,
        title=campaign.title,
        timezone=campaign.timezone,
        deadline=campaign.deadline,
        now=now,
        overall=progress.overall,
        units=units,
        groups=progress.by_group,
        pending=progress.pending or [],
        scope=unit_ids,
    )
