"""One line of a connection check (``dondoc mail check``): did it work, and what to tell people.

The SMTP and IMAP checks both answer a list of these, so the CLI prints them the same way: the
Vietnamese text for the organiser, the English one for logs. Neither text ever holds a password.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    ok: bool
    message_vi: str
    message_en: str
