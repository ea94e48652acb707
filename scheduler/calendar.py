"""The sending window as a pure, injectable object: when may a reminder go out?

Promise 3 of DESIGN.md: nothing is sent outside the campaign's window — its days and hours in the
campaign's time zone, minus its breaks (the lunch break), minus Vietnamese public holidays, Tết
included. This module answers exactly that, from data given to it; it reads no clock, no database
and no network, so the reminder policy and its tests can ask it anything.

Two objects:

``HolidayCalendar``
    Which dates are public days off and which weekend dates are make-up working days. It is built
    from ``holidays.country_holidays("VN", years=...)`` (Tết, Hùng Kings day, 30/4, 1/5, National
    Day, the yearly day swaps with their make-up Saturdays) and a per-deployment override file,
    because swap decisions are issued every year and may reach the package late, and a province
    or ministry may differ. The override file wins over the package::

        [[days_off]]                 # extra days off (or a new name for a known one)
        date = 2026-11-24
        name = "Ngày Văn hóa Việt Nam"

        [[working_days]]             # days that are worked after all
        date = 2026-08-22            # a Saturday: a make-up working Saturday
        name = "Làm bù cho ngày 31/8"

    A ``working_days`` entry on a weekday cancels any package holiday on that date; on a weekend
    date it makes a make-up working day. A date may not be in both lists. ``load_overrides``
    refuses a bad file as a whole with ``storage.problems.InputError``, each problem naming the
    file, the key (``days_off[2].date``) and the value, in Vietnamese and English.

    Years are read from the package on first use and kept, so a campaign that crosses New Year
    needs nothing special; the result depends only on the package version and the overrides.

``SendingCalendar``
    ``SendingCalendar(window, tz, holidays=...)`` with ``is_open``, ``next_open``, ``openings``
    and ``is_working_day``. Decisions:

    * Aware datetimes only (a naive one is a ``ValueError``: guessing its zone is how messages
      go out at 02:00). All local computation is in the campaign's zone (Asia/Ho_Chi_Minh, UTC+7,
      no DST); every datetime returned is in UTC.
    * Intervals are half-open: the window ``07:30-17:00`` is open at 07:30:00 and closed at
      17:00:00; a break ``11:30-13:30`` is closed at 11:30 and open again at 13:30. So a moment
      that falls in the lunch break moves to the break's end, and one at the window's end moves to
      the next working day's opening.
    * Breaks are clipped to the window and merged when they overlap; a window whose breaks cover
      all of it, or that has no day, can never open and is refused when built.
    * ``window.skip_holidays`` decides whether holidays apply at all. When it is set, a public
      holiday (package or override) is closed even if its weekday is in ``days``.
    * Make-up working days (the Saturday worked in exchange for a bridge day off, e.g. Sat
      26/04/2025 for Fri 02/05/2025) are open **only when the window's days are the standard
      Mon–Fri week** (and holidays apply). The swap decisions are about that week: an organiser
      who chose other days (say Mon, Wed, Fri) chose them on purpose, and a make-up Saturday
      says nothing about those choices. A window that already includes Saturday needs no rule.
    * ``next_open`` scans at most ``MAX_SCAN_DAYS`` (400) local days — more than a year, so any
      real holiday pattern fits — and raises ``CalendarError`` if the window never opens in that
      time (e.g. an override file that closes every day): a bounded loop that says why, instead
      of a hang or a silent "never".
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from holidays import country_holidays

from storage.errors import DondocError
from storage.policy import Window
from storage.problems import InputError, Problem, UnreadableFile, read_utf8_text

__all__ = [
    "MAX_SCAN_DAYS",
    "CalendarError",
    "HolidayCalendar",
    "HolidayOverrides",
    "SendingCalendar",
    "load_overrides",
    "parse_overrides",
]

MAX_SCAN_DAYS: Final = 400
"""How far ``next_open`` looks ahead before deciding the window never opens."""

STANDARD_WEEK: Final = frozenset(range(5))  # Monday..Friday, Decision 188/1999/QĐ-TTg
_WEEKEND: Final = frozenset({5, 6})

_DEFAULT_DAY_OFF_NAME: Final = "Ngày nghỉ (theo tệp ngày nghỉ bổ sung)"
_DEFAULT_WORKING_DAY_NAME: Final = "Ngày làm việc (theo tệp ngày nghỉ bổ sung)"


class CalendarError(DondocError):
    """The sending window cannot work: it never opens, or its time zone or country is unknown."""


# --- holidays -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HolidayOverrides:
    """The per-deployment corrections to the package's holidays, as read from the override file."""

    days_off: Mapping[date, str] = field(default_factory=dict)
    working_days: Mapping[date, str] = field(default_factory=dict)
    source: str | None = None  # the file's name, for messages


