"""Invitations: one per person, queued with a dedupe key so asking twice sends nothing new.

An invitation is what the organiser explicitly sends now, so it is due at once (the sending
window applies to reminders, not to this). People who have answered, are excluded, have no email
address or an address known to bounce are skipped and counted, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Campaign,
    Delivery,
    EmailHealth,
    Respondent,
    RespondentState,
    Unit,
)
from storage.outbox import enqueue_many
from storage.progress import resolve_unit

CHANNEL = "email"


def invitation_key(respondent_id: int) -> str:
    return f"invitation:{respondent_id}:{CHANNEL}"


@dataclass(slots=True)
class InvitationPlan:
    queued: int = 0
    already_queued: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


async def plan_invitations(
    session: AsyncSession,
    campaign: Campaign,
    *,
    now: datetime,
    unit: str | None = None,
    dry_run: bool = False,
) -> InvitationPlan:
    """Queue the campaign's invitations (or one unit's); the caller commits."""
    conditions = [Respondent.campaign_id == campaign.id]
    if unit is not None:
        conditions.append(Respondent.unit_id == await resolve_unit(session, campaign, unit))
    people = (
        await session.execute(
            select(Respondent.id, Respondent.state, Respondent.email, Respondent.email_health)
            .join(Unit, Unit.id == Respondent.unit_id)
            .where(*conditions)
            .order_by(Unit.name_key, Respondent.id)
        )
    ).all()
    existing = set(
        (
            await session.scalars(
                select(Delivery.dedupe_key).where(
                    Delivery.campaign_id == campaign.id, Delivery.reason == "invitation"
                )
            )
        ).all()
    )
    plan = InvitationPlan()
    rows = []
    for rid, state, email, health in people:
        if state == RespondentState.ANSWERED:
            plan.skip("đã trả lời")
        elif state == RespondentState.EXCLUDED:
            plan.skip("đã loại khỏi danh sách")
        elif not email:
            plan.skip("không có email")
        elif health == EmailHealth.BOUNCED:
            plan.skip("email bị trả lại")
        elif invitation_key(rid) in existing:
            plan.already_queued += 1
        else:
            rows.append(
                {
                    "campaign_id": campaign.id,
                    "channel": CHANNEL,
                    "reason": "invitation",
                    "dedupe_key": invitation_key(rid),
                    "due_at": now,
                    "respondent_id": rid,
                }
            )
    if dry_run:
        plan.queued = len(rows)
    else:
        added = await enqueue_many(session, rows)
        # A concurrent run may have queued some of the same keys a moment earlier.
        plan.queued = added
        plan.already_queued += len(rows) - added
    return plan
