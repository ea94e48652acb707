"""A thin async client for the Zalo Bot Platform (``bot-api.zaloplatforms.com``).

The API copies Telegram's: ``POST <base>/bot<token>/<method>`` with a JSON body, answered with
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": "..."}``.
Differences that matter: ``getUpdates`` takes no offset and returns one update at a time,
already-delivered updates come back on later polls (so the caller deduplicates), and an empty
long poll ends with HTTP 408, which is not an error.

Every failure comes out as a ``storage.channel`` error, decided from the HTTP status and the
description (the Bot Platform publishes no error table): 403 and "not found"/"blocked" chats
mean the recipient is gone, 429 and 5xx and time-outs are transient, the rest permanent. The
token sits in the URL path, so it is cut out of httpx's request log and never put in an error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Final

import httpx

from bot.zalo.config import BOT_BASE_URL
from storage.channel import (
    ChannelError,
    PermanentError,
    RateLimited,
    RecipientGone,
    TransientError,
)

log = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER: Final = 30.0
"""Seconds to wait after a 429 that does not say how long."""

_GONE_WORDS: Final = ("blocked", "not found", "not exist", "deactivated", "forbidden")
_TOKEN_IN_PATH = re.compile(r"/bot[^/\s\"']+/")


class _RedactBotToken(logging.Filter):
    """httpx logs every request URL at INFO; the bot token is part of that URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/bot" in message:
            record.msg = _TOKEN_IN_PATH.sub("/bot***/", message)
            record.args = ()
        return True


_REDACTOR: Final = _RedactBotToken()


def _install_redactor() -> None:
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


class PollTimeout(TransientError):
    """HTTP 408: a long poll ended with nothing to deliver (normal for ``getUpdates``)."""


def bot_error(status: int, body: Mapping[str, Any] | None, method: str) -> ChannelError:
    """The typed error for a refused Bot Platform call (``status`` is the HTTP status)."""
    body = body or {}
    code = body.get("error_code", status)
    description = str(body.get("description") or "")
    detail = f"Zalo Bot {method}: HTTP {status}, error_code {code}: {description[:200]}"
    lowered = description.casefold()
    if status == 429 or code == 429:
        parameters = body.get("parameters")
        retry = parameters.get("retry_after") if isinstance(parameters, Mapping) else None
        retry_after = float(retry) if isinstance(retry, int | float) else DEFAULT_RETRY_AFTER
        return RateLimited(
            detail,
            retry_after=retry_after,
            message_vi="Zalo yêu cầu gửi chậm lại; tin sẽ được gửi lại sau.",
        )
    # Only a call addressed to a chat can say that chat is gone; a bare 404 "Not Found" is
    # the API's answer to a bad token or method.
    about_chat = method.startswith("send") and lowered.strip() != "not found"
    if about_chat and (
        status == 403 or (status in (400, 404) and any(w in lowered for w in _GONE_WORDS))
    ):
        return RecipientGone(
            detail,
            message_vi="Người nhận đã chặn bot Zalo hoặc không còn liên lạc được qua Zalo.",
        )
    if status in (401, 404):
        return PermanentError(
            detail,
            message_vi="Mã bot Zalo (DONDOC_ZALO_BOT_TOKEN) không hợp lệ. Hãy kiểm tra lại mã "
            "trong Zalo Bot Manager.",
        )
    if status == 408:
        return PollTimeout(detail)
    if status >= 500:
        return TransientError(detail, message_vi="Máy chủ Zalo Bot đang lỗi; sẽ thử lại sau.")
    return PermanentError(detail, message_vi=f"Zalo Bot từ chối tin nhắn: {description[:200]}")


class ZaloBotClient:
    """``await client.send_message(chat_id, text)``; ``await client.get_update(wait=30)``."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = BOT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not token:
            raise ValueError("the Zalo bot token is empty")
        _install_redactor()
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)

    def __repr__(self) -> str:
        return f"ZaloBotClient(base_url={self.base_url!r}, token='***')"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        method: str,
        payload: Mapping[str, Any] | None = None,
        *,
        seconds: float | None = None,
    ) -> Any:
        """``result`` of ``method``; ``None`` when the API answers ``ok`` without one."""
        url = f"{self.base_url}/bot{self._token}/{method}"
        try:
            response = await self._http.post(
                url, json=dict(payload or {}), timeout=seconds or self.timeout
            )
        except httpx.TimeoutException:
            raise TransientError(
                f"Zalo Bot {method}: timed out", message_vi="Zalo Bot không trả lời kịp."
            ) from None
        except httpx.HTTPError as exc:
            raise TransientError(
                f"Zalo Bot {method}: {type(exc).__name__}",
                message_vi="Không kết nối được tới Zalo Bot; sẽ thử lại sau.",
            ) from None  # the exception's request carries the token in its URL
        body = _json(response)
        if response.is_success and body is not None and body.get("ok") is True:
            return body.get("result")
        raise bot_error(response.status_code, body, method)

    async def get_me(self) -> Mapping[str, Any]:
        result = await self.call("getMe")
        return result if isinstance(result, Mapping) else {}

    async def get_update(self, *, wait: int = 30) -> Mapping[str, Any] | None:
        """One update, or ``None`` when the long poll ended empty (HTTP 408)."""
        try:
            result = await self.call("getUpdates", {"timeout": str(wait)}, seconds=wait + 10.0)
        except PollTimeout:
            return None
        if isinstance(result, list):  # tolerate a Telegram-style array
            result = result[0] if result else None
        return result if isinstance(result, Mapping) else None

    async def send_message(self, chat_id: str, text: str) -> str:
        """Send ``text`` (1-2000 characters); the provider's message id."""
        result = await self.call("sendMessage", {"chat_id": chat_id, "text": text})
        message_id = result.get("message_id") if isinstance(result, Mapping) else None
        if not message_id:
            raise TransientError(
                "Zalo Bot sendMessage: ok without a message_id",
                message_vi="Zalo Bot trả lời thiếu mã tin nhắn.",
            )
        return str(message_id)

    async def set_webhook(self, url: str, secret_token: str) -> None:
        await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook")


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
