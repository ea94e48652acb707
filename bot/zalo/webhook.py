"""Zalo webhooks as pure functions: request headers and raw body in, ``Incoming`` out.

A web route calls ``bot_webhook`` (Zalo Bot Platform, header ``X-Bot-Api-Secret-Token``) or
``oa_webhook`` (Official Account, header ``X-ZEvent-Signature: mac=<hex>`` where hex is
``sha256(app_id + raw_body + timestamp + OA secret key)``), answers 200 at once and hands the
result to ``ZaloBotRunner.handle`` / ``ZaloOAResponder.handle``, which deduplicate (Zalo retries
deliveries). A refused request raises ``WebhookRejected`` with the HTTP status to answer.
Secrets are compared in constant time and never echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from bot.incoming import Incoming
from storage.errors import DondocError

BOT_SECRET_HEADER: Final = "x-bot-api-secret-token"  # noqa: S105 (a header name)
OA_SIGNATURE_HEADER: Final = "x-zevent-signature"
BOT_TEXT_EVENT: Final = "message.text.received"
OA_TEXT_EVENT: Final = "user_send_text"


class WebhookRejected(DondocError):
    """The request is not from Zalo or not readable; ``status`` is what to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"Yêu cầu webhook Zalo bị từ chối: {reason}", reason)
        self.status = status


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise WebhookRejected(400, "body is not a JSON object")
    return data


def _when(value: Any, fallback: datetime) -> datetime:
    """Zalo times are epoch milliseconds (sometimes as strings); tolerate seconds too."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return fallback
    if number > 10**12:
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return fallback


def bot_incoming(update: Mapping[str, Any], *, now: datetime) -> Incoming | None:
    """The ``Incoming`` of one Bot Platform update, or ``None`` when it is not for a person
    (no message, sent by a bot)."""
    message = update.get("message")
    if not isinstance(message, Mapping):
        return None
    chat = message.get("chat")
    sender = message.get("from")
    sender = sender if isinstance(sender, Mapping) else {}
    if not isinstance(chat, Mapping) or not chat.get("id") or sender.get("is_bot") is True:
        return None
    event = str(update.get("event_name") or BOT_TEXT_EVENT)
    message_id = str(message.get("message_id") or "")
    if not message_id:
        return None
    text = message.get("text") if event == BOT_TEXT_EVENT else None
    name = sender.get("display_name") or sender.get("first_name") or sender.get("name")
    return Incoming(
        channel="zalo_bot",
        chat_id=str(chat["id"]),
        update_key=f"{event}:{message_id}"[:200],
        at=_when(message.get("date"), now),
        text=str(text) if isinstance(text, str) else None,
        display_name=str(name) if name else None,
    )


def bot_webhook(
    headers: Mapping[str, str], body: bytes, *, secret: str, now: datetime
) -> list[Incoming]:
    """Check ``X-Bot-Api-Secret-Token`` and read the update (bare or wrapped in ``result``)."""
    if not secret:
        raise WebhookRejected(403, "no webhook secret is configured")
    given = _header(headers, BOT_SECRET_HEADER)
    if given is None or not hmac.compare_digest(given.encode(), secret.encode()):
        raise WebhookRejected(403, "wrong or missing X-Bot-Api-Secret-Token")
    data = _json(body)
    result = data.get("result")
    update = result if isinstance(result, Mapping) else data
    incoming = bot_incoming(update, now=now)
    return [] if incoming is None else [incoming]


def oa_signature(app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> str:
    """The hex ``mac`` Zalo puts in ``X-ZEvent-Signature`` (plain SHA-256, not HMAC)."""
    return hashlib.sha256(
        app_id.encode() + body + timestamp.encode() + oa_secret_key.encode()
    ).hexdigest()


def oa_webhook(
    headers: Mapping[str, str],
    body: bytes,
    *,
    app_id: str,
    oa_secret_key: str,
    now: datetime,
) -> list[Incoming]:
    """Verify the signature and read a user's message; other events give nothing."""
    if not oa_secret_key:
        raise WebhookRejected(403, "no OA secret key is configured")
    header = _header(headers, OA_SIGNATURE_HEADER) or ""
    mac = header.strip().removeprefix("mac=")
    data = _json(body)
    if str(data.get("app_id") or "") != app_id:
        raise WebhookRejected(403, "event for another app_id")
    expected = oa_signature(app_id, body, str(data.get("timestamp") or ""), oa_secret_key)
    if not mac or not hmac.compare_digest(mac.lower().encode(), expected.encode()):
        raise WebhookRejected(403, "wrong or missing X-ZEvent-Signature")
    event = str(data.get("event_name") or "")
    if not event.startswith("user_send_"):
        return []  # follows, delivery and seen receipts, the OA's own echoes
    sender = data.get("sender")
    message = data.get("message")
    if not isinstance(sender, Mapping) or not sender.get("id") or not isinstance(message, Mapping):
        return []
    msg_id = str(message.get("msg_id") or "")
    if not msg_id:
        return []
    text = message.get("text") if event == OA_TEXT_EVENT else None
    return [
        Incoming(
            channel="zalo_oa",
            chat_id=str(sender["id"]),
            update_key=f"{event}:{msg_id}"[:200],
            at=_when(data.get("timestamp"), now),
            text=str(text) if isinstance(text, str) else None,
        )
    ]
