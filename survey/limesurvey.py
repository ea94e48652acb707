"""A client for LimeSurvey's RemoteControl 2 JSON-RPC API: who has completed a survey.

The API answers HTTP 200 for its own errors, with ``{"status": "..."}`` as the result, and an
empty participant page is ``{"status": "No survey participants found."}`` rather than ``[]``
(../shared/reference/limesurvey.md §3). Every failure becomes a ``LimeSurveyError`` that says
whether trying again later can help (``transient``). The password and the session key are secrets:
they never appear in logs, exception texts or reprs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final
from zoneinfo import ZoneInfo

import httpx

from storage.errors import DondocError

log = logging.getLogger(__name__)

EMPTY_PAGE: Final = "No survey participants found."
INVALID_SESSION: Final = "Invalid session key"
BAD_LOGIN: Final = "Invalid user name or password"
# A participant is done when ``completed`` is anything else: a date stamp, "Y" (anonymised
# survey) or "Q" (quota screen-out), as LimeSurvey's own mailing code decides.
NOT_COMPLETED: Final = frozenset({"N", ""})


class LimeSurveyError(DondocError):
    """The LimeSurvey server failed or refused a call. ``transient``: worth trying again later."""

    transient: bool = False


class LimeSurveyUnavailable(LimeSurveyError):
    """The server is down, slow, overloaded or broke the connection: try again later."""

    transient = True


class LimeSurveyRefused(LimeSurveyError):
    """The server refused what we asked (credentials, survey id, permissions, wrong URL): trying
    again will not help until a person fixes the configuration."""


@dataclass(frozen=True, slots=True)
class LimeSurveyConfig:
    """Where and as whom to read one survey. ``password`` comes from the environment."""

    url: str
    user: str
    survey_id: int
    password: str = field(repr=False)
    # Completion stamps are the server's local time; a Vietnamese server's is the campaign's.
    timezone: str = "Asia/Ho_Chi_Minh"
    poll_seconds: int = 300

    @classmethod
    def from_source(
        cls, source: Mapping[str, Any], env: Mapping[str, str], *, timezone: str, campaign: str
    ) -> LimeSurveyConfig:
        """From a campaign's ``sources["limesurvey"]`` and the environment holding the password."""
        variable = str(source.get("password_env") or "DONDOC_LIMESURVEY_PASSWORD")
        password = env.get(variable, "")
        file_name = env.get(f"{variable}_FILE")
        if not password and file_name:
            try:
                with open(file_name, encoding="utf-8") as handle:
                    password = handle.read().strip()
            except OSError as exc:
                raise LimeSurveyRefused(
                    f"Không đọc được tệp mật khẩu LimeSurvey {file_name} (biến {variable}_FILE): "
                    f"{exc.strerror}. Vui lòng kiểm tra đường dẫn và quyền đọc tệp.",
                    f"cannot read {variable}_FILE {file_name}: {exc.strerror}",
                ) from None
        if not password:
            raise LimeSurveyRefused(
                f"Chưa có mật khẩu LimeSurvey cho đợt {campaign}: vui lòng đặt biến môi trường "
                f"{variable} (hoặc {variable}_FILE chỉ tới tệp chứa mật khẩu) trên máy chạy "
                "dondoc.",
                f"environment variable {variable} (or {variable}_FILE) is not set",
            )
        return cls(
            url=str(source["url"]),
            user=str(source["user"]),
            survey_id=int(source["survey_id"]),
            password=password,
            timezone=timezone,
            poll_seconds=int(source.get("poll_seconds", 300)),
        )


@dataclass(frozen=True, slots=True)
class Participant:
    """One row of the survey's participant table, as much as dondoc needs."""

    tid: int
    token: str = field(repr=False)
    email: str
    completed: str
    # When ``completed`` is a date stamp; None for "Y" (anonymised) and "Q".
    completed_at: datetime | None


def parse_completed(value: str, tz: ZoneInfo) -> datetime | None:
    """'2026-11-22 01:34' in the server's local time -> aware UTC; None for 'Y', 'Q', junk."""
    text = value.strip()
    if len(text) < 16 or not text[:4].isdigit():
        return None
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


