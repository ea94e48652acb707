"""Answering people on Zalo: the poller and both webhooks, built the way the daemon builds them
(``ZaloService`` from ``Settings``), against the emulator and the real database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from bot.incoming import Button, Incoming, Reply
from bot.zalo.runner import SORRY
from bot.zalo.service import ZaloService
from bot.zalo.webhook import WebhookRejected, bot_webhook, oa_signature, oa_webhook
from dondoc.settings import Settings
from storage.channel import Outgoing
from storage.db import session_factory
from storage.models import ChatUpdate
from tests.zalo_emulator import FakeMonotonic, LocalServer, ZaloEmulator
from web.chat_hooks import zalo_routes

CHAT = "e4ea2cd5189df1c3a88c"
OTHER = "0a0b0c0d0e0f10111213"
USER = "8125731234567890123"
SECRET = "webhook-secret-123"
NOW = datetime(2024, 12, 27, 3, 0, tzinfo=UTC)


class Conversations:
    """A tiny stand-in for the real conversations: echoes, fails on request, and (like the
    real ones) records each update under its plain key, answering a repeat with nothing."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.seen: list[Incoming] = []

    async def handle(self, message: Incoming) -> Sequence[Reply]:
        try:
            async with self.sessions() as session, session.begin():
                session.add(
                    ChatUpdate(
                        channel=message.channel, update_key=message.update_key, received_at=NOW
                    )
                )
        except IntegrityError:
            return ()
        self.seen.append(message)
        if message.text == "lỗi":
            raise RuntimeError("conversations crashed")
        return [
            Reply(
                f"Đã nhận: {message.text}",
                buttons=[[Button("Xem tiến độ", "/tiendo")]],
            )
        ]


def render(message: Outgoing) -> Reply:
    return Reply(str(message.context.get("body", "")))


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for something the emulator or the runner does, bounded."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 (the condition lives in another task's state)
            await asyncio.sleep(0.01)


def make_service(*args: Any, **kwargs: Any) -> ZaloService:
    """The service as the daemon builds it, with pacing on a fake clock."""
    pace = FakeMonotonic()
    return ZaloService(*args, pace_clock=pace, pace_sleep=pace.sleep, **kwargs)


def settings_for(emulator: ZaloEmulator, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "DONDOC_ZALO_BOT_TOKEN": emulator.bot_token,
            "DONDOC_ZALO_BOT_BASE_URL": emulator.base_url,
            "DONDOC_ZALO_OA_APP_ID": emulator.app_id,
            "DONDOC_ZALO_OA_SECRET_KEY": emulator.app_secret,
            "DONDOC_ZALO_OA_REFRESH_TOKEN": "first-refresh-token",
            "DONDOC_ZALO_OA_WEBHOOK_KEY": emulator.oa_secret_key,
            "DONDOC_ZALO_OA_BASE_URL": emulator.base_url,
            "DONDOC_ZALO_OAUTH_BASE_URL": emulator.base_url,
            **extra,
        }
    )


@pytest.fixture
async def emulator() -> AsyncIterator[ZaloEmulator]:
    async with ZaloEmulator(redeliveries=3) as emu:
        yield emu


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


async def count_updates(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(ChatUpdate)) or 0)


async def test_runner_answers_each_update_once_even_across_restarts(
    emulator: ZaloEmulator, sessions: async_sessionmaker[AsyncSession]
) -> None:
    conversations = Conversations(sessions)
    service = make_service(
        settings_for(emulator).zalo, sessions, conversations, render, repeat_pause=0.0
    )
    assert service.polls and set(service.channels) == {"zalo_bot", "zalo_oa"}
    stop = asyncio.Event()
    first = await emulator.bot_inject(CHAT, "/tiendo")
    await emulator.bot_inject(OTHER, "Tôi đã trả lời")
    running = asyncio.create_task(service.run(stop))
    # Each update comes back three times (no offsets); each is answered once.
    runner = service.bot_runner
    assert runner is not None
    await until(lambda: runner.repeats == 4 and len(emulator.sent_to("bot")) == 2)
    stop.set()
    await asyncio.wait_for(running, 2)
    assert not emulator.bot_queue
    assert [m.text for m in conversations.seen] == ["/tiendo", "Tôi đã trả lời"]
    reply = emulator.sent_to("bot", CHAT)[0].text
    assert reply == "Đã nhận: /tiendo\n\nAnh/chị trả lời bằng cách gõ:\n• /tiendo (Xem tiến độ)"
    seen = conversations.seen[0]
    assert (seen.channel, seen.chat_id, seen.display_name) == ("zalo_bot", CHAT, "Nguyễn Văn An")
    assert seen.update_key == f"message.text.received:{first['message']['message_id']}"
    await service.aclose()

    # A new process over the same database: Zalo hands the old update out once more.
    again = make_service(
        settings_for(emulator).zalo, sessions, conversations, render, repeat_pause=0.0
    )
    emulator.bot_redeliver(first)
    stop = asyncio.Event()
    running = asyncio.create_task(again.run(stop))
    await until(lambda: again.bot_runner is not None and again.bot_runner.repeats == 1)
    stop.set()
    await asyncio.wait_for(running, 2)
    assert len(conversations.seen) == 2 and len(emulator.sent_to("bot")) == 2
    assert await count_updates(sessions) == 4  # the runner's claims and the conversations'
    await again.aclose()


