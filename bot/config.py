"""What a deployment decides about its chat channels: limits, the linking rules, privacy.

Built once by ``dondoc.settings`` from the environment and passed down; nothing here reads the
environment. Secrets (the bot token, the webhook secret, the key codes are derived from) are kept
out of ``repr`` so they never reach a log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class ChatRules:
    """How every chat channel behaves, whatever the messenger."""

    secret: bytes = field(repr=False)
    """DONDOC_SECRET_KEY: invitation codes are HMACs under it, and stored code hashes too."""
    sender_name: str = "Cơ quan tổ chức khảo sát"
    """Who the chat messages are from (DONDOC_MAIL_FROM_NAME when set)."""
    names_allowed: bool = True
    """Whether lists of names may be sent over a foreign chat service (else counts only)."""
    code_ttl: timedelta = timedelta(days=7)
    """How long a code the organiser issues stays valid."""
    attempts_per_hour: int = 5
    """Wrong codes a chat may type in an hour before it is told to wait."""
    page_size: int = 15
    """People per page of /chuatraloi."""
    dashboard_hint: str = "bảng theo dõi trên trang web hoặc thư tổng hợp hằng ngày"
    """Where to look for names when they may not go over chat."""


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    token: str = field(repr=False)
    username: str
    """The bot's @username without the @, for t.me deep links."""
    base_url: str | None = None
    """Bot API root; None is api.telegram.org (tests point it at the emulator)."""
    webhook_url: str | None = None
    """Set to receive updates by webhook instead of long polling."""
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    overall_per_second: float = 25.0
    per_chat_per_second: float = 1.0
    poll_timeout: float = 20.0

    def deep_link(self, code: str) -> str:
        return f"https://t.me/{self.username}?start={code}"
