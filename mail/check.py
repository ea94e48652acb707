"""``dondoc mail check`` for SMTP: walk the path a real send takes and say where it breaks.

Each step is a ``Finding`` (mail.findings) with a Vietnamese text for the organiser and an
English one for logs: the name resolves (DNS), the server answers (TCP, time-out), TLS holds
(implicit or STARTTLS, with the certificate checked as configured), the login is accepted, the
server takes our envelope sender (with the signed tag real mail uses) and agrees to relay to an
outside address. The relay test stops after RCPT TO and resets: no message is ever sent.
The walk stops at the first broken step, since the later ones cannot be tried.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Final

import aiosmtplib

from mail.config import MailIdentity, SmtpConfig
from mail.findings import Finding
from mail.signing import make_tag, tagged_address

__all__ = ["RELAY_TEST_RECIPIENT", "Finding", "check_smtp"]

# Every domain must have a postmaster (RFC 5321 4.5.1), and Gmail is outside every official
# server, as the personal addresses in real lists are: if this is accepted, relaying works.
# Nothing is delivered: the check resets the envelope before DATA.
RELAY_TEST_RECIPIENT: Final = "postmaster@gmail.com"

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _tls_problem(exc: BaseException) -> BaseException | None:
    """The TLS error behind ``exc``, if that is what it is."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return seen
        seen = seen.__cause__
    return None


def _tls_finding(where: str, error: BaseException, verify: bool) -> Finding:
    hint_vi = (
        " Chứng chỉ của máy chủ không được xác thực (tự ký, hết hạn hoặc sai tên máy chủ): "
        "hãy dùng đúng tên máy chủ trong chứng chỉ, hoặc nhờ quản trị cài chứng chỉ hợp lệ."
        if isinstance(error, ssl.SSLCertVerificationError | ssl.CertificateError) and verify
        else " Kiểm tra lại kiểu bảo mật: cổng 465 dùng ssl, cổng 587 dùng starttls."
    )
    return Finding(
        False,
        f"Không thiết lập được kết nối mã hoá (TLS) với {where}: {error}.{hint_vi}",
        f"TLS with {where} failed: {error}",
    )


class _Stop(Exception):
    """A step failed; its finding is already recorded."""


