"""The outbox's idempotency and cancellation, on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.db import session_factory
from storage.models import Campaign, Delivery, DeliveryState, Respondent, RespondentState
from storage.outbox import (
    cancel_pending,
    claim_due,
    enqueue,
    enqueue_many,
    record_failed,
    record_retry,
    record_sent,
    recover_stale,
    retry_uncertain,
)
from storage.roster import import_roster
from tests.sample import PEOPLE, roster_file

DUE = datetime(2025, 1, 6, 1, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


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


async def queue_invitations(session: AsyncSession, campaign: Campaign, tmp_path: Path) -> list[int]:
    await import_roster(session, campaign, roster_file(tmp_path, PEOPLE), actor="test")
    ids = list((await session.scalars(select(Respondent.id).order_by(Respondent.id))).all())
    for rid in ids:
        await enqueue(
            session,
            campaign_id=campaign.id,
            channel="email",
            reason="invitation",
            dedupe_key=f"invitation:{rid}:email",
            due_at=DUE,
            respondent_id=rid,
        )
    await session.commit()
    return ids


async def test_claim_rechecks_the_person_and_records_outcomes(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    ids = await queue_invitations(session, province, tmp_path)
    answered = await session.get(Respondent, ids[0])
    assert answered is not None
    answered.state = RespondentState.ANSWERED
    await session.commit()

    assert await claim_due(session, now=DUE - timedelta(seconds=1), limit=10, lease=LEASE) == []
    claimed = await claim_due(session, now=DUE, limit=3, lease=LEASE)
    await session.commit()
    assert [d.respondent_id for d in claimed] == ids[1:4]
    assert all(d.state == DeliveryState.SENDING and d.attempts == 1 for d in claimed)

    later = DUE + timedelta(minutes=1)
    await record_sent(session, claimed[0].id, provider_id="<m1@x>", now=later)
    await record_retry(session, claimed[1].id, error="451 try later", retry_at=later, now=later)
    await record_failed(session, claimed[2].id, error="550 5.1.1 no such user", now=later)
    await session.commit()
    session.expunge_all()
    rows = {d.respondent_id: d for d in await session.scalars(select(Delivery))}
    assert rows[ids[0]].state == DeliveryState.CANCELLED  # answered before the claim
    assert (rows[ids[1]].state, rows[ids[1]].provider_message_id) == (DeliveryState.SENT, "<m1@x>")
    assert (rows[ids[2]].state, rows[ids[2]].due_at) == (DeliveryState.QUEUED, later)
    assert (rows[ids[3]].state, rows[ids[3]].last_error) == (
        DeliveryState.FAILED,
        "550 5.1.1 no such user",
    )
    again = await claim_due(session, now=later, limit=10, lease=LEASE)
    assert sorted(d.respondent_id for d in again) == [ids[2], ids[4]]
    assert next(d for d in again if d.respondent_id == ids[2]).attempts == 2


async def test_a_crash_mid_send_becomes_uncertain_and_is_resent_only_on_request(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    await queue_invitations(session, province, tmp_path)
    claimed = await claim_due(session, now=DUE, limit=2, lease=LEASE)
    await session.commit()
    # The worker dies here. Before the lease ends nothing is touched...
    assert await recover_stale(session, now=DUE + LEASE - timedelta(seconds=1)) == 0
    # ...after it, the rows are reported as uncertain, not silently queued again.
    assert await recover_stale(session, now=DUE + LEASE + timedelta(seconds=1)) == 2
    await session.commit()
    assert {
        d.id for d in await claim_due(session, now=DUE + LEASE * 2, limit=10, lease=LEASE)
    }.isdisjoint(d.id for d in claimed)
    await session.commit()
    # A late answer from the dead worker cannot overwrite the uncertain state.
    await record_sent(session, claimed[0].id, provider_id="<late@x>", now=DUE + LEASE * 2)
    await session.commit()
    session.expunge_all()
    states = {d.id: d.state for d in await session.scalars(select(Delivery))}
    assert {states[d.id] for d in claimed} == {DeliveryState.UNCERTAIN}
    assert await retry_uncertain(session, now=DUE + LEASE * 3) == 2
    await session.commit()
    assert {d.id for d in await claim_due(session, now=DUE + LEASE * 3, limit=10, lease=LEASE)} == {
        d.id for d in claimed
    }


async def test_concurrent_workers_never_claim_the_same_row(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    rows = [
        {
            "campaign_id": province.id,
            "channel": "email",
            "reason": "digest",
            "dedupe_key": f"digest:{i}",
            "due_at": DUE,
        }
        for i in range(400)
    ]
    await enqueue_many(session, rows)
    await session.commit()

    async def worker() -> list[int]:
        taken: list[int] = []
        async with session_factory(engine)() as own:
            for _ in range(100):
                async with own.begin():
                    batch = await claim_due(own, now=DUE, limit=7, lease=LEASE)
                if not batch:
                    break
                taken.extend(d.id for d in batch)
        return taken

    results = await asyncio.gather(*(worker() for _ in range(4)))
    everything = [i for r in results for i in r]
    assert len(everything) == len(set(everything)) == 400


async def test_reports_are_not_sent_once_the_campaign_is_over(
    session: AsyncSession, province: Campaign
) -> None:
    await enqueue_many(
        session,
        [
            {
                "campaign_id": province.id,
                "channel": "email",
                "reason": reason,
                "dedupe_key": f"{reason}:1",
                "due_at": province.deadline - timedelta(hours=1),
            }
            for reason in ("digest", "escalation", "bounce_alert")
        ],
    )
    await session.commit()
    after = province.deadline + timedelta(minutes=1)
    claimed = await claim_due(session, now=after, limit=10, lease=LEASE)
    await session.commit()
    # An alert about a bad address is still worth sending; numbers about a finished campaign not.
    assert [d.reason for d in claimed] == ["bounce_alert"]
    states = {d.reason: d.state for d in await session.scalars(select(Delivery))}
    assert states["digest"] == states["escalation"] == DeliveryState.CANCELLED
