"""The dispatcher's outcomes and promises, with a recording channel, on both backends."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from scheduler.dispatch import Dispatcher, RetryPolicy
from scheduler.invitations import plan_invitations
from storage.channel import (
    ChannelError,
    Outgoing,
    PermanentError,
    RateLimited,
    Receipt,
    RecipientGone,
    TransientError,
)
from storage.db import session_factory
from storage.models import (
    Campaign,
    Delivery,
    DeliveryState,
    Event,
    Respondent,
    RespondentState,
)
from storage.roster import import_roster
from tests.sample import PEOPLE, roster_file

NOW = datetime(2025, 1, 6, 2, 0, tzinfo=UTC)


class RecordingChannel:
    """The channel contract's test implementation: records messages, fails on demand."""

    name = "email"

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.failures: dict[str, Callable[[], BaseException]] = {}

    async def send(self, message: Outgoing) -> Receipt:
        email = message.recipient.email or ""
        if email in self.failures:
            raise self.failures[email]()
        self.sent.append(message)
        return Receipt(provider_id=f"<{message.delivery_id}@test>")

    async def aclose(self) -> None:
        return None


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def people(session: AsyncSession, province: Campaign, tmp_path: Path) -> dict[str, int]:
    await import_roster(session, province, roster_file(tmp_path, PEOPLE), actor="test")
    await session.commit()
    return {
        email: rid
        for rid, email in await session.execute(select(Respondent.id, Respondent.email))
        if email
    }


def dispatcher(
    engine: AsyncEngine, channel: RecordingChannel, clock: Clock, **kwargs: object
) -> Dispatcher:
    return Dispatcher(
        session_factory(engine),
        {"email": channel},
        clock=clock,
        rng=random.Random(1),
        **kwargs,  # type: ignore[arg-type]
    )


async def invite(session: AsyncSession, campaign: Campaign) -> None:
    await plan_invitations(session, campaign, now=NOW)
    await session.commit()


async def test_invitations_go_once_and_mark_people_invited(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, people: dict[str, int]
) -> None:
    first = await plan_invitations(session, province, now=NOW)
    await session.commit()
    again = await plan_invitations(session, province, now=NOW)
    await session.commit()
    assert (first.queued, again.queued, again.already_queued) == (5, 0, 5)

    channel = RecordingChannel()
    stats = await dispatcher(engine, channel, Clock(NOW)).run_once()
    assert (stats.sent, stats.failed, stats.retried) == (5, 0, 0)
    assert (
        await dispatcher(engine, channel, Clock(NOW + timedelta(hours=1))).run_once()
        == type(stats)()
    )
    assert sorted(m.recipient.email or "" for m in channel.sent) == sorted(people)
    message = next(m for m in channel.sent if m.recipient.email == "hoatt@snv.gov.vn")
    assert message.reason == "invitation" and message.context["unit_name"] == "Sở Nội vụ"
    token = await session.scalar(
        select(Respondent.token).where(Respondent.email == "hoatt@snv.gov.vn")
    )
    assert message.context["survey_link"] == f"https://survey.example.vn/s/{token}"
    session.expunge_all()
    states = set((await session.scalars(select(Respondent.state))).all())
    assert states == {RespondentState.INVITED}
    invited = (await session.scalars(select(Event).where(Event.kind == "invited"))).all()
    assert len(invited) == 5


async def test_nobody_who_answered_is_sent_anything(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, people: dict[str, int]
) -> None:
    await invite(session, province)
    answered = await session.get(Respondent, people["duclv@snv.gov.vn"])
    assert answered is not None
    answered.state = RespondentState.ANSWERED  # after queueing, before sending
    await session.commit()
    channel = RecordingChannel()
    stats = await dispatcher(engine, channel, Clock(NOW)).run_once()
    assert stats.sent == 4
    assert "duclv@snv.gov.vn" not in {m.recipient.email for m in channel.sent}
    cancelled = await session.scalar(
        select(Delivery).where(Delivery.respondent_id == people["duclv@snv.gov.vn"])
    )
    assert cancelled is not None and cancelled.state == DeliveryState.CANCELLED


