"""The [policy] table of a campaign file: check what the organiser wrote and build a ``Policy``.

Problems go to the campaign file's reader, so one run still lists every problem in the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import time, timedelta
from typing import Any, Final, Protocol

from storage.policy import (
    CHANNELS,
    DEFAULT_POLICY,
    DEFAULT_WINDOW,
    DURATION_HELP,
    Policy,
    Window,
    hhmm,
    parse_clock,
    parse_days,
    parse_duration,
)
from storage.problems import Problem
from storage.text import fold

__all__ = ["Checks", "read_policy"]

_POLICY_KEYS: Final = (
    "reminders_before_deadline",
    "min_gap",
    "max_reminders",
    "window",
    "escalate_below",
    "escalate_at",
    "digest_at",
    "channels",
)
_WINDOW_KEYS: Final = ("days", "start", "end", "breaks", "skip_holidays")
_DURATION_HELP_VI: Final = (
    "Vui lòng ghi số kèm đơn vị: «7d» (7 ngày), «3h» (3 giờ), «90m» (90 phút), «2w» (2 tuần) "
    "hoặc kết hợp như «1d12h»."
)


class Checks(Protocol):
    """What the [policy] section needs from the campaign file's reader."""

    @property
    def problems(self) -> Sequence[Problem]: ...

    def problem(self, path: str, value: object, vi: str, en: str) -> None: ...

    def table(self, value: object, path: str, example: str) -> Mapping[str, Any] | None: ...

    def unknown_keys(self, table: Mapping[str, Any], known: Sequence[str], path: str) -> None: ...

    def show(self, value: object) -> str: ...

    def closest(self, word: str, options: Iterable[str]) -> str | None: ...


def read_policy(checks: Checks, value: object, span: timedelta | None) -> Policy | None:
    """The [policy] table, defaults filling what it leaves out; None if ``checks`` got problems.

    ``span`` is the campaign's length when known: no reminder may fall before it opens.
    """
    return _PolicyReader(checks).policy(value, span)


