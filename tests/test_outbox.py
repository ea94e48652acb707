"""The outbox's idempotency and cancellation, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Campaign, Delivery, DeliveryState, Respondent
from storage.outbox import cancel_pending, enqueue, enqueue_many
from storage.roster import import_roster
from tests.sample import PEOPLE, roster_file

DUE = datetime(2025, 1, 6, 1, 0, tzinfo=UTC)


async def test_the_same_dedupe_key_is_added_once(session: AsyncSession, province: Campaign) -> None:
    args = {"campaign_id": province.id, "channel": "email", "reason": "invitation", "due_at": DUE}
    assert await enqueue(session, dedupe_key="invitation:1:email", payload={"n": 1}, **args)
    assert not await enqueue(session, dedupe_key="invitation:1:email", payload={"n": 2}, **args)
    rows = [{**args, "dedupe_key": f"invitation:{i}:email"} for i in range(1, 2501)]
    assert await enqueue_many(session, rows) == 2499
    await session.commit()
    deliveries = (await session.scalars(select(Delivery))).all()
    assert len(deliveries) == 2500
    first = next(d for d in deliveries if d.dedupe_key == "invitation:1:email")
    assert first.payload == {"n": 1} and first.state == DeliveryState.QUEUED


async def test_cancel_touches_only_queued_rows_of_that_person_and_channel(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    await import_roster(session, province, roster_file(tmp_path, PEOPLE), actor="test")
    a, b = (await session.scalars(select(Respondent.id).order_by(Respondent.id).limit(2))).all()
    base = {"campaign_id": province.id, "reason": "reminder", "due_at": DUE}
    for person in (a, b):
        for channel in ("email", "telegram"):
            for n in (1, 2):
                await enqueue(
                    session,
                    channel=channel,
                    respondent_id=person,
                    dedupe_key=f"reminder:{n}:{person}:{channel}",
                    **base,
                )
    first = await session.scalar(
        select(Delivery).where(Delivery.dedupe_key == f"reminder:1:{a}:email")
    )
    assert first is not None
    first.state = DeliveryState.SENT
    await session.flush()

    assert await cancel_pending(session, respondent_id=a, channel="email", reason="bounced") == 1
    await session.commit()
    states = {d.dedupe_key: d.state for d in await session.scalars(select(Delivery))}
    assert states[f"reminder:1:{a}:email"] == DeliveryState.SENT
    assert states[f"reminder:2:{a}:email"] == DeliveryState.CANCELLED
    assert all(
        state == DeliveryState.QUEUED
        for key, state in states.items()
        if key not in (f"reminder:1:{a}:email", f"reminder:2:{a}:email")
    )
    with pytest.raises(ValueError, match="needs a respondent or a contact"):
        await cancel_pending(session, reason="everyone")
