"""The reminder policy as data: when and how often non-responders are reminded, when focal points
are alerted, on which channels; how its durations, clock times and day names are written; and its
canonical JSON form for the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any, Final

from storage.text import fold

__all__ = [
    "CHANNELS",
    "DEFAULT_POLICY",
    "DEFAULT_WINDOW",
    "DURATION_HELP",
    "Policy",
    "Window",
    "hhmm",
    "parse_clock",
    "parse_days",
    "parse_duration",
]

CHANNELS: Final = ("email", "telegram", "zalo")


@dataclass(frozen=True, slots=True)
class Window:
    """When messages may go out, in the campaign's time zone."""

    days: frozenset[int]  # 0 = Monday
    start: time
    end: time
    breaks: tuple[tuple[time, time], ...] = ()
    skip_holidays: str | None = "VN"


@dataclass(frozen=True, slots=True)
class Policy:
    """How and when non-responders are reminded and focal points alerted."""

    reminders_before_deadline: tuple[timedelta, ...]  # largest first
    min_gap: timedelta
    max_reminders: int
    window: Window
    escalate_below: float
    escalate_at: tuple[timedelta, ...]  # largest first
    digest_at: time
    channels: tuple[str, ...]  # order of preference

    def to_json(self) -> dict[str, Any]:
        """Canonical JSON-safe form for the database: seconds, "HH:MM", weekday numbers."""
        w = self.window
        return {
            "reminders_before_deadline": [_seconds(d) for d in self.reminders_before_deadline],
            "min_gap": _seconds(self.min_gap),
            "max_reminders": self.max_reminders,
            "window": {
                "days": sorted(w.days),
                "start": hhmm(w.start),
                "end": hhmm(w.end),
                "breaks": [[hhmm(a), hhmm(b)] for a, b in w.breaks],
                "skip_holidays": w.skip_holidays,
            },
            "escalate_below": self.escalate_below,
            "escalate_at": [_seconds(d) for d in self.escalate_at],
            "digest_at": hhmm(self.digest_at),
            "channels": list(self.channels),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Policy:
        """The exact inverse of ``to_json``; ValueError on anything it would not have written."""
        try:
            w = data["window"]
            return cls(
                reminders_before_deadline=tuple(
                    _from_seconds(s) for s in _json_list(data["reminders_before_deadline"])
                ),
                min_gap=_from_seconds(data["min_gap"]),
                max_reminders=_json_int(data["max_reminders"]),
                window=Window(
                    days=frozenset(_json_day(d) for d in _json_list(w["days"])),
                    start=_from_hhmm(w["start"]),
                    end=_from_hhmm(w["end"]),
                    breaks=tuple(
                        (_from_hhmm(a), _from_hhmm(b)) for a, b in _json_list(w["breaks"])
                    ),
                    skip_holidays=_json_holidays(w["skip_holidays"]),
                ),
                escalate_below=_json_float(data["escalate_below"]),
                escalate_at=tuple(_from_seconds(s) for s in _json_list(data["escalate_at"])),
                digest_at=_from_hhmm(data["digest_at"]),
                channels=tuple(_json_channel(c) for c in _json_list(data["channels"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"stored policy is malformed: {exc!r}") from exc


DEFAULT_WINDOW: Final = Window(
    days=frozenset(range(5)), start=time(7, 30), end=time(17, 0), breaks=(), skip_holidays="VN"
)
DEFAULT_POLICY: Final = Policy(
    reminders_before_deadline=(
        timedelta(days=7),
        timedelta(days=3),
        timedelta(days=1),
        timedelta(hours=3),
    ),
    min_gap=timedelta(hours=20),
    max_reminders=4,
    window=DEFAULT_WINDOW,
    escalate_below=0.6,
    escalate_at=(timedelta(days=3), timedelta(days=1)),
    digest_at=time(8, 0),
    channels=("email",),
)


# --- durations, clock times, days ----------------------------------------------------------

_DURATION_UNITS: Final = {
    "w": (0, timedelta(weeks=1)),
    "tuan": (0, timedelta(weeks=1)),
    "d": (1, timedelta(days=1)),
    "ngay": (1, timedelta(days=1)),
    "h": (2, timedelta(hours=1)),
    "gio": (2, timedelta(hours=1)),
    "m": (3, timedelta(minutes=1)),
    "phut": (3, timedelta(minutes=1)),
}
_DURATION_PART: Final = re.compile(r"(\d+)(tuan|ngay|gio|phut|w|d|h|m)")
DURATION_HELP: Final = "write a number and a unit, e.g. '7d', '3h', '90m', '2w' or '1d12h'"


def parse_duration(text: str) -> timedelta:
    """Read "7d", "3h", "90m", "1d12h", "2w" (or "7 ngày", "3 giờ"); ValueError otherwise.

    Zero is returned as is: whether it makes sense is the caller's decision.
    """
    compact = fold(text).replace(" ", "")
    if not compact:
        raise ValueError(f"empty duration: {DURATION_HELP}")
    if compact.startswith("-"):
        raise ValueError(f"a duration cannot be negative ({text!r}): {DURATION_HELP}")
    total = timedelta()
    end = 0
    last_rank = -1
    for part in _DURATION_PART.finditer(compact):
        if part.start() != end:
            break
        rank, unit = _DURATION_UNITS[part.group(2)]
        if rank <= last_rank:
            raise ValueError(
                f"cannot read duration {text!r}: units go from the largest to the smallest, "
                "each once, e.g. '1d12h'"
            )
        last_rank = rank
        try:
            total += int(part.group(1)) * unit
        except OverflowError as exc:
            raise ValueError(f"duration {text!r} is too long") from exc
        end = part.end()
    if end != len(compact):
        raise ValueError(f"cannot read duration {text!r}: {DURATION_HELP}")
    return total


_CLOCK: Final = re.compile(r"(\d{1,2})(?::(\d{2})|h(\d{2})?)")


def parse_clock(value: object) -> time:
    """Read "07:30", "7:30" or the Vietnamese "7h30" / "7h"; TOML local times too."""
    if isinstance(value, time):
        if value.tzinfo is not None or value.second or value.microsecond:
            raise ValueError("a time of day is hours and minutes, without seconds or offset")
        return value
    if not isinstance(value, str):
        raise TypeError('a time of day is a text such as "07:30"')
    found = _CLOCK.fullmatch(fold(value).replace(" ", ""))
    if found is None:
        raise ValueError(f'cannot read time {value!r}: write HH:MM, e.g. "07:30"')
    hour = int(found.group(1))
    minute = int(found.group(2) or found.group(3) or 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"time {value!r} does not exist: hours go to 23, minutes to 59")
    return time(hour, minute)


_DAY_WORDS: Final = (
    ("mon", "monday", "t2", "thu2", "thuhai"),
    ("tue", "tuesday", "t3", "thu3", "thuba"),
    ("wed", "wednesday", "t4", "thu4", "thutu"),
    ("thu", "thursday", "t5", "thu5", "thunam"),
    ("fri", "friday", "t6", "thu6", "thusau"),
    ("sat", "saturday", "t7", "thu7", "thubay"),
    ("sun", "sunday", "cn", "chunhat"),
)
_DAYS: Final = {word: number for number, words in enumerate(_DAY_WORDS) for word in words}


def parse_days(value: object) -> frozenset[int]:
    """Read "mon-fri", "mon,wed,fri", "t2-t6", "t2,t4,cn", "thứ hai - thứ sáu", or a list."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = ",".join(value)
    if not isinstance(value, str):
        raise TypeError('days are a text such as "mon-fri" or "t2-t6"')
    text = fold(value)
    for dash in ("–", "—", " den "):
        text = text.replace(dash, "-")
    days: set[int] = set()
    for part in re.split(r"[,;]", text):
        ends = [_day(word) for word in part.split("-")]
        if len(ends) == 1:
            days.add(ends[0])
        elif len(ends) == 2:
            first, last = ends
            # A range may wrap over the weekend: "sat-mon".
            days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
        else:
            raise ValueError(f'cannot read days {value!r}: a range has two ends, e.g. "mon-fri"')
    return frozenset(days)


def _day(word: str) -> int:
    key = word.replace(" ", "")
    if key not in _DAYS:
        raise ValueError(
            f"unknown day {word.strip()!r}: use mon..sun, or t2..t7 and cn (thứ Hai..Chủ nhật)"
        )
    return _DAYS[key]


# --- canonical JSON helpers ------------------------------------------------------------------


def _seconds(duration: timedelta) -> int:
    if duration.microseconds:
        raise ValueError(f"duration {duration} has fractions of a second; policies use whole ones")
    return duration.days * 86_400 + duration.seconds


def hhmm(moment: time) -> str:
    """A plain wall-clock time as "HH:MM"; ValueError if it has seconds or an offset."""
    if moment.second or moment.microsecond or moment.tzinfo is not None:
        raise ValueError(f"time {moment} is not a plain HH:MM wall-clock time")
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _from_seconds(value: object) -> timedelta:
    return timedelta(seconds=_json_int(value))


def _from_hhmm(value: object) -> time:
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}", value):
        raise ValueError(f"stored time {value!r} is not HH:MM")
    return time(int(value[:2]), int(value[3:]))


def _json_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"stored value {value!r} is not an integer")
    return value


def _json_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"stored value {value!r} is not a number")
    return float(value)


def _json_list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"stored value {value!r} is not a list")
    return value


def _json_day(value: object) -> int:
    day = _json_int(value)
    if not 0 <= day <= 6:
        raise ValueError(f"stored weekday {day} is not 0..6")
    return day


def _json_holidays(value: object) -> str | None:
    if value is not None and value != "VN":
        raise ValueError(f"stored holiday calendar {value!r} is not 'VN' or null")
    return value


def _json_channel(value: object) -> str:
    if value not in CHANNELS:
        raise ValueError(f"stored channel {value!r} is not one of {CHANNELS}")
    return str(value)
