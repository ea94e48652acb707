"""A reminder wave over Telegram, measured where Telegram would measure it: at the emulator.

The dispatcher sends queued reminders to 60 linked chats (10 of them get two messages) through
the unmodified python-telegram-bot; no second may carry more than 25 messages overall nor more
than one to a chat, a flood answer is honoured, and the wave ends in the time those limits
imply. The pacer's arithmetic is checked on its own with an injected clock (no waiting).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from telegram import Bot

from bot.pacer import MARGIN, SendPacer
from bot.telegram_channel import TelegramChannel
from scheduler.dispatch import Dispatcher
from storage.db import session_factory
from storage.models import (
    Campaign,
    ChatIdentity,
    Delivery,
    DeliveryState,
    Group,
    Respondent,
    RespondentState,
    Unit,
)
from storage.outbox import enqueue_many
from tests.chat_sample import NOW, RULES, Clock, running_campaign
from tests.telegram_emulator import TelegramEmulator

TOKEN = "424242:wave-token"
CHATS = 60
TWICE = 10


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(TOKEN) as running:
        yield running


async def queue_wave(session: AsyncSession, campaign: Campaign) -> None:
    unit = await session.scalar(select(Unit).where(Unit.campaign_id == campaign.id))
    group = await session.scalar(select(Group).where(Group.campaign_id == campaign.id))
    assert unit is not None and group is not None
    people = [
        Respondent(
            campaign_id=campaign.id,
            full_name=f"Người thứ {n}",
            name_key=f"nguoi thu {n}",
            unit_id=unit.id,
            group_id=group.id,
            email=f"nguoi{n}@example.gov.vn",
            token=f"token-{n:04d}-{'x' * 24}",
            state=RespondentState.INVITED,
        )
        for n in range(CHATS)
    ]
    session.add_all(people)
    await session.flush()
    session.add_all(
        ChatIdentity(
            campaign_id=campaign.id, channel="telegram", chat_id=str(9000 + n), respondent_id=p.id
        )
        for n, p in enumerate(people)
    )
    rows = [
        {
            "campaign_id": campaign.id,
            "channel": "telegram",
            "reason": "reminder",
            "dedupe_key": f"reminder:{k}:{p.id}:telegram",
            "due_at": NOW,
            "respondent_id": p.id,
            "payload": {"reminder_number": k},
        }
        for n, p in enumerate(people)
        for k in ((1, 2) if n < TWICE else (1,))
    ]
    await enqueue_many(session, rows)
    await session.commit()


async def test_a_wave_stays_under_the_limits_and_finishes_in_time(
    engine: AsyncEngine,
    session: AsyncSession,
    province: Campaign,
    tmp_path: Path,
    emulator: TelegramEmulator,
) -> None:
    await queue_wave(session, await running_campaign(session, province, tmp_path))
    for n in range(CHATS):
        emulator.add_chat(9000 + n)
    emulator.flood(9030, 1)  # one flood answer, honoured and retried by the outbox
    total = CHATS + TWICE
    async with Bot(TOKEN, base_url=f"{emulator.base_url}/bot") as bot:
        channel = TelegramChannel(bot, SendPacer(25, 1), RULES)
        dispatcher = Dispatcher(
            session_factory(engine), {"telegram": channel}, clock=Clock(), batch=50, concurrency=8
        )
        started = time.monotonic()
        stats = await dispatcher.run_once()
        elapsed = time.monotonic() - started
    assert (stats.sent, stats.retried, stats.failed) == (total - 1, 1, 0)
    assert len(emulator.sent) == total - 1
    assert emulator.max_in_window() <= 25
    assert max(emulator.max_in_window(chat_id=9000 + n) for n in range(CHATS)) == 1
    # 70 requests (69 sent, 1 flood answer) at 25/s with the pacer's margin: about 2.9 s.
    floor = (total - 1) * MARGIN / 25
    assert floor <= elapsed < floor + 2.5, elapsed
    retried = await session.scalar(select(Delivery).where(Delivery.state == DeliveryState.QUEUED))
    assert retried is not None and "retry after 1" in (retried.last_error or "")
    twice = [m.at for m in emulator.sent_to(9000)]
    assert len(twice) == 2 and twice[1] - twice[0] >= 1.0


async def test_the_pacer_spaces_sends_overall_and_per_chat() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = SendPacer(25, 1, clock=lambda: now[0], sleep=sleep)
    moments = []
    for chat in ["a", "b", "a", "c", "a"]:
        await pacer.wait(chat)
        moments.append((chat, round(now[0], 4)))
    gap = round(MARGIN / 25, 4)
    assert moments == [
        ("a", 0.0),
        ("b", gap),
        ("a", MARGIN),
        ("c", round(MARGIN + gap, 4)),
        ("a", round(2 * MARGIN, 4)),
    ]
    # An answer to someone who just wrote waits only for the overall slot.
    await pacer.wait("a", per_chat=False)
    assert round(now[0], 4) == round(2 * MARGIN + gap, 4)
    pacer.back_off(5.0)
    before = now[0]
    await pacer.wait("z")
    assert round(now[0] - before, 4) == 5.0