async def test_transient_errors_back_off_then_fail_after_the_limit(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, people: dict[str, int]
) -> None:
    await invite(session, province)
    channel = RecordingChannel()
    channel.failures["hoatt@snv.gov.vn"] = lambda: TransientError("451 4.3.0 try again later")
    channel.failures["duclv@snv.gov.vn"] = lambda: RateLimited("429 slow down", retry_after=3600)
    clock = Clock(NOW)
    retry = RetryPolicy(first=timedelta(minutes=2), max_attempts=3, jitter=0.2)
    send = dispatcher(engine, channel, clock, retry=retry)
    stats = await send.run_once()
    assert (stats.sent, stats.retried) == (3, 2)

    rows = {d.respondent_id: d for d in await session.scalars(select(Delivery))}
    hoa = rows[people["hoatt@snv.gov.vn"]]
    assert hoa.state == DeliveryState.QUEUED and hoa.last_error == "451 4.3.0 try again later"
    assert timedelta(minutes=1.6) <= hoa.due_at - NOW <= timedelta(minutes=2.4)
    # The provider's retry-after wins over a shorter backoff.
    assert rows[people["duclv@snv.gov.vn"]].due_at - NOW >= timedelta(hours=1)

    # Nothing is due before the backoff ends: no busy loop.
    assert (await send.run_once()).handled == 0
    for _ in range(3):
        clock.now += timedelta(hours=7)
        await send.run_once()
    session.expunge_all()
    hoa_after = await session.get(Delivery, hoa.id)
    assert hoa_after is not None
    assert (hoa_after.state, hoa_after.attempts) == (DeliveryState.FAILED, 3)
    failed = (await session.scalars(select(Event).where(Event.kind == "send_failed"))).all()
    assert {e.data["error"] for e in failed} == {"451 4.3.0 try again later", "429 slow down"}


async def test_permanent_errors_stop_and_a_gone_recipient_is_handed_over(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, people: dict[str, int]
) -> None:
    await invite(session, province)
    channel = RecordingChannel()
    channel.failures["hoatt@snv.gov.vn"] = lambda: RecipientGone("550 5.1.1 no such user")
    channel.failures["duclv@snv.gov.vn"] = lambda: PermanentError("554 5.7.1 rejected as spam")
    gone: list[tuple[int, str]] = []

    async def on_gone(s: AsyncSession, d: Delivery, e: RecipientGone, now: datetime) -> None:
        gone.append((d.respondent_id or 0, e.detail))

    stats = await dispatcher(engine, channel, Clock(NOW), on_gone=on_gone).run_once()
    assert (stats.sent, stats.failed, stats.retried) == (3, 2, 0)
    assert gone == [(people["hoatt@snv.gov.vn"], "550 5.1.1 no such user")]
    states = {d.respondent_id: d.state for d in await session.scalars(select(Delivery))}
    assert states[people["duclv@snv.gov.vn"]] == DeliveryState.FAILED


async def test_a_channel_bug_leaves_the_delivery_uncertain(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, people: dict[str, int]
) -> None:
    await invite(session, province)
    channel = RecordingChannel()
    channel.failures["hoatt@snv.gov.vn"] = lambda: KeyError("template variable")
    stats = await dispatcher(engine, channel, Clock(NOW)).run_once()
    assert (stats.sent, stats.uncertain) == (4, 1)
    state = await session.scalar(
        select(Delivery.state).where(Delivery.respondent_id == people["hoatt@snv.gov.vn"])
    )
    assert state == DeliveryState.UNCERTAIN


async def test_stop_claims_nothing_new(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, people: dict[str, int]
) -> None:
    await invite(session, province)
    channel = RecordingChannel()
    send = dispatcher(engine, channel, Clock(NOW), batch=2)
    send.stop()
    assert (await send.run_once()).handled == 0
    assert channel.sent == []


def test_channel_errors_are_typed() -> None:
    assert issubclass(RecipientGone, PermanentError) and issubclass(RateLimited, TransientError)
    assert isinstance(TransientError("x"), ChannelError)