class LimeSurveyClient:
    """One RemoteControl endpoint, one user, one survey; keeps its session key between calls.

    ``transport`` replaces httpx's network layer (tests point the real client at an emulator
    over 127.0.0.1 instead). Use as an async context manager, or call ``aclose``.
    """

    def __init__(
        self,
        config: LimeSurveyConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.config = config
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            follow_redirects=False,
        )
        self._key: str | None = None
        self._ids = itertools.count(1)
        self._tz = ZoneInfo(config.timezone)
        self.renewals = 0

    def __repr__(self) -> str:
        return f"LimeSurveyClient(url={self.config.url!r}, survey_id={self.config.survey_id})"

    async def __aenter__(self) -> LimeSurveyClient:
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release the session key (best effort: it expires on its own) and close connections."""
        try:
            if self._key is not None:
                try:
                    # Shutting down must not wait a full timeout on a server that is down.
                    async with asyncio.timeout(5):
                        await self.release_session_key()
                except LimeSurveyError as exc:
                    log.info("LimeSurvey: session key not released: %s", exc.message_en)
                except TimeoutError:
                    log.info("LimeSurvey: session key not released: no answer within 5 s")
        finally:
            await self._http.aclose()

    # --- the wire ----------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return f"LimeSurvey {self.config.url}"

    async def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call with positional params; returns ``result`` unchecked (it may be a
        ``{"status": ...}`` error, which the caller knows how to read)."""
        request_id = next(self._ids)
        try:
            response = await self._http.post(
                self.config.url, json={"method": method, "params": list(params), "id": request_id}
            )
        except httpx.TimeoutException:
            raise LimeSurveyUnavailable(
                f"Máy chủ LimeSurvey ({self.config.url}) không trả lời kịp. dondoc sẽ thử lại sau.",
                f"{self._where}: {method} timed out",
            ) from None
        except httpx.TransportError as exc:
            raise LimeSurveyUnavailable(
                f"Không kết nối được máy chủ LimeSurvey ({self.config.url}): "
                f"{type(exc).__name__}. dondoc sẽ thử lại sau.",
                f"{self._where}: {method}: {type(exc).__name__}: {exc}",
            ) from None
        status = response.status_code
        if status >= 500 or status in (408, 429):
            raise LimeSurveyUnavailable(
                f"Máy chủ LimeSurvey ({self.config.url}) đang gặp lỗi (HTTP {status}). "
                "dondoc sẽ thử lại sau.",
                f"{self._where}: {method}: HTTP {status}",
            )
        if status != 200:
            raise LimeSurveyRefused(
                f"Máy chủ LimeSurvey từ chối yêu cầu (HTTP {status}). Vui lòng kiểm tra địa chỉ "
                "url trong mục [limesurvey]: dạng .../index.php/admin/remotecontrol, hoặc "
                ".../index.php?r=admin/remotecontrol nếu máy chủ cài urlFormat=get.",
                f"{self._where}: {method}: HTTP {status}",
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "result" not in body:
            # An empty or HTML answer: RPC interface switched off, or a page that is not the API.
            raise LimeSurveyRefused(
                "Địa chỉ trong mục [limesurvey] không trả lời theo giao thức JSON-RPC. Vui lòng "
                "kiểm tra url và bật giao diện RPC của LimeSurvey (Cấu hình chung → Giao diện → "
                "RPC interface = JSON-RPC).",
                f"{self._where}: {method}: not a JSON-RPC answer "
                f"({response.headers.get('content-type', 'no content type')}, "
                f"{len(response.content)} bytes)",
            )
        if body.get("error"):
            raise LimeSurveyRefused(
                f"LimeSurvey báo lỗi khi gọi {method}: {str(body['error'])[:200]}.",
                f"{self._where}: {method}: JSON-RPC error {str(body['error'])[:200]}",
            )
        return body["result"]

    @staticmethod
    def status_of(result: Any) -> str | None:
        """The API's in-band error text, when ``result`` is one."""
        if isinstance(result, dict) and isinstance(result.get("status"), str):
            return str(result["status"])
        return None

    # --- session -----------------------------------------------------------------------------

    async def get_session_key(self) -> str:
        result = await self.call(
            "get_session_key", self.config.user, self.config.password, "Authdb"
        )
        status = self.status_of(result)
        if status is not None:
            if status == BAD_LOGIN:
                raise LimeSurveyRefused(
                    f"LimeSurvey không nhận tên đăng nhập «{self.config.user}» hoặc mật khẩu. "
                    "Vui lòng kiểm tra mục user và biến môi trường chứa mật khẩu (đăng nhập sai "
                    "nhiều lần sẽ bị LimeSurvey tạm khóa).",
                    f"{self._where}: login refused for user {self.config.user!r}",
                )
            raise LimeSurveyRefused(
                f"LimeSurvey từ chối đăng nhập: {status}.",
                f"{self._where}: get_session_key: {status}",
            )
        if not isinstance(result, str) or not result:
            raise LimeSurveyRefused(
                "LimeSurvey trả về khóa phiên không hợp lệ khi đăng nhập.",
                f"{self._where}: get_session_key returned a {type(result).__name__}",
            )
        self._key = result
        return result

    async def release_session_key(self) -> None:
        key, self._key = self._key, None
        if key is not None:
            await self.call("release_session_key", key)

    async def _with_key(self, method: str, *params: Any) -> Any:
        """Call ``method`` with the session key first; log in again once if the key expired."""
        for attempt in (1, 2):
            key = self._key or await self.get_session_key()
            result = await self.call(method, key, *params)
            if self.status_of(result) != INVALID_SESSION:
                return result
            self._key = None
            if attempt == 1:
                self.renewals += 1
                log.info("LimeSurvey: session key expired; logging in again")
        raise LimeSurveyUnavailable(
            "LimeSurvey liên tục báo khóa phiên không hợp lệ ngay sau khi đăng nhập. "
            "dondoc sẽ thử lại sau.",
            f"{self._where}: {method}: session key refused right after login",
        )

    # --- participants ------------------------------------------------------------------------

    async def list_participants(
        self,
        start: int,
        limit: int,
        *,
        attributes: list[str],
        conditions: Mapping[str, Any],
    ) -> list[dict[str, Any]]:
        """One page: participants with ``tid >= start``, ordered by tid. Empty is ``[]``."""
        result = await self._with_key(
            "list_participants",
            self.config.survey_id,
            start,
            limit,
            False,
            attributes,
            dict(conditions),
        )
        status = self.status_of(result)
        if status is not None:
            if status.rstrip(".") == EMPTY_PAGE.rstrip("."):
                return []
            raise LimeSurveyRefused(
                f"LimeSurvey từ chối đọc danh sách người tham gia của khảo sát "
                f"{self.config.survey_id}: {status}. Vui lòng kiểm tra survey_id, bảng người tham "
                "gia (participants) của khảo sát và quyền của tài khoản "
                f"«{self.config.user}».",
                f"{self._where}: list_participants survey {self.config.survey_id}: {status}",
            )
        if not isinstance(result, list) or not all(isinstance(row, dict) for row in result):
            raise LimeSurveyRefused(
                "LimeSurvey trả về danh sách người tham gia không đúng dạng.",
                f"{self._where}: list_participants returned a {type(result).__name__}",
            )
        return result

    async def completed_participants(
        self, *, page_size: int = 500
    ) -> AsyncGenerator[list[Participant], None]:
        """Every participant who has completed, a page at a time, paging by participant id
        (``iStart`` is a lower bound on ``tid``, not an offset)."""
        start = 0
        while True:
            rows = await self.list_participants(
                start, page_size, attributes=["completed"], conditions={"completed": ["<>", "N"]}
            )
            page: list[Participant] = []
            last = start - 1
            for row in rows:
                participant = self._participant(row)
                if participant is None:
                    continue
                last = max(last, participant.tid)
                if participant.completed not in NOT_COMPLETED:
                    page.append(participant)
            if page:
                yield page
            if len(rows) < page_size or last < start:
                return
            start = last + 1

    def _participant(self, row: Mapping[str, Any]) -> Participant | None:
        try:
            tid = int(row["tid"])
        except (KeyError, TypeError, ValueError):
            log.warning("LimeSurvey: participant row without a usable tid skipped")
            return None
        info = row.get("participant_info")
        email = info.get("email") if isinstance(info, dict) else None
        completed = str(row.get("completed") or "").strip()
        return Participant(
            tid=tid,
            token=str(row.get("token") or "").strip(),
            email=str(email or "").strip(),
            completed=completed,
            completed_at=parse_completed(completed, self._tz),
        )
