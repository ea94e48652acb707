"""What every chat channel hands the conversations, and what the conversations hand back.

Telegram, the Zalo Bot Platform and the Zalo Official Account each turn their own updates into
``Incoming`` and show a ``Reply`` in their own way (an inline keyboard on Telegram, typed
choices where a messenger has no buttons); the conversations in ``bot`` see only these types,
which is what lets one set of handlers serve every channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing a person did in a chat: typed text, or pressed a button (``choice``)."""

    channel: str
    """The channel's name in a campaign's channel list: "telegram", "zalo_bot", "zalo_oa"."""
    chat_id: str
    update_key: str
    """Unique per update on its channel: the same update delivered twice is answered once."""
    at: datetime
    text: str | None = None
    choice: str | None = None
    """The ``Button.choice`` pressed, when the channel has buttons."""
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    choice: str
    """What comes back in ``Incoming.choice``; the same words typed as text must work too,
    because not every channel shows buttons."""


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    buttons: Sequence[Sequence[Button]] = field(default_factory=tuple)


class Conversations(Protocol):
    """The handlers behind every chat channel."""

    async def handle(self, message: Incoming) -> Sequence[Reply]:
        """Answer ``message``; never an empty answer to a person (no silence)."""
        ...
