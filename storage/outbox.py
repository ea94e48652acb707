"""The outbox: deliveries written before a byte leaves, claimed once, and their outcomes.

``enqueue`` is idempotent by ``dedupe_key`` (adding the same key twice cannot send twice);
``claim_due`` takes due rows with a conditional UPDATE, so two workers never hold the same row;
``record_*`` write what the channel answered. A row left ``sending`` by a crash is turned
``uncertain`` by ``recover_stale`` and is re-sent only when a person asks for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Campaign,
    CampaignState,
    Delivery,
    DeliveryState,
    EmailHealth,
    Respondent,
    RespondentState,
    utcnow,
)


async def enqueue(
    session: AsyncSession,
    *,
    campaign_id: int,
    channel: str,
    reason: str,
    dedupe_key: str,
    due_at: datetime,
    respondent_id: int | None = None,
    contact_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Add one delivery unless its dedupe key exists; True when it was added."""
    return (
        await enqueue_many(
            session,
            [
                {
                    "campaign_id": campaign_id,
                    "channel": channel,
                    "reason": reason,
                    "dedupe_key": dedupe_key,
                    "due_at": due_at,
                    "respondent_id": respondent_id,
                    "contact_id": contact_id,
                    "payload": payload or {},
                }
            ],
        )
        == 1
    )


