"""Tests for scheduler.calendar: the sending window, Vietnamese holidays and the override file.

Exact examples come from the `holidays` package's Vietnamese data (Tết 2025, the swap of Fri
02/05/2025 with Sat 26/04/2025) checked against ../shared/reference/vietnam.md; the properties
check the window against an independent oracle over random windows and moments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.calendar import (
    MAX_SCAN_DAYS,
    CalendarError,
    HolidayCalendar,
    HolidayOverrides,
    SendingCalendar,
    load_overrides,
    parse_overrides,
)
from storage.policy import DEFAULT_WINDOW, Window
from storage.problems import InputError

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
VN_HOLIDAYS = HolidayCalendar("VN", years=range(2024, 2027))
LUNCH = (time(11, 30), time(13, 30))
SONLA_WINDOW = Window(days=frozenset(range(5)), start=time(7, 30), end=time(17, 0), breaks=(LUNCH,))


def vn(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=TZ)


def calendar(
    window: Window = SONLA_WINDOW, holidays: HolidayCalendar = VN_HOLIDAYS
) -> SendingCalendar:
    return SendingCalendar(window, "Asia/Ho_Chi_Minh", holidays=holidays)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# --- the holidays package, as dondoc reads it -----------------------------------------------------


def test_tet_2025_holidays_and_the_weekends_around_them() -> None:
    for day in days(date(2025, 1, 27), date(2025, 2, 1)):
        assert VN_HOLIDAYS.day_off(day) is not None, day
    # The break was Sat 25/01 - Sun 02/02; the package lists only 27/01 - 01/02: the weekend
    # days around it are plain weekends, closed by the window's days, not by the holidays.
    assert VN_HOLIDAYS.day_off(date(2025, 1, 25)) is None
    assert VN_HOLIDAYS.day_off(date(2025, 2, 2)) is None
    assert VN_HOLIDAYS.day_off(date(2025, 1, 24)) is None
    assert VN_HOLIDAYS.day_off(date(2025, 2, 3)) is None


def test_swap_of_2025_make_up_saturday_and_bridge_day() -> None:
    assert VN_HOLIDAYS.is_make_up_working_day(date(2025, 4, 26))
    assert VN_HOLIDAYS.day_off(date(2025, 5, 2)) is not None
    assert not VN_HOLIDAYS.is_make_up_working_day(date(2025, 4, 19))
    # Only weekend dates can be make-up days.
    assert not VN_HOLIDAYS.is_make_up_working_day(date(2025, 4, 25))


def test_holiday_names_are_vietnamese() -> None:
    assert VN_HOLIDAYS.day_off(date(2025, 1, 29)) == "Tết Nguyên Đán"
    assert VN_HOLIDAYS.day_off(date(2025, 9, 2)) == "Quốc khánh"


def test_years_outside_the_preloaded_ones_are_read_on_first_use() -> None:
    fresh = HolidayCalendar("VN")
    assert fresh.day_off(date(2030, 1, 1)) is not None
    assert fresh.day_off(date(2030, 1, 2)) is None


def test_days_off_in_applies_overrides() -> None:
    holidays = HolidayCalendar(
        "VN",
        overrides=HolidayOverrides(
            days_off={date(2025, 3, 12): "Nghỉ của tỉnh"},
            working_days={date(2025, 4, 7): "Làm việc"},
        ),
    )
    found = holidays.days_off_in(2025)
    assert found[date(2025, 3, 12)] == "Nghỉ của tỉnh"
    assert date(2025, 4, 7) not in found
    assert date(2025, 1, 29) in found
    assert list(found) == sorted(found)


def test_unknown_country_is_a_clear_error() -> None:
    with pytest.raises(CalendarError, match="XX"):
        HolidayCalendar("XX").day_off(date(2025, 1, 1))


# --- the sending window: exact examples -----------------------------------------------------------


def test_tet_2025_sends_nothing_from_25_01_to_02_02_and_reopens_monday_morning() -> None:
    cal = calendar()
    for day in days(date(2025, 1, 25), date(2025, 2, 2)):
        assert cal.openings(day) == [], day
        for hour in range(24):
            assert not cal.is_open(vn(day.year, day.month, day.day, hour, 45))
    assert cal.next_open(vn(2025, 1, 24, 17)) == vn(2025, 2, 3, 7, 30)
    assert cal.next_open(vn(2025, 1, 29, 9)) == vn(2025, 2, 3, 7, 30)
    assert cal.is_open(vn(2025, 1, 24, 16, 59, 59))


def test_weekends_are_closed() -> None:
    cal = calendar()
    assert cal.openings(date(2025, 1, 11)) == []
    assert cal.openings(date(2025, 1, 12)) == []
    assert cal.next_open(vn(2025, 1, 10, 17)) == vn(2025, 1, 13, 7, 30)
    assert cal.next_open(vn(2025, 1, 11, 10)) == vn(2025, 1, 13, 7, 30)


def test_edges_are_half_open() -> None:
    cal = calendar()
    assert not cal.is_open(vn(2025, 1, 8, 7, 29, 59))
    assert cal.is_open(vn(2025, 1, 8, 7, 30))
    assert cal.is_open(vn(2025, 1, 8, 11, 29, 59))
    assert not cal.is_open(vn(2025, 1, 8, 11, 30))
    assert not cal.is_open(vn(2025, 1, 8, 13, 29, 59))
    assert cal.is_open(vn(2025, 1, 8, 13, 30))
    assert cal.is_open(vn(2025, 1, 8, 16, 59, 59))
    assert not cal.is_open(vn(2025, 1, 8, 17))


def test_lunch_break_moves_to_its_end() -> None:
    cal = calendar()
    assert cal.next_open(vn(2025, 1, 8, 11, 30)) == vn(2025, 1, 8, 13, 30)
    assert cal.next_open(vn(2025, 1, 8, 12, 15)) == vn(2025, 1, 8, 13, 30)
    assert cal.next_open(vn(2025, 1, 8, 5)) == vn(2025, 1, 8, 7, 30)


def test_open_moment_is_returned_as_is_in_utc() -> None:
    cal = calendar()
    moment = vn(2025, 1, 8, 9, 17, 23)
    found = cal.next_open(moment)
    assert found == moment
    assert found.tzinfo is UTC
    assert found == datetime(2025, 1, 8, 2, 17, 23, tzinfo=UTC)


def test_openings_of_a_day_in_utc() -> None:
    assert calendar().openings(date(2025, 1, 8)) == [
        (datetime(2025, 1, 8, 0, 30, tzinfo=UTC), datetime(2025, 1, 8, 4, 30, tzinfo=UTC)),
        (datetime(2025, 1, 8, 6, 30, tzinfo=UTC), datetime(2025, 1, 8, 10, 0, tzinfo=UTC)),
    ]


def test_the_moments_zone_does_not_matter() -> None:
    cal = calendar()
    local = vn(2025, 1, 10, 17)
    for zone in (UTC, timezone(timedelta(hours=-5)), ZoneInfo("Europe/Paris")):
        assert cal.next_open(local.astimezone(zone)) == vn(2025, 1, 13, 7, 30)
        assert cal.is_open(vn(2025, 1, 10, 9).astimezone(zone))


def test_new_year_across_the_year_boundary() -> None:
    assert calendar().next_open(vn(2025, 12, 31, 17)) == vn(2026, 1, 2, 7, 30)


def test_make_up_saturday_is_a_working_day_in_the_standard_week() -> None:
    cal = calendar()
    assert cal.is_working_day(date(2025, 4, 26))
    assert cal.is_open(vn(2025, 4, 26, 9))
    assert cal.next_open(vn(2025, 4, 25, 17)) == vn(2025, 4, 26, 7, 30)
    # ...and its swapped weekday, Fri 02/05/2025, is a day off (after 30/04 and 01/05).
    assert cal.next_open(vn(2025, 4, 29, 17)) == vn(2025, 5, 5, 7, 30)


def test_make_up_saturday_does_not_open_a_custom_week() -> None:
    mon_wed_fri = Window(days=frozenset({0, 2, 4}), start=time(7, 30), end=time(17, 0))
    assert not calendar(mon_wed_fri).is_working_day(date(2025, 4, 26))
    assert not calendar(mon_wed_fri).is_working_day(date(2025, 5, 2))


def test_without_skip_holidays_only_the_days_count() -> None:
    plain = Window(days=frozenset(range(5)), start=time(7, 30), end=time(17), skip_holidays=None)
    cal = calendar(plain)
    assert cal.is_working_day(date(2025, 1, 29))  # Tết, but the organiser chose to send
    assert cal.is_working_day(date(2025, 5, 2))
    assert not cal.is_working_day(date(2025, 4, 26))


def test_override_day_off_and_working_days() -> None:
    overrides = HolidayOverrides(
        days_off={date(2025, 3, 12): "Nghỉ theo quyết định của tỉnh"},
        working_days={
            date(2025, 3, 8): "Thứ Bảy làm bù",
            date(2026, 11, 24): "Chưa nghỉ Ngày Văn hóa",
        },
    )
    cal = calendar(holidays=HolidayCalendar("VN", overrides=overrides))
    assert not cal.is_working_day(date(2025, 3, 12))
    assert cal.next_open(vn(2025, 3, 11, 17)) == vn(2025, 3, 13, 7, 30)
    assert cal.is_working_day(date(2025, 3, 8))
    assert cal.next_open(vn(2025, 3, 7, 17)) == vn(2025, 3, 8, 7, 30)
    assert cal.is_working_day(date(2026, 11, 24))
    assert not calendar().is_working_day(date(2026, 11, 24))  # the package says day off


def test_override_day_off_wins_over_a_package_make_up_saturday() -> None:
    overrides = HolidayOverrides(days_off={date(2025, 4, 26): "Không làm bù"})
    cal = calendar(holidays=HolidayCalendar("VN", overrides=overrides))
    assert not cal.is_working_day(date(2025, 4, 26))


def test_overlapping_breaks_are_merged_and_clipped() -> None:
    window = Window(
        days=frozenset(range(7)),
        start=time(8),
        end=time(17),
        breaks=((time(11), time(12)), (time(11, 30), time(13)), (time(16), time(18))),
        skip_holidays=None,
    )
    assert calendar(window).openings(date(2025, 1, 8)) == [
        (vn(2025, 1, 8, 8), vn(2025, 1, 8, 11)),
        (vn(2025, 1, 8, 13), vn(2025, 1, 8, 16)),
    ]


def test_naive_datetimes_are_refused() -> None:
    cal = calendar()
    with pytest.raises(ValueError, match="naive"):
        cal.is_open(datetime(2025, 1, 8, 9))
    with pytest.raises(ValueError, match="naive"):
        cal.next_open(datetime(2025, 1, 8, 9))


def test_a_window_that_can_never_open_is_refused() -> None:
    no_day = Window(days=frozenset(), start=time(8), end=time(17))
    with pytest.raises(CalendarError, match="never opens"):
        calendar(no_day)
    all_break = Window(
        days=frozenset(range(5)), start=time(8), end=time(17), breaks=((time(7), time(18)),)
    )
    with pytest.raises(CalendarError, match="never opens") as caught:
        calendar(all_break)
    assert "không bao giờ mở" in caught.value.message_vi
    adjacent = Window(
        days=frozenset(range(5)),
        start=time(8),
        end=time(17),
        breaks=((time(8), time(12)), (time(12), time(17))),
    )
    with pytest.raises(CalendarError, match="never opens"):
        calendar(adjacent)


def test_next_open_is_bounded_when_every_day_is_off() -> None:
    start = date(2025, 1, 1)
    closed = {start + timedelta(days=i): "Nghỉ" for i in range(MAX_SCAN_DAYS + 10)}
    holidays = HolidayCalendar(None, overrides=HolidayOverrides(days_off=closed))
    with pytest.raises(CalendarError, match=f"{MAX_SCAN_DAYS} days") as caught:
        calendar(DEFAULT_WINDOW, holidays).next_open(vn(2025, 1, 1, 9))
    assert "policy.window" in caught.value.message_vi


def test_unknown_time_zone_is_a_clear_error() -> None:
    with pytest.raises(CalendarError, match="Asia/Hanoi"):
        SendingCalendar(DEFAULT_WINDOW, "Asia/Hanoi", holidays=VN_HOLIDAYS)


# --- the window against an independent oracle -----------------------------------------------------


def _clock(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start = draw(st.integers(0, 22 * 60))
    end = draw(st.integers(start + 1, 23 * 60 + 59))
    breaks: list[tuple[int, int]] = []
    for _ in range(draw(st.integers(0, 2))):
        a = draw(st.integers(start, end - 1))
        b = draw(st.integers(a + 1, end))
        # The campaign file refuses overlapping breaks; breaks that cover the whole window make
        # a window that never opens (refused by SendingCalendar, tested above).
        covered = b - a + sum(y - x for x, y in breaks)
        if any(a < y and x < b for x, y in breaks) or covered >= end - start:
            continue
        breaks.append((a, b))
    return Window(
        days=draw(st.frozensets(st.integers(0, 6), min_size=1)),
        start=_clock(start),
        end=_clock(end),
        breaks=tuple((_clock(a), _clock(b)) for a, b in sorted(breaks)),
        skip_holidays=draw(st.sampled_from(["VN", None])),
    )


def _some_zone(moment: datetime) -> datetime:
    # The caller's zone is irrelevant; vary it with the moment, from UTC-12 to UTC+14.
    return moment.astimezone(timezone(timedelta(hours=(moment.minute % 27) - 12)))


moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(TZ)
).map(_some_zone)


def oracle_open(window: Window, moment: datetime) -> bool:
    local = moment.astimezone(TZ)
    day, clock = local.date(), local.time().replace(tzinfo=None)
    if window.skip_holidays is None:
        working = day.weekday() in window.days
    elif VN_HOLIDAYS.day_off(day) is not None:
        working = False
    else:
        working = day.weekday() in window.days or (
            window.days == frozenset(range(5)) and day in _MAKE_UP_DAYS
        )
    in_hours = window.start <= clock < window.end
    in_break = any(a <= clock < b for a, b in window.breaks)
    return working and in_hours and not in_break


_MAKE_UP_DAYS = {date(2024, 5, 4), date(2025, 4, 26), date(2026, 8, 22)}


@settings(max_examples=300, deadline=None)
@given(windows(), moments)
def test_is_open_matches_the_oracle(window: Window, moment: datetime) -> None:
    assert calendar(window).is_open(moment) == oracle_open(window, moment)


@settings(max_examples=300, deadline=None)
@given(windows(), moments)
def test_next_open_is_the_first_open_moment(window: Window, moment: datetime) -> None:
    cal = calendar(window)
    found = cal.next_open(moment)
    assert found.tzinfo is UTC
    assert found >= moment
    assert cal.is_open(found)
    assert oracle_open(window, found)
    if cal.is_open(moment):
        assert found == moment
    else:
        # No opening overlaps [moment, found), and just before the found opening is closed.
        first = moment.astimezone(TZ).date()
        for day in days(first, found.astimezone(TZ).date()):
            for start, end in cal.openings(day):
                assert end <= moment or start >= found
        assert not cal.is_open(max(moment, found - timedelta(minutes=1)))


@settings(max_examples=300, deadline=None)
@given(windows(), st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31)))
def test_openings_are_ordered_disjoint_and_inside_the_window(window: Window, day: date) -> None:
    found = calendar(window).openings(day)
    for (_, end), (start, _) in pairwise(found):
        assert end < start
    for start, end in found:
        assert start < end
        assert start.tzinfo is UTC
        local_start, local_end = start.astimezone(TZ), end.astimezone(TZ)
        assert local_start.date() == day == local_end.date()
        assert window.start <= local_start.time() and local_end.time() <= window.end
        for a, b in window.breaks:
            assert local_end.time() <= a or local_start.time() >= b
        assert oracle_open(window, start)
        assert not oracle_open(window, end)


# --- the override file ----------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "ngay-nghi.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[days_off]]
date = 2026-11-24
name = "Ngày Văn hóa Việt Nam"

[[days_off]]
date = "12/03/2025"

[[working_days]]
date = 2025-03-08
name = "Thứ Bảy làm bù"
""",
    )
    found = load_overrides(path)
    assert found.days_off == {
        date(2026, 11, 24): "Ngày Văn hóa Việt Nam",
        date(2025, 3, 12): "Ngày nghỉ (theo tệp ngày nghỉ bổ sung)",
    }
    assert found.working_days == {date(2025, 3, 8): "Thứ Bảy làm bù"}
    assert found.source == "ngay-nghi.toml"


