"""The web service's settings as typed values; ``dondoc.settings`` fills them from the
environment."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # What links in mails start with ("https://dondoc.snv.sonla.gov.vn"); None: http://host:port.
    base_url: str | None = None
    # DONDOC_SECRET_KEY: derives each campaign's webhook secret and signs CSRF tokens. A secret.
    secret_key: bytes | None = None

    @property
    def public_url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    def __repr__(self) -> str:
        hidden = "***" if self.secret_key else None
        return (
            f"WebConfig(host={self.host!r}, port={self.port}, base_url={self.base_url!r}, "
            f"secret_key={hidden!r})"
        )
