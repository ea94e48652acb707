"""Settings from the environment, read once at start-up and passed down explicitly.

Secrets may also come from files (``NAME_FILE`` next to any ``NAME``), so they need not sit in
the environment of every process. A bad value is refused with the variable's name and what is
expected, in Vietnamese for the person and English for the log; secrets are never echoed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from mail.config import ImapConfig, MailIdentity, Security, SmtpConfig
from storage.errors import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite:///dondoc.db"
SECURITY = ("starttls", "ssl", "none")


class _Env:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str) -> str | None:
        if path := self.env.get(f"{name}_FILE"):
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigurationError(
                    f"Không đọc được tệp {path} (biến {name}_FILE): {exc.strerror}.",
                    f"cannot read {name}_FILE {path!r}: {exc.strerror}",
                ) from exc
        return self.env.get(name) or None

    def number(self, name: str, default: int, *, low: int = 1) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if value < low:
            raise ConfigurationError(
                f"Biến {name} phải là số nguyên từ {low} trở lên (đang là «{raw}»).",
                f"{name} must be an integer >= {low}, got {raw!r}",
            )
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = (self.text(name) or "").lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(
            f"Biến {name} phải là true hoặc false (đang là «{raw}»).",
            f"{name} must be true or false, got {raw!r}",
        )

    def security(self, name: str, default: Security) -> Security:
        raw = (self.text(name) or default).lower()
        if raw not in SECURITY:
            raise ConfigurationError(
                f"Biến {name} phải là một trong: {', '.join(SECURITY)} (đang là «{raw}»).",
                f"{name} must be one of {SECURITY}, got {raw!r}",
            )
        return cast(Security, raw)


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    smtp: SmtpConfig | None = None
    imap: ImapConfig | None = None
    identity: MailIdentity | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = _Env(os.environ if env is None else env)
        smtp = imap = identity = None
        if host := e.text("DONDOC_SMTP_HOST"):
            security = e.security("DONDOC_SMTP_SECURITY", "starttls")
            smtp = SmtpConfig(
                host=host,
                port=e.number("DONDOC_SMTP_PORT", 465 if security == "ssl" else 587),
                security=security,
                username=e.text("DONDOC_SMTP_USERNAME"),
                password=e.text("DONDOC_SMTP_PASSWORD"),
                per_minute=e.number("DONDOC_SMTP_PER_MINUTE", 30),
                connections=e.number("DONDOC_SMTP_CONNECTIONS", 2),
                verify_tls=e.flag("DONDOC_SMTP_VERIFY_TLS", True),
            )
        if host := e.text("DONDOC_IMAP_HOST"):
            security = e.security("DONDOC_IMAP_SECURITY", "ssl")
            imap = ImapConfig(
                host=host,
                port=e.number("DONDOC_IMAP_PORT", 993 if security == "ssl" else 143),
                security=security,
                username=e.text("DONDOC_IMAP_USERNAME") or "",
                password=e.text("DONDOC_IMAP_PASSWORD"),
                mailbox=e.text("DONDOC_IMAP_MAILBOX") or "INBOX",
                processed_folder=e.text("DONDOC_IMAP_PROCESSED_FOLDER"),
                poll_seconds=float(e.number("DONDOC_IMAP_POLL_SECONDS", 60)),
                verify_tls=e.flag("DONDOC_IMAP_VERIFY_TLS", True),
            )
        if sender := e.text("DONDOC_MAIL_FROM"):
            secret = e.text("DONDOC_SECRET_KEY") or ""
            if len(secret) < 32:
                raise ConfigurationError(
                    "Cần đặt DONDOC_SECRET_KEY (ít nhất 32 ký tự ngẫu nhiên, ví dụ tạo bằng lệnh "
                    "«openssl rand -hex 32») để ký địa chỉ nhận thư trả lời.",
                    "DONDOC_SECRET_KEY must be set to at least 32 random characters",
                )
            identity = MailIdentity(
                from_address=sender,
                from_name=e.text("DONDOC_MAIL_FROM_NAME") or sender,
                secret=secret.encode(),
            )
        return cls(
            database_url=e.text("DONDOC_DATABASE_URL") or DEFAULT_DATABASE_URL,
            smtp=smtp,
            imap=imap,
            identity=identity,
        )

    def require_mail(self) -> tuple[SmtpConfig, MailIdentity]:
        if self.smtp is None or self.identity is None:
            raise ConfigurationError(
                "Chưa cấu hình máy chủ gửi thư. Cần đặt DONDOC_SMTP_HOST, DONDOC_MAIL_FROM và "
                "DONDOC_SECRET_KEY (xem README, mục cấu hình thư điện tử).",
                "mail is not configured: set DONDOC_SMTP_HOST, DONDOC_MAIL_FROM, DONDOC_SECRET_KEY",
            )
        return self.smtp, self.identity