async def test_runner_backs_off_while_the_api_is_down_then_recovers(
    emulator: ZaloEmulator, sessions: async_sessionmaker[AsyncSession]
) -> None:
    conversations = Conversations(sessions)
    service = make_service(
        settings_for(emulator).zalo, sessions, conversations, render, repeat_pause=0.0
    )
    runner = service.bot_runner
    assert runner is not None
    runner.backoff_first = 0.01
    emulator.down.add("bot")
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))
    await until(lambda: runner.failures >= 4)
    polls_while_down = sum(1 for api, m in emulator.calls if m == "getUpdates")
    # Waits double: 0.01, 0.02, 0.04 ... so a handful of polls, not a hot loop.
    assert polls_while_down <= runner.failures + 1
    assert runner.backoff() == pytest.approx(0.01 * 2 ** (runner.failures - 1))
    emulator.down.clear()
    await emulator.bot_inject(CHAT, "lỗi")  # the conversations fail: the person still hears
    await until(lambda: len(emulator.sent_to("bot")) == 1 and runner.failures == 0)
    assert emulator.sent_to("bot", CHAT)[0].text == SORRY
    stop.set()
    await asyncio.wait_for(running, 2)
    await service.aclose()


async def test_runner_stops_at_once_during_a_long_poll(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with ZaloEmulator(max_poll=30) as emulator:
        service = make_service(
            settings_for(emulator).zalo, sessions, Conversations(sessions), render
        )
        stop = asyncio.Event()
        running = asyncio.create_task(service.run(stop))
        await until(lambda: ("bot", "getUpdates") in emulator.calls)
        loop = asyncio.get_running_loop()
        started = loop.time()
        stop.set()
        await asyncio.wait_for(running, 2)
        assert loop.time() - started < 1.0
        await service.aclose()


def test_bot_webhook_accepts_only_the_right_secret() -> None:
    update = {
        "event_name": "message.text.received",
        "message": {
            "message_id": "16f6366b3f02645a3d15",
            "date": 1735268400000,
            "chat": {"id": CHAT, "chat_type": "PRIVATE"},
            "from": {"id": CHAT, "first_name": "Lò Văn Sơn"},
            "text": "/chuatraloi",
        },
    }
    body = json.dumps(update).encode()
    [incoming] = bot_webhook({"X-Bot-Api-Secret-Token": SECRET}, body, secret=SECRET, now=NOW)
    assert (incoming.text, incoming.display_name) == ("/chuatraloi", "Lò Văn Sơn")
    assert incoming.at == datetime(2024, 12, 27, 3, 0, tzinfo=UTC)
    wrapped = json.dumps({"ok": True, "result": update}).encode()
    assert bot_webhook({"x-bot-api-secret-token": SECRET}, wrapped, secret=SECRET, now=NOW)
    for headers in ({}, {"X-Bot-Api-Secret-Token": SECRET + "x"}, {"X-Bot-Api-Secret-Token": ""}):
        with pytest.raises(WebhookRejected) as caught:
            bot_webhook(headers, body, secret=SECRET, now=NOW)
        assert caught.value.status == 403 and SECRET not in str(caught.value)
    with pytest.raises(WebhookRejected) as bad:
        bot_webhook({"X-Bot-Api-Secret-Token": SECRET}, b"{not json", secret=SECRET, now=NOW)
    assert bad.value.status == 400


async def test_bot_webhook_end_to_end(
    emulator: ZaloEmulator, sessions: async_sessionmaker[AsyncSession]
) -> None:
    conversations = Conversations(sessions)
    service = make_service(
        settings_for(emulator, DONDOC_ZALO_BOT_WEBHOOK_SECRET=SECRET).zalo,
        sessions,
        conversations,
        render,
    )
    assert not service.polls

    # The routes the web service mounts (web/chat_hooks.py), on a server of their own.
    server = LocalServer(Starlette(routes=zalo_routes(service)))
    await server.__aenter__()
    assert service.bot_channel is not None
    await service.bot_channel.client.set_webhook(f"{server.url}/zalo/bot", SECRET)
    update = await emulator.bot_inject(CHAT, "/baocao")
    await until(lambda: len(emulator.sent_to("bot", CHAT)) == 1)
    # Zalo retries the same delivery: acknowledged, not answered twice.
    assert emulator.bot_webhook is not None
    url, secret = emulator.bot_webhook
    emulator.bot_webhook = (url, "not-the-secret")
    await emulator.bot_inject(CHAT, "giả mạo")
    emulator.bot_webhook = (url, secret)
    async with httpx.AsyncClient() as http:
        retry = await http.post(url, json=update, headers={"X-Bot-Api-Secret-Token": secret})
    assert retry.status_code == 200
    await until(lambda: service.bot_runner is not None and service.bot_runner.repeats == 1)
    assert emulator.bot_webhook_answers == [200, 403]
    assert [m.text for m in conversations.seen] == ["/baocao"]
    assert len(emulator.sent_to("bot")) == 1
    await server.__aexit__()
    await service.aclose()


async def test_the_web_routes_refuse_what_zalo_did_not_send(
    emulator: ZaloEmulator, sessions: async_sessionmaker[AsyncSession]
) -> None:
    conversations = Conversations(sessions)
    service = make_service(
        settings_for(emulator, DONDOC_ZALO_BOT_WEBHOOK_SECRET=SECRET).zalo,
        sessions,
        conversations,
        render,
    )
    app = Starlette(routes=zalo_routes(service))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dondoc") as http:
        body, headers = await emulator.oa_inject(USER, "/tiendo")
        answered = await http.post("/zalo/oa", content=body, headers=headers)
        forged = await http.post("/zalo/oa", content=body.replace(b"tiendo", b"baocao"))
        huge = await http.post(
            "/zalo/bot", content=b"x" * 300_000, headers={"X-Bot-Api-Secret-Token": SECRET}
        )
        wrong = await http.post("/zalo/bot", json={}, headers={"X-Bot-Api-Secret-Token": "no"})
    assert answered.status_code == 200
    assert forged.status_code in (401, 403) and huge.status_code == 413
    assert wrong.status_code == 403
    assert [m.text for m in conversations.seen] == ["/tiendo"]
    [sent] = emulator.sent_to("oa", USER)
    assert sent.text.startswith("Đã nhận: /tiendo")
    assert SECRET not in forged.text + wrong.text
    await service.aclose()


async def test_oa_webhook_signature_and_answer(
    emulator: ZaloEmulator, sessions: async_sessionmaker[AsyncSession]
) -> None:
    conversations = Conversations(sessions)
    service = make_service(settings_for(emulator).zalo, sessions, conversations, render)
    body, headers = await emulator.oa_inject(USER, "/link")
    [incoming] = service.oa_webhook(headers, body)
    assert (incoming.channel, incoming.chat_id, incoming.text) == ("zalo_oa", USER, "/link")
    assert await service.handle(incoming) is True
    assert await service.handle(incoming) is False  # a retried delivery
    [sent] = emulator.sent_to("oa", USER)
    assert sent.text.startswith("Đã nhận: /link")

    tampered = body.replace(b"/link", b"/tien")
    with pytest.raises(WebhookRejected):
        service.oa_webhook(headers, tampered)
    with pytest.raises(WebhookRejected):
        service.oa_webhook({}, body)
    with pytest.raises(WebhookRejected):
        oa_webhook(headers, body, app_id=emulator.app_id, oa_secret_key="other", now=NOW)
    # Signed with the app secret instead of the OA secret key: refused too.
    event = json.loads(body)
    wrong = oa_signature(emulator.app_id, body, event["timestamp"], emulator.app_secret)
    with pytest.raises(WebhookRejected):
        service.oa_webhook({"X-ZEvent-Signature": f"mac={wrong}"}, body)
    follow = json.dumps(
        {
            "app_id": emulator.app_id,
            "oa_id": emulator.oa_id,
            "event_name": "follow",
            "timestamp": "1735268400000",
            "follower": {"id": USER},
        }
    ).encode()
    mac = oa_signature(emulator.app_id, follow, "1735268400000", emulator.oa_secret_key)
    assert service.oa_webhook({"X-ZEvent-Signature": f"mac={mac}"}, follow) == []
    await service.aclose()