@dataclass(frozen=True, slots=True)
class _Year:
    days_off: Mapping[date, str]
    make_up_days: frozenset[date]


class HolidayCalendar:
    """Public days off and make-up working days: the ``holidays`` package plus overrides.

    ``country=None`` uses no package data (only the overrides): for tests and for deployments
    that keep their whole calendar in the override file.
    """

    __slots__ = ("_cache", "_country", "_overrides")

    def __init__(
        self,
        country: str | None = "VN",
        *,
        years: Iterable[int] = (),
        overrides: HolidayOverrides | None = None,
    ) -> None:
        self._country = country
        self._overrides = overrides or HolidayOverrides()
        # Filled on first use per year; each entry is immutable, so sharing is safe.
        self._cache: dict[int, _Year] = {}
        for year in years:
            self._year(year)

    @property
    def country(self) -> str | None:
        return self._country

    @property
    def overrides(self) -> HolidayOverrides:
        return self._overrides

    def day_off(self, day: date) -> str | None:
        """The holiday's name if ``day`` is a public day off, else None (weekends are not)."""
        name = self._overrides.days_off.get(day)
        if name is not None:
            return name
        if day in self._overrides.working_days:
            return None
        return self._year(day.year).days_off.get(day)

    def is_make_up_working_day(self, day: date) -> bool:
        """Whether ``day`` is a weekend date declared a working day (a swap's make-up day)."""
        if day.weekday() not in _WEEKEND or day in self._overrides.days_off:
            return False
        return day in self._overrides.working_days or day in self._year(day.year).make_up_days

    def days_off_in(self, year: int) -> dict[date, str]:
        """Every public day off of ``year``, overrides applied (for display and checks)."""
        found = {
            d: name
            for d, name in self._year(year).days_off.items()
            if d not in self._overrides.working_days
        }
        found.update((d, n) for d, n in self._overrides.days_off.items() if d.year == year)
        return dict(sorted(found.items()))

    def _year(self, year: int) -> _Year:
        cached = self._cache.get(year)
        if cached is not None:
            return cached
        if self._country is None:
            facts = _Year(days_off={}, make_up_days=frozenset())
        else:
            # A swap may be declared in the year after its make-up day (or before it), so the
            # neighbouring years are read too; only this year's dates are kept.
            span = [y for y in (year - 1, year, year + 1) if 1 <= y <= 9999]
            try:
                source = country_holidays(self._country, years=span, language="vi")
            except NotImplementedError as exc:
                raise CalendarError(
                    f"Không có lịch nghỉ lễ cho quốc gia «{self._country}».",
                    f"no public holiday data for country {self._country!r}",
                ) from exc
            facts = _Year(
                days_off={d: str(name) for d, name in source.items() if d.year == year},
                make_up_days=frozenset(d for d in source.weekend_workdays if d.year == year),
            )
        self._cache[year] = facts
        return facts


# --- the override file ----------------------------------------------------------------------------

_OVERRIDE_LISTS: Final = ("days_off", "working_days")
_ENTRY_KEYS: Final = ("date", "name")
_VN_DATE: Final = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TOML_WHERE: Final = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_EXAMPLE: Final = '[[days_off]]\ndate = 2026-11-24\nname = "Ngày Văn hóa Việt Nam"'


