"""What a person meant: a command with its arguments, from typed text or a pressed button.

Vietnamese first with English aliases; a button's ``choice`` is the same words as the typed
command, so a messenger without buttons works by typing. Diacritics, case and a leading slash
are optional ("Tôi đã trả lời", "toi da tra loi" and "/datraloi" are one command), and Telegram's
``/cmd@botname`` form is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from storage.text import fold

COMMANDS: Final[dict[str, tuple[str, ...]]] = {
    "start": ("start", "batdau"),
    "help": ("help", "huongdan", "trogiup", "menu"),
    "tiendo": ("tiendo", "status", "progress"),
    "chuatraloi": ("chuatraloi", "pending"),
    "nhacnho": ("nhacnho", "remind"),
    "baocao": ("baocao", "report", "digest"),
    "link": ("link", "laylink", "guilailink", "mylink"),
    "datraloi": ("datraloi", "toidatraloi", "answered", "done", "dalam"),
    "hotro": ("hotro", "helpme", "support", "problem", "baoloi"),
    "khongphaitoi": (
        "khongphaitoi",
        "khongphaitoitoidachuyendonvi",
        "toidachuyendonvi",
        "notme",
        "wrongperson",
    ),
}
"""Canonical command -> every spelling (folded, without spaces or slash)."""

CONFIRM: Final = "xacnhan"
"""The argument a confirmation button adds ("datraloi xacnhan")."""

_ALIASES: Final = {alias: name for name, aliases in COMMANDS.items() for alias in aliases}
_CONFIRM_WORDS: Final = frozenset({CONFIRM, "confirm", "yes", "co", "dung", "ok"})


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: tuple[str, ...] = ()
    raw_args: str = ""
    """The arguments as typed (diacritics kept): a unit's name, a problem's description."""

    @property
    def confirmed(self) -> bool:
        return bool(self.args) and fold(self.args[0]) in _CONFIRM_WORDS


def parse(text: str) -> Command | None:
    """The command in ``text``, or None for free text that is not one."""
    stripped = text.strip()
    if not stripped:
        return None
    slash = stripped.startswith("/")
    body = stripped.lstrip("/")
    head, _, rest = body.partition(" ")
    head = head.split("@", 1)[0]
    name = _ALIASES.get(fold(head).replace("_", ""))
    if name is not None:
        return Command(name, tuple(rest.split()), rest.strip())
    if slash:
        return None
    # Without a slash the whole phrase may be the command ("Tôi đã trả lời", "Không phải tôi").
    whole = fold(stripped).replace(" ", "").replace("/", "").rstrip(".!")
    name = _ALIASES.get(whole)
    return Command(name) if name is not None else None
