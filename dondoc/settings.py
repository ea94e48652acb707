"""Settings from the environment, read once at start-up and passed down explicitly.

Secrets may also come from files (``NAME_FILE`` next to any ``NAME``), so they need not sit in
the environment of every process. A bad value is refused with the variable's name and what is
expected, in Vietnamese for the person and English for the log; secrets are never echoed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import cast

from bot.config import ChatRules, TelegramConfig
from bot.zalo.config import (
    BOT_BASE_URL,
    OA_BASE_URL,
    OAUTH_BASE_URL,
    ZNS_BASE_URL,
    ZaloBotConfig,
    ZaloConfig,
    ZaloOAConfig,
)
from mail.config import ImapConfig, MailIdentity, Security, SmtpConfig
from storage.errors import ConfigurationError
from web.config import WebConfig

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


def _zns_templates(e: _Env, name: str) -> dict[str, str]:
    """``reminder=123456,invitation=234567``: which approved ZNS template carries which reason."""
    templates: dict[str, str] = {}
    for item in (e.text(name) or "").split(","):
        if not item.strip():
            continue
        reason, _, template_id = item.partition("=")
        if not reason.strip() or not template_id.strip().isdigit():
            raise ConfigurationError(
                f"Biến {name} phải có dạng loại_tin=mã_mẫu, cách nhau bằng dấu phẩy (ví dụ "
                f"reminder=123456,invitation=234567); mục «{item.strip()}» không đúng.",
                f"{name} must look like reminder=123456,invitation=234567; bad item {item!r}",
            )
        templates[reason.strip()] = template_id.strip()
    return templates


def _zalo(e: _Env) -> ZaloConfig:
    bot = oa = None
    if token := e.text("DONDOC_ZALO_BOT_TOKEN"):
        secret = e.text("DONDOC_ZALO_BOT_WEBHOOK_SECRET")
        if secret is not None and not 8 <= len(secret) <= 256:
            raise ConfigurationError(
                "Biến DONDOC_ZALO_BOT_WEBHOOK_SECRET phải dài từ 8 đến 256 ký tự.",
                "DONDOC_ZALO_BOT_WEBHOOK_SECRET must be 8 to 256 characters long",
            )
        bot = ZaloBotConfig(
            token=token,
            base_url=e.text("DONDOC_ZALO_BOT_BASE_URL") or BOT_BASE_URL,
            webhook_secret=secret,
            per_minute=e.number("DONDOC_ZALO_BOT_PER_MINUTE", 60),
        )
    zns_enabled = e.flag("DONDOC_ZALO_ZNS_ENABLED", False)
    if app_id := e.text("DONDOC_ZALO_OA_APP_ID"):
        secret_key = e.text("DONDOC_ZALO_OA_SECRET_KEY")
        if not secret_key:
            raise ConfigurationError(
                "Cần đặt DONDOC_ZALO_OA_SECRET_KEY (khóa bí mật của ứng dụng trên "
                "developers.zalo.me) khi đã đặt DONDOC_ZALO_OA_APP_ID.",
                "DONDOC_ZALO_OA_SECRET_KEY must be set with DONDOC_ZALO_OA_APP_ID",
            )
        oa = ZaloOAConfig(
            app_id=app_id,
            secret_key=secret_key,
            refresh_token=e.text("DONDOC_ZALO_OA_REFRESH_TOKEN"),
            oa_secret_key=e.text("DONDOC_ZALO_OA_WEBHOOK_KEY"),
            base_url=e.text("DONDOC_ZALO_OA_BASE_URL") or OA_BASE_URL,
            oauth_base_url=e.text("DONDOC_ZALO_OAUTH_BASE_URL") or OAUTH_BASE_URL,
            per_minute=e.number("DONDOC_ZALO_OA_PER_MINUTE", 60),
            zns_enabled=zns_enabled,
            zns_base_url=e.text("DONDOC_ZALO_ZNS_BASE_URL") or ZNS_BASE_URL,
            zns_templates=_zns_templates(e, "DONDOC_ZALO_ZNS_TEMPLATES"),
            zns_per_minute=e.number("DONDOC_ZALO_ZNS_PER_MINUTE", 60),
            zns_development=e.flag("DONDOC_ZALO_ZNS_DEVELOPMENT", False),
        )
    elif zns_enabled:
        raise ConfigurationError(
            "Zalo ZNS gửi tin qua Zalo OA: cần đặt DONDOC_ZALO_OA_APP_ID, "
            "DONDOC_ZALO_OA_SECRET_KEY và DONDOC_ZALO_OA_REFRESH_TOKEN trước khi bật "
            "DONDOC_ZALO_ZNS_ENABLED.",
            "DONDOC_ZALO_ZNS_ENABLED needs the Zalo OA settings (DONDOC_ZALO_OA_APP_ID...)",
        )
    return ZaloConfig(bot=bot, oa=oa)


def _web(e: _Env) -> WebConfig:
    base_url = e.text("DONDOC_WEB_BASE_URL")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(
            "Biến DONDOC_WEB_BASE_URL phải bắt đầu bằng https:// hoặc http:// (đang là "
            f"«{base_url}»), ví dụ https://dondoc.snv.sonla.gov.vn",
            f"DONDOC_WEB_BASE_URL must start with http:// or https://, got {base_url!r}",
        )
    # 0 asks the system for a free port (tests, several instances on one machine).
    port = e.number("DONDOC_WEB_PORT", 8080, low=0)
    if port > 65535:
        raise ConfigurationError(
            f"Biến DONDOC_WEB_PORT phải là số cổng từ 0 đến 65535 (đang là «{port}»).",
            f"DONDOC_WEB_PORT must be a port number 0-65535, got {port}",
        )
    key = e.text("DONDOC_SECRET_KEY")
    return WebConfig(
        host=e.text("DONDOC_WEB_HOST") or "127.0.0.1",
        port=port,
        base_url=base_url,
        secret_key=key.encode() if key else None,
    )


def _chat(e: _Env) -> tuple[ChatRules | None, TelegramConfig | None]:
    """Chat rules (they need DONDOC_SECRET_KEY: link codes are keyed by it) and Telegram."""
    secret = e.text("DONDOC_SECRET_KEY") or ""
    token = e.text("DONDOC_TELEGRAM_TOKEN")
    if len(secret) < 32:
        if token:
            raise ConfigurationError(
                "Cần đặt DONDOC_SECRET_KEY (ít nhất 32 ký tự ngẫu nhiên) để dùng Telegram: mã "
                "liên kết tài khoản chat được tạo và lưu bằng khóa này.",
                "DONDOC_SECRET_KEY (>= 32 characters) is required with DONDOC_TELEGRAM_TOKEN",
            )
        return None, None
    rules = ChatRules(
        secret=secret.encode(),
        sender_name=e.text("DONDOC_MAIL_FROM_NAME") or "Cơ quan tổ chức khảo sát",
        names_allowed=e.flag("DONDOC_CHAT_NAMES_ALLOWED", True),
        code_ttl=timedelta(hours=e.number("DONDOC_CHAT_CODE_HOURS", 168)),
        attempts_per_hour=e.number("DONDOC_CHAT_ATTEMPTS_PER_HOUR", 5),
    )
    if not token:
        return rules, None
    username = (e.text("DONDOC_TELEGRAM_BOT_USERNAME") or "").lstrip("@")
    if not username:
        raise ConfigurationError(
            "Cần đặt DONDOC_TELEGRAM_BOT_USERNAME (tên bot, ví dụ sonv_dondoc_bot) để tạo đường "
            "link t.me trong thư mời.",
            "DONDOC_TELEGRAM_BOT_USERNAME must be set with DONDOC_TELEGRAM_TOKEN",
        )
    webhook = e.text("DONDOC_TELEGRAM_WEBHOOK_URL")
    webhook_secret = e.text("DONDOC_TELEGRAM_WEBHOOK_SECRET")
    if webhook and not (webhook_secret and 1 <= len(webhook_secret) <= 256):
        raise ConfigurationError(
            "Khi dùng webhook (DONDOC_TELEGRAM_WEBHOOK_URL) cần đặt "
            "DONDOC_TELEGRAM_WEBHOOK_SECRET (1–256 ký tự A-Z, a-z, 0-9, _ hoặc -).",
            "DONDOC_TELEGRAM_WEBHOOK_SECRET (1-256 characters) is required with a webhook",
        )
    telegram = TelegramConfig(
        token=token,
        username=username,
        base_url=e.text("DONDOC_TELEGRAM_BASE_URL"),
        webhook_url=webhook,
        webhook_secret=webhook_secret,
        webhook_listen=e.text("DONDOC_TELEGRAM_WEBHOOK_LISTEN") or "127.0.0.1",
        webhook_port=e.number("DONDOC_TELEGRAM_WEBHOOK_PORT", 8443),
        overall_per_second=float(e.number("DONDOC_TELEGRAM_PER_SECOND", 25)),
        per_chat_per_second=1.0 / e.number("DONDOC_TELEGRAM_CHAT_GAP_SECONDS", 1),
    )
    return rules, telegram


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    smtp: SmtpConfig | None = None
    imap: ImapConfig | None = None
    identity: MailIdentity | None = None
    zalo: ZaloConfig = field(default_factory=ZaloConfig)
    web: WebConfig = field(default_factory=WebConfig)
    chat: ChatRules | None = None
    telegram: TelegramConfig | None = None

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
        chat, telegram = _chat(e)
        return cls(
            database_url=e.text("DONDOC_DATABASE_URL") or DEFAULT_DATABASE_URL,
            smtp=smtp,
            imap=imap,
            identity=identity,
            zalo=_zalo(e),
            chat=chat,
            telegram=telegram,
            web=_web(e),
        )

    def require_mail(self) -> tuple[SmtpConfig, MailIdentity]:
        if self.smtp is None or self.identity is None:
            raise ConfigurationError(
                "Chưa cấu hình máy chủ gửi thư. Cần đặt DONDOC_SMTP_HOST, DONDOC_MAIL_FROM và "
                "DONDOC_SECRET_KEY (xem README, mục cấu hình thư điện tử).",
                "mail is not configured: set DONDOC_SMTP_HOST, DONDOC_MAIL_FROM, DONDOC_SECRET_KEY",
            )
        return self.smtp, self.identity
