"""A local LimeSurvey RemoteControl 2 JSON-RPC endpoint, written from
../shared/reference/limesurvey.md §3, served over real HTTP/1.1 on 127.0.0.1.

What it reproduces: POST to ``/index.php/admin/remotecontrol`` with a JSON Content-Type (anything
else gets an empty body), ``{"method", "params", "id"}`` with positional params (or, as on PHP 8,
an object keyed by the PHP parameter names), no reply at all for id 0/null, in-band errors as HTTP
200 with ``"result": {"status": "..."}`` and ``"error": null``, session keys of 32 characters that
expire after ``key_lifetime`` seconds of the injected clock, and ``list_participants`` with
``iStart`` as a lower bound on ``tid`` (ordered by tid), ``bUnused``, ``aAttributes`` (unknown
names silently ignored), ``aConditions`` (equality, ``[op, value]`` with ``< > >= <= = <> LIKE``
and ``["IN", v1, v2...]``), and ``{"status": "No survey participants found."}`` for an empty page.

Faults are injected per request, in order: ``"http500"``, ``"drop"`` (the connection is closed
without an answer), ``"invalid_session"`` (every key expires before the request is served),
``"html"`` (a 200 HTML page, as a misconfigured URL gives), ``"stall"`` (no answer until
``release`` is set; ``stalled`` is set when such a request arrives), and ``"ok"`` (served
normally: it places a later fault on a later request).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PATH = "/index.php/admin/remotecontrol"

# The PHP parameter names, for the named-params form and the positional defaults.
SIGNATURES: dict[str, list[tuple[str, Any]]] = {
    "get_session_key": [("username", None), ("password", None), ("plugin", "Authdb")],
    "release_session_key": [("sSessionKey", None)],
    "list_participants": [
        ("sSessionKey", None),
        ("iSurveyID", None),
        ("iStart", 0),
        ("iLimit", 10),
        ("bUnused", False),
        ("aAttributes", False),
        ("aConditions", []),
    ],
}
REQUIRED = object()


@dataclass
class Row:
    """One row of ``lime_tokens_<sid>``."""

    tid: int
    token: str
    email: str
    firstname: str = ""
    lastname: str = ""
    completed: str = "N"
    usesleft: int = 1
    sent: str = "N"
    remindersent: str = "N"
    remindercount: int = 0
    emailstatus: str = "OK"
    language: str = "vi"
    validfrom: str | None = None
    validuntil: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> tuple[bool, Any]:
        if name.startswith("attribute_"):
            return (name in self.attributes, self.attributes.get(name))
        if name in _COLUMNS:
            return True, getattr(self, name)
        return False, None


_COLUMNS = frozenset(
    {
        "tid",
        "token",
        "email",
        "firstname",
        "lastname",
        "completed",
        "usesleft",
        "sent",
        "remindersent",
        "remindercount",
        "emailstatus",
        "language",
        "validfrom",
        "validuntil",
    }
)


@dataclass
class Survey:
    # None: the participant table was never initialised (activate_tokens not called).
    rows: list[Row] | None = field(default_factory=list)
    readers: set[str] = field(default_factory=set)


def _like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, int) and not isinstance(right, int):
        try:
            right = int(right)
        except (TypeError, ValueError):
            left = str(left)
    elif not isinstance(left, int):
        left, right = ("" if left is None else str(left)), str(right)
    if op == "=":
        return bool(left == right)
    if op == "<>":
        return bool(left != right)
    if op == "<":
        return bool(left < right)
    if op == ">":
        return bool(left > right)
    if op == "<=":
        return bool(left <= right)
    if op == ">=":
        return bool(left >= right)
    if op.upper() == "LIKE":
        return _like(str(right), str(left))
    raise ValueError(op)


class LimeSurveyEmulator:
    """Start with ``await start()`` (returns the RemoteControl URL), stop with ``close()``."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        key_lifetime: float = 7200.0,
    ) -> None:
        self.users = users if users is not None else {"dondoc": "mật-khẩu-bí-mật"}
        self.clock = clock
        self.key_lifetime = key_lifetime
        self.surveys: dict[int, Survey] = {}
        self.faults: deque[str] = deque()
        # (method, params as received): tests check the positional shape and the paging.
        self.calls: list[tuple[str, Any]] = []
        self.logins = 0
        # Every key handed out: tests check none of them reaches a log line or an error.
        self.issued: list[str] = []
        self._keys: dict[str, tuple[str, float]] = {}
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""
        self.stalled = asyncio.Event()
        self.release = asyncio.Event()

    # --- data --------------------------------------------------------------------------------

    def add_survey(self, sid: int, *, readers: set[str] | None = None, table: bool = True) -> None:
        self.surveys[sid] = Survey(
            rows=[] if table else None, readers=set(self.users) if readers is None else readers
        )

    def add_participant(self, sid: int, token: str, email: str, **columns: Any) -> int:
        rows = self.surveys[sid].rows
        assert rows is not None
        tid = max((r.tid for r in rows), default=0) + 1 + int(columns.pop("gap", 0))
        rows.append(Row(tid=tid, token=token, email=email, **columns))
        return tid

    def complete(self, sid: int, tid: int, stamp: str) -> None:
        rows = self.surveys[sid].rows
        assert rows is not None
        row = next(r for r in rows if r.tid == tid)
        row.completed = stamp
        row.usesleft = max(0, row.usesleft - 1)

    def expire_sessions(self) -> None:
        self._keys.clear()

    @property
    def live_keys(self) -> int:
        now = self.clock()
        return sum(1 for _user, born in self._keys.values() if now - born < self.key_lifetime)

    # --- HTTP --------------------------------------------------------------------------------

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}{PATH}"
        return self.url

    async def close(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> LimeSurveyEmulator:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line.strip():
                    return
                method, target, _version = request_line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    line = (await reader.readline()).decode("latin-1")
                    if line in ("\r\n", "\n", ""):
                        break
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                fault = self.faults.popleft() if self.faults else None
                if fault == "drop":
                    return
                if fault == "stall":
                    self.stalled.set()
                    await self.release.wait()
                if fault == "invalid_session":
                    self.expire_sessions()
                status, content_type, payload = self._answer(method, target, headers, body, fault)
                head = (
                    f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n"
                )
                writer.write(head.encode("latin-1") + payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes, fault: str | None
    ) -> tuple[str, str, bytes]:
        if fault == "http500":
            return "500 Internal Server Error", "text/html", b"<h1>Internal Server Error</h1>"
        if fault == "html":
            return "200 OK", "text/html; charset=UTF-8", b"<html><body>Login</body></html>"
        if target.split("?", 1)[0] != PATH:
            return "404 Not Found", "text/html", b"<h1>Not Found</h1>"
        if method != "POST" or "application/json" not in headers.get("content-type", ""):
            return "200 OK", "text/html; charset=UTF-8", b""
        try:
            request = json.loads(body)
        except ValueError:
            return "200 OK", "application/json", b'{"id":null,"result":null,"error":"Parse error"}'
        request_id = request.get("id") if isinstance(request, dict) else None
        if not request_id:
            return "200 OK", "text/html; charset=UTF-8", b""  # a notification: no reply
        try:
            result, error = self._dispatch(request.get("method"), request.get("params")), None
        except LookupError:
            result, error = None, "unknown method or incorrect parameters"
        answer = json.dumps({"id": request_id, "result": result, "error": error})
        return "200 OK", "application/json", answer.encode()

    # --- JSON-RPC ----------------------------------------------------------------------------

    def _dispatch(self, name: object, params: object) -> Any:
        if not isinstance(name, str) or name not in SIGNATURES:
            raise LookupError(name)
        signature = SIGNATURES[name]
        if isinstance(params, dict):
            args = [params.get(p, default) for p, default in signature]
        elif isinstance(params, list) and len(params) <= len(signature):
            args = list(params) + [default for _p, default in signature[len(params) :]]
        else:
            raise LookupError(name)
        self.calls.append((name, params))
        handler: Callable[..., Any] = getattr(self, f"rpc_{name}")
        return handler(*args)

    def _user(self, key: object) -> str | None:
        if not isinstance(key, str) or key not in self._keys:
            return None
        user, born = self._keys[key]
        if self.clock() - born >= self.key_lifetime:
            del self._keys[key]
            return None
        return user

    def rpc_get_session_key(self, username: object, password: object, _plugin: object) -> Any:
        if not isinstance(username, str) or self.users.get(username) != password:
            return {"status": "Invalid user name or password"}
        key = secrets.token_hex(16)
        self._keys[key] = (username, self.clock())
        self.issued.append(key)
        self.logins += 1
        return key

    def rpc_release_session_key(self, key: object) -> Any:
        if isinstance(key, str):
            self._keys.pop(key, None)
        return "OK"

    def rpc_list_participants(
        self,
        key: object,
        sid: object,
        start: object,
        limit: object,
        unused: object,
        attributes: object,
        conditions: object,
    ) -> Any:
        user = self._user(key)
        if user is None:
            return {"status": "Invalid session key"}
        try:
            survey = self.surveys[int(sid)]  # type: ignore[call-overload]
        except (KeyError, TypeError, ValueError):
            return {"status": "Error: Invalid survey ID"}
        if user not in survey.readers:
            return {"status": "No permission"}
        if survey.rows is None:
            return {"status": "Error: No survey participants table"}
        rows = sorted(survey.rows, key=lambda r: r.tid)
        rows = [r for r in rows if r.tid >= int(start)]  # type: ignore[call-overload]
        if unused:
            rows = [r for r in rows if r.completed == "N"]
        for column, condition in (conditions or {}).items() if isinstance(conditions, dict) else ():
            rows = [r for r in rows if self._matches(r, column, condition)]
        rows = rows[: int(limit)]  # type: ignore[call-overload]
        if not rows:
            return {"status": "No survey participants found."}
        wanted = attributes if isinstance(attributes, list) else []
        answer = []
        for row in rows:
            item: dict[str, Any] = {
                "tid": row.tid,
                "token": row.token,
                "participant_info": {
                    "firstname": row.firstname,
                    "lastname": row.lastname,
                    "email": row.email,
                },
            }
            for name in wanted:
                known, value = row.column(str(name))
                if known:
                    item[str(name)] = value
            answer.append(item)
        return answer

    @staticmethod
    def _matches(row: Row, column: str, condition: object) -> bool:
        _known, value = row.column(column)
        if isinstance(condition, list) and condition:
            op = str(condition[0]).upper()
            if op == "IN":
                return any(_compare("=", value, v) for v in condition[1:])
            return _compare(op, value, condition[1] if len(condition) > 1 else None)
        return _compare("=", value, condition)
