"""Telegram end to end: the unmodified python-telegram-bot against the local Bot API emulator.

Updates in by long polling and by webhook (secret checked), answers with inline keyboards, each
API error class mapped to the channel contract, a blocked chat marked gone so email takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.config import TelegramConfig
from bot.gone import delivery_chat_gone
from bot.linking import invitation_code
from bot.pacer import SendPacer
from bot.telegram_bot import TelegramBot, chunks
from bot.telegram_channel import TelegramChannel
from scheduler.calendar import HolidayCalendar
from scheduler.dispatch import Dispatcher
from scheduler.planning import plan_reminders
from storage.channel import (
    Outgoing,
    PermanentError,
    RateLimited,
    Recipient,
    RecipientGone,
    TransientError,
)
from storage.db import session_factory
from storage.models import Campaign, ChatIdentity, Delivery, DeliveryState, Event
from storage.policy import Policy
from tests.chat_sample import (
    NOW,
    RULES,
    SECRET,
    Chat,
    Clock,
    code_for_contact,
    conversations,
    respondent,
    running_campaign,
)
from tests.telegram_emulator import TelegramEmulator

TOKEN = "123456:TEST-token_for_the_emulator"


@pytest.fixture
def backend() -> str:
    # The HTTP side is what these tests are about; the storage runs on SQLite only.
    return "sqlite"


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(TOKEN) as running:
        yield running


@pytest.fixture
async def campaign(session: AsyncSession, province: Campaign, tmp_path: Path) -> Campaign:
    return await running_campaign(session, province, tmp_path)


def config(emulator: TelegramEmulator, **changes: Any) -> TelegramConfig:
    base = TelegramConfig(
        token=TOKEN, username=emulator.username, base_url=emulator.base_url, poll_timeout=1
    )
    return dataclasses.replace(base, **changes)


@contextlib.asynccontextmanager
async def running_bot(engine: AsyncEngine, settings: TelegramConfig) -> AsyncIterator[TelegramBot]:
    sessions = session_factory(engine)
    clock = Clock()
    stop = asyncio.Event()
    async with TelegramBot(
        settings, RULES, conversations(sessions, clock), sessions, clock=clock
    ) as bot:
        task = asyncio.create_task(bot.run(stop))
        try:
            yield bot
        finally:
            stop.set()
            async with asyncio.timeout(10):
                await task


def reminder(chat_id: str | None, delivery_id: int = 1) -> Outgoing:
    return Outgoing(
        delivery_id=delivery_id,
        dedupe_key=f"reminder:1:{delivery_id}:telegram",
        reason="reminder",
        campaign_code="cchc-2024-tinh",
        recipient=Recipient(full_name="Lê Văn Đức", chats={"telegram": chat_id} if chat_id else {}),
        context={
            "recipient_name": "Lê Văn Đức",
            "campaign_title": "Điều tra XHH xác định Chỉ số CCHC năm 2024",
            "deadline": NOW + timedelta(days=4),
            "now": NOW,
            "timezone": "Asia/Ho_Chi_Minh",
            "reminder_number": 2,
            "reminders_max": 4,
            "survey_link": "https://survey.example.vn/s/abc",
        },
    )


async def test_a_focal_point_links_and_asks_by_polling(
    engine: AsyncEngine,
    session: AsyncSession,
    campaign: Campaign,
    emulator: TelegramEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    code = await code_for_contact(session, campaign, "Vũ Thị Lan")
    async with running_bot(engine, config(emulator)):
        emulator.send_text(4242, f"/start {code}", first_name="Lan")
        linked = (await emulator.wait_sent(1))[0]
        assert "Đã liên kết tài khoản chat với đồng chí Vũ Thị Lan" in linked.text
        choices = [
            b["callback_data"] for row in linked.reply_markup["inline_keyboard"] for b in row
        ]
        assert choices == ["tiendo", "chuatraloi", "nhacnho", "baocao"]
        emulator.press(4242, "tiendo")
        progress = (await emulator.wait_sent(2))[1]
        assert "Đã trả lời 0/3" in progress.text
        assert len(emulator.callback_answers) == 1
        emulator.send_text(4242, "/chuatraloi@dondoc_test_bot")
        pending = (await emulator.wait_sent(3))[2]
        assert "Lê Văn Đức, Trưởng phòng" in pending.text
        emulator.send_sticker(4242)  # no text at all: still an answer
        assert "chưa hiểu" in (await emulator.wait_sent(4))[3].text
    audit = (await session.scalars(select(Event).where(Event.kind == "status_queried"))).all()
    assert [e.actor for e in audit] == ["telegram:4242", "telegram:4242"]
    # Every update was confirmed: nothing is left for a next poll to answer twice.
    assert emulator.updates == []
    assert "HTTP Request: POST" in caplog.text and TOKEN not in caplog.text
    assert code not in caplog.text


async def test_webhook_updates_need_the_secret_token(
    engine: AsyncEngine, session: AsyncSession, campaign: Campaign, emulator: TelegramEmulator
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/telegram"
    settings = config(emulator, webhook_url=url, webhook_secret="s3cret-Token", webhook_port=port)
    code = await code_for_contact(session, campaign, "Đặng Văn Nam")
    async with running_bot(engine, settings) as bot:
        async with asyncio.timeout(10):
            while bot._server is None or not bot._server.started:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert emulator.webhook == {"url": url, "secret_token": "s3cret-Token"}
        async with httpx.AsyncClient() as client:
            forged = {
                "update_id": 999,
                "message": {
                    "message_id": 1,
                    "date": 1,
                    "text": "/tiendo",
                    "chat": {"id": 5, "type": "private"},
                },
            }
            refused = await client.post(url, json=forged)
            wrong = await client.post(
                url, json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
            )
        assert (refused.status_code, wrong.status_code) == (403, 403)
        emulator.send_text(5151, f"/start {code}")
        assert "Đặng Văn Nam" in (await emulator.wait_sent(1))[0].text
        emulator.send_text(5151, "/tiendo")
        assert "Đã trả lời 0/2" in (await emulator.wait_sent(2))[1].text
    assert emulator.webhook is not None and emulator.webhook["statuses"] == [200, 200]
    assert [m.chat_id for m in emulator.sent] == [5151, 5151]


async def test_each_api_error_becomes_the_contracts_outcome(emulator: TelegramEmulator) -> None:
    async with Bot(TOKEN, base_url=f"{emulator.base_url}/bot") as bot:
        channel = TelegramChannel(bot, SendPacer(1000, 1000), RULES)
        emulator.add_chat(50)
        receipt = await channel.send(reminder("50"))
        sent = emulator.sent_to(50)[0]
        assert receipt.provider_id == f"50:{sent.message_id}"
        assert "lần 2/4" in sent.text and "Sở Nội vụ tỉnh Sơn La" in sent.text
        assert sent.reply_markup is not None
        rows = sent.reply_markup["inline_keyboard"]
        assert rows[0][0] == {"text": "Mở phiếu khảo sát", "url": "https://survey.example.vn/s/abc"}
        assert [b["callback_data"] for b in rows[1]] == ["datraloi", "khongphaitoi"]

        emulator.add_chat(51)
        emulator.block(51)
        with pytest.raises(RecipientGone, match="blocked"):
            await channel.send(reminder("51"))
        emulator.add_chat(52)
        emulator.forget(52)
        with pytest.raises(RecipientGone, match=r"(?i)chat not found"):
            await channel.send(reminder("52"))
        with pytest.raises(RecipientGone, match=r"(?i)chat not found"):
            await channel.send(reminder("53"))  # never pressed Start
        with pytest.raises(RecipientGone, match=r"no live linked"):
            await channel.send(reminder(None))
        emulator.add_chat(54)
        emulator.flood(54, 7)
        with pytest.raises(RateLimited) as flood:
            await channel.send(reminder("54"))
        assert flood.value.retry_after == 7
        await channel.send(reminder("54"))  # the flood was one answer
        broken = reminder("50")
        with pytest.raises(PermanentError, match=r"not sent by chat"):
            await channel.send(dataclasses.replace(broken, reason="link_code"))

    # Not initialised: PTB's own getMe error would quote the token; ours never does.
    request = HTTPXRequest()
    wrong = Bot("999:wrong", base_url=f"{emulator.base_url}/bot", request=request)
    channel = TelegramChannel(wrong, SendPacer(1000, 1000), RULES)
    with pytest.raises(TransientError, match="token") as refused:
        await channel.send(reminder("50"))
    assert "999:wrong" not in str(refused.value)
    await request.shutdown()


async def test_time_outs_and_lost_connections_are_transient() -> None:
    release = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await release.wait()  # reads the request, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    request = HTTPXRequest(read_timeout=0.3, connect_timeout=0.3)
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
    channel = TelegramChannel(bot, SendPacer(1000, 1000), RULES)
    try:
        with pytest.raises(TransientError, match="TimedOut"):
            await channel.send(reminder("50"))
    finally:
        await request.shutdown()
        release.set()
        for writer in writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        server.close()
        await server.wait_closed()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    request = HTTPXRequest(connect_timeout=0.3)
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{closed}/bot", request=request)
    channel = TelegramChannel(bot, SendPacer(1000, 1000), RULES)
    with pytest.raises(TransientError, match="NetworkError"):
        await channel.send(reminder("50"))
    await request.shutdown()


async def test_a_blocked_chat_is_marked_gone_and_email_takes_over(
    engine: AsyncEngine, session: AsyncSession, campaign: Campaign, emulator: TelegramEmulator
) -> None:
    campaign_id = campaign.id
    policy = Policy.from_json(campaign.policy)
    campaign.policy = dataclasses.replace(policy, channels=("telegram", "email")).to_json()
    await session.commit()
    sessions = session_factory(engine)
    clock = Clock()
    person = await respondent(session, "duclv@snv.gov.vn")
    person_id = person.id
    chat = Chat(conversations(sessions, clock), "7070")
    await chat.say(f"/start {invitation_code(SECRET, campaign_id, person_id)}")
    emulator.add_chat(7070)

    async def plan() -> dict[int, str]:
        async with sessions() as s, s.begin():
            fresh = await s.get(Campaign, campaign_id)
            assert fresh is not None
            await plan_reminders(s, fresh, now=NOW, holidays=HolidayCalendar())
            await s.execute(
                update(Delivery).where(Delivery.reason == "reminder").values(due_at=NOW)
            )
        async with sessions() as s:
            rows = await s.execute(
                select(Delivery.respondent_id, Delivery.channel).where(
                    Delivery.reason == "reminder", Delivery.state == DeliveryState.QUEUED
                )
            )
            return {rid: ch for rid, ch in rows if rid is not None}

    queued = await plan()
    assert queued[person_id] == "telegram"
    assert {ch for rid, ch in queued.items() if rid != person_id} == {"email"}
    emulator.block(7070)
    async with Bot(TOKEN, base_url=f"{emulator.base_url}/bot") as bot:
        dispatcher = Dispatcher(
            sessions,
            {"telegram": TelegramChannel(bot, SendPacer(1000, 1000), RULES)},
            clock=clock,
            on_gone=delivery_chat_gone,
        )
        stats = await dispatcher.run_once()
    assert (stats.sent, stats.failed) == (0, 1)
    session.expire_all()
    identity = await session.scalar(select(ChatIdentity).where(ChatIdentity.chat_id == "7070"))
    assert identity is not None and identity.gone_at is not None
    gone = (await session.scalars(select(Event).where(Event.kind == "chat_gone"))).all()
    assert [e.actor for e in gone] == ["telegram:7070"]
    assert "blocked" in gone[0].data["why"]
    assert (await plan())[person_id] == "email"
    # Writing again proves the chat reaches the person: it is live again.
    await chat.say("/help")
    session.expire_all()
    identity = await session.scalar(select(ChatIdentity).where(ChatIdentity.chat_id == "7070"))
    assert identity is not None and identity.gone_at is None


async def test_blocking_the_bot_marks_the_chat_gone_at_once(
    engine: AsyncEngine, session: AsyncSession, campaign: Campaign, emulator: TelegramEmulator
) -> None:
    person = await respondent(session, "hoatt@snv.gov.vn")
    code = invitation_code(SECRET, campaign.id, person.id)
    async with running_bot(engine, config(emulator)):
        emulator.send_text(8080, f"/start {code}")
        await emulator.wait_sent(1)
        emulator.block(8080, notify=True)
        async with asyncio.timeout(10):
            while True:
                session.expire_all()
                identity = await session.scalar(
                    select(ChatIdentity).where(ChatIdentity.chat_id == "8080")
                )
                if identity is not None and identity.gone_at is not None:
                    break
                await asyncio.sleep(0.02)


def test_long_texts_are_cut_at_line_ends() -> None:
    text = "\n".join(f"{n}. Nguyễn Văn A, Chuyên viên" for n in range(400))
    parts = chunks(text, 1000)
    assert all(len(p) <= 1000 for p in parts)
    assert "".join(parts) == text
    assert all(p.endswith("\n") for p in parts[:-1])
