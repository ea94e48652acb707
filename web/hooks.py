"""The signed completion webhook: ``POST /hooks/<campaign>/answered``.

A survey platform (a Google Forms trigger, a relay for KoboToolbox, curl) says one person has
answered. The call carries ``X-Dondoc-Timestamp`` (Unix seconds) and ``X-Dondoc-Signature``
(``sha256=`` + hex HMAC-SHA256 over ``timestamp + "." + raw body``), keyed with the campaign's
secret, itself HMAC-SHA256(DONDOC_SECRET_KEY, "webhook:" + campaign code) in hex, which
``dondoc campaign secret CODE`` prints. The signature is checked before anything else (no
database work for strangers), in constant time; secrets and tokens never reach a log.

Answers: 401 bad or missing signature, or a timestamp more than 5 minutes away (replay); 429
with Retry-After over the campaign's rate; 400 for a body we cannot use, naming the field, the
value and what to do; 404 for an unknown campaign or person (the person case is an Event the
organiser sees); 200 for a new answer and for a duplicate. Like every completion source it never
un-answers anyone and keeps the first time and source recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from storage.answered import mask
from storage.cells import normalise_email
from storage.models import Campaign
from storage.phones import PhoneError, normalize_phone
from web.answers import Answer, AnswerWriter, Outcome
from web.ratelimit import RateLimiter

log = logging.getLogger(__name__)

TIMESTAMP_HEADER: Final = "X-Dondoc-Timestamp"
SIGNATURE_HEADER: Final = "X-Dondoc-Signature"
MAX_SKEW: Final = timedelta(minutes=5)
MAX_BODY: Final = 64 * 1024
CAMPAIGN_CACHE_SECONDS: Final = 60.0

Clock = Callable[[], datetime]


def webhook_secret(secret_key: bytes, campaign_code: str) -> str:
    """The campaign's webhook secret (64 hex characters); what the platform signs with."""
    return hmac.new(secret_key, f"webhook:{campaign_code}".encode(), hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` for one call: HMAC-SHA256 over ``timestamp + "." + body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    """The two headers a caller sends; for tests, the benchmark and the README's examples."""
    timestamp = str(int(now.timestamp()))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


class HookRefusal(Exception):
    """A call we answer with an error; the text is safe to send back (tokens masked)."""

    def __init__(
        self,
        status: int,
        error: str,
        message_vi: str,
        message_en: str,
        *,
        field: str | None = None,
        value: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message_en)
        self.status = status
        self.error = error
        self.message_vi = message_vi
        self.message_en = message_en
        self.field = field
        self.value = value
        self.headers = headers

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.error, "message_vi": self.message_vi}
        body["message_en"] = self.message_en
        if self.field is not None:
            body["field"] = self.field
            body["value"] = self.value
        return JSONResponse(body, status_code=self.status, headers=self.headers)


@dataclass(frozen=True, slots=True)
class AnsweredCall:
    token: str | None
    email: str | None
    phone: str | None
    answered_at: datetime | None

    def shown(self) -> str:
        """Who the call names, fit for a log and the organiser's event list (token masked)."""
        parts = [mask(self.token) if self.token else "", self.email or "", self.phone or ""]
        return ", ".join(p for p in parts if p)


def check_signature(
    secret_key: bytes, campaign_code: str, headers: dict[str, str], body: bytes, now: datetime
) -> None:
    """Raise a 401 HookRefusal unless the call is signed for this campaign, recently."""
    raw_time = headers.get(TIMESTAMP_HEADER.lower(), "")
    given = headers.get(SIGNATURE_HEADER.lower(), "")
    if not raw_time or not given:
        raise HookRefusal(
            401,
            "unsigned",
            f"Thiếu tiêu đề {TIMESTAMP_HEADER} hoặc {SIGNATURE_HEADER}. Xem README, mục "
            "webhook, để biết cách ký lời gọi.",
            f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header",
        )
    if not given.startswith("sha256="):
        given = f"sha256={given}"
    expected = signature(webhook_secret(secret_key, campaign_code), raw_time, body)
    # Constant time: the comparison must not tell a forger how many characters were right.
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HookRefusal(
            401,
            "bad_signature",
            "Chữ ký không đúng. Hãy ký bằng khóa bí mật của đúng đợt khảo sát (lệnh: dondoc "
            "campaign secret MÃ_ĐỢT) trên chuỗi «thời điểm.nội dung» đúng như đã gửi.",
            "signature does not match",
        )
    try:
        sent = datetime.fromtimestamp(int(raw_time), UTC)
    except (ValueError, OverflowError, OSError):
        sent = None
    if sent is None or abs(now - sent) > MAX_SKEW:
        raise HookRefusal(
            401,
            "stale_timestamp",
            f"Thời điểm trong {TIMESTAMP_HEADER} («{raw_time}») lệch quá 5 phút so với đồng hồ "
            "của máy chủ: lời gọi cũ không được chấp nhận lại. Hãy gửi thời điểm hiện tại (số "
            "giây Unix) và kiểm tra đồng hồ máy gửi.",
            f"timestamp {raw_time!r} is more than 5 minutes from the server's clock",
        )


def _bad(field: str, value: str, message_vi: str, message_en: str) -> HookRefusal:
    return HookRefusal(400, "bad_request", message_vi, message_en, field=field, value=value)


def _text_field(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        shown = json.dumps(value, ensure_ascii=False)[:80]
        raise _bad(
            name,
            shown,
            f"Trường «{name}» phải là một chuỗi ký tự (đang là {shown}).",
            f"field {name!r} must be a string",
        )
    return str(value).strip() or None


def parse_body(body: bytes, tz: ZoneInfo) -> AnsweredCall:
    """The call's person and time; a 400 HookRefusal saying exactly what is wrong."""
    try:
        data = json.loads(body)
    except UnicodeDecodeError as exc:
        raise _bad(
            "body",
            f"byte {exc.start}",
            "Nội dung không phải văn bản UTF-8. Hãy gửi JSON mã hóa UTF-8.",
            "body is not UTF-8",
        ) from None
    except json.JSONDecodeError as exc:
        raise _bad(
            "body",
            f"dòng {exc.lineno}, cột {exc.colno}",
            f"Nội dung không phải JSON hợp lệ (dòng {exc.lineno}, cột {exc.colno}: {exc.msg}). "
            'Hãy gửi một đối tượng JSON, ví dụ {"token": "...", "answered_at": '
            '"2025-01-08T09:30:00+07:00"}.',
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None
    if not isinstance(data, dict):
        shown = json.dumps(data, ensure_ascii=False)[:80]
        raise _bad(
            "body",
            shown,
            'Nội dung phải là một đối tượng JSON ({"token": ...}), không phải '
            f"{type(data).__name__}.",
            "body must be a JSON object",
        )
    token = _text_field(data, "token")
    email = _text_field(data, "email")
    phone = _text_field(data, "phone")
    if token is None and email is None and phone is None:
        raise _bad(
            "token",
            "",
            "Cần ít nhất một trong các trường «token» (mã khảo sát của người trả lời), «email» "
            "hoặc «phone» để biết ai đã trả lời.",
            "one of token, email or phone is required",
        )
    if email is not None:
        try:
            email = normalise_email(email)
        except ValueError:
            raise _bad(
                "email",
                email,
                f"«{email}» không phải địa chỉ email hợp lệ. Hãy gửi địa chỉ như trong danh "
                "sách đối tượng, ví dụ hoatt@snv.gov.vn.",
                "email is not a valid address",
            ) from None
    if phone is not None:
        try:
            phone = normalize_phone(phone)
        except PhoneError:
            raise _bad(
                "phone",
                phone,
                f"«{phone}» không phải số điện thoại Việt Nam hợp lệ. Ví dụ đúng: 0912480190 "
                "hoặc +84912480190.",
                "phone is not a valid Vietnamese number",
            ) from None
    answered_at = None
    raw_time = data.get("answered_at")
    if raw_time is not None:
        answered_at = _parse_time(raw_time, tz)
    return AnsweredCall(token, email, phone, answered_at)


def _parse_time(raw: object, tz: ZoneInfo) -> datetime:
    moment = None
    if isinstance(raw, str) and raw.strip():
        text = raw.strip().replace("Z", "+00:00")
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(text)
    if moment is None:
        shown = json.dumps(raw, ensure_ascii=False)[:80]
        raise _bad(
            "answered_at",
            shown,
            f"«answered_at» ({shown}) không phải thời điểm ISO 8601. Ví dụ đúng: "
            "2025-01-08T09:30:00+07:00 (hoặc bỏ trường này để lấy thời điểm nhận được).",
            "answered_at is not an ISO 8601 time",
        )
    # A time without an offset is the campaign's local time, as people write it.
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


@dataclass(frozen=True, slots=True)
class _CampaignRef:
    id: int
    tz: ZoneInfo
    read_at: float


class HookHandler:
    """Handles webhook calls for the app; one per app, holding the per-campaign buckets."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        secret_key: bytes,
        limiter: RateLimiter,
        writer: AnswerWriter,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.secret_key = secret_key
        self.limiter = limiter
        self.writer = writer
        self.clock = clock
        self.monotonic = monotonic
        # A campaign's id and time zone, read again after a minute (a campaign re-created).
        self._campaigns: dict[str, _CampaignRef] = {}

    async def handle(self, request: Request) -> Response:
        code = request.path_params["campaign"]
        try:
            return await self._handle(code, request)
        except HookRefusal as refusal:
            log.info("webhook %s refused: %s %s", code, refusal.status, refusal.error)
            return refusal.response()

    async def _handle(self, code: str, request: Request) -> Response:
        body = await _read_body(request)
        now = self.clock()
        check_signature(self.secret_key, code, dict(request.headers), body, now)
        if (wait := self.limiter.take(code)) is not None:
            raise HookRefusal(
                429,
                "rate_limited",
                f"Quá nhiều lời gọi cho đợt {code}; xin gửi lại sau {wait} giây.",
                f"too many calls for campaign {code}; retry after {wait} s",
                headers={"Retry-After": str(wait)},
            )
        campaign = await self._campaign(code)
        call = parse_body(body, campaign.tz)
        outcome = await self.writer.record(
            Answer(
                campaign_id=campaign.id,
                token=call.token,
                email=call.email,
                phone=call.phone,
                answered_at=min(call.answered_at or now, now),
                received_at=now,
                shown=call.shown(),
            )
        )
        if outcome is Outcome.UNKNOWN:
            raise HookRefusal(
                404,
                "unknown_person",
                "Không có người nào khớp trong danh sách của đợt này. Hãy kiểm tra mã, email "
                "hoặc số điện thoại (có thể người này chưa có trong danh sách đối tượng); "
                "cơ quan tổ chức đã được ghi nhận.",
                "matches nobody in this campaign",
            )
        return JSONResponse({"status": outcome.value})

    async def _campaign(self, code: str) -> _CampaignRef:
        ref = self._campaigns.get(code)
        if ref is not None and self.monotonic() - ref.read_at < CAMPAIGN_CACHE_SECONDS:
            return ref
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(Campaign.id, Campaign.timezone).where(Campaign.code == code)
                )
            ).first()
        if row is None:
            raise HookRefusal(
                404,
                "unknown_campaign",
                f"Không có đợt khảo sát «{code}». Hãy kiểm tra mã đợt trong đường dẫn.",
                f"no campaign {code!r}",
            )
        ref = _CampaignRef(int(row.id), ZoneInfo(row.timezone), self.monotonic())
        self._campaigns[code] = ref
        return ref


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> HookRefusal:
    return HookRefusal(
        413,
        "too_large",
        f"Nội dung quá lớn (tối đa {MAX_BODY // 1024} KiB). Chỉ cần gửi người trả lời và thời "
        "điểm trả lời.",
        f"body larger than {MAX_BODY} bytes",
    )
