"""The channel contract: what the dispatcher hands a channel, and what a channel answers.

Every way of reaching a person (email in ``mail``, Telegram and Zalo in ``bot``) implements
``Channel``; the dispatcher in ``scheduler`` calls it and acts on the outcome. It lives here,
below both, so ``mail`` and ``bot`` share it without importing each other.

A channel either returns a ``Receipt`` (the provider accepted the message) or raises exactly one
of the ``ChannelError`` subclasses below; any other exception is a bug and is treated by the
dispatcher as an uncertain send, never as a success.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from storage.errors import DondocError

REASONS = (
    "invitation",
    "reminder",
    "last_day",
    "digest",
    "escalation",
    "bounce_alert",
    "problem_report",
    "link_code",
    "reply_forward",
)
"""Why a message goes out; each reason has its template in every channel."""


@dataclass(frozen=True, slots=True)
class Recipient:
    full_name: str
    email: str | None = None
    phone: str | None = None
    position: str | None = None
    unit: str | None = None
    # Exactly one of these says whether the recipient is a respondent or a contact.
    respondent_id: int | None = None
    contact_id: int | None = None
    # Chat addresses by channel name ("telegram" -> chat id), when linked.
    chats: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to one person on one channel for one reason, ready to render and send."""

    delivery_id: int
    dedupe_key: str
    reason: str
    campaign_code: str
    recipient: Recipient
    # Template variables, the same for every channel: see templates/README.md for the list.
    context: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Receipt:
    """The provider took the message; ``provider_id`` is its id (Message-ID, chat message id)."""

    provider_id: str


class ChannelError(DondocError):
    """Base of the typed outcomes. ``detail`` is safe to store and show: no secrets."""

    def __init__(self, detail: str, *, message_vi: str | None = None) -> None:
        super().__init__(message_vi or detail, detail)
        self.detail = detail


class TransientError(ChannelError):
    """Worth trying again later (4xx, time-out, connection lost before the provider answered)."""

    def __init__(
        self, detail: str, *, retry_after: float | None = None, message_vi: str | None = None
    ) -> None:
        super().__init__(detail, message_vi=message_vi)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The provider asked us to slow down; ``retry_after`` seconds is how long."""

    def __init__(self, detail: str, *, retry_after: float, message_vi: str | None = None) -> None:
        super().__init__(detail, retry_after=retry_after, message_vi=message_vi)


class PermanentError(ChannelError):
    """Will fail the same way again (5xx, malformed address, message refused by policy)."""


class RecipientGone(PermanentError):
    """This address no longer reaches the person (unknown user, bot blocked, chat not found):
    stop using it and let another channel or a focal point take over."""


@runtime_checkable
class Channel(Protocol):
    """A way to reach people. ``name`` is the key in the campaign's channel list."""

    name: str

    async def send(self, message: Outgoing) -> Receipt:
        """Render and send ``message``; raise a ChannelError subclass on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections; called once when the dispatcher stops."""
        ...
