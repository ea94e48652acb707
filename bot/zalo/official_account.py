"""A thin async client for the Zalo Official Account Open API v3: customer-service text messages.

Calls carry the OA access token in a header named ``access_token``. The API answers HTTP 200
even when it refuses, with a non-zero ``error``; ``oa_error`` turns each documented code into a
``storage.channel`` error:

- ``-216``/``-220`` (token invalid or expired): refresh the token and try once more;
- ``-32`` (rate limit) -> RateLimited; ``-100`` (server) -> TransientError;
- ``-234`` (this message type may not be sent 22:00-06:00) -> TransientError until 06:00;
- ``-213``/``-217``/``-227`` (not a follower, blocks the OA, banned or inactive) -> RecipientGone;
- ``-230``/``-232`` (no interaction within the 7-day window) -> ``WindowClosed``, a permanent
  failure of this message only: the chat is not gone, the person just has to write first;
- ``-201``, ``-244`` and anything else -> PermanentError.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import httpx

from bot.zalo.config import OA_BASE_URL
from bot.zalo.tokens import OATokens, TokenError
from storage.channel import (
    ChannelError,
    PermanentError,
    RateLimited,
    RecipientGone,
    TransientError,
)
from storage.models import utcnow

log = logging.getLogger(__name__)

VIETNAM: Final = ZoneInfo("Asia/Ho_Chi_Minh")
RATE_LIMIT_WAIT: Final = 60.0
TOKEN_CODES: Final = frozenset({-216, -220})
GONE_CODES: Final = frozenset({-213, -217, -227})
WINDOW_CODES: Final = frozenset({-230, -232})
NIGHT_CODE: Final = -234
NIGHT_ENDS: Final = time(6, 0)


class WindowClosed(PermanentError):
    """The person has not written to the OA within 7 days: a CS message cannot reach them now,
    but the chat is still theirs; another channel carries this message."""


def seconds_until(moment: time, now: datetime) -> float:
    """Seconds from ``now`` to the next ``moment`` of the day in Vietnam."""
    local = now.astimezone(VIETNAM)
    at = datetime.combine(local.date(), moment, VIETNAM)
    if at <= local:
        at = datetime.combine(local.date() + timedelta(days=1), moment, VIETNAM)
    return (at - local).total_seconds()


def oa_error(code: int, message: str, *, now: datetime, what: str = "send") -> ChannelError:
    """The typed error for a non-zero ``error`` of the OA API (token codes excluded)."""
    detail = f"Zalo OA {what}: error {code}: {message[:200]}"
    if code == -32:
        return RateLimited(
            detail,
            retry_after=RATE_LIMIT_WAIT,
            message_vi="Zalo OA yêu cầu gửi chậm lại; tin sẽ được gửi lại sau.",
        )
    if code == -100:
        return TransientError(detail, message_vi="Máy chủ Zalo OA đang lỗi; sẽ thử lại sau.")
    if code == NIGHT_CODE:
        return TransientError(
            detail,
            retry_after=seconds_until(NIGHT_ENDS, now),
            message_vi="Zalo không cho gửi loại tin này từ 22 giờ đến 6 giờ; tin sẽ gửi sau 6 giờ.",
        )
    if code in GONE_CODES:
        return RecipientGone(
            detail,
            message_vi="Người nhận đã chặn, bỏ quan tâm hoặc không còn dùng Zalo OA.",
        )
    if code in WINDOW_CODES:
        return WindowClosed(
            detail,
            message_vi="Người nhận chưa nhắn cho Zalo OA trong 7 ngày qua nên OA không gửi tin "
            "tư vấn được; tin được gửi qua kênh khác.",
        )
    if code in TOKEN_CODES:
        return TokenError(detail, message_vi="Mã truy cập Zalo OA bị từ chối sau khi làm mới.")
    return PermanentError(detail, message_vi=f"Zalo OA từ chối tin nhắn (mã lỗi {code}).")


def http_error(status: int, what: str) -> ChannelError:
    detail = f"Zalo OA {what}: HTTP {status}"
    if status == 429:
        return RateLimited(detail, retry_after=RATE_LIMIT_WAIT)
    if status >= 500 or status == 408:
        return TransientError(detail, message_vi="Máy chủ Zalo OA đang lỗi; sẽ thử lại sau.")
    return PermanentError(detail, message_vi=f"Zalo OA trả lỗi HTTP {status}.")


class ZaloOAClient:
    """``await client.send_text(user_id, text)`` -> the OA's message id."""

    def __init__(
        self,
        tokens: OATokens,
        *,
        base_url: str = OA_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.tokens = tokens
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)

    def __repr__(self) -> str:
        return f"ZaloOAClient(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(self, path: str, payload: Mapping[str, Any], *, what: str) -> Mapping[str, Any]:
        """POST ``payload`` to ``path``; the ``data`` of a successful answer."""
        token = await self.tokens.access_token()
        for attempt in (1, 2):
            body = await self._post(path, payload, token, what)
            code = _code(body)
            if code == 0:
                data = body.get("data")
                return data if isinstance(data, Mapping) else {}
            message = str(body.get("message") or "")
            if code in TOKEN_CODES and attempt == 1:
                log.info("Zalo OA %s: access token refused (%d), refreshing", what, code)
                token = await self.tokens.refresh(stale=token)
                continue
            raise oa_error(code, message, now=self._clock(), what=what)
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def send_text(self, user_id: str, text: str) -> str:
        """A customer-service text message (at most 2,000 characters) to ``user_id``."""
        data = await self.call(
            "/v3.0/oa/message/cs",
            {"recipient": {"user_id": user_id}, "message": {"text": text}},
            what="send",
        )
        message_id = data.get("message_id")
        if not message_id:
            raise TransientError(
                "Zalo OA send: success without a message_id",
                message_vi="Zalo OA trả lời thiếu mã tin nhắn.",
            )
        return str(message_id)

    async def _post(
        self, path: str, payload: Mapping[str, Any], token: str, what: str
    ) -> Mapping[str, Any]:
        try:
            response = await self._http.post(
                f"{self.base_url}{path}", json=dict(payload), headers={"access_token": token}
            )
        except httpx.TimeoutException:
            raise TransientError(
                f"Zalo OA {what}: timed out", message_vi="Zalo OA không trả lời kịp."
            ) from None
        except httpx.HTTPError as exc:
            # The request in the exception carries the access token header: not chained.
            raise TransientError(
                f"Zalo OA {what}: {type(exc).__name__}",
                message_vi="Không kết nối được tới Zalo OA; sẽ thử lại sau.",
            ) from None
        if not response.is_success:
            raise http_error(response.status_code, what)
        try:
            body = response.json()
        except ValueError:
            raise TransientError(f"Zalo OA {what}: answer is not JSON") from None
        if not isinstance(body, Mapping):
            raise TransientError(f"Zalo OA {what}: answer is not a JSON object")
        return body


def _code(body: Mapping[str, Any]) -> int:
    try:
        return int(body.get("error", -100))
    except (TypeError, ValueError):
        return -100
