"""``dondoc mail check``, IMAP half: can dondoc read the organiser's mailbox, and if not, why.

Each step is one ``Finding`` (Vietnamese for the organiser, English for the log), in the order
a person would check by hand: the name (DNS), the port, TLS, the login, the mailbox, then what the
server offers (IDLE, MOVE) and the processed folder. The first step that fails ends the check,
with what to do about it. No text ever holds the password.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mail.config import ImapConfig
from mail.findings import Finding
from mail.imap import scrub, tls_context


async def check_imap(config: ImapConfig) -> list[Finding]:
    """Connect, secure, log in and open the mailbox; one finding per step."""
    return await asyncio.to_thread(_check, config)


def _where(config: ImapConfig) -> str:
    return f"{config.host}:{config.port}"


def _check(config: ImapConfig) -> list[Finding]:
    findings: list[Finding] = []
    where = _where(config)
    try:
        socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return [
            Finding(
                False,
                f"Không tìm thấy máy chủ thư «{config.host}» (lỗi DNS). Hãy kiểm tra lại tên "
                "máy chủ IMAP (DONDOC_IMAP_HOST), ví dụ mail.sonla.gov.vn.",
                f"IMAP host {config.host!r} does not resolve: {exc}",
            )
        ]
    findings.append(
        Finding(True, f"Tìm thấy máy chủ {config.host} (DNS).", f"{config.host} resolves")
    )

    security = {"ssl": "SSL/TLS", "starttls": "STARTTLS", "none": "không mã hoá"}[config.security]
    context = tls_context(config)
    try:
        client = IMAPClient(
            config.host,
            port=config.port,
            ssl=config.security == "ssl",
            ssl_context=context if config.security == "ssl" else None,
            timeout=min(config.timeout, 30.0),
        )
    except ssl.SSLCertVerificationError as exc:
        return [*findings, _certificate(config, exc)]
    except ssl.SSLError as exc:
        return [*findings, _tls(config, exc)]
    except ConnectionRefusedError:
        return [
            *findings,
            Finding(
                False,
                f"Máy chủ {config.host} từ chối kết nối ở cổng {config.port}. Hãy kiểm tra số "
                "cổng (IMAP thường là 993 với SSL/TLS, 143 với STARTTLS) và tường lửa.",
                f"connection refused by {where}",
            ),
        ]
    except (TimeoutError, OSError) as exc:
        return [
            *findings,
            Finding(
                False,
                f"Không kết nối được tới {where} ({type(exc).__name__}). Máy chủ không trả lời: "
                "hãy kiểm tra cổng, tường lửa hoặc mạng của máy chạy dondoc.",
                f"cannot connect to {where}: {exc}",
            ),
        ]
    except IMAPClientError as exc:
        return [*findings, _protocol(config, exc)]
    try:
        findings.append(
            Finding(
                True,
                f"Kết nối được tới {where} ({security}).",
                f"connected to {where} ({config.security})",
            )
        )
        if config.security == "starttls":
            try:
                client.starttls(context)
            except ssl.SSLCertVerificationError as exc:
                return [*findings, _certificate(config, exc)]
            except ssl.SSLError as exc:
                return [*findings, _tls(config, exc)]
            except IMAPClientError as exc:
                return [
                    *findings,
                    Finding(
                        False,
                        f"Máy chủ {where} không hỗ trợ STARTTLS. Hãy dùng SSL/TLS "
                        "(DONDOC_IMAP_SECURITY=ssl, thường ở cổng 993).",
                        f"STARTTLS refused by {where}: {scrub(str(exc), config)}",
                    ),
                ]
        try:
            client.login(config.username, config.password or "")
        except LoginError as exc:
            return [
                *findings,
                Finding(
                    False,
                    f"Đăng nhập hộp thư «{config.username}» thất bại: sai tên đăng nhập hoặc mật "
                    "khẩu, hoặc tài khoản chưa được phép dùng IMAP. Hãy kiểm tra "
                    "DONDOC_IMAP_USERNAME và DONDOC_IMAP_PASSWORD.",
                    f"login as {config.username!r} refused: {scrub(str(exc), config)}",
                ),
            ]
        findings.append(
            Finding(
                True,
                f"Đăng nhập được với tài khoản «{config.username}».",
                f"logged in as {config.username!r}",
            )
        )
        try:
            selected: dict[bytes, Any] = client.select_folder(config.mailbox, readonly=True)
        except IMAPClientError as exc:
            return [
                *findings,
                Finding(
                    False,
                    f"Không mở được thư mục «{config.mailbox}». Hãy kiểm tra tên thư mục "
                    "(DONDOC_IMAP_MAILBOX, thường là INBOX).",
                    f"cannot select {config.mailbox!r}: {scrub(str(exc), config)}",
                ),
            ]
        count = int(selected.get(b"EXISTS", 0))
        findings.append(
            Finding(
                True,
                f"Mở được thư mục «{config.mailbox}» ({count} thư).",
                f"selected {config.mailbox!r} ({count} messages)",
            )
        )
        if client.has_capability("IDLE"):
            findings.append(
                Finding(
                    True,
                    "Máy chủ hỗ trợ IDLE: thư trả về được xử lý ngay khi đến.",
                    "server supports IDLE",
                )
            )
        else:
            findings.append(
                Finding(
                    True,
                    f"Máy chủ không hỗ trợ IDLE: dondoc sẽ kiểm tra hộp thư mỗi "
                    f"{config.poll_seconds:g} giây.",
                    f"no IDLE: polling every {config.poll_seconds:g} s",
                )
            )
        if config.processed_folder:
            findings.append(_processed_folder(client, config))
    except (IMAPClientError, OSError) as exc:
        return [*findings, _protocol(config, exc)]
    else:
        return findings
    finally:
        try:
            client.logout()
        except (IMAPClientError, OSError):
            client.shutdown()


def _processed_folder(client: IMAPClient, config: ImapConfig) -> Finding:
    folder = config.processed_folder or ""
    exists = client.folder_exists(folder)
    moves = client.has_capability("MOVE")
    how_vi = "chuyển" if moves else "sao chép (máy chủ không hỗ trợ MOVE, thư gốc vẫn giữ)"
    if exists:
        return Finding(
            True,
            f"Thư đã xử lý sẽ được {how_vi} vào thư mục «{folder}».",
            f"processed mail goes to {folder!r} ({'MOVE' if moves else 'COPY'})",
        )
    return Finding(
        True,
        f"Thư mục «{folder}» chưa có: dondoc sẽ tự tạo khi xử lý thư đầu tiên.",
        f"processed folder {folder!r} missing; it will be created",
    )


def _certificate(config: ImapConfig, exc: ssl.SSLCertVerificationError) -> Finding:
    return Finding(
        False,
        f"Chứng chỉ TLS của {_where(config)} không hợp lệ ({exc.verify_message}). Hãy kiểm tra "
        "tên máy chủ có đúng với chứng chỉ không; chỉ với máy chủ thử nghiệm mới đặt "
        "DONDOC_IMAP_VERIFY_TLS=false.",
        f"TLS certificate of {_where(config)} rejected: {exc.verify_message}",
    )


def _tls(config: ImapConfig, exc: ssl.SSLError) -> Finding:
    return Finding(
        False,
        f"Không thiết lập được kết nối TLS với {_where(config)} ({exc.reason or exc}). Có thể "
        "cổng này không dùng SSL/TLS: thử DONDOC_IMAP_SECURITY=starttls với cổng 143, hoặc "
        "ssl với cổng 993.",
        f"TLS handshake with {_where(config)} failed: {exc}",
    )


def _protocol(config: ImapConfig, exc: BaseException) -> Finding:
    detail = scrub(f"{type(exc).__name__}: {exc}", config)
    return Finding(
        False,
        f"Máy chủ {_where(config)} trả lời không đúng giao thức IMAP hoặc ngắt kết nối "
        f"({detail}). Hãy kiểm tra đây có đúng là cổng IMAP không.",
        f"IMAP protocol error with {_where(config)}: {detail}",
    )
