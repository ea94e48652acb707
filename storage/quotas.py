"""Quotas (chỉ tiêu): how many people each unit should have in each group, and where not.

Plans like Sơn La's fix a number per unit and group (3 leaders, 5 division leaders, 12 civil
servants per department). A shortfall or an excess is reported to the organiser, never refused:
the list is theirs to correct.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.campaign_file import GroupSpec
from storage.models import Campaign, Group, Respondent, RespondentState, Unit


@dataclass(frozen=True, slots=True)
class QuotaGap:
    unit: str
    group: str
    expected: int
    actual: int


def spec_groups(groups: Sequence[Group]) -> list[GroupSpec]:
    """The stored groups as the specs the campaign file made them from."""
    return [
        GroupSpec(
            code=g.code,
            name=g.name,
            priority=g.priority,
            quotas=dict(g.quotas),
            aliases=tuple(g.aliases),
            survey_url=g.survey_url,
        )
        for g in groups
    ]


def unit_gaps(
    unit_name: str, kind: str | None, groups: Sequence[GroupSpec], counts: Mapping[str, int]
) -> list[QuotaGap]:
    """Gaps of one unit, given its number of people per group code."""
    if kind is None:
        return []
    gaps = []
    for group in groups:
        expected = group.quotas.get(kind)
        if expected is not None and counts.get(group.code, 0) != expected:
            gaps.append(QuotaGap(unit_name, group.name, expected, counts.get(group.code, 0)))
    return gaps


async def quota_gaps(session: AsyncSession, campaign: Campaign) -> list[QuotaGap]:
    """Units whose number of people in a group differs from the group's quota for the unit kind."""
    groups = list(
        await session.scalars(
            select(Group).where(Group.campaign_id == campaign.id).order_by(Group.priority)
        )
    )
    if not any(g.quotas for g in groups):
        return []
    code_of = {g.id: g.code for g in groups}
    per_unit: dict[int, dict[str, int]] = {}
    for unit_id, group_id, n in await session.execute(
        select(Respondent.unit_id, Respondent.group_id, func.count())
        .where(Respondent.campaign_id == campaign.id, Respondent.state != RespondentState.EXCLUDED)
        .group_by(Respondent.unit_id, Respondent.group_id)
    ):
        per_unit.setdefault(unit_id, {})[code_of[group_id]] = n
    specs = spec_groups(groups)
    gaps: list[QuotaGap] = []
    for unit in await session.scalars(
        select(Unit).where(Unit.campaign_id == campaign.id).order_by(Unit.name_key)
    ):
        gaps.extend(unit_gaps(unit.name, unit.kind, specs, per_unit.get(unit.id, {})))
    return gaps
