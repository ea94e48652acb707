"""The daemon with Telegram beside the mail: one process answers chats and sends reminders on
the channel the policy prefers (a live chat before email), and stops cleanly."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.config import TelegramConfig
from bot.linking import invitation_code
from bot.telegram_bot import TelegramBot
from mail.config import MailIdentity
from scheduler.calendar import HolidayCalendar
from scheduler.daemon import Daemon
from storage.db import session_factory
from storage.models import Campaign, Delivery, DeliveryState
from storage.policy import Policy
from tests.chat_sample import (
    NOW,
    RULES,
    SECRET,
    Chat,
    Clock,
    conversations,
    respondent,
    running_campaign,
)
from tests.smtpd import Smtpd
from tests.telegram_emulator import TelegramEmulator

TOKEN = "555:daemon-token"


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def until(condition: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        await asyncio.sleep(0.02)


async def test_the_daemon_answers_chats_and_reminds_over_telegram_first(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    campaign = await running_campaign(session, province, tmp_path)
    campaign_id = campaign.id
    policy = Policy.from_json(campaign.policy)
    campaign.policy = dataclasses.replace(policy, channels=("telegram", "email")).to_json()
    await session.commit()
    duc = await respondent(session, "duclv@snv.gov.vn")
    duc_id = duc.id
    code = invitation_code(SECRET, campaign_id, duc_id)
    sessions = session_factory(engine)
    clock = Clock()
    async with TelegramEmulator(TOKEN) as emulator, Smtpd() as smtp:
        settings = TelegramConfig(
            token=TOKEN, username=emulator.username, base_url=emulator.base_url, poll_timeout=1
        )
        bot = TelegramBot(settings, RULES, conversations(sessions, clock), sessions, clock=clock)
        # Linked before the daemon's first pass plans, so the planner sees the chat.
        emulator.add_chat(6060)
        await Chat(conversations(sessions, clock), "6060").say(f"/start {code}")
        daemon = Daemon(
            sessions,
            smtp=smtp.config(),
            identity=MailIdentity(
                from_address="cchc@snv.sonla.gov.vn", from_name="Sở Nội vụ", secret=b"k" * 32
            ),
            holidays=HolidayCalendar(),
            clock=clock,
            tick_seconds=60,
            services=[bot],
        )
        stop = asyncio.Event()
        running = asyncio.create_task(daemon.run(stop))
        try:

            async def reminded() -> bool:
                async with sessions() as s:
                    rows = (
                        await s.scalars(select(Delivery).where(Delivery.reason == "reminder"))
                    ).all()
                return len(rows) == 5 and all(d.state == DeliveryState.SENT for d in rows)

            async def answered() -> bool:
                return any("/datraloi" in m.text for m in emulator.sent)

            await until(reminded, 15, "every reminder to be sent")
            emulator.send_text(6060, "/help")
            await until(answered, 10, "the bot to answer in the daemon")
        finally:
            stop.set()
            started = time.monotonic()
            async with asyncio.timeout(12):
                await running
            stopped_in = time.monotonic() - started
    assert stopped_in < 10
    async with sessions() as s:
        channels = {
            rid: ch
            for rid, ch in await s.execute(
                select(Delivery.respondent_id, Delivery.channel).where(
                    Delivery.reason == "reminder"
                )
            )
        }
    assert channels.pop(duc_id) == "telegram"
    assert set(channels.values()) == {"email"}
    chat = [m for m in emulator.sent_to(6060) if "xin nhắc" in m.text]
    assert len(chat) == 1 and "lần 1/4" in chat[0].text
    mailed = {to for message in smtp.received for to in message.rcpt_tos}
    assert "duclv@snv.gov.vn" not in mailed  # reached by chat, not mailed as well
    assert {"hoatt@snv.gov.vn", "tuanpm@mocchau.gov.vn", "pang.lv@sonla.gov.vn"} <= mailed
    assert NOW == clock.now
