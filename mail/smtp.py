"""Hand composed mails to the organisation's SMTP server, within its limits.

``SmtpSender`` keeps a few connections open and reuses them (official servers are slow to
greet and count connections), spaces messages with a token bucket so the server's per-minute
limit is never crossed, and answers every message with either the server's acceptance or one
of the ``storage.channel`` errors:

* 4xx replies and time-outs -> ``TransientError`` (421 also drops the connection);
* 5.2.2 "mailbox full" -> ``TransientError`` (the design: retry later and warn, do not give up);
* 5.1.x at RCPT or DATA (5.1.1 user unknown) and 553 -> ``RecipientGone``;
* any other 5xx -> ``PermanentError``;
* the server itself unusable (DNS, refused, TLS, authentication) -> ``TransientError``: the
  message is fine and will go once the server or the settings are fixed.

It never retries a message, with one exception: a pooled connection that the server closed
while it sat idle is found dead before any byte of the message went out, so the message is
tried once more on a fresh connection. Everything that can wait has a time-out. aiosmtplib's
exceptions stop here (``raise ... from``); the password never reaches a log, an error or a repr.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Final, Literal, Self

import aiosmtplib

from mail.config import SmtpConfig
from storage.channel import ChannelError, PermanentError, RecipientGone, TransientError

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Stage = Literal["connect", "mail", "rcpt", "data"]

MAX_PER_CONNECTION: Final = 100
"""Messages sent on one connection before it is renewed; some servers cap a session."""

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")


class TokenBucket:
    """At most ``per_minute`` messages a minute, evenly spaced.

    The bucket holds one token by default, so messages leave one every 60/per_minute seconds
    and no window of a minute ever holds more than ``per_minute`` of them: government servers
    count per sliding minute and block the whole mailbox when crossed. A caller that must wait
    reserves its slot first (the count goes negative), so concurrent callers queue in order.
    ``clock`` and ``sleep`` are injectable so tests move time instead of waiting for it.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        burst: int = 1,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if per_minute < 1 or burst < 1:
            raise ValueError(f"per_minute and burst must be >= 1, not {per_minute}, {burst}")
        self.rate = per_minute / 60.0
        self.capacity = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()

    def reserve(self) -> float:
        """Take a token now; the number of seconds to wait before using it."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await self._sleep(delay)


class _Connection:
    """One SMTP session and how many messages it carried."""

    def __init__(self, client: aiosmtplib.SMTP, number: int) -> None:
        self.client = client
        self.number = number
        self.sent = 0


class _StaleConnection(Exception):
    """A pooled connection turned out closed before the message was handed over."""


def _enhanced(message: str) -> tuple[int, int, int] | None:
    match = _ENHANCED.match(message.strip())
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3])


def classify_reply(code: int, message: str, stage: Stage) -> ChannelError:
    """The channel error for an SMTP refusal ``code message`` received at ``stage``."""
    detail = f"SMTP {code} {message} (at {stage.upper()})"
    status = _enhanced(message)
    if code == 421:
        return TransientError(
            detail,
            message_vi=f"Máy chủ thư tạm ngừng phục vụ và đóng kết nối ({code}); sẽ gửi lại sau.",
        )
    if 400 <= code < 500 or code < 400:
        # Codes below 400 here are replies out of sequence: nothing says the mail was refused.
        return TransientError(
            detail, message_vi=f"Máy chủ thư tạm thời chưa nhận thư ({code}); sẽ gửi lại sau."
        )
    if status is not None and status[1:] == (2, 2):
        return TransientError(detail, message_vi="Hộp thư của người nhận đã đầy; sẽ gửi lại sau.")
    is_sender_status = status is not None and status[1] == 1 and status[2] in (7, 8)
    about_recipient = (status is not None and status[1] == 1 and not is_sender_status) or (
        code == 553
    )
    if stage in ("rcpt", "data") and about_recipient:
        return RecipientGone(
            detail,
            message_vi=f"Địa chỉ thư không tồn tại hoặc không nhận thư ({code}): cần báo cán bộ "
            "đầu mối sửa địa chỉ.",
        )
    if status is not None and status[1] == 7:
        return PermanentError(
            detail,
            message_vi=f"Thư bị máy chủ từ chối theo chính sách ({code}): chống thư rác hoặc "
            "quyền gửi.",
        )
    return PermanentError(detail, message_vi=f"Máy chủ thư từ chối thư ({code}).")


class SmtpSender:
    """A small pool of SMTP connections behind a per-server rate limit."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        local_hostname: str | None = None,
        max_per_connection: int = MAX_PER_CONNECTION,
    ) -> None:
        self.config = config
        self.bucket = TokenBucket(config.per_minute, clock=clock, sleep=sleep)
        self._slots = asyncio.Semaphore(max(1, config.connections))
        self._idle: list[_Connection] = []
        self._local_hostname = local_hostname
        self._max_per_connection = max_per_connection
        self._closed = False
        self._quitting: set[asyncio.Task[None]] = set()
        self.connections_opened = 0

    def __repr__(self) -> str:
        return f"SmtpSender({self.config!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- public ---------------------------------------------------------------------------

    async def send(self, envelope_from: str, recipient: str, data: bytes) -> str:
        """Send one message to one recipient; the server's acceptance text ("2.0.0 Ok: queued
        as 4F2A1"). Raises TransientError, PermanentError or RecipientGone."""
        self._check_open()
        await self.bucket.acquire()
        async with self._slots:
            self._check_open()  # it may have closed while this send waited its turn
            connection = self._take_idle()
            if connection is not None:
                try:
                    return await self._send_on(connection, envelope_from, recipient, data)
                except _StaleConnection as exc:
                    log.info(
                        "SMTP connection %d was closed while idle (%s); reconnecting",
                        connection.number,
                        exc,
                    )
            connection = await self._open()
            try:
                return await self._send_on(connection, envelope_from, recipient, data)
            except _StaleConnection as exc:
                # A fresh connection that drops before the message is the server's doing.
                raise TransientError(
                    f"connection closed before the message was sent: {exc}",
                    message_vi="Máy chủ thư ngắt kết nối trước khi nhận thư; sẽ gửi lại sau.",
                ) from exc.__cause__

    async def aclose(self) -> None:
        """Say goodbye on idle connections; connections in use close when their send ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await self._quit(connection)
        if self._quitting:
            await asyncio.wait(self._quitting, timeout=min(self.config.timeout, 5.0) + 1.0)

    # --- connections ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise TransientError("the SMTP sender is closed", message_vi="Bộ gửi thư đã đóng.")

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.client.is_connected:
                return connection
            connection.client.close()
        return None

    def _release(self, connection: _Connection, healthy: bool) -> None:
        """Back to the pool, or closed: politely (QUIT) when it is healthy but due for renewal
        or the sender is closing, at once when its state is unknown."""
        client = connection.client
        if not healthy or not client.is_connected:
            client.close()
        elif self._closed or connection.sent >= self._max_per_connection:
            # QUIT in the background: the caller has its answer already.
            task = asyncio.get_running_loop().create_task(self._quit(connection))
            self._quitting.add(task)
            task.add_done_callback(self._quitting.discard)
        else:
            self._idle.append(connection)

    async def _quit(self, connection: _Connection) -> None:
        client = connection.client
        if client.is_connected:
            try:
                await client.quit(timeout=min(self.config.timeout, 5.0))
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                log.debug("QUIT on SMTP connection %d failed; closing", connection.number)
        client.close()

    def _safe(self, text: str) -> str:
        password = self.config.password
        return text.replace(password, "***") if password else text

    def _client(self) -> aiosmtplib.SMTP:
        config = self.config
        return aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            username=config.username,
            password=config.password,
            local_hostname=self._local_hostname,
            timeout=config.timeout,
            use_tls=config.security == "ssl",
            # False, not None: "none" must not upgrade on its own, "starttls" must not fall back.
            start_tls=config.security == "starttls",
            validate_certs=config.verify_tls,
        )

    async def _open(self) -> _Connection:
        config = self.config
        where = f"{config.host}:{config.port}"
        client = self._client()
        try:
            async with asyncio.timeout(config.timeout * 3):
                await client.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            client.close()
            raise TransientError(
                f"{where} refused the login of {config.username!r}: {exc.code} "
                f"{self._safe(exc.message)}",
                message_vi=f"Máy chủ thư {where} từ chối đăng nhập tài khoản {config.username}: "
                "kiểm tra mật khẩu (dondoc mail check).",
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            raise TransientError(
                f"{where} refused the session: {exc.code} {self._safe(exc.message)}",
                message_vi=f"Máy chủ thư {where} từ chối phiên làm việc ({exc.code}).",
            ) from exc
        except (ssl.SSLError, ssl.CertificateError) as exc:
            client.close()
            raise TransientError(
                f"TLS with {where} failed: {exc}",
                message_vi=f"Không thiết lập được kết nối mã hoá (TLS) với {where}.",
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            client.close()
            cause = exc.__cause__
            if isinstance(cause, ssl.SSLError | ssl.CertificateError):
                raise TransientError(
                    f"TLS with {where} failed: {cause}",
                    message_vi=f"Không thiết lập được kết nối mã hoá (TLS) với {where}.",
                ) from exc
            raise TransientError(
                f"cannot use SMTP server {where}: {type(exc).__name__}: {self._safe(str(exc))}",
                message_vi=f"Không kết nối được máy chủ thư {where}; sẽ gửi lại sau.",
            ) from exc
        self.connections_opened += 1
        log.debug("SMTP connection %d to %s opened", self.connections_opened, where)
        return _Connection(client, self.connections_opened)

    # --- one message ----------------------------------------------------------------------

    async def _send_on(
        self, connection: _Connection, envelope_from: str, recipient: str, data: bytes
    ) -> str:
        client = connection.client
        stage: Stage = "mail"
        healthy = False
        try:
            async with asyncio.timeout(self.config.timeout * 4):
                await client.mail(envelope_from)
                stage = "rcpt"
                await client.rcpt(recipient)
                stage = "data"
                response = await client.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            reply = f"{exc.code} {self._safe(exc.message)}"
            if exc.code == 421 and stage == "mail":
                # What a server says when it hangs up an idle session: nothing was sent yet.
                raise _StaleConnection(reply) from exc
            error = classify_reply(exc.code, self._safe(exc.message), stage)
            healthy = exc.code != 421 and await self._reset(client)
            raise error from exc
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
            if stage != "data":
                raise _StaleConnection(self._safe(str(exc))) from exc
            raise TransientError(
                f"connection lost during DATA: {self._safe(str(exc))}",
                message_vi="Mất kết nối với máy chủ thư khi đang gửi thư; sẽ gửi lại sau.",
            ) from exc
        except TimeoutError as exc:  # aiosmtplib's time-outs are TimeoutErrors too
            maybe = " (the server may have taken the message)" if stage == "data" else ""
            raise TransientError(
                f"time-out at {stage.upper()} after {self.config.timeout:g} s{maybe}",
                message_vi="Máy chủ thư không trả lời kịp; sẽ gửi lại sau.",
            ) from exc
        except aiosmtplib.SMTPException as exc:
            # Anything else aiosmtplib raises mid-transaction leaves the session unknown.
            raise TransientError(
                f"SMTP failure at {stage.upper()}: {type(exc).__name__}: {self._safe(str(exc))}",
                message_vi="Lỗi khi trao đổi với máy chủ thư; sẽ gửi lại sau.",
            ) from exc
        except ValueError as exc:
            # aiosmtplib refuses an address it cannot quote, before sending it.
            healthy = await self._reset(client)
            raise PermanentError(
                f"unusable address: {exc}", message_vi="Địa chỉ thư không hợp lệ."
            ) from exc
        else:
            connection.sent += 1
            healthy = True
            return response.message
        finally:
            self._release(connection, healthy)

    async def _reset(self, client: aiosmtplib.SMTP) -> bool:
        """RSET after a refusal so the next message starts clean; False if that failed."""
        if not client.is_connected:
            return False
        try:
            await client.rset(timeout=min(self.config.timeout, 10.0))
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            return False
        return True