def test_empty_override_file_is_fine(tmp_path: Path) -> None:
    found = load_overrides(write(tmp_path, "# chưa có ngày nào\n"))
    assert found.days_off == {} and found.working_days == {}


def test_override_file_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff[[days_off]]\ndate = 2025-03-12\n".encode())
    assert date(2025, 3, 12) in load_overrides(path).days_off


def refused(tmp_path: Path, text: str) -> InputError:
    with pytest.raises(InputError) as caught:
        load_overrides(write(tmp_path, text))
    error = caught.value
    assert "ngay-nghi.toml" in error.message_vi
    assert "ngay-nghi.toml" in error.message_en
    return error


def test_every_problem_is_reported_with_file_key_and_value(tmp_path: Path) -> None:
    error = refused(
        tmp_path,
        """
holiday = 1

[[days_off]]
date = "30/02/2025"

[[days_off]]
date = 2025-03-12T08:00:00
name = 5

[[days_off]]
name = "không có ngày"

[[days_off]]
date = 2025-03-20
when = "x"

[[days_off]]
date = "20/03/2025"

[[working_days]]
date = 2025-03-20
""",
    )
    by_key = {p.column: p for p in error.problems}
    assert set(by_key) == {
        "holiday",
        "days_off[1].date",
        "days_off[2].date",
        "days_off[2].name",
        "days_off[3].date",
        "days_off[4].when",
        "days_off[5].date",
        "working_days[1].date",
    }
    assert by_key["days_off[1].date"].value == "30/02/2025"
    assert by_key["days_off[2].date"].value == "2025-03-12T08:00:00"
    assert "hai lần" in by_key["days_off[5].date"].message_vi
    assert "twice" in by_key["days_off[5].date"].message_en
    assert "vừa là ngày nghỉ" in by_key["working_days[1].date"].message_vi
    rendered = by_key["days_off[1].date"].render_vi()
    assert "ngay-nghi.toml" in rendered and "days_off[1].date" in rendered
    assert "30/02/2025" in rendered
    assert "key days_off[1].date" in by_key["days_off[1].date"].render_en()


