"""Zalo settings as typed values; ``dondoc.settings`` fills them from the environment.

Three separate products share the name: the Zalo Bot Platform (a Telegram-like bot), the
Official Account (OA) Open API v3, and ZNS template messages sent by phone number through the
OA's token. Each is optional. ZNS costs money per message and needs approved templates, so it
stays off unless ``zns_enabled`` is set. Secrets never appear in a repr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

BOT_BASE_URL = "https://bot-api.zaloplatforms.com"
OA_BASE_URL = "https://openapi.zalo.me"
OAUTH_BASE_URL = "https://oauth.zaloapp.com"
ZNS_BASE_URL = "https://business.openapi.zalo.me"


@dataclass(frozen=True, slots=True)
class ZaloBotConfig:
    token: str
    base_url: str = BOT_BASE_URL
    webhook_secret: str | None = None
    # No published limit; the free plan allows 3,000 messages a month, so stay gentle.
    per_minute: int = 60
    poll_timeout: int = 30
    timeout: float = 10.0

    def __repr__(self) -> str:
        return (
            f"ZaloBotConfig(token='***', base_url={self.base_url!r}, "
            f"webhook_secret={'***' if self.webhook_secret else None!r}, "
            f"per_minute={self.per_minute}, poll_timeout={self.poll_timeout})"
        )


@dataclass(frozen=True, slots=True)
class ZaloOAConfig:
    app_id: str
    secret_key: str
    """The app's secret, sent as header ``secret_key`` when refreshing the token."""
    refresh_token: str | None = None
    """Seeds the token store the first time; afterwards the stored (rotated) pair is used."""
    oa_secret_key: str | None = None
    """The OA secret key that signs webhook events (not the app secret)."""
    base_url: str = OA_BASE_URL
    oauth_base_url: str = OAUTH_BASE_URL
    per_minute: int = 60
    timeout: float = 10.0
    # ZNS: template messages to phone numbers, paid per message.
    zns_enabled: bool = False
    zns_base_url: str = ZNS_BASE_URL
    zns_templates: Mapping[str, str] = field(default_factory=dict)
    """Reason ("reminder", "invitation"...) -> approved ZNS template id."""
    zns_per_minute: int = 60
    zns_development: bool = False
    """Send with ``mode=development``: only the OA's admins receive (staging)."""

    @property
    def token_name(self) -> str:
        """The row of ``provider_tokens`` that holds this OA's rotating token pair."""
        return f"zalo_oa:{self.app_id}"

    def __repr__(self) -> str:
        return (
            f"ZaloOAConfig(app_id={self.app_id!r}, secret_key='***', "
            f"refresh_token={'***' if self.refresh_token else None!r}, "
            f"oa_secret_key={'***' if self.oa_secret_key else None!r}, "
            f"base_url={self.base_url!r}, oauth_base_url={self.oauth_base_url!r}, "
            f"zns_enabled={self.zns_enabled}, zns_templates={dict(self.zns_templates)!r})"
        )


@dataclass(frozen=True, slots=True)
class ZaloConfig:
    bot: ZaloBotConfig | None = None
    oa: ZaloOAConfig | None = None