class _PolicyReader:
    """Walks the [policy] table, reporting every problem through ``checks``."""

    def __init__(self, checks: Checks) -> None:
        self.checks = checks

    def policy(self, value: object, span: timedelta | None) -> Policy | None:
        if value is None:
            table: Mapping[str, Any] = {}
        else:
            found = self.checks.table(value, "policy", '[policy] rồi các dòng như min_gap = "20h"')
            if found is None:
                return None
            table = found
        self.checks.unknown_keys(table, _POLICY_KEYS, "policy")
        before = len(self.checks.problems)
        d = DEFAULT_POLICY

        reminders = self.offsets(
            table, "reminders_before_deadline", d.reminders_before_deadline, span
        )
        min_gap = d.min_gap
        if "min_gap" in table:
            min_gap = self.duration(table["min_gap"], "policy.min_gap") or min_gap

        max_reminders = table.get("max_reminders", d.max_reminders)
        if (
            isinstance(max_reminders, bool)
            or not isinstance(max_reminders, int)
            or max_reminders < 0
        ):
            self.checks.problem(
                "policy.max_reminders",
                max_reminders,
                "Số lần nhắc tối đa phải là số nguyên không âm. Vui lòng sửa lại, ví dụ: "
                "max_reminders = 4 (ghi 0 nếu không muốn nhắc).",
                "max_reminders must be a non-negative integer",
            )
            max_reminders = d.max_reminders

        window = self.window(table.get("window", {}))

        escalate_below = table.get("escalate_below", d.escalate_below)
        if (
            isinstance(escalate_below, bool)
            or not isinstance(escalate_below, int | float)
            or not 0 <= escalate_below <= 1
        ):
            self.checks.problem(
                "policy.escalate_below",
                escalate_below,
                "Ngưỡng cảnh báo là tỷ lệ trả lời của đơn vị, từ 0 đến 1. Vui lòng sửa lại, ví dụ: "
                "escalate_below = 0.6 (tức dưới 60% thì báo lãnh đạo đơn vị).",
                "escalate_below must be a number between 0 and 1",
            )
            escalate_below = d.escalate_below

        escalate_at = self.offsets(table, "escalate_at", d.escalate_at, span)
        digest_at = d.digest_at
        if "digest_at" in table:
            digest_at = self.clock(table["digest_at"], "policy.digest_at") or digest_at
        channels = self.channels(table.get("channels", list(d.channels)))

        if len(self.checks.problems) > before or window is None:
            return None
        return Policy(
            reminders_before_deadline=reminders,
            min_gap=min_gap,
            max_reminders=max_reminders,
            window=window,
            escalate_below=float(escalate_below),
            escalate_at=escalate_at,
            digest_at=digest_at,
            channels=channels,
        )

    def offsets(
        self,
        table: Mapping[str, Any],
        key: str,
        default: tuple[timedelta, ...],
        span: timedelta | None,
    ) -> tuple[timedelta, ...]:
        path = f"policy.{key}"
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, list):
            self.checks.problem(
                path,
                value,
                "Các mốc thời gian trước hạn chót phải là một danh sách trong ngoặc vuông. Vui "
                f'lòng sửa lại, ví dụ: {key} = ["7d", "3d", "1d"].',
                f"{key} must be a list of durations",
            )
            return default
        found: list[timedelta] = []
        for i, item in enumerate(value, start=1):
            item_path = f"{path}[{i}]"
            offset = self.duration(item, item_path)
            if offset is None:
                continue
            if offset in found:
                self.checks.problem(
                    item_path,
                    item,
                    f"Mốc «{item}» bị ghi hai lần. Vui lòng xóa mốc trùng.",
                    f"duplicate offset {item!r}",
                )
                continue
            if span is not None and offset > span:
                self.checks.problem(
                    item_path,
                    item,
                    f"Mốc «{item}» trước hạn chót rơi vào trước khi đợt khảo sát bắt đầu (cả đợt "
                    f"chỉ kéo dài {_vi_duration(span)}). Vui lòng chọn khoảng ngắn hơn hoặc xóa "
                    "mốc này.",
                    f"offset {item!r} is longer than the campaign itself",
                )
                continue
            found.append(offset)
        return tuple(sorted(found, reverse=True))

    def window(self, value: object) -> Window | None:
        table = self.checks.table(
            value, "policy.window", 'window = { days = "t2-t6", start = "07:30", end = "17:00" }'
        )
        if table is None:
            return None
        self.checks.unknown_keys(table, _WINDOW_KEYS, "policy.window")
        before = len(self.checks.problems)
        d = DEFAULT_WINDOW
        days = d.days
        if "days" in table:
            try:
                days = parse_days(table["days"])
            except (TypeError, ValueError) as exc:
                self.checks.problem(
                    "policy.window.days",
                    table["days"],
                    'Không hiểu được các ngày gửi tin. Vui lòng ghi như "mon-fri", '
                    '"mon,wed,fri", "t2-t6" hoặc "t2,t4,t6" (t2 = thứ Hai, …, t7 = thứ Bảy, '
                    "cn = Chủ nhật).",
                    str(exc),
                )
            else:
                if not days:
                    self.checks.problem(
                        "policy.window.days",
                        table["days"],
                        "Chưa có ngày nào được phép gửi tin. Vui lòng ghi ít nhất một ngày, ví dụ "
                        'days = "t2-t6".',
                        "no sending day",
                    )
        start = self.clock(table["start"], "policy.window.start") if "start" in table else d.start
        end = self.clock(table["end"], "policy.window.end") if "end" in table else d.end
        if start is not None and end is not None and end <= start:
            self.checks.problem(
                "policy.window.end",
                table.get("end", hhmm(end)),
                f"Giờ kết thúc gửi tin ({hhmm(end)}) phải sau giờ bắt đầu ({hhmm(start)}). "
                'Vui lòng sửa lại, ví dụ: start = "07:30", end = "17:00".',
                "window end must be after its start",
            )
        skip = table.get("skip_holidays", d.skip_holidays)
        if skip is False:
            skip = None
        elif skip is True:
            skip = "VN"
        elif isinstance(skip, str) and skip.strip().upper() == "VN":
            skip = "VN"
        else:
            self.checks.problem(
                "policy.window.skip_holidays",
                skip,
                'Hiện chỉ hỗ trợ lịch nghỉ lễ, Tết của Việt Nam. Vui lòng ghi skip_holidays = "VN" '
                "để không gửi tin vào ngày nghỉ lễ, hoặc skip_holidays = false để vẫn gửi.",
                'skip_holidays must be "VN" or false',
            )
            skip = None
        breaks = self.breaks(table.get("breaks", []), start, end)
        if len(self.checks.problems) > before or start is None or end is None:
            return None
        return Window(days=days, start=start, end=end, breaks=breaks, skip_holidays=skip)

    def breaks(
        self, value: object, start: time | None, end: time | None
    ) -> tuple[tuple[time, time], ...]:
        path = "policy.window.breaks"
        if not isinstance(value, list):
            self.checks.problem(
                path,
                value,
                "Giờ nghỉ phải là danh sách trong ngoặc vuông. Vui lòng sửa lại, ví dụ: "
                'breaks = ["11:30-13:30"].',
                'breaks must be a list such as ["11:30-13:30"]',
            )
            return ()
        found: list[tuple[time, time]] = []
        for i, item in enumerate(value, start=1):
            item_path = f"{path}[{i}]"
            pair = _parse_break(item)
            if pair is None:
                self.checks.problem(
                    item_path,
                    item,
                    "Không hiểu được khoảng nghỉ này. Vui lòng ghi giờ bắt đầu và giờ kết thúc "
                    'nối bằng dấu gạch ngang, giờ sau lớn hơn giờ trước, ví dụ "11:30-13:30".',
                    'a break is "HH:MM-HH:MM" with its end after its start',
                )
                continue
            if start is not None and end is not None and not (start <= pair[0] and pair[1] <= end):
                self.checks.problem(
                    item_path,
                    item,
                    f"Khoảng nghỉ «{item}» nằm ngoài giờ gửi tin ({hhmm(start)}-{hhmm(end)}). "
                    "Vui lòng chọn khoảng nghỉ nằm trong giờ gửi tin hoặc xóa khoảng nghỉ này.",
                    "a break must lie inside the sending window",
                )
                continue
            clash = next((b for b in found if pair[0] < b[1] and b[0] < pair[1]), None)
            if clash is not None:
                self.checks.problem(
                    item_path,
                    item,
                    f"Khoảng nghỉ «{item}» chồng lên khoảng nghỉ "
                    f"{hhmm(clash[0])}-{hhmm(clash[1])}. Vui lòng gộp hai khoảng nghỉ làm một.",
                    "breaks must not overlap",
                )
                continue
            found.append(pair)
        return tuple(sorted(found))

    def channels(self, value: object) -> tuple[str, ...]:
        path = "policy.channels"
        if not isinstance(value, list) or not value:
            self.checks.problem(
                path,
                value,
                "Kênh gửi nhắc phải là danh sách không rỗng, theo thứ tự ưu tiên. Vui lòng sửa "
                'lại, ví dụ: channels = ["email", "zalo"].',
                'channels must be a non-empty list, e.g. ["email", "zalo"]',
            )
            return ()
        found: list[str] = []
        for i, item in enumerate(value, start=1):
            name = fold(item) if isinstance(item, str) else ""
            if name not in CHANNELS:
                guess = self.checks.closest(name, CHANNELS) if name else None
                hint_vi = f" Có phải là «{guess}»?" if guess else ""
                hint_en = f"; did you mean {guess!r}?" if guess else ""
                self.checks.problem(
                    f"{path}[{i}]",
                    item,
                    f"Kênh «{self.checks.show(item)}» không được hỗ trợ.{hint_vi} "
                    f"Vui lòng chọn trong: {', '.join(CHANNELS)}.",
                    f"unknown channel {item!r}{hint_en}; allowed: {', '.join(CHANNELS)}",
                )
            elif name in found:
                self.checks.problem(
                    f"{path}[{i}]",
                    item,
                    f"Kênh «{name}» bị ghi hai lần. Vui lòng xóa kênh trùng.",
                    f"duplicate channel {name!r}",
                )
            else:
                found.append(name)
        return tuple(found)

    # --- single values: durations and clock times

    def duration(self, value: object, path: str) -> timedelta | None:
        if isinstance(value, str):
            try:
                found = parse_duration(value)
            except ValueError as exc:
                self.checks.problem(
                    path,
                    value,
                    f"Không hiểu được khoảng thời gian «{value}». {_DURATION_HELP_VI}",
                    str(exc),
                )
                return None
            if found > timedelta():
                return found
            self.checks.problem(
                path,
                value,
                f"Khoảng thời gian phải lớn hơn 0. {_DURATION_HELP_VI}",
                "must be longer than zero",
            )
            return None
        self.checks.problem(
            path,
            value,
            f"Khoảng thời gian phải là chữ đặt trong dấu ngoặc kép. {_DURATION_HELP_VI}",
            f"a duration is a string: {DURATION_HELP}",
        )
        return None

    def clock(self, value: object, path: str) -> time | None:
        try:
            return parse_clock(value)
        except (TypeError, ValueError) as exc:
            self.checks.problem(
                path,
                value,
                "Không hiểu được giờ này. Vui lòng ghi giờ theo dạng HH:MM trong dấu ngoặc kép, "
                'ví dụ "07:30" hoặc "17:00".',
                str(exc),
            )
            return None


def _vi_duration(duration: timedelta) -> str:
    minutes = int(duration.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "ngày"), (hours, "giờ"), (minutes, "phút")) if n]
    return " ".join(parts) or "0 phút"


def _parse_break(value: object) -> tuple[time, time] | None:
    if not isinstance(value, str):
        return None
    ends = re.split(r"\s*[-–—]\s*", value.strip())
    if len(ends) != 2:
        return None
    try:
        first, last = parse_clock(ends[0]), parse_clock(ends[1])
    except ValueError:
        return None
    return (first, last) if first < last else None
