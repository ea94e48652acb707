"""A local Zalo: the Bot Platform, the OA Open API v3 with its OAuth token endpoint, and ZNS.

One HTTP server on 127.0.0.1 speaks the three APIs as documented (see
../shared/reference/chat_apis.md, sections 2-4), so the unmodified clients in ``bot.zalo`` talk
to it over real HTTP:

- Bot Platform: ``POST /bot<token>/<method>`` with JSON, form or empty bodies; the
  ``{"ok": ..., "result"|"error_code"+"description"}`` envelope with real HTTP statuses; one
  update per ``getUpdates`` and no offsets, each update delivered ``redeliveries`` times; an
  empty long poll ends with 408; a bot can only message chats that wrote to it; webhook mode
  POSTs updates with ``X-Bot-Api-Secret-Token`` and refuses ``getUpdates`` meanwhile.
- OAuth v4: ``POST /v4/oa/access_token`` (form, header ``secret_key``), single-use refresh
  tokens, flat answer with ``expires_in`` as a string.
- OA v3: ``POST /v3.0/oa/message/cs`` with header ``access_token``, HTTP 200 with ``error``
  codes, the 7-day interaction window (-230) from the injected clock; webhook events signed with
  ``X-ZEvent-Signature: mac=sha256(app_id + body + timestamp + OA secret key)``.
- ZNS: ``POST /message/template`` with the OA token, phone as 84..., approved templates only.

Faults are injected per recipient (bot chat id, OA user id, phone) through ``fault`` or the
control API under ``/_emu/``: inject a message, read what was sent, set or clear a fault,
expire tokens, take an API down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

WINDOW = timedelta(days=7)

# Bot Platform faults: HTTP status and description. The Bot Platform publishes no error
# table; these follow its Telegram-style envelope.
BOT_FAULTS: dict[str, tuple[int, str]] = {
    "blocked": (403, "Forbidden: the user has blocked the bot"),
    "not_found": (400, "Bad Request: chat not found"),
    "rate": (429, "Too Many Requests: retry after 7"),
    "server": (500, "Internal Server Error"),
    "bad_request": (400, "Bad Request: text is invalid"),
}
OA_FAULTS: dict[str, tuple[int, str]] = {
    "not_follower": (-213, "User has not followed the OA"),
    "blocked": (-217, "User has blocked invitations from the OA"),
    "banned": (-227, "User is banned or inactive"),
    "window": (-230, "User has not interacted with the OA in the past 7 days"),
    "window_expired": (-232, "Interaction window expired"),
    "night": (-234, "This message type cannot be sent between 22:00 and 06:00"),
    "restricted": (-244, "User has restricted this message type"),
    "rate": (-32, "Rate limit exceeded"),
    "server": (-100, "Unknown error"),
    "invalid_param": (-201, "Parameters are invalid"),
    "token_invalid": (-216, "Access token is invalid"),
    "token_expired": (-220, "Access token has expired or been removed"),
}
ZNS_FAULTS: dict[str, tuple[int, str]] = {
    "no_zalo": (-118, "Zalo account does not exist"),
    "inactive": (-114, "User is inactive or rejected the message"),
    "cannot_receive": (-119, "Account cannot receive ZNS messages"),
    "refused_template": (-139, "User refused this template type"),
    "refused_oa": (-141, "User refused ZNS from this OA"),
    "quota": (-144, "OA exceeded its daily quota"),
    "balance": (-115, "Out of balance"),
    "night": (-133, "This template cannot be sent at night"),
    "server": (-100, "Unknown error"),
    "token_invalid": (-124, "Access token is invalid"),
}


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the test process keeps its own signal handlers


class LocalServer:
    """An ASGI app served on 127.0.0.1 at a free port, known as soon as this is built."""

    def __init__(self, app: ASGIApp) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(128)
        self.port = int(self.socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        self._server = _Uvicorn(config)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LocalServer:
        self._task = asyncio.create_task(self._server.serve(sockets=[self.socket]))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        try:
            if self._task is not None:
                await asyncio.wait_for(self._task, 5)
        finally:
            self.socket.close()


class FakeMonotonic:
    """A monotonic clock and a sleep that moves it: pacing without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _hex_id() -> str:
    return secrets.token_hex(10)


def oa_signature(app_id: str, body: bytes, timestamp: str, key: str) -> str:
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + key.encode()).hexdigest()


