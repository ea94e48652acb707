"""Chat texts from the Jinja2 templates in templates/chat, the same for every messenger.

``reasons``: one ``<reason>.j2`` per outbox reason a chat can carry (what the dispatcher sends);
``replies/<name>.j2``: the conversations' answers. Plain text (no markup), so one text serves
Telegram and Zalo alike; a missing variable is an error, never a blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import jinja2

from bot.config import ChatRules
from bot.incoming import Button, Reply
from storage.channel import REASONS, Outgoing
from storage.vnformat import FILTERS

CHAT_DIR: Final = Path(__file__).resolve().parent.parent / "templates" / "chat"

CHAT_REASONS: Final = frozenset(REASONS) - {"link_code"}
"""Reasons a chat may carry; ``link_code`` never goes to a chat (it is how a chat gets linked)."""


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(CHAT_DIR),
        autoescape=False,  # noqa: S701 - plain chat text, never HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # A partial keeps its final newline: an include line reads "the partial's lines here".
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(FILTERS)
    return env


_ENV: jinja2.Environment | None = None


def _env() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out)


def render_reply(name: str, context: Mapping[str, Any]) -> str:
    return _tidy(_env().get_template(f"replies/{name}.j2").render(context))


def render_reason(reason: str, context: Mapping[str, Any], *, link_button: bool = False) -> str:
    """The chat text of an outbox message. ``link_button``: the messenger shows the survey link
    as a button (Telegram), so the text points to it instead of spelling the link out."""
    if reason not in CHAT_REASONS:
        raise ValueError(f"reason {reason!r} has no chat template")
    template = _env().get_template(f"{reason}.j2")
    return _tidy(template.render({**context, "link_button": link_button}))


RESPONDENT_CHOICES: Final = (
    (Button("Tôi đã trả lời", "datraloi"), Button("Không phải tôi", "khongphaitoi")),
)
"""The answers a respondent's reminder offers, on every messenger."""


def chat_reply(rules: ChatRules, message: Outgoing) -> Reply:
    """``message`` as a messenger without link buttons shows it (Zalo): the survey link in the
    text, the answers as choices."""
    context = {
        "sender_name": rules.sender_name,
        "names_allowed": rules.names_allowed,
        "dashboard_hint": rules.dashboard_hint,
        **message.context,
    }
    respondent = message.reason in ("invitation", "reminder", "last_day")
    return Reply(render_reason(message.reason, context), RESPONDENT_CHOICES if respondent else ())
