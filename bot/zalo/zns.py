"""ZNS (ZBS) template messages to a phone number, through the OA's access token.

The only Zalo route to people who never wrote to the OA, and the only paid one: every message
costs money and needs a template Zalo approved. ``ZnsClient`` therefore refuses to exist unless
``zns_enabled`` is set, so with the default settings nothing can call ZNS.

Errors follow the official ZNS table: ``-124`` refreshes the token and tries once more; the
recipient-unreachable codes (no Zalo account, refuses ZNS...) mean RecipientGone so another
channel takes over; quotas are rate limits until tomorrow; night sends wait for 06:00.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, time
from typing import Any, Final

import httpx

from bot.zalo.config import ZaloOAConfig
from bot.zalo.official_account import NIGHT_ENDS, http_error, seconds_until
from bot.zalo.tokens import OATokens, TokenError
from storage.channel import (
    ChannelError,
    PermanentError,
    RateLimited,
    RecipientGone,
    TransientError,
)
from storage.errors import ConfigurationError
from storage.models import utcnow
from storage.phones import PhoneError, normalize_phone

log = logging.getLogger(__name__)

TOKEN_CODE: Final = -124
GONE_CODES: Final = frozenset({-114, -118, -119, -139, -141})
QUOTA_CODES: Final = frozenset({-115, -144, -1441, -147, -160})
NIGHT_CODE: Final = -133
RETRY_CODES: Final = frozenset({-100, -137})


def zns_phone(raw: str) -> str:
    """The phone as ZNS wants it: 84 followed by the subscriber number ("84912480190")."""
    try:
        return normalize_phone(raw).removeprefix("+")
    except PhoneError as exc:
        raise PermanentError(
            f"ZNS: not a valid Vietnamese phone number: {exc}",
            message_vi=f"Số điện thoại không hợp lệ cho Zalo ZNS: {raw}.",
        ) from exc


def zns_error(code: int, message: str, *, now: datetime) -> ChannelError:
    detail = f"Zalo ZNS send: error {code}: {message[:200]}"
    if code in RETRY_CODES:
        return TransientError(detail, message_vi="Zalo ZNS đang lỗi; sẽ thử lại sau.")
    if code in QUOTA_CODES:
        return RateLimited(
            detail,
            retry_after=seconds_until(time(8, 0), now),
            message_vi="Đã hết hạn mức gửi Zalo ZNS; tin sẽ được gửi lại vào ngày mai.",
        )
    if code == NIGHT_CODE:
        return TransientError(
            detail,
            retry_after=seconds_until(NIGHT_ENDS, now),
            message_vi="Zalo không cho gửi mẫu ZNS này từ 22 giờ đến 6 giờ; tin sẽ gửi sau 6 giờ.",
        )
    if code in GONE_CODES:
        return RecipientGone(
            detail,
            message_vi="Số điện thoại không có tài khoản Zalo hoặc đã từ chối nhận tin ZNS.",
        )
    if code == TOKEN_CODE:
        return TokenError(detail, message_vi="Mã truy cập Zalo OA bị từ chối sau khi làm mới.")
    return PermanentError(detail, message_vi=f"Zalo ZNS từ chối tin nhắn (mã lỗi {code}).")


class ZnsClient:
    """``await client.send_template(phone, template_id, data, tracking_id)`` -> ZNS msg_id."""

    def __init__(
        self,
        config: ZaloOAConfig,
        tokens: OATokens,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not config.zns_enabled:
            raise ConfigurationError(
                "Zalo ZNS đang tắt. Đặt DONDOC_ZALO_ZNS_ENABLED=true khi đã có mẫu tin được "
                "duyệt và tài khoản ZBS.",
                "ZNS is disabled (DONDOC_ZALO_ZNS_ENABLED is not true)",
            )
        self.config = config
        self.tokens = tokens
        self.base_url = config.zns_base_url.rstrip("/")
        self._clock = clock
        self._http = httpx.AsyncClient(transport=transport, timeout=config.timeout)

    def __repr__(self) -> str:
        return f"ZnsClient(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send_template(
        self,
        phone: str,
        template_id: str,
        data: Mapping[str, str],
        *,
        tracking_id: str,
    ) -> str:
        payload: dict[str, Any] = {
            "phone": zns_phone(phone),
            "template_id": template_id,
            "template_data": {key: str(value) for key, value in data.items()},
            "tracking_id": tracking_id,
        }
        if self.config.zns_development:
            payload["mode"] = "development"
        token = await self.tokens.access_token()
        for attempt in (1, 2):
            body = await self._post(payload, token)
            try:
                code = int(body.get("error", -100))
            except (TypeError, ValueError):
                code = -100
            if code == 0:
                result = body.get("data")
                msg_id = result.get("msg_id") if isinstance(result, Mapping) else None
                if not msg_id:
                    raise TransientError("Zalo ZNS send: success without a msg_id")
                return str(msg_id)
            if code == TOKEN_CODE and attempt == 1:
                token = await self.tokens.refresh(stale=token)
                continue
            raise zns_error(code, str(body.get("message") or ""), now=self._clock())
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _post(self, payload: Mapping[str, Any], token: str) -> Mapping[str, Any]:
        try:
            response = await self._http.post(
                f"{self.base_url}/message/template",
                json=dict(payload),
                headers={"access_token": token},
            )
        except httpx.TimeoutException:
            raise TransientError("Zalo ZNS send: timed out") from None
        except httpx.HTTPError as exc:
            raise TransientError(f"Zalo ZNS send: {type(exc).__name__}") from None
        if not response.is_success:
            raise http_error(response.status_code, "ZNS send")
        try:
            body = response.json()
        except ValueError:
            raise TransientError("Zalo ZNS send: answer is not JSON") from None
        if not isinstance(body, Mapping):
            raise TransientError("Zalo ZNS send: answer is not a JSON object")
        return body