async def enqueue_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Add deliveries in bulk, skipping dedupe keys that exist; returns how many were added.

    Each row has the keys of ``enqueue``. The database decides (ON CONFLICT DO NOTHING), so
    two planners racing on the same keys still add each delivery once.
    """
    if not rows:
        return 0
    now = utcnow()
    values = [
        {
            "state": DeliveryState.QUEUED.value,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
            "respondent_id": None,
            "contact_id": None,
            "payload": {},
            **row,
        }
        for row in rows
    ]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Core, not the ORM's bulk path: planning a national campaign queues 50,000 rows at once.
    table = cast(Table, Delivery.__table__)
    connection = await session.connection()
    added = 0
    for start in range(0, len(values), 1000):
        statement = insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
        result = await connection.execute(
            statement.returning(table.c.id), values[start : start + 1000]
        )
        added += len(result.all())
    return added


async def cancel_pending(
    session: AsyncSession,
    *,
    respondent_id: int | None = None,
    contact_id: int | None = None,
    channel: str | None = None,
    reason: str,
) -> int:
    """Cancel queued deliveries to one person (optionally on one channel); returns how many.

    Only ``queued`` rows change: what is being sent or was sent stays as the record of it.
    """
    conditions = [Delivery.state == DeliveryState.QUEUED]
    if respondent_id is not None:
        conditions.append(Delivery.respondent_id == respondent_id)
    if contact_id is not None:
        conditions.append(Delivery.contact_id == contact_id)
    if channel is not None:
        conditions.append(Delivery.channel == channel)
    if len(conditions) == 1:
        raise ValueError("cancel_pending needs a respondent or a contact")
    result = await session.execute(
        update(Delivery)
        .where(*conditions)
        .values(state=DeliveryState.CANCELLED, last_error=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# Reasons that exist only while the respondent still has to answer.
CHASING = ("invitation", "reminder", "last_day")
# Reasons that report on a running campaign to its focal points and heads.
REPORTING = ("digest", "escalation")


async def cancel_unneeded(session: AsyncSession, *, now: datetime) -> int:
    """Cancel due chasing messages whose person no longer needs them; returns how many.

    Run in the same transaction as ``claim_due``: that is the check at send time (Promise 1),
    so an answer recorded a second before the claim still stops the reminder.
    """
    not_needed = (
        select(Respondent.id)
        .join(Campaign, Campaign.id == Respondent.campaign_id)
        .where(
            Respondent.id == Delivery.respondent_id,
            or_(
                Respondent.state.in_([RespondentState.ANSWERED, RespondentState.EXCLUDED]),
                Campaign.state == CampaignState.CLOSED,
                and_(Delivery.reason != "invitation", Campaign.deadline <= now),
                and_(Delivery.channel == "email", Respondent.email_health == EmailHealth.BOUNCED),
            ),
        )
        .exists()
    )
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.state == DeliveryState.QUEUED,
            Delivery.due_at <= now,
            Delivery.reason.in_(CHASING),
            not_needed,
        )
        .values(state=DeliveryState.CANCELLED, last_error="no longer needed", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    # Digests and escalations speak of a running campaign: none after its end.
    over = (
        select(Campaign.id)
        .where(
            Campaign.id == Delivery.campaign_id,
            or_(Campaign.state == CampaignState.CLOSED, Campaign.deadline <= now),
        )
        .exists()
    )
    ended = await session.execute(
        update(Delivery)
        .where(
            Delivery.state == DeliveryState.QUEUED,
            Delivery.due_at <= now,
            Delivery.reason.in_(REPORTING),
            over,
        )
        .values(state=DeliveryState.CANCELLED, last_error="campaign over", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) + int(getattr(ended, "rowcount", 0) or 0)


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    channels: Sequence[str] | None = None,
    campaign_id: int | None = None,
) -> list[Delivery]:
    """Mark up to ``limit`` due deliveries ``sending`` and return them; the caller commits.

    One conditional UPDATE: on PostgreSQL the candidate rows are locked with SKIP LOCKED, so
    concurrent workers take disjoint rows; on SQLite the single writer serialises the claims.
    """
    await cancel_unneeded(session, now=now)
    candidates = (
        select(Delivery.id)
        .where(Delivery.state == DeliveryState.QUEUED, Delivery.due_at <= now)
        .order_by(Delivery.due_at, Delivery.id)
        .limit(limit)
    )
    if channels is not None:
        # A process claims only what it can send; other channels wait for a process that can.
        candidates = candidates.where(Delivery.channel.in_(list(channels)))
    if campaign_id is not None:
        candidates = candidates.where(Delivery.campaign_id == campaign_id)
    if session.get_bind().dialect.name == "postgresql":
        # A materialised CTE: inside a plain IN (...) PostgreSQL may run a LIMITed SKIP LOCKED
        # subquery more than once and claim more rows than asked for.
        candidates = candidates.with_for_update(skip_locked=True)
        due = candidates.cte("due").prefix_with("MATERIALIZED")
    else:
        due = candidates.cte("due")
    claimed = await session.scalars(
        update(Delivery)
        .where(Delivery.id == due.c.id, Delivery.state == DeliveryState.QUEUED)
        .values(
            state=DeliveryState.SENDING,
            attempts=Delivery.attempts + 1,
            lease_until=now + lease,
            updated_at=now,
        )
        .returning(Delivery)
        # The returned rows replace stale copies of them already loaded in this session.
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return sorted(claimed.all(), key=lambda d: (d.due_at, d.id))


async def record_sent(
    session: AsyncSession, delivery_id: int, *, provider_id: str, now: datetime
) -> None:
    await _finish(
        session,
        delivery_id,
        state=DeliveryState.SENT,
        provider_message_id=provider_id,
        sent_at=now,
        last_error=None,
        lease_until=None,
        updated_at=now,
    )


async def record_sent_many(
    session: AsyncSession, sent: Sequence[tuple[int, str]], *, now: datetime
) -> None:
    """``record_sent`` for a batch of (delivery id, provider id): one executemany."""
    if not sent:
        return
    table = cast(Table, Delivery.__table__)
    connection = await session.connection()
    await connection.execute(
        update(table)
        .where(table.c.id == bindparam("did"), table.c.state == DeliveryState.SENDING.value)
        .values(
            state=DeliveryState.SENT.value,
            provider_message_id=bindparam("pid"),
            sent_at=now,
            last_error=None,
            lease_until=None,
            updated_at=now,
        ),
        [{"did": did, "pid": pid} for did, pid in sent],
    )


async def record_retry(
    session: AsyncSession, delivery_id: int, *, error: str, retry_at: datetime, now: datetime
) -> None:
    await _finish(
        session,
        delivery_id,
        state=DeliveryState.QUEUED,
        due_at=retry_at,
        last_error=error,
        lease_until=None,
        updated_at=now,
    )


async def record_failed(
    session: AsyncSession,
    delivery_id: int,
    *,
    error: str,
    now: datetime,
    state: DeliveryState = DeliveryState.FAILED,
) -> None:
    await _finish(
        session, delivery_id, state=state, last_error=error, lease_until=None, updated_at=now
    )


async def _finish(session: AsyncSession, delivery_id: int, **values: Any) -> None:
    # Only a row we still hold as `sending` may change: a recovered (uncertain) row stays so.
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.SENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def recover_stale(session: AsyncSession, *, now: datetime) -> int:
    """Rows left ``sending`` past their lease (a crash mid-send) become ``uncertain``.

    They may or may not have reached the person, so they are reported and re-sent only by an
    explicit ``retry_uncertain`` (Promise 2), never silently.
    """
    result = await session.execute(
        update(Delivery)
        .where(Delivery.state == DeliveryState.SENDING, Delivery.lease_until < now)
        .values(
            state=DeliveryState.UNCERTAIN,
            last_error="interrupted while sending: may or may not have been delivered",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def retry_uncertain(
    session: AsyncSession, *, now: datetime, campaign_id: int | None = None
) -> int:
    """Queue uncertain deliveries again, because a person decided so; returns how many."""
    conditions = [Delivery.state == DeliveryState.UNCERTAIN]
    if campaign_id is not None:
        conditions.append(Delivery.campaign_id == campaign_id)
    result = await session.execute(
        update(Delivery)
        .where(*conditions)
        .values(state=DeliveryState.QUEUED, due_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def defer(session: AsyncSession, delivery_id: int, *, until: datetime, now: datetime) -> None:
    """Put a claimed delivery back in the queue until ``until``, as if it had not been tried:
    it was claimed at a moment it may not be sent (outside the sending window)."""
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.SENDING)
        .values(
            state=DeliveryState.QUEUED,
            due_at=until,
            attempts=Delivery.attempts - 1,
            lease_until=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