def test_a_table_instead_of_a_list_of_tables(tmp_path: Path) -> None:
    error = refused(tmp_path, '[days_off]\ndate = 2025-03-12\nname = "x"\n')
    assert [p.column for p in error.problems] == ["days_off"]
    assert "[[days_off]]" in error.problems[0].message_vi


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    error = refused(tmp_path, '[[days_off]]\ndate = 2025-03-12\nname = "không đóng\n')
    assert error.problems[0].row == 3
    assert "TOML" in error.problems[0].message_vi


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file") as caught:
        load_overrides(tmp_path / "khong-co.toml")
    assert "Không tìm thấy" in caught.value.problems[0].message_vi
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[[days_off]]\ndate = 2025-03-12\nname = "Ngh\xec"\n'.encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8"):
        load_overrides(latin)


def test_parse_overrides_from_data() -> None:
    found = parse_overrides({"working_days": [{"date": date(2025, 3, 8)}]}, source="trong bộ nhớ")
    assert found.working_days == {date(2025, 3, 8): "Ngày làm việc (theo tệp ngày nghỉ bổ sung)"}
    with pytest.raises(InputError) as caught:
        parse_overrides({"days_off": [{"date": 20250312}]}, source="x.toml")
    assert caught.value.problems[0].value == "20250312"
