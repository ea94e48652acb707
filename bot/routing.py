"""Which channel a message to one person goes by: the campaign's order of preference.

``policy.channels`` lists channel names in order ("email", "telegram", "zalo"). A person gets a
message on the first channel in that list that reaches them: a live linked chat for a chat
channel, a usable address for email. A policy name matches a chat channel of its family
("zalo" matches "zalo_bot" and "zalo_oa"). Pure: the planner and the conversations share it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def _matches(preferred: str, chat_channel: str) -> bool:
    return chat_channel == preferred or chat_channel.startswith(f"{preferred}_")


def pick_channel(
    preference: Sequence[str], chats: Collection[str], *, email_usable: bool
) -> str | None:
    """The channel to use, or None when nothing reaches the person.

    When no channel of the list reaches them, email still does if it can: the list orders
    preferences, it does not forbid the official address.
    """
    for preferred in preference:
        if preferred == "email":
            if email_usable:
                return "email"
            continue
        for chat in sorted(chats):
            if _matches(preferred, chat):
                return chat
    return "email" if email_usable else None
