"""The Zalo Bot Platform client and channel against the local emulator: every error class,
message splitting, buttons as typed choices, the token kept out of logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.incoming import Button, Reply
from bot.pacer import MARGIN, SendPacer
from bot.zalo.bot_platform import DEFAULT_RETRY_AFTER, PollTimeout, ZaloBotClient, bot_error
from bot.zalo.channel import ZaloBotChannel
from bot.zalo.messages import MAX_TEXT, render_reply, split_text
from storage.channel import (
    Outgoing,
    PermanentError,
    RateLimited,
    Recipient,
    RecipientGone,
    TransientError,
)
from tests.zalo_emulator import ZaloEmulator

CHAT = "e4ea2cd5189df1c3a88c"


def render(message: Outgoing) -> Reply:
    """A minimal renderer for these tests; the real chat templates belong to the conversations."""
    return Reply(f"Kính gửi {message.recipient.full_name}: {message.context['body']}")


def outgoing(chat: str | None = CHAT, body: str = "Nhắc trả lời phiếu.") -> Outgoing:
    return Outgoing(
        delivery_id=7,
        dedupe_key="c:7:reminder",
        reason="reminder",
        campaign_code="cchc-2024-tinh",
        recipient=Recipient(
            full_name="Nguyễn Văn An",
            respondent_id=1,
            chats={"zalo_bot": chat} if chat else {},
        ),
        context={"body": body},
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
async def emulator() -> AsyncIterator[ZaloEmulator]:
    async with ZaloEmulator() as emu:
        yield emu


@pytest.fixture
async def channel(emulator: ZaloEmulator) -> AsyncIterator[ZaloBotChannel]:
    clock = FakeClock()
    client = ZaloBotClient(emulator.bot_token, base_url=emulator.base_url)
    chan = ZaloBotChannel(
        client, render, pacer=SendPacer.per_minute(60, clock=clock, sleep=clock.sleep)
    )
    yield chan
    await chan.aclose()


async def test_send_reaches_the_chat(emulator: ZaloEmulator, channel: ZaloBotChannel) -> None:
    await emulator.bot_inject(CHAT, "Xin chào")
    receipt = await channel.send(outgoing())
    [sent] = emulator.sent_to("bot", CHAT)
    assert receipt.provider_id == sent.message_id
    assert sent.text == "Kính gửi Nguyễn Văn An: Nhắc trả lời phiếu."


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("blocked", RecipientGone),
        ("not_found", RecipientGone),
        ("rate", RateLimited),
        ("server", TransientError),
        ("bad_request", PermanentError),
    ],
)
async def test_each_error_is_mapped(
    emulator: ZaloEmulator, channel: ZaloBotChannel, fault: str, error: type[Exception]
) -> None:
    await emulator.bot_inject(CHAT, "Xin chào")
    emulator.fault("bot", CHAT, fault)
    with pytest.raises(error) as caught:
        await channel.send(outgoing())
    assert type(caught.value) is error
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 7
    assert emulator.sent_to("bot") == []


async def test_chat_that_never_wrote_and_unlinked_person_are_gone(
    emulator: ZaloEmulator, channel: ZaloBotChannel
) -> None:
    with pytest.raises(RecipientGone, match="chat not found"):
        await channel.send(outgoing())
    with pytest.raises(RecipientGone, match="no zalo_bot chat"):
        await channel.send(outgoing(chat=None))


async def test_bad_token_and_api_down(emulator: ZaloEmulator) -> None:
    client = ZaloBotClient("123:wrong-token", base_url=emulator.base_url)
    with pytest.raises(PermanentError) as caught:
        await client.get_me()
    assert not isinstance(caught.value, RecipientGone)
    assert "wrong-token" not in caught.value.detail
    await client.aclose()
    good = ZaloBotClient(emulator.bot_token, base_url=emulator.base_url)
    emulator.down.add("bot")
    with pytest.raises(TransientError):
        await good.get_update(wait=1)
    emulator.down.clear()
    assert (await good.get_me())["account_type"] == "BASIC"
    await good.aclose()


async def test_unreachable_server_is_transient_and_hides_the_token() -> None:
    client = ZaloBotClient("999:very-secret-token", base_url="http://127.0.0.1:9")
    with pytest.raises(TransientError) as caught:
        await client.send_message(CHAT, "x")
    assert "very-secret-token" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    await client.aclose()


async def test_long_text_is_split_on_lines(emulator: ZaloEmulator, channel: ZaloBotChannel) -> None:
    await emulator.bot_inject(CHAT, "Xin chào")
    lines = [f"{i:03d}. Trần Thị Bình — Chuyên viên, Phòng Tổ chức cán bộ" for i in range(120)]
    receipt = await channel.send(outgoing(body="\n".join(lines)))
    parts = emulator.sent_to("bot", CHAT)
    assert len(parts) >= 3 and receipt.provider_id == parts[0].message_id
    assert all(len(p.text) <= MAX_TEXT for p in parts)
    got = "\n".join(p.text for p in parts).split("\n")
    assert got[0].startswith("Kính gửi") and got[1:] == lines[1:]


async def test_token_is_not_logged(
    emulator: ZaloEmulator, channel: ZaloBotChannel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await emulator.bot_inject(CHAT, "Xin chào")
    await channel.send(outgoing())
    assert "HTTP Request" in caplog.text
    assert emulator.bot_token.split(":")[1] not in caplog.text
    assert "/bot***/sendMessage" in caplog.text


def test_split_text_keeps_lines_whole() -> None:
    text = "\n".join("x" * 30 for _ in range(10))
    parts = split_text(text, limit=100)
    assert [len(p) for p in parts] == [92, 92, 92, 30]
    assert "\n".join(parts) == text
    assert split_text("") == []
    long_word = "a" * 250
    assert split_text(long_word, limit=100) == ["a" * 100, "a" * 100, "a" * 50]
    assert split_text("một hai ba bốn năm", limit=8) == ["một hai", "ba bốn", "năm"]


def test_buttons_become_typed_choices() -> None:
    reply = Reply(
        "Anh/chị đã trả lời phiếu chưa?",
        buttons=[[Button("Tôi đã trả lời", "Tôi đã trả lời")], [Button("Xem tiến độ", "/tiendo")]],
    )
    assert render_reply(reply) == (
        "Anh/chị đã trả lời phiếu chưa?\n\nAnh/chị trả lời bằng cách gõ:\n"
        "• Tôi đã trả lời\n• /tiendo (Xem tiến độ)"
    )
    assert render_reply(Reply("Chào anh/chị.")) == "Chào anh/chị."


async def test_pacer_spaces_sends_overall_and_per_chat() -> None:
    clock = FakeClock()
    pacer = SendPacer.per_minute(120, per_chat_gap=2.0, clock=clock, sleep=clock.sleep)
    sent: list[tuple[str | None, float]] = []
    for chat in ("a", "b", "a", None):
        await pacer.wait(chat)
        sent.append((chat, clock.now))
    # 120 a minute: half a second apart (with the pacer's safety margin); the same chat waits
    # for its own two-second gap; a send to no chat only for the overall slot.
    assert [chat for chat, _ in sent] == ["a", "b", "a", None]
    assert [at for _, at in sent] == pytest.approx([0.0, 0.5 * MARGIN, 2.0 * MARGIN, 2.5 * MARGIN])


async def test_control_api_over_http(emulator: ZaloEmulator, channel: ZaloBotChannel) -> None:
    async with httpx.AsyncClient(base_url=emulator.base_url) as http:
        injected = await http.post("/_emu/bot/inject", json={"chat_id": CHAT, "text": "/help"})
        assert injected.json()["message"]["text"] == "/help"
        fault = {"api": "bot", "target": CHAT, "kind": "blocked", "times": 1}
        assert (await http.post("/_emu/fault", json=fault)).status_code == 200
        with pytest.raises(RecipientGone):
            await channel.send(outgoing())
        receipt = await channel.send(outgoing())  # the fault was for one call only
        sent = (await http.get("/_emu/sent", params={"api": "bot"})).json()
        assert [(s["to"], s["message_id"]) for s in sent] == [(CHAT, receipt.provider_id)]
        unknown = {"api": "bot", "target": CHAT, "kind": "no-such-fault"}
        assert (await http.post("/_emu/fault", json=unknown)).status_code == 400
        update = await channel.client.get_update(wait=1)
        assert update is not None and update["message"]["chat"]["id"] == CHAT


def test_only_a_send_can_say_the_chat_is_gone() -> None:
    not_found = {"ok": False, "error_code": 404, "description": "Not Found"}
    assert type(bot_error(404, not_found, "sendMessage")) is PermanentError
    forbidden = {"ok": False, "error_code": 403, "description": "Forbidden"}
    assert type(bot_error(403, forbidden, "getUpdates")) is PermanentError
    assert type(bot_error(403, forbidden, "sendMessage")) is RecipientGone
    assert type(bot_error(408, {"description": "Request timeout"}, "getUpdates")) is PollTimeout
    assert bot_error(429, None, "sendMessage").retry_after == DEFAULT_RETRY_AFTER  # type: ignore[attr-defined]
