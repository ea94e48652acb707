"""The Zalo OA access token: read from ``provider_tokens``, refreshed, the new pair saved at once.

Zalo's refresh token is single use: once exchanged, only the pair that came back works. The new
pair is therefore written in one transaction before the access token is used, and the write is
a compare-and-swap on the refresh token that was spent, so two refreshers (two coroutines, or
the daemon and a CLI process) can never overwrite a newer pair with an older one. In one process
a lock lets one refresh at a time; whoever waited on it re-reads the row and uses the pair the
other one saved instead of spending a refresh token that is already gone.

The tokens never appear in logs, exceptions or reprs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.zalo.config import ZaloOAConfig
from storage.channel import TransientError
from storage.models import ProviderToken, utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

REFRESH_MARGIN: Final = timedelta(minutes=10)
"""Refresh this long before the access token expires, not after a refused send."""

RACE_PAUSES: Final = (0.05, 0.2, 0.5, 1.0)
"""Re-reads of the stored pair after a refused refresh, in case another process just won."""


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None

    def __repr__(self) -> str:
        return f"TokenPair(access_token='***', refresh_token='***', expires_at={self.expires_at})"


class TokenError(TransientError):
    """The OA token could not be obtained; sends wait and are tried again later."""


class RefreshRefused(TokenError):
    """Zalo refused the refresh token (spent, expired or revoked)."""


class OATokens:
    """The current access token of one OA, refreshed when it nears expiry or is refused."""

    def __init__(
        self,
        config: ZaloOAConfig,
        sessions: async_sessionmaker[AsyncSession],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = utcnow,
        race_pauses: Sequence[float] = RACE_PAUSES,
    ) -> None:
        self.config = config
        self.race_pauses = tuple(race_pauses)
        self.name = config.token_name
        self.sessions = sessions
        self._clock = clock
        self._lock = asyncio.Lock()
        self._http = httpx.AsyncClient(transport=transport, timeout=config.timeout)
        self.refreshes = 0
        """Refresh tokens spent by this object (tests count them)."""

    def __repr__(self) -> str:
        return f"OATokens(name={self.name!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def access_token(self) -> str:
        """A usable access token, refreshing first when it is missing or about to expire."""
        pair = await self._load()
        if pair is not None and not self._expiring(pair):
            return pair.access_token
        return await self.refresh(stale=pair.access_token if pair else None)

    async def refresh(self, *, stale: str | None) -> str:
        """Replace the access token ``stale`` (refused or expiring); the new access token.

        When somebody else already replaced ``stale``, their token is returned and no refresh
        token is spent.
        """
        async with self._lock:
            pair = await self._load()
            if pair is not None and pair.access_token != stale and not self._expiring(pair):
                return pair.access_token
            spent = pair.refresh_token if pair is not None else None
            if spent is None:
                spent = self.config.refresh_token
            if not spent:
                raise TokenError(
                    "Zalo OA has no refresh token: set DONDOC_ZALO_OA_REFRESH_TOKEN",
                    message_vi="Chưa có refresh token của Zalo OA. Hãy đặt biến "
                    "DONDOC_ZALO_OA_REFRESH_TOKEN (lấy từ trang developers.zalo.me).",
                )
            try:
                fresh = await self._exchange(spent)
            except RefreshRefused:
                # Refused: perhaps another process spent the same refresh token a moment ago
                # and is saving its pair now. Give it that moment before giving up.
                for pause in self.race_pauses:
                    current = await self._load()
                    if current is not None and current.refresh_token != spent:
                        return current.access_token
                    await asyncio.sleep(pause)
                configured = self.config.refresh_token
                if not configured or configured == spent:
                    raise
                # The organiser authorised the app again and set a new refresh token.
                fresh = await self._exchange(configured)
            saved = await self._save(spent, fresh, had_row=pair is not None)
            if not saved:
                # Another process spent the same refresh token first: its pair is the truth.
                current = await self._load()
                if current is None:
                    raise TokenError("Zalo OA token row vanished during a refresh")
                return current.access_token
            log.info("Zalo OA %s: access token refreshed", self.config.app_id)
            return fresh.access_token

    def _expiring(self, pair: TokenPair) -> bool:
        return pair.expires_at is not None and pair.expires_at - REFRESH_MARGIN <= self._clock()

    async def _load(self) -> TokenPair | None:
        async with self.sessions() as session:
            row = await session.get(ProviderToken, self.name, populate_existing=True)
            if row is None:
                return None
            return TokenPair(row.access_token, row.refresh_token, row.expires_at)

    async def _exchange(self, refresh_token: str) -> TokenPair:
        url = f"{self.config.oauth_base_url.rstrip('/')}/v4/oa/access_token"
        try:
            response = await self._http.post(
                url,
                data={
                    "app_id": self.config.app_id,
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token,
                },
                headers={"secret_key": self.config.secret_key},
            )
        except httpx.HTTPError as exc:
            raise TokenError(
                f"Zalo OA token refresh: {type(exc).__name__}",
                message_vi="Không kết nối được tới máy chủ cấp mã Zalo; sẽ thử lại sau.",
            ) from None
        self.refreshes += 1
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, dict) and "access_token" in data:
            body = data  # an older wrapped form of the same answer
        if not isinstance(body, dict) or not body.get("access_token"):
            info = body if isinstance(body, dict) else {}
            error = info.get("error")
            message = str(info.get("error_description") or info.get("message") or "")[:200]
            if response.status_code >= 500:
                raise TokenError(f"Zalo OA token refresh: HTTP {response.status_code}")
            raise RefreshRefused(
                f"Zalo OA token refresh refused: HTTP {response.status_code}, error {error}: "
                f"{message}",
                message_vi="Zalo từ chối làm mới mã truy cập OA (refresh token hết hạn hoặc đã "
                "dùng). Hãy cấp lại quyền cho ứng dụng trên developers.zalo.me và đặt "
                "DONDOC_ZALO_OA_REFRESH_TOKEN mới.",
            )
        try:
            seconds = int(str(body.get("expires_in") or "90000"))
        except ValueError:
            seconds = 3600
        return TokenPair(
            access_token=str(body["access_token"]),
            refresh_token=str(body.get("refresh_token") or refresh_token),
            expires_at=self._clock() + timedelta(seconds=seconds),
        )

    async def _save(self, spent: str, fresh: TokenPair, *, had_row: bool) -> bool:
        """Write ``fresh`` in one transaction if the row still holds ``spent``; whether it did."""
        if not had_row:
            try:
                async with self.sessions() as session, session.begin():
                    session.add(
                        ProviderToken(
                            name=self.name,
                            access_token=fresh.access_token,
                            refresh_token=fresh.refresh_token,
                            expires_at=fresh.expires_at,
                            updated_at=self._clock(),
                        )
                    )
            except IntegrityError:
                return False
            return True
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(ProviderToken)
                .where(ProviderToken.name == self.name, ProviderToken.refresh_token == spent)
                .values(
                    access_token=fresh.access_token,
                    refresh_token=fresh.refresh_token,
                    expires_at=fresh.expires_at,
                    updated_at=self._clock(),
                )
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0) == 1)


async def stored_pair(sessions: async_sessionmaker[AsyncSession], name: str) -> TokenPair | None:
    """The pair in ``provider_tokens`` (for checks and tests)."""
    async with sessions() as session:
        row = (
            await session.execute(select(ProviderToken).where(ProviderToken.name == name))
        ).scalar_one_or_none()
        return (
            None if row is None else TokenPair(row.access_token, row.refresh_token, row.expires_at)
        )
