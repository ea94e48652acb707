"""Turning a ``Reply`` into Zalo text: buttons shown as choices to type, long text split.

Neither Zalo product used here has buttons a bot can attach to a plain text message, and both
refuse texts over 2,000 characters. The conversations accept the choice's words typed as text,
so a reply's buttons become a short list of what to type, and long lists are cut on line
boundaries so no line of a list is broken across two messages.
"""

from __future__ import annotations

from typing import Final

from bot.incoming import Reply

MAX_TEXT: Final = 2000


def render_reply(reply: Reply) -> str:
    """The reply's text followed by its buttons as typed choices."""
    choices = [button for row in reply.buttons for button in row]
    if not choices:
        return reply.text
    lines = [reply.text.rstrip(), "", "Anh/chị trả lời bằng cách gõ:"]
    for button in choices:
        if button.label.strip().casefold() == button.choice.strip().casefold():
            lines.append(f"• {button.choice}")
        else:
            lines.append(f"• {button.choice} ({button.label})")
    return "\n".join(lines)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut between lines where possible.

    A single line longer than ``limit`` is cut at its last space before the limit, or hard at
    the limit when it has none (a long URL). Empty text gives no pieces.
    """
    if limit < 1:
        raise ValueError(f"limit must be positive, not {limit}")
    pieces: list[str] = []
    current = ""
    for line in _short_lines(text, limit):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
            continue
        if current.strip():
            pieces.append(current)
        current = line
    if current.strip():
        pieces.append(current)
    return pieces


def _short_lines(text: str, limit: int) -> list[str]:
    lines: list[str] = []
    for line in text.rstrip().split("\n"):
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit + 1)
            if cut <= 0:
                cut = limit
            lines.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        lines.append(line)
    return lines
