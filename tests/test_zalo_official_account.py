"""Zalo OA v3 and ZNS against the local emulator, with the token pair in the real database:
refresh saved and reused, concurrent refreshes, the 7-day window, each error code mapped,
ZNS off by default."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.incoming import Reply
from bot.pacer import MARGIN, SendPacer
from bot.zalo.channel import ZaloOAChannel, ZnsChannel
from bot.zalo.config import ZaloConfig, ZaloOAConfig
from bot.zalo.official_account import WindowClosed, ZaloOAClient
from bot.zalo.service import ZaloService
from bot.zalo.tokens import OATokens, TokenError, stored_pair
from bot.zalo.zns import ZnsClient
from dondoc.settings import Settings
from storage.channel import (
    Outgoing,
    PermanentError,
    RateLimited,
    Recipient,
    RecipientGone,
    TransientError,
)
from storage.db import session_factory
from storage.errors import ConfigurationError
from tests.zalo_emulator import FakeMonotonic, ZaloEmulator

USER = "8125731234567890123"
PHONE = "0912 480 190"


class Clock:
    def __init__(self) -> None:
        # 10:00 in Hà Nội.
        self.now = datetime(2024, 12, 27, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def render(message: Outgoing) -> Reply:
    return Reply(f"Kính gửi {message.recipient.full_name}: {message.context['body']}")


def outgoing(user: str | None = USER, phone: str | None = PHONE) -> Outgoing:
    return Outgoing(
        delivery_id=11,
        dedupe_key="c:11:reminder",
        reason="reminder",
        campaign_code="cchc-2024-tinh",
        recipient=Recipient(
            full_name="Trần Thị Bình",
            phone=phone,
            respondent_id=2,
            chats={"zalo_oa": user} if user else {},
        ),
        context={"body": "Phiếu khảo sát còn 3 ngày.", "han": "30/12/2024"},
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def emulator(clock: Clock) -> AsyncIterator[ZaloEmulator]:
    async with ZaloEmulator(clock=clock) as emu:
        yield emu


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


def oa_config(emulator: ZaloEmulator, **changes: object) -> ZaloOAConfig:
    config = ZaloOAConfig(
        app_id=emulator.app_id,
        secret_key=emulator.app_secret,
        refresh_token="first-refresh-token",
        oa_secret_key=emulator.oa_secret_key,
        base_url=emulator.base_url,
        oauth_base_url=emulator.base_url,
        zns_base_url=emulator.base_url,
        zns_templates={"reminder": "231001"},
    )
    return replace(config, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def tokens(
    emulator: ZaloEmulator, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> AsyncIterator[OATokens]:
    t = OATokens(oa_config(emulator), sessions, clock=clock)
    yield t
    await t.aclose()


@pytest.fixture
async def channel(
    emulator: ZaloEmulator, tokens: OATokens, clock: Clock
) -> AsyncIterator[ZaloOAChannel]:
    client = ZaloOAClient(tokens, base_url=emulator.base_url, clock=clock)
    chan = ZaloOAChannel(client, render, pacer=SendPacer.per_minute(600, per_chat_gap=0.0))
    yield chan
    await chan.aclose()


async def test_token_refreshed_once_saved_and_reused(
    emulator: ZaloEmulator,
    channel: ZaloOAChannel,
    tokens: OATokens,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
) -> None:
    await emulator.oa_inject(USER, "Xin chào")
    first = await channel.send(outgoing())
    second = await channel.send(outgoing())
    assert first.provider_id != second.provider_id
    assert emulator.refreshes == 1 and len(emulator.sent_to("oa", USER)) == 2
    pair = await stored_pair(sessions, tokens.name)
    assert pair is not None and pair.access_token in emulator.access_tokens
    assert pair.refresh_token in emulator.refresh_tokens  # the rotated one, saved
    assert pair.expires_at == clock.now + timedelta(seconds=90000)
    assert "acc-" not in repr(pair) and "ref-" not in repr(pair)
    # A new process (new OATokens) reads the stored pair instead of spending a refresh token.
    again = OATokens(oa_config(emulator), sessions, clock=clock)
    assert await again.access_token() == pair.access_token
    await again.aclose()
    assert emulator.refreshes == 1


async def test_expired_token_is_refreshed_and_the_send_retried_once(
    emulator: ZaloEmulator, channel: ZaloOAChannel, tokens: OATokens
) -> None:
    await emulator.oa_inject(USER, "Xin chào")
    await channel.send(outgoing())
    emulator.expire_tokens()  # Zalo answers -220 although our clock thinks it is valid
    await channel.send(outgoing())
    assert emulator.refreshes == 2 and len(emulator.sent_to("oa")) == 2
    # Refused again right after a refresh: no loop, a typed transient error.
    emulator.fault("oa", USER, "token_invalid")
    with pytest.raises(TokenError):
        await channel.send(outgoing())
    assert emulator.refreshes == 3


async def test_proactive_refresh_before_expiry(
    emulator: ZaloEmulator, tokens: OATokens, clock: Clock
) -> None:
    token = await tokens.access_token()
    clock.now += timedelta(seconds=90000 - 300)  # within the refresh margin
    assert await tokens.access_token() != token
    assert emulator.refreshes == 2


async def test_concurrent_refreshes_keep_the_newest_pair(
    emulator: ZaloEmulator, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    # Two processes' token managers (separate locks) and two coroutines in each.
    a = OATokens(oa_config(emulator), sessions, clock=clock)
    b = OATokens(oa_config(emulator), sessions, clock=clock)
    start = await a.access_token()
    results = await asyncio.gather(
        a.refresh(stale=start),
        a.refresh(stale=start),
        b.refresh(stale=start),
        b.refresh(stale=start),
        return_exceptions=True,
    )
    pair = await stored_pair(sessions, a.name)
    assert pair is not None
    assert all(r == pair.access_token for r in results), results
    # The saved refresh token is the live one: the next refresh works.
    assert pair.refresh_token in emulator.refresh_tokens
    assert await a.refresh(stale=pair.access_token) != pair.access_token
    await a.aclose()
    await b.aclose()


async def test_refused_refresh_token_is_a_clear_transient_error(
    emulator: ZaloEmulator, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    tokens = OATokens(
        oa_config(emulator, refresh_token="revoked"), sessions, clock=clock, race_pauses=[0.0]
    )
    with pytest.raises(TokenError) as caught:
        await tokens.access_token()
    assert "-14014" in caught.value.detail and "revoked" not in caught.value.detail
    assert "DONDOC_ZALO_OA_REFRESH_TOKEN" in caught.value.message_vi
    await tokens.aclose()


async def test_the_seven_day_window(
    emulator: ZaloEmulator, channel: ZaloOAChannel, clock: Clock
) -> None:
    with pytest.raises(WindowClosed):
        await channel.send(outgoing())  # never wrote to the OA
    await emulator.oa_inject(USER, "Xin chào")
    clock.now += timedelta(days=6, hours=23)
    await channel.send(outgoing())
    clock.now += timedelta(hours=2)
    with pytest.raises(WindowClosed) as caught:
        await channel.send(outgoing())
    assert isinstance(caught.value, PermanentError)
    assert not isinstance(caught.value, RecipientGone)
    assert "-230" in caught.value.detail


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("not_follower", RecipientGone),
        ("blocked", RecipientGone),
        ("banned", RecipientGone),
        ("window", WindowClosed),
        ("window_expired", WindowClosed),
        ("restricted", PermanentError),
        ("invalid_param", PermanentError),
        ("rate", RateLimited),
        ("server", TransientError),
        ("night", TransientError),
    ],
)
async def test_each_oa_error_is_mapped(
    emulator: ZaloEmulator, channel: ZaloOAChannel, fault: str, error: type[Exception]
) -> None:
    await emulator.oa_inject(USER, "Xin chào")
    emulator.fault("oa", USER, fault)
    with pytest.raises(error) as caught:
        await channel.send(outgoing())
    assert type(caught.value) is error
    if fault == "night":
        # 10:00 in Hà Nội: the next 06:00 is 20 hours away.
        assert isinstance(caught.value, TransientError)
        assert caught.value.retry_after == 20 * 3600


async def test_oa_down_is_transient(emulator: ZaloEmulator, channel: ZaloOAChannel) -> None:
    await emulator.oa_inject(USER, "Xin chào")
    emulator.down.add("oa")
    with pytest.raises(TransientError):
        await channel.send(outgoing())
    emulator.down = {"oauth"}
    emulator.expire_tokens()
    with pytest.raises(TokenError):
        await channel.send(outgoing())


async def test_zns_is_off_by_default(
    emulator: ZaloEmulator, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings.from_env(
        {
            "DONDOC_ZALO_OA_APP_ID": emulator.app_id,
            "DONDOC_ZALO_OA_SECRET_KEY": emulator.app_secret,
            "DONDOC_ZALO_OA_REFRESH_TOKEN": "first-refresh-token",
            "DONDOC_ZALO_OA_BASE_URL": emulator.base_url,
            "DONDOC_ZALO_OAUTH_BASE_URL": emulator.base_url,
            "DONDOC_ZALO_ZNS_BASE_URL": emulator.base_url,
            "DONDOC_ZALO_ZNS_TEMPLATES": "reminder=231001",
        }
    )
    assert settings.zalo.oa is not None and not settings.zalo.oa.zns_enabled
    service = ZaloService(settings.zalo, sessions, _NoConversations(), render)
    assert set(service.channels) == {"zalo_oa"}
    await service.aclose()
    with pytest.raises(ConfigurationError):
        ZnsClient(settings.zalo.oa, OATokens(settings.zalo.oa, sessions))
    assert not any(api == "zns" for api, _ in emulator.calls)


async def test_zns_when_enabled(
    emulator: ZaloEmulator, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    config = oa_config(emulator, zns_enabled=True)
    pace = FakeMonotonic()
    service = ZaloService(
        ZaloConfig(oa=config),
        sessions,
        _NoConversations(),
        render,
        clock=clock,
        pace_clock=pace,
        pace_sleep=pace.sleep,
    )
    zns = service.channels["zalo_zns"]
    assert isinstance(zns, ZnsChannel)
    receipt = await zns.send(outgoing(user=None))
    [sent] = emulator.sent_to("zns")
    assert sent.to == "84912480190" and receipt.provider_id == sent.message_id
    assert sent.extra == {"template_id": "231001", "tracking_id": "dondoc-11"}
    assert '"ho_ten": "Trần Thị Bình"' in sent.text and '"han": "30/12/2024"' in sent.text
    for fault, error in [
        ("no_zalo", RecipientGone),
        ("refused_oa", RecipientGone),
        ("quota", RateLimited),
        ("night", TransientError),
        ("server", TransientError),
    ]:
        emulator.fault("zns", "84912480190", fault)
        with pytest.raises(error) as caught:
            await zns.send(outgoing(user=None))
        assert type(caught.value) is error, fault
    emulator.fault("zns", "84912480190", None)
    with pytest.raises(PermanentError, match="not a valid"):
        await zns.send(outgoing(user=None, phone="12345"))
    no_template = replace(outgoing(user=None), reason="invitation")
    with pytest.raises(PermanentError, match="no ZNS template"):
        await zns.send(no_template)
    # Six calls reached ZNS at 60 a minute: one a second (and the pacer's safety margin),
    # without a real wait.
    assert pace.slept == pytest.approx([MARGIN] * 5) and pace.now == pytest.approx(5 * MARGIN)
    await service.aclose()


def test_settings_refuse_bad_zalo_values() -> None:
    with pytest.raises(ConfigurationError, match="DONDOC_ZALO_ZNS_ENABLED"):
        Settings.from_env({"DONDOC_ZALO_ZNS_ENABLED": "true"})
    with pytest.raises(ConfigurationError, match="DONDOC_ZALO_OA_SECRET_KEY"):
        Settings.from_env({"DONDOC_ZALO_OA_APP_ID": "1"})
    with pytest.raises(ConfigurationError, match="8 to 256"):
        Settings.from_env({"DONDOC_ZALO_BOT_TOKEN": "1:a", "DONDOC_ZALO_BOT_WEBHOOK_SECRET": "x"})
    with pytest.raises(ConfigurationError, match="reminder=123456"):
        Settings.from_env(
            {
                "DONDOC_ZALO_OA_APP_ID": "1",
                "DONDOC_ZALO_OA_SECRET_KEY": "k",
                "DONDOC_ZALO_ZNS_TEMPLATES": "reminder",
            }
        )
    settings = Settings.from_env(
        {
            "DONDOC_ZALO_BOT_TOKEN": "1:bí-mật",
            "DONDOC_ZALO_OA_APP_ID": "1",
            "DONDOC_ZALO_OA_SECRET_KEY": "khoá-bí-mật",
        }
    )
    assert settings.zalo.bot is not None and settings.zalo.bot.token == "1:bí-mật"
    assert "bí-mật" not in repr(settings)
    assert Settings.from_env({}).zalo == ZaloConfig()


class _NoConversations:
    async def handle(self, message: object) -> list[Reply]:
        raise AssertionError("no message should reach the conversations here")


async def test_a_new_configured_refresh_token_replaces_a_revoked_stored_one(
    emulator: ZaloEmulator, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    tokens = OATokens(oa_config(emulator), sessions, clock=clock, race_pauses=[0.0])
    first = await tokens.access_token()
    await tokens.aclose()
    emulator.refresh_tokens.clear()  # Zalo revoked the stored pair (3 months unused, say)
    emulator.refresh_tokens.add("re-authorised")
    renewed = OATokens(
        oa_config(emulator, refresh_token="re-authorised"), sessions, clock=clock, race_pauses=[0.0]
    )
    token = await renewed.refresh(stale=first)
    pair = await stored_pair(sessions, renewed.name)
    assert pair is not None and pair.access_token == token != first
    assert emulator.refresh_attempts[-2:] != ["re-authorised", "re-authorised"]
    assert emulator.refresh_attempts[-1] == "re-authorised"
    await renewed.aclose()