@dataclass
class Fault:
    kind: str
    times: int | None = None
    """How many calls fail; None: until cleared."""

    def take(self) -> bool:
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass
class Sent:
    api: str
    to: str
    text: str
    message_id: str
    at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Queued:
    update: dict[str, Any]
    deliveries: int = 0


class ZaloEmulator:
    """``async with ZaloEmulator(...) as emu:`` then point the clients at ``emu.base_url``."""

    def __init__(
        self,
        *,
        bot_token: str = "1459232241454765289:emulator-secret",  # noqa: S107 (test data)
        app_id: str = "4318123456789",
        app_secret: str = "app-secret-for-tests",  # noqa: S107
        oa_secret_key: str = "oa-secret-key-for-tests",  # noqa: S107
        refresh_token: str = "first-refresh-token",  # noqa: S107
        oa_id: str = "2947561234567890123",
        redeliveries: int = 2,
        max_poll: float = 0.5,
        access_ttl: int = 90000,
        zns_templates: tuple[str, ...] = ("231001", "231002"),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.bot_token = bot_token
        self.app_id = app_id
        self.app_secret = app_secret
        self.oa_secret_key = oa_secret_key
        self.oa_id = oa_id
        self.redeliveries = redeliveries
        self.max_poll = max_poll
        self.access_ttl = access_ttl
        self.zns_templates = set(zns_templates)
        self.clock = clock
        # Bot Platform
        self.bot_queue: deque[_Queued] = deque()
        self.bot_known_chats: set[str] = set()
        self.bot_webhook: tuple[str, str] | None = None
        self.bot_webhook_answers: list[int] = []
        self._bot_arrived = asyncio.Event()
        # OAuth and OA
        self.refresh_tokens: set[str] = {refresh_token}
        self.access_tokens: dict[str, datetime] = {}
        self.refreshes = 0
        self.refresh_attempts: list[str] = []
        self.last_interaction: dict[str, datetime] = {}
        self.oa_webhook_url: str | None = None
        self.oa_webhook_answers: list[int] = []
        # Shared
        self.sent: list[Sent] = []
        self.faults: dict[tuple[str, str], Fault] = {}
        self.down: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self._stop = asyncio.Event()
        self._server: LocalServer | None = None
        self._http = httpx.AsyncClient(timeout=5.0)
        self.base_url = ""

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> ZaloEmulator:
        self._server = LocalServer(self.app())
        self.base_url = self._server.url
        await self._server.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        self._bot_arrived.set()
        if self._server is not None:
            await self._server.__aexit__(*exc)
        await self._http.aclose()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._bot, methods=["GET", "POST"]),
                Route("/v4/oa/access_token", self._oauth, methods=["POST"]),
                Route("/v3.0/oa/message/cs", self._oa_cs, methods=["POST"]),
                Route("/message/template", self._zns, methods=["POST"]),
                Route("/_emu/bot/inject", self._ctl_bot_inject, methods=["POST"]),
                Route("/_emu/oa/inject", self._ctl_oa_inject, methods=["POST"]),
                Route("/_emu/sent", self._ctl_sent, methods=["GET"]),
                Route("/_emu/fault", self._ctl_fault, methods=["POST", "DELETE"]),
                Route("/_emu/expire-tokens", self._ctl_expire, methods=["POST"]),
                Route("/_emu/down", self._ctl_down, methods=["POST", "DELETE"]),
            ]
        )

    # --- test-side controls (also reachable over HTTP under /_emu/) ---------------------------

    def fault(self, api: str, target: str, kind: str | None, *, times: int | None = None) -> None:
        """Make calls of ``api`` ("bot", "oa", "zns") to ``target`` fail with ``kind``."""
        table = {"bot": BOT_FAULTS, "oa": OA_FAULTS, "zns": ZNS_FAULTS}[api]
        if kind is None:
            self.faults.pop((api, target), None)
            return
        if kind not in table:
            raise ValueError(f"unknown {api} fault {kind!r}; one of {sorted(table)}")
        self.faults[(api, target)] = Fault(kind, times)

    def _fault(self, api: str, target: str) -> str | None:
        fault = self.faults.get((api, target))
        if fault is None or not fault.take():
            return None
        return fault.kind

    def sent_to(self, api: str, to: str | None = None) -> list[Sent]:
        return [s for s in self.sent if s.api == api and (to is None or s.to == to)]

    async def bot_inject(
        self, chat_id: str, text: str, *, display_name: str = "Nguyễn Văn An"
    ) -> dict[str, Any]:
        """A person writes to the bot: queued for getUpdates, or POSTed to the webhook."""
        now = self.clock()
        update = {
            "event_name": "message.text.received",
            "message": {
                "message_id": _hex_id(),
                "date": int(now.timestamp() * 1000),
                "chat": {"id": chat_id, "chat_type": "PRIVATE"},
                "from": {"id": chat_id, "display_name": display_name, "is_bot": False},
                "text": text,
            },
        }
        self.bot_known_chats.add(chat_id)
        if self.bot_webhook is not None:
            url, secret = self.bot_webhook
            response = await self._http.post(
                url,
                content=json.dumps(update).encode(),
                headers={"X-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"},
            )
            self.bot_webhook_answers.append(response.status_code)
        else:
            self.bot_queue.append(_Queued(update))
            self._bot_arrived.set()
        return update

    def bot_redeliver(self, update: dict[str, Any]) -> None:
        """Zalo hands an update it already delivered out again (after a restart, say)."""
        self.bot_queue.append(_Queued(update))
        self._bot_arrived.set()

    async def oa_inject(self, user_id: str, text: str) -> tuple[bytes, dict[str, str]]:
        """A person writes to the OA: the interaction window opens; the signed event is sent
        to the webhook when one is set. The raw body and headers are returned either way."""
        now = self.clock()
        self.last_interaction[user_id] = now
        timestamp = str(int(now.timestamp() * 1000))
        event = {
            "app_id": self.app_id,
            "user_id_by_app": "app-" + user_id,
            "event_name": "user_send_text",
            "timestamp": timestamp,
            "sender": {"id": user_id},
            "recipient": {"id": self.oa_id},
            "message": {"text": text, "msg_id": _hex_id()},
        }
        body = json.dumps(event, ensure_ascii=False).encode()
        mac = oa_signature(self.app_id, body, timestamp, self.oa_secret_key)
        headers = {"X-ZEvent-Signature": f"mac={mac}", "Content-Type": "application/json"}
        if self.oa_webhook_url is not None:
            response = await self._http.post(self.oa_webhook_url, content=body, headers=headers)
            self.oa_webhook_answers.append(response.status_code)
        return body, headers

    def expire_tokens(self) -> None:
        """Every access token issued so far is now expired (Zalo answers -220)."""
        past = self.clock() - timedelta(seconds=1)
        for token in self.access_tokens:
            self.access_tokens[token] = past

    # --- Bot Platform ------------------------------------------------------------------------

    @staticmethod
    def _bot_error(status: int, description: str, **parameters: Any) -> JSONResponse:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return JSONResponse(body, status_code=status)

    async def _params(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return dict(request.query_params)
        kind = request.headers.get("content-type", "")
        if "json" in kind:
            data = json.loads(raw)
            return data if isinstance(data, dict) else {}
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}

    async def _bot(self, request: Request) -> Response:
        token = request.path_params["token"]
        method = request.path_params["method"]
        self.calls.append(("bot", method))
        if "bot" in self.down:
            return self._bot_error(503, "Service Unavailable")
        if token != self.bot_token:
            return self._bot_error(401, "Unauthorized")
        params = await self._params(request)
        if method == "getMe":
            return JSONResponse(
                {
                    "ok": True,
                    "result": {
                        "id": self.bot_token.split(":")[0],
                        "account_name": "bot.dondoc",
                        "account_type": "BASIC",
                        "can_join_groups": False,
                    },
                }
            )
        if method == "getUpdates":
            return await self._get_updates(params)
        if method == "sendMessage":
            return self._send_message(params)
        if method == "sendChatAction":
            return JSONResponse({"ok": True})
        if method == "setWebhook":
            url, secret = str(params.get("url") or ""), str(params.get("secret_token") or "")
            if not url or not 8 <= len(secret) <= 256:
                return self._bot_error(400, "Bad Request: url and secret_token are required")
            self.bot_webhook = (url, secret)
            now = int(self.clock().timestamp() * 1000)
            return JSONResponse({"ok": True, "result": {"url": url, "updated_at": now}})
        if method == "deleteWebhook":
            self.bot_webhook = None
            now = int(self.clock().timestamp() * 1000)
            return JSONResponse({"ok": True, "result": {"url": "", "updated_at": now}})
        if method == "getWebhookInfo":
            url = self.bot_webhook[0] if self.bot_webhook else ""
            return JSONResponse({"ok": True, "result": {"url": url, "updated_at": 0}})
        return self._bot_error(404, "Not Found")

    async def _get_updates(self, params: Mapping[str, Any]) -> Response:
        if self.bot_webhook is not None:
            return self._bot_error(
                409, "Conflict: getUpdates is not available while a webhook is set"
            )
        try:
            wait = min(float(params.get("timeout", "30")), self.max_poll)
        except ValueError:
            return self._bot_error(400, "Bad Request: timeout must be a number of seconds")
        if not self.bot_queue:
            self._bot_arrived.clear()
            try:
                await asyncio.wait_for(self._bot_arrived.wait(), wait)
            except TimeoutError:
                pass
        if not self.bot_queue or self._stop.is_set():
            return self._bot_error(408, "Request timeout")
        queued = self.bot_queue.popleft()
        queued.deliveries += 1
        if queued.deliveries < self.redeliveries:
            self.bot_queue.append(queued)  # no offsets: it comes back on a later poll
        return JSONResponse({"ok": True, "result": queued.update})

    def _send_message(self, params: Mapping[str, Any]) -> Response:
        chat_id = str(params.get("chat_id") or "")
        text = params.get("text")
        if not chat_id or not isinstance(text, str):
            return self._bot_error(400, "Bad Request: chat_id and text are required")
        fault = self._fault("bot", chat_id)
        if fault is not None:
            status, description = BOT_FAULTS[fault]
            if status == 429:
                return self._bot_error(status, description, retry_after=7)
            return self._bot_error(status, description)
        if chat_id not in self.bot_known_chats:
            return self._bot_error(400, "Bad Request: chat not found")
        if not 1 <= len(text) <= 2000:
            return self._bot_error(400, "Bad Request: text must be 1 to 2000 characters long")
        now = self.clock()
        message_id = _hex_id()
        self.sent.append(Sent("bot", chat_id, text, message_id, now))
        return JSONResponse(
            {"ok": True, "result": {"message_id": message_id, "date": int(now.timestamp() * 1000)}}
        )

    # --- OAuth v4 ----------------------------------------------------------------------------

    async def _oauth(self, request: Request) -> Response:
        self.calls.append(("oauth", "access_token"))
        if "oauth" in self.down:
            return Response("Service Unavailable", status_code=503)
        form = await request.form()
        refresh = str(form.get("refresh_token") or "")
        self.refresh_attempts.append(refresh)
        if request.headers.get("secret_key") != self.app_secret or form.get("app_id") != (
            self.app_id
        ):
            return JSONResponse({"error": -14002, "error_description": "Invalid app or secret"})
        if form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": -14003, "error_description": "Invalid grant_type"})
        if refresh not in self.refresh_tokens:
            return JSONResponse({"error": -14014, "error_description": "Invalid refresh token"})
        self.refresh_tokens.discard(refresh)  # single use
        access, new_refresh = "acc-" + secrets.token_hex(16), "ref-" + secrets.token_hex(16)
        self.refresh_tokens.add(new_refresh)
        self.access_tokens[access] = self.clock() + timedelta(seconds=self.access_ttl)
        self.refreshes += 1
        return JSONResponse(
            {
                "access_token": access,
                "refresh_token": new_refresh,
                "expires_in": str(self.access_ttl),
            }
        )

    def _token_error(self, request: Request) -> tuple[int, str] | None:
        token = request.headers.get("access_token")
        expires = self.access_tokens.get(token or "")
        if expires is None:
            return OA_FAULTS["token_invalid"]
        if expires <= self.clock():
            return OA_FAULTS["token_expired"]
        return None

    # --- OA v3 -------------------------------------------------------------------------------

    @staticmethod
    def _oa_error(code: int, message: str) -> JSONResponse:
        return JSONResponse({"error": code, "message": message})

    async def _oa_cs(self, request: Request) -> Response:
        self.calls.append(("oa", "message/cs"))
        if "oa" in self.down:
            return Response("Service Unavailable", status_code=503)
        if (refused := self._token_error(request)) is not None:
            return self._oa_error(*refused)
        try:
            body = json.loads(await request.body())
            user_id = str(body["recipient"]["user_id"])
            text = body["message"]["text"]
        except (ValueError, KeyError, TypeError):
            return self._oa_error(*OA_FAULTS["invalid_param"])
        if not isinstance(text, str) or not 1 <= len(text) <= 2000:
            return self._oa_error(*OA_FAULTS["invalid_param"])
        fault = self._fault("oa", user_id)
        if fault is not None:
            return self._oa_error(*OA_FAULTS[fault])
        now = self.clock()
        last = self.last_interaction.get(user_id)
        if last is None or now - last > WINDOW:
            return self._oa_error(*OA_FAULTS["window"])
        message_id = _hex_id()
        self.sent.append(Sent("oa", user_id, text, message_id, now))
        return JSONResponse(
            {
                "error": 0,
                "message": "Success",
                "data": {"message_id": message_id, "user_id": user_id},
            }
        )

    # --- ZNS ---------------------------------------------------------------------------------

    async def _zns(self, request: Request) -> Response:
        self.calls.append(("zns", "message/template"))
        if "zns" in self.down:
            return Response("Service Unavailable", status_code=503)
        if self._token_error(request) is not None:
            return self._oa_error(*ZNS_FAULTS["token_invalid"])
        try:
            body = json.loads(await request.body())
            phone = str(body["phone"])
            template_id = str(body["template_id"])
            data = body["template_data"]
        except (ValueError, KeyError, TypeError):
            return self._oa_error(-112, "Template data is invalid")
        if not (phone.startswith("84") and phone.isdigit() and len(phone) in (11, 12)):
            return self._oa_error(-108, "Phone number is invalid")
        if template_id not in self.zns_templates:
            return self._oa_error(-109, "Template id is invalid")
        if not isinstance(data, dict) or not data:
            return self._oa_error(-111, "Template data is empty")
        fault = self._fault("zns", phone)
        if fault is not None:
            return self._oa_error(*ZNS_FAULTS[fault])
        now = self.clock()
        msg_id = _hex_id()
        self.sent.append(
            Sent(
                "zns",
                phone,
                json.dumps(data, ensure_ascii=False, sort_keys=True),
                msg_id,
                now,
                extra={"template_id": template_id, "tracking_id": body.get("tracking_id")},
            )
        )
        return JSONResponse(
            {
                "error": 0,
                "message": "Success",
                "data": {
                    "msg_id": msg_id,
                    "sent_time": str(int(now.timestamp() * 1000)),
                    "sending_mode": "1",
                    "quota": {"dailyQuota": "500", "remainingQuota": "499"},
                },
            }
        )

    # --- control API -------------------------------------------------------------------------

    async def _ctl_bot_inject(self, request: Request) -> Response:
        data = await request.json()
        update = await self.bot_inject(
            str(data["chat_id"]), str(data["text"]), display_name=data.get("display_name", "An")
        )
        return JSONResponse(update)

    async def _ctl_oa_inject(self, request: Request) -> Response:
        data = await request.json()
        body, _ = await self.oa_inject(str(data["user_id"]), str(data["text"]))
        return Response(body, media_type="application/json")

    async def _ctl_sent(self, request: Request) -> Response:
        api = request.query_params.get("api")
        return JSONResponse(
            [
                {"api": s.api, "to": s.to, "text": s.text, "message_id": s.message_id}
                for s in self.sent
                if api is None or s.api == api
            ]
        )

    async def _ctl_fault(self, request: Request) -> Response:
        data = await request.json()
        kind = None if request.method == "DELETE" else data.get("kind")
        try:
            self.fault(str(data["api"]), str(data["target"]), kind, times=data.get("times"))
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True})

    async def _ctl_expire(self, request: Request) -> Response:
        self.expire_tokens()
        return JSONResponse({"ok": True})

    async def _ctl_down(self, request: Request) -> Response:
        api = (await request.json())["api"]
        if request.method == "DELETE":
            self.down.discard(api)
        else:
            self.down.add(api)
        return JSONResponse({"ok": True})


@asynccontextmanager
async def running_emulator(**kwargs: Any) -> AsyncIterator[ZaloEmulator]:
    async with ZaloEmulator(**kwargs) as emulator:
        yield emulator