class _Walk:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.where = f"{config.host}:{config.port}"
        self.findings: list[Finding] = []

    def ok(self, vi: str, en: str) -> None:
        self.findings.append(Finding(True, vi, en))

    def fail(self, vi: str, en: str) -> _Stop:
        self.findings.append(Finding(False, vi, en))
        return _Stop(en)

    def safe(self, text: str) -> str:
        password = self.config.password
        return text.replace(password, "***") if password else text

    async def resolve(self, resolver: Resolver) -> None:
        host = self.config.host
        try:
            async with asyncio.timeout(self.config.timeout):
                addresses = await resolver(host, self.config.port)
        except socket.gaierror as exc:
            raise self.fail(
                f"Không tìm thấy máy chủ thư «{host}» (lỗi DNS: {exc.strerror}). Kiểm tra lại tên "
                "máy chủ SMTP (ví dụ mail.snv.sonla.gov.vn) và mạng của máy chạy dondoc.",
                f"DNS: {host!r} not found ({exc.strerror})",
            ) from exc
        except TimeoutError as exc:
            raise self.fail(
                f"Hỏi DNS cho «{host}» quá {self.config.timeout:g} giây không có trả lời: kiểm tra "
                "mạng và máy chủ DNS.",
                f"DNS lookup of {host!r} timed out",
            ) from exc
        self.ok(
            f"Tên máy chủ {host} tìm thấy: {', '.join(addresses)}.",
            f"DNS: {host} -> {', '.join(addresses)}",
        )

    async def connect(self, client: aiosmtplib.SMTP) -> None:
        implicit = self.config.security == "ssl"
        try:
            greeting = await client.connect()
        except aiosmtplib.SMTPConnectTimeoutError as exc:
            raise self.fail(
                f"Kết nối tới {self.where} quá {self.config.timeout:g} giây không có trả lời: "
                "tường lửa chặn cổng, sai cổng, hoặc máy chủ không hoạt động.",
                f"connection to {self.where} timed out",
            ) from exc
        except aiosmtplib.SMTPConnectResponseError as exc:
            raise self.fail(
                f"Máy chủ {self.where} từ chối phục vụ ngay khi kết nối: {exc.code} {exc.message}.",
                f"{self.where} refused the session: {exc.code} {exc.message}",
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            tls = _tls_problem(exc)
            if tls is not None:
                self.findings.append(_tls_finding(self.where, tls, self.config.verify_tls))
                raise _Stop(str(tls)) from exc
            refused = isinstance(exc.__cause__, ConnectionRefusedError)
            why_vi = (
                "máy chủ từ chối kết nối (sai cổng, hoặc dịch vụ SMTP không chạy)"
                if refused
                else f"{self.safe(str(exc))}"
            )
            raise self.fail(
                f"Không kết nối được tới {self.where}: {why_vi}.",
                f"cannot connect to {self.where}: {self.safe(str(exc))}",
            ) from exc
        tls_en = " over TLS" if implicit else ""
        self.ok(
            f"Kết nối được tới {self.where}{' (mã hoá TLS)' if implicit else ''}: "
            f"{greeting.code} {greeting.message.splitlines()[0] if greeting.message else ''}",
            f"connected to {self.where}{tls_en}",
        )

    async def starttls(self, client: aiosmtplib.SMTP) -> None:
        await client.ehlo()
        if not client.supports_extension("starttls"):
            raise self.fail(
                f"Máy chủ {self.where} không hỗ trợ STARTTLS. Nếu máy chủ dùng cổng 465, đặt "
                "kiểu bảo mật là ssl; chỉ đặt none khi máy chủ nằm trong mạng nội bộ tin cậy.",
                f"{self.where} does not offer STARTTLS",
            )
        try:
            await client.starttls()
        except (ssl.SSLError, ssl.CertificateError) as exc:
            self.findings.append(_tls_finding(self.where, exc, self.config.verify_tls))
            raise _Stop(str(exc)) from exc
        self.ok("STARTTLS thành công: kết nối đã được mã hoá.", "STARTTLS succeeded")

    async def login(self, client: aiosmtplib.SMTP) -> None:
        username = self.config.username
        if not username:
            self.ok(
                "Không cấu hình tài khoản: gửi thư không đăng nhập (chỉ hợp với máy chủ nội bộ "
                "cho phép chuyển thư theo địa chỉ IP).",
                "no username configured: sending without AUTH",
            )
            return
        try:
            await client.login(username, self.config.password or "")
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise self.fail(
                f"Máy chủ từ chối đăng nhập tài khoản «{username}» ({exc.code} "
                f"{self.safe(exc.message)}): sai mật khẩu, tài khoản bị khoá, hoặc tài khoản "
                "chưa được phép gửi thư qua SMTP.",
                f"login of {username!r} refused: {exc.code} {self.safe(exc.message)}",
            ) from exc
        except aiosmtplib.SMTPException as exc:
            raise self.fail(
                f"Máy chủ {self.where} không cho đăng nhập trên kết nối này "
                f"({self.safe(str(exc))}): thường là cần bật starttls hoặc ssl.",
                f"{self.where} offers no usable AUTH: {self.safe(str(exc))}",
            ) from exc
        self.ok(f"Đăng nhập thành công với tài khoản «{username}».", f"logged in as {username}")

    async def envelope(self, client: aiosmtplib.SMTP, sender: str, recipient: str) -> None:
        try:
            await client.mail(sender)
        except aiosmtplib.SMTPResponseException as exc:
            raise self.fail(
                f"Máy chủ không nhận địa chỉ gửi «{sender}» ({exc.code} {exc.message}). Địa chỉ "
                "gửi phải thuộc tài khoản đăng nhập; nếu máy chủ không cho dùng địa chỉ có dấu "
                "«+», nhờ quản trị bật tính năng địa chỉ phụ (sub-address).",
                f"MAIL FROM:<{sender}> refused: {exc.code} {exc.message}",
            ) from exc
        self.ok(f"Máy chủ nhận địa chỉ gửi «{sender}».", f"MAIL FROM:<{sender}> accepted")
        try:
            await client.rcpt(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code in (530, 535):
                vi = "máy chủ yêu cầu đăng nhập trước khi gửi ra ngoài: cần khai báo tài khoản"
            elif 400 <= exc.code < 500:
                vi = "máy chủ tạm thời từ chối, thử lại sau ít phút"
            else:
                vi = (
                    "máy chủ không cho chuyển thư ra ngoài đơn vị (relay bị từ chối): kiểm tra "
                    "tài khoản đăng nhập hoặc nhờ quản trị cho phép gửi thư ra ngoài"
                )
            raise self.fail(
                f"Máy chủ từ chối người nhận thử «{recipient}» ({exc.code} {exc.message}): {vi}.",
                f"RCPT TO:<{recipient}> refused (relay test): {exc.code} {exc.message}",
            ) from exc
        finally:
            # Never DATA: the envelope is dropped and nothing is delivered.
            if client.is_connected:
                try:
                    await client.rset()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
        self.ok(
            f"Máy chủ cho phép gửi thư ra ngoài (đã thử tới «{recipient}», không gửi thư).",
            f"relay to {recipient} allowed (tested without DATA)",
        )


async def check_smtp(
    config: SmtpConfig,
    *,
    identity: MailIdentity | None = None,
    test_recipient: str = RELAY_TEST_RECIPIENT,
    local_hostname: str | None = None,
    resolver: Resolver = _resolve,
) -> list[Finding]:
    """Every step that worked, then the first that did not (if any); never raises for a server
    problem. With ``identity`` the sender tested is the tagged bounce address real mail uses;
    without it, the username when it is an address. ``resolver`` is for tests."""
    walk = _Walk(config)
    client = aiosmtplib.SMTP(
        hostname=config.host,
        port=config.port,
        local_hostname=local_hostname,
        timeout=config.timeout,
        use_tls=config.security == "ssl",
        start_tls=False,  # done by hand below, to report it as its own step
        validate_certs=config.verify_tls,
    )
    try:
        async with asyncio.timeout(config.timeout * 8):
            await walk.resolve(resolver)
            await walk.connect(client)
            if config.security == "starttls":
                await walk.starttls(client)
            await walk.login(client)
            if identity is not None:
                sender = tagged_address(identity.from_address, make_tag(identity.secret, "b", 0))
            elif config.username and "@" in config.username:
                sender = config.username
            else:
                walk.ok(
                    "Bỏ qua thử địa chỉ gửi và chuyển thư ra ngoài: chưa biết địa chỉ gửi "
                    "(DONDOC_MAIL_FROM).",
                    "sender and relay not tested: no sender address known",
                )
                return walk.findings
            await walk.envelope(client, sender, test_recipient)
    except _Stop:
        pass
    except TimeoutError:
        walk.fail(
            f"Máy chủ {walk.where} trả lời quá chậm (quá {config.timeout:g} giây).",
            f"{walk.where} timed out",
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        walk.fail(
            f"Máy chủ {walk.where} ngắt kết nối hoặc trả lời bất thường: {walk.safe(str(exc))}.",
            f"{walk.where} failed: {type(exc).__name__}: {walk.safe(str(exc))}",
        )
    finally:
        if client.is_connected:
            try:
                await client.quit(timeout=min(config.timeout, 5.0))
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
        client.close()
    return walk.findings