def load_overrides(path: Path) -> HolidayOverrides:
    """Read a holiday override file; InputError (every problem, none half-applied) if it is bad."""
    file = path.name
    try:
        text = read_utf8_text(path, what_vi="tệp ngày nghỉ bổ sung")
    except UnreadableFile as exc:
        raise _refuse(file, [exc.problem]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = _TOML_WHERE.search(str(exc))
        raise _refuse(
            file,
            [
                Problem(
                    file=file,
                    row=int(where.group(1)) if where else None,
                    column=where.group(2) if where else None,
                    message_vi=(
                        "Tệp không đúng cú pháp TOML. Vui lòng viết mỗi ngày thành một khối như:\n"
                        f"{_EXAMPLE}"
                    ),
                    message_en=f"not valid TOML: {exc}",
                )
            ],
        ) from exc
    return parse_overrides(data, source=file)


def parse_overrides(data: Mapping[str, Any], *, source: str) -> HolidayOverrides:
    """Check an already-parsed override file; ``source`` names it in problems."""
    problems: list[Problem] = []

    def problem(key: str, value: object, vi: str, en: str) -> None:
        shown = None if value is None else _show(value)
        problems.append(Problem(file=source, column=key, value=shown, message_vi=vi, message_en=en))

    for key in data:
        if key not in _OVERRIDE_LISTS:
            problem(
                key,
                None,
                f"Không có mục «{key}». Tệp ngày nghỉ bổ sung chỉ có các khối [[days_off]] (ngày "
                "nghỉ thêm) và [[working_days]] (ngày làm việc, kể cả thứ Bảy làm bù). Vui lòng "
                "xóa hoặc sửa lại tên mục.",
                f"unknown key {key!r}; the file has only [[days_off]] and [[working_days]]",
            )
    found: dict[str, dict[date, str]] = {}
    for list_key in _OVERRIDE_LISTS:
        entries = data.get(list_key, [])
        found[list_key] = {}
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            problem(
                list_key,
                entries,
                f"Mục «{list_key}» phải gồm các khối [[{list_key}]], mỗi khối có date = ngày và "
                f"name = tên. Vui lòng viết lại, ví dụ:\n{_EXAMPLE}",
                f"{list_key} must be an array of tables ([[{list_key}]] with date and name)",
            )
            continue
        default_name = (
            _DEFAULT_DAY_OFF_NAME if list_key == "days_off" else _DEFAULT_WORKING_DAY_NAME
        )
        for i, entry in enumerate(entries, start=1):
            where = f"{list_key}[{i}]"
            for key in entry:
                if key not in _ENTRY_KEYS:
                    problem(
                        f"{where}.{key}",
                        None,
                        f"Không có mục «{key}» ở đây. Mỗi khối chỉ có date (ngày) và name (tên). "
                        "Vui lòng xóa hoặc sửa lại tên mục.",
                        f"unknown key {key!r}; an entry has only date and name",
                    )
            name = entry.get("name", default_name)
            if not isinstance(name, str) or not name.strip():
                problem(
                    f"{where}.name",
                    name,
                    'Tên ngày phải là chữ đặt trong dấu ngoặc kép, ví dụ name = "Ngày Văn hóa '
                    'Việt Nam". Vui lòng sửa lại.',
                    "name must be a non-empty string",
                )
                name = default_name
            if "date" not in entry:
                problem(
                    f"{where}.date",
                    None,
                    "Khối này thiếu ngày. Vui lòng thêm một dòng như date = 2026-11-24 (năm-tháng-"
                    "ngày).",
                    "missing date",
                )
                continue
            day = _read_date(entry["date"])
            if day is None:
                problem(
                    f"{where}.date",
                    entry["date"],
                    "Không hiểu được ngày này. Vui lòng ghi ngày theo dạng năm-tháng-ngày, không "
                    'kèm giờ, ví dụ date = 2026-11-24 (hoặc "24/11/2026").',
                    "a date is YYYY-MM-DD without a time, e.g. date = 2026-11-24",
                )
                continue
            if day in found[list_key]:
                problem(
                    f"{where}.date",
                    entry["date"],
                    f"Ngày {day:%d/%m/%Y} bị ghi hai lần trong [[{list_key}]]. Vui lòng xóa khối "
                    "trùng.",
                    f"date {day.isoformat()} is listed twice in {list_key}",
                )
                continue
            if list_key == "working_days" and day in found["days_off"]:
                problem(
                    f"{where}.date",
                    entry["date"],
                    f"Ngày {day:%d/%m/%Y} vừa là ngày nghỉ ([[days_off]]) vừa là ngày làm việc "
                    "([[working_days]]). Vui lòng giữ lại một trong hai.",
                    f"date {day.isoformat()} is both a day off and a working day",
                )
                continue
            found[list_key][day] = name.strip()
    if problems:
        raise _refuse(source, problems)
    return HolidayOverrides(
        days_off=found["days_off"], working_days=found["working_days"], source=source
    )


def _read_date(value: object) -> date | None:
    # TOML's local date arrives as a date; a datetime is a date too, but its time is a mistake.
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        found = _VN_DATE.fullmatch(text)
        if found:
            return date(int(found.group(3)), int(found.group(2)), int(found.group(1)))
        return date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        return None


def _show(value: object) -> str:
    text = value.isoformat() if isinstance(value, date | time) else str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _refuse(file: str, problems: Sequence[Problem]) -> InputError:
    return InputError(
        problems,
        f"Tệp ngày nghỉ bổ sung «{file}» có {len(problems)} lỗi nên chưa dùng được. Vui lòng sửa "
        "các lỗi dưới đây rồi chạy lại lệnh.",
        f"holiday override file {file} refused ({len(problems)} problems)",
    )


# --- the sending window ---------------------------------------------------------------------------


class SendingCalendar:
    """When messages may go out: the window's days and hours, minus breaks and holidays."""

    __slots__ = ("_holidays", "_segments", "_window", "_zone")

    def __init__(self, window: Window, tz: str, *, holidays: HolidayCalendar) -> None:
        try:
            self._zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(
                f"Không biết múi giờ «{tz}». Vui lòng dùng tên như «Asia/Ho_Chi_Minh».",
                f"unknown time zone {tz!r}; use a name such as 'Asia/Ho_Chi_Minh'",
            ) from exc
        self._window = window
        self._holidays = holidays
        self._segments = _open_segments(window)
        if not window.days or not self._segments:
            raise CalendarError(
                f"Khung giờ gửi tin ({_describe(window)}) không bao giờ mở: không có ngày nào hoặc "
                "giờ nghỉ chiếm hết giờ gửi. Vui lòng sửa mục policy.window.",
                f"the sending window ({_describe(window)}) never opens: no day, or breaks cover it",
            )

    @property
    def window(self) -> Window:
        return self._window

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @property
    def holidays(self) -> HolidayCalendar:
        return self._holidays

    def is_working_day(self, day: date) -> bool:
        """Whether the window opens at all on the local date ``day``."""
        window = self._window
        if window.skip_holidays is None:
            return day.weekday() in window.days
        if self._holidays.day_off(day) is not None:
            return False
        if day.weekday() in window.days:
            return True
        # Make-up Saturdays belong to the standard week only (see the module docstring).
        return window.days == STANDARD_WEEK and self._holidays.is_make_up_working_day(day)

    def openings(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals ``[start, end)`` of the local date ``day``, in UTC, in order."""
        if not self.is_working_day(day):
            return []
        return [
            (
                datetime.combine(day, start, tzinfo=self._zone).astimezone(UTC),
                datetime.combine(day, end, tzinfo=self._zone).astimezone(UTC),
            )
            for start, end in self._segments
        ]

    def is_open(self, moment: datetime) -> bool:
        """Whether a message may go out at ``moment`` (an aware datetime)."""
        _require_aware(moment)
        day = moment.astimezone(self._zone).date()
        return any(start <= moment < end for start, end in self.openings(day))

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` itself (in UTC) if open, else the start of the next opening."""
        _require_aware(moment)
        first = moment.astimezone(self._zone).date()
        for i in range(MAX_SCAN_DAYS):
            for start, end in self.openings(first + timedelta(days=i)):
                if moment < end:
                    return max(start, moment.astimezone(UTC))
        raise CalendarError(
            f"Khung giờ gửi tin ({_describe(self._window)}) không mở lần nào trong "
            f"{MAX_SCAN_DAYS} ngày kể từ {first:%d/%m/%Y}. Vui lòng kiểm tra mục policy.window "
            "và tệp ngày nghỉ bổ sung.",
            f"the sending window ({_describe(self._window)}) does not open in the "
            f"{MAX_SCAN_DAYS} days from {first.isoformat()}; check policy.window and the holiday "
            "override file",
        )


def _open_segments(window: Window) -> tuple[tuple[time, time], ...]:
    """The day's open clock intervals: ``[start, end)`` minus the (clipped, merged) breaks."""
    segments: list[tuple[time, time]] = []
    cursor = window.start
    for b_start, b_end in sorted(window.breaks):
        b_start, b_end = max(b_start, window.start), min(b_end, window.end)
        if b_end <= cursor:
            continue
        if b_start > cursor:
            segments.append((cursor, b_start))
        cursor = max(cursor, b_end)
    if cursor < window.end:
        segments.append((cursor, window.end))
    return tuple(segments)


def _describe(window: Window) -> str:
    names = ("T2", "T3", "T4", "T5", "T6", "T7", "CN")
    days = ",".join(names[d] for d in sorted(window.days)) or "-"
    breaks = "".join(f", nghỉ {a:%H:%M}-{b:%H:%M}" for a, b in window.breaks)
    return f"{days} {window.start:%H:%M}-{window.end:%H:%M}{breaks}"


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: dondoc computes with aware datetimes only")
