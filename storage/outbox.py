"""The outbox: deliveries written before a byte leaves, claimed once, and their outcomes.

``enqueue`` is idempotent by ``dedupe_key`` (adding the same key twice cannot send twice);
``claim_due`` takes due rows with a conditional UPDATE, so two workers never hold the same row;
``record_*`` write what the channel answered. A row left ``sending`` by a crash is turned
``uncertain`` by ``recover_stale`` and is re-sent only when a person asks for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Delivery, DeliveryState, utcnow


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
    added = 0
    for start in range(0, len(values), 1000):
        statement = insert(Delivery).on_conflict_do_nothing(index_elements=["dedupe_key"])
        result = await session.execute(
            statement.returning(Delivery.id), values[start : start + 1000]
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
