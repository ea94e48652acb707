"""Mail server settings as typed values; ``dondoc.settings`` fills them from the environment.

Defaults are safe for Vietnamese government mail servers (Zimbra, Exchange), which limit a
sender to a few dozen messages a minute: sending slower than allowed costs minutes, sending
faster gets the whole mailbox blocked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Security = Literal["starttls", "ssl", "none"]


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int = 587
    security: Security = "starttls"
    username: str | None = None
    # A secret: never logged, never in an exception or a report.
    password: str | None = None
    per_minute: int = 30
    connections: int = 2
    timeout: float = 30.0
    # Our own test servers use self-signed certificates; production keeps verification on.
    verify_tls: bool = True

    def __repr__(self) -> str:
        hidden = "***" if self.password else None
        return (
            f"SmtpConfig(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"username={self.username!r}, password={hidden!r}, per_minute={self.per_minute}, "
            f"connections={self.connections})"
        )


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    port: int = 993
    security: Security = "ssl"
    username: str = ""
    password: str | None = None
    mailbox: str = "INBOX"
    # Where processed messages go, if anywhere; they are always flagged and never deleted.
    processed_folder: str | None = None
    poll_seconds: float = 60.0
    timeout: float = 60.0
    verify_tls: bool = True

    def __repr__(self) -> str:
        hidden = "***" if self.password else None
        return (
            f"ImapConfig(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"username={self.username!r}, password={hidden!r}, mailbox={self.mailbox!r})"
        )


@dataclass(frozen=True, slots=True)
class MailIdentity:
    """Who the mail is from, and how replies and bounces find their way back."""

    # The organiser's mailbox, e.g. "cchc@snv.sonla.gov.vn".
    from_address: str
    # "Sở Nội vụ tỉnh Sơn La": shown as the sender's name.
    from_name: str
    # Key for the signed tags in return addresses (mail.signing); a secret.
    secret: bytes
    # Domain of the deterministic Message-IDs; defaults to the from address's domain.
    message_id_domain: str | None = None

    def __repr__(self) -> str:
        return f"MailIdentity(from_address={self.from_address!r}, from_name={self.from_name!r})"
