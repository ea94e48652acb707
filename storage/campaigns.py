"""Campaigns in the database: create or update one from a validated campaign file, list, find."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.campaign_file import CampaignSpec
from storage.errors import DondocError, NotFoundError
from storage.models import (
    Campaign,
    CampaignState,
    Delivery,
    DeliveryState,
    Event,
    Group,
    Respondent,
    utcnow,
)


class CampaignExistsError(DondocError):
    """``campaign create`` on a code that exists, without asking for an update."""


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    campaign: Campaign
    respondents: int
    answered: int


async def get_campaign(session: AsyncSession, code: str) -> Campaign:
    campaign = await session.scalar(select(Campaign).where(Campaign.code == code))
    if campaign is None:
        known = (await session.scalars(select(Campaign.code).order_by(Campaign.code))).all()
        hint = f" Các đợt đang có: {', '.join(known)}." if known else " Chưa có đợt nào."
        raise NotFoundError(
            f"Không tìm thấy đợt khảo sát có mã «{code}».{hint} "
            "Xem danh sách bằng lệnh: dondoc campaign list",
            f"campaign {code!r} not found",
        )
    return campaign


async def save_campaign(
    session: AsyncSession, spec: CampaignSpec, *, actor: str, update: bool = False
) -> tuple[Campaign, bool]:
    """Write ``spec``; returns (campaign, created). Updating never drops a group people are in."""
    campaign = await session.scalar(select(Campaign).where(Campaign.code == spec.code))
    created = campaign is None
    if campaign is not None and not update:
        raise CampaignExistsError(
            f"Đợt khảo sát «{spec.code}» đã có. Muốn cập nhật theo tệp mới, chạy lại lệnh "
            "với tùy chọn --update.",
            f"campaign {spec.code!r} exists; pass --update to change it",
        )
    if campaign is None:
        campaign = Campaign(code=spec.code)
        session.add(campaign)
    campaign.title = spec.title
    campaign.survey_url = spec.survey_url
    campaign.opens_at = spec.opens_at
    campaign.deadline = spec.deadline
    campaign.timezone = spec.timezone
    campaign.preset = spec.preset
    campaign.policy = spec.policy.to_json()
    campaign.unit_kinds = [
        {"code": k.code, "name": k.name, "match": list(k.match)} for k in spec.unit_kinds
    ]
    campaign.source_file = spec.source_file
    campaign.templates_dir = str(spec.templates_dir) if spec.templates_dir else None
    campaign.completion_rules = [dict(rule) for rule in spec.completion_rules]
    # The file is the truth for the sources it describes: a removed [limesurvey] stops polling.
    sources = {k: v for k, v in (campaign.sources or {}).items() if k != "limesurvey"}
    if spec.limesurvey is not None:
        sources["limesurvey"] = dict(spec.limesurvey)
    campaign.sources = sources
    await session.flush()

    existing = {
        g.code: g
        for g in await session.scalars(select(Group).where(Group.campaign_id == campaign.id))
    }
    wanted = {g.code for g in spec.groups}
    for code, old in existing.items():
        if code in wanted:
            continue
        in_use = await session.scalar(
            select(func.count()).select_from(Respondent).where(Respondent.group_id == old.id)
        )
        if in_use:
            raise DondocError(
                f"Tệp mới bỏ nhóm «{old.name}» ({code}) nhưng nhóm này đang có {in_use} người. "
                "Hãy giữ nhóm trong tệp, hoặc chuyển những người đó sang nhóm khác trước.",
                f"group {code!r} removed from the file but has {in_use} respondents",
            )
        await session.delete(old)
    for spec_group in spec.groups:
        group = existing.get(spec_group.code)
        if group is None:
            group = Group(campaign_id=campaign.id, code=spec_group.code)
            session.add(group)
        group.name = spec_group.name
        group.priority = spec_group.priority
        group.quotas = dict(spec_group.quotas)
        group.aliases = list(spec_group.aliases)
        group.survey_url = spec_group.survey_url
    session.add(
        Event(
            campaign_id=campaign.id,
            kind="campaign_created" if created else "campaign_updated",
            actor=actor,
            data={"file": spec.source_file},
        )
    )
    await session.flush()
    return campaign, created


async def list_campaigns(session: AsyncSession) -> list[CampaignSummary]:
    counts = (
        select(
            Respondent.campaign_id,
            func.count().label("total"),
            func.count().filter(Respondent.state == "answered").label("answered"),
        )
        .where(Respondent.state != "excluded")
        .group_by(Respondent.campaign_id)
        .subquery()
    )
    rows = await session.execute(
        select(Campaign, counts.c.total, counts.c.answered)
        .outerjoin(counts, counts.c.campaign_id == Campaign.id)
        .order_by(Campaign.deadline.desc(), Campaign.code)
    )
    return [
        CampaignSummary(campaign=c, respondents=total or 0, answered=answered or 0)
        for c, total, answered in rows
    ]


async def campaign_groups(session: AsyncSession, campaign: Campaign) -> list[Group]:
    return list(
        await session.scalars(
            select(Group).where(Group.campaign_id == campaign.id).order_by(Group.priority)
        )
    )


async def close_campaign(session: AsyncSession, campaign: Campaign, *, actor: str) -> int:
    """Stop everything for a campaign: no more planning, and queued messages cancelled.

    Returns how many queued deliveries were cancelled. Sent messages stay as the record.
    """
    now = utcnow()
    campaign.state = CampaignState.CLOSED
    result = await session.execute(
        update(Delivery)
        .where(Delivery.campaign_id == campaign.id, Delivery.state == DeliveryState.QUEUED)
        .values(state=DeliveryState.CANCELLED, last_error="campaign closed", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    cancelled = int(getattr(result, "rowcount", 0) or 0)
    session.add(
        Event(
            campaign_id=campaign.id,
            kind="campaign_closed",
            actor=actor,
            at=now,
            data={"cancelled": cancelled},
        )
    )
    await session.flush()
    return cancelled
