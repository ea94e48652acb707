"""A local Telegram Bot API server for tests: the unmodified python-telegram-bot talks to it.

Speaks ``/bot<token>/<method>`` over real HTTP on 127.0.0.1 with query, urlencoded, multipart
and JSON bodies (PTB sends urlencoded, structured fields JSON-encoded), answers with the Bot
API's envelope and real HTTP status codes (PTB maps exceptions from the status), and keeps an
update queue with long polling and offsets (an update is confirmed by a later offset; a second
concurrent getUpdates cuts the older one off with 409). Per-chat faults reproduce the API's
exact error strings: blocked (403), chat not found (400), flood (429 with retry_after).

Control: in-process methods (``send_text``, ``press``, ``block``, ``sent``...) and the same over
HTTP under ``/_control/`` (POST ``message``, ``callback``, ``fault``; GET ``sent``). Every sent
message is recorded with its arrival time (``time.monotonic``) for rate measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

STRUCTURED = (
    "reply_markup",
    "link_preview_options",
    "allowed_updates",
    "entities",
    "reply_parameters",
)
BOT_ID = 7_000_000_001


@dataclass
class Fault:
    status: int
    description: str
    retry_after: int | None = None
    times: int | None = None  # None: every time


@dataclass
class SentMessage:
    method: str
    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None
    message_id: int
    at: float
    params: dict[str, Any] = field(default_factory=dict)


def _error(status: int, description: str, retry_after: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=status)


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


class TelegramEmulator:
    """``async with TelegramEmulator(token) as tg:`` then point PTB at ``tg.base_url``."""

    def __init__(self, token: str, *, username: str = "dondoc_test_bot") -> None:
        self.token = token
        self.username = username
        self.updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._callback_ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self._sent_event = asyncio.Event()
        self._poll_generation = 0
        self.chats: dict[int, str] = {}
        self.faults: dict[int, Fault] = {}
        self.sent: list[SentMessage] = []
        self.calls: list[tuple[str, float]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> TelegramEmulator:
        app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
                Route("/_control/message", self._control_message, methods=["POST"]),
                Route("/_control/callback", self._control_callback, methods=["POST"]),
                Route("/_control/fault", self._control_fault, methods=["POST"]),
                Route("/_control/sent", self._control_sent, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        async with asyncio.timeout(10):
            while not self._server.started:  # noqa: ASYNC110 - uvicorn offers no event
                await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            self._arrived.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._task

    # --- control (in-process) ------------------------------------------------------------------

    def add_chat(self, chat_id: int, first_name: str = "Người dùng") -> None:
        self.chats[chat_id] = first_name

    def _user(self, chat_id: int) -> dict[str, Any]:
        return {
            "id": chat_id,
            "is_bot": False,
            "first_name": self.chats.get(chat_id, "Người dùng"),
            "language_code": "vi",
        }

    def _chat(self, chat_id: int) -> dict[str, Any]:
        return {"id": chat_id, "type": "private", "first_name": self.chats.get(chat_id, "")}

    def send_text(self, chat_id: int, text: str, *, first_name: str | None = None) -> int:
        """The person types ``text``; returns the update id."""
        if first_name is not None or chat_id not in self.chats:
            self.add_chat(chat_id, first_name or "Người dùng")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": self._user(chat_id),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split(" ", 1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._push({"message": message})

    def send_sticker(self, chat_id: int) -> int:
        """The person sends a sticker: a message with no text at all."""
        if chat_id not in self.chats:
            self.add_chat(chat_id)
        sticker = {
            "file_id": "CAACAgIAAxkBAAE",
            "file_unique_id": "AgADAQAD",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": self._user(chat_id),
            "sticker": sticker,
        }
        return self._push({"message": message})

    def press(self, chat_id: int, data: str, *, message_id: int | None = None) -> int:
        """The person presses an inline button whose callback_data is ``data``."""
        query = {
            "id": str(next(self._callback_ids)),
            "from": self._user(chat_id),
            "chat_instance": f"ci{chat_id}",
            "data": data,
            "message": {
                "message_id": message_id or next(self._message_ids),
                "date": int(time.time()),
                "chat": self._chat(chat_id),
                "from": {
                    "id": BOT_ID,
                    "is_bot": True,
                    "first_name": "dondoc",
                    "username": self.username,
                },
                "text": "…",
            },
        }
        return self._push({"callback_query": query})

    def block(self, chat_id: int, *, notify: bool = False) -> None:
        """The person blocks the bot: sends get 403; ``notify`` also queues my_chat_member."""
        self.faults[chat_id] = Fault(403, "Forbidden: bot was blocked by the user")
        if notify:
            bot = {"id": BOT_ID, "is_bot": True, "first_name": "dondoc", "username": self.username}
            self._push(
                {
                    "my_chat_member": {
                        "chat": self._chat(chat_id),
                        "from": self._user(chat_id),
                        "date": int(time.time()),
                        "old_chat_member": {"user": bot, "status": "member"},
                        "new_chat_member": {"user": bot, "status": "kicked", "until_date": 0},
                    }
                }
            )

    def forget(self, chat_id: int) -> None:
        """Sends to this chat get 400 chat not found."""
        self.faults[chat_id] = Fault(400, "Bad Request: chat not found")

    def flood(self, chat_id: int, retry_after: int, *, times: int = 1) -> None:
        self.faults[chat_id] = Fault(
            429, f"Too Many Requests: retry after {retry_after}", retry_after, times
        )

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    async def wait_sent(self, count: int, *, within: float = 10.0) -> list[SentMessage]:
        """Until ``count`` messages have been sent in all (bounded by ``within`` seconds)."""
        async with asyncio.timeout(within):
            while len(self.sent) < count:
                self._sent_event.clear()
                await self._sent_event.wait()
        return self.sent

    def max_in_window(self, *, chat_id: int | None = None, window: float = 1.0) -> int:
        """The most messages that arrived within any ``window`` seconds (half-open)."""
        times = sorted(m.at for m in self.sent if chat_id is None or m.chat_id == chat_id)
        best = 0
        start = 0
        for end, moment in enumerate(times):
            while moment - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def _push(self, body: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        update = {"update_id": update_id, **body}
        if self.webhook is not None:
            asyncio.get_running_loop().create_task(self._post_webhook(update))
        else:
            self.updates.append(update)
            self._arrived.set()
        return update_id

    async def _post_webhook(self, update: dict[str, Any]) -> None:
        assert self.webhook is not None
        headers = {}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.post(self.webhook["url"], json=update, headers=headers)
        self.webhook.setdefault("statuses", []).append(response.status_code)

    # --- the Bot API ---------------------------------------------------------------------------

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        kind = request.headers.get("content-type", "")
        if "application/json" in kind:
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif "form" in kind:
            form = await request.form()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in STRUCTURED:
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except json.JSONDecodeError:
                    return {"__bad__": key}
        return params

    async def _api(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.path_params["method"]
        self.calls.append((method, time.monotonic()))
        params = await self._params(request)
        if "__bad__" in params:
            return _error(400, f"Bad Request: can't parse {params['__bad__']} JSON object")
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return _error(404, "Not Found")
        response: JSONResponse = await handler(params)
        return response

    async def _m_getme(self, params: dict[str, Any]) -> JSONResponse:
        return _ok(
            {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "dondoc",
                "username": self.username,
                "can_join_groups": False,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def _m_getupdates(self, params: dict[str, Any]) -> JSONResponse:
        if self.webhook is not None:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = max(0.0, min(50.0, float(params.get("timeout") or 0)))
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]
        self._poll_generation += 1
        mine = self._poll_generation
        deadline = time.monotonic() + timeout
        while not self.updates and time.monotonic() < deadline:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(deadline - time.monotonic()):
                    await self._arrived.wait()
            if self._poll_generation != mine:
                return _error(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure "
                    "that only one bot instance is running",
                )
            if self._server is not None and self._server.should_exit:
                break
        return _ok(self.updates[:limit])

    async def _m_deletewebhook(self, params: dict[str, Any]) -> JSONResponse:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self.updates.clear()
        return _ok(True)

    async def _m_setwebhook(self, params: dict[str, Any]) -> JSONResponse:
        url = str(params.get("url") or "")
        if not url:
            self.webhook = None
            return _ok(True)
        secret = params.get("secret_token")
        self.webhook = {"url": url, "secret_token": secret}
        return _ok(True)

    async def _m_getwebhookinfo(self, params: dict[str, Any]) -> JSONResponse:
        return _ok(
            {
                "url": (self.webhook or {}).get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self.updates),
            }
        )

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> JSONResponse:
        self.callback_answers.append(params)
        return _ok(True)

    async def _m_sendmessage(self, params: dict[str, Any]) -> JSONResponse:
        try:
            chat_id = int(params.get("chat_id", ""))
        except ValueError:
            return _error(400, "Bad Request: chat not found")
        fault = self.faults.get(chat_id)
        if fault is not None:
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self.faults[chat_id]
            return _error(fault.status, fault.description, fault.retry_after)
        if chat_id not in self.chats:
            return _error(400, "Bad Request: chat not found")
        text = str(params.get("text") or "")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        if isinstance(markup, dict):
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode()) <= 64:
                        return _error(400, "Bad Request: BUTTON_DATA_INVALID")
        message_id = next(self._message_ids)
        self.sent.append(
            SentMessage(
                "sendMessage",
                chat_id,
                text,
                markup if isinstance(markup, dict) else None,
                message_id,
                time.monotonic(),
                params,
            )
        )
        self._sent_event.set()
        result: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "dondoc",
                "username": self.username,
            },
            "text": text,
        }
        if isinstance(markup, dict):
            result["reply_markup"] = markup
        return _ok(result)

    # --- control (HTTP) ------------------------------------------------------------------------

    async def _control_message(self, request: Request) -> JSONResponse:
        body = await request.json()
        return _ok(
            self.send_text(
                int(body["chat_id"]), str(body["text"]), first_name=body.get("first_name")
            )
        )

    async def _control_callback(self, request: Request) -> JSONResponse:
        body = await request.json()
        return _ok(self.press(int(body["chat_id"]), str(body["data"])))

    async def _control_fault(self, request: Request) -> JSONResponse:
        body = await request.json()
        chat_id = int(body["chat_id"])
        kind = body["kind"]
        if kind == "blocked":
            self.block(chat_id, notify=bool(body.get("notify")))
        elif kind == "not_found":
            self.forget(chat_id)
        elif kind == "flood":
            self.flood(chat_id, int(body.get("retry_after", 5)), times=int(body.get("times", 1)))
        elif kind == "none":
            self.faults.pop(chat_id, None)
        else:
            return _error(400, f"Bad Request: unknown fault {kind!r}")
        return _ok(True)

    async def _control_sent(self, request: Request) -> JSONResponse:
        return _ok(
            [
                {
                    "chat_id": m.chat_id,
                    "text": m.text,
                    "reply_markup": m.reply_markup,
                    "message_id": m.message_id,
                    "at": m.at,
                }
                for m in self.sent
            ]
        )


@contextlib.asynccontextmanager
async def running_emulator(token: str) -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(token) as emulator:
        yield emulator
