"""Tests for storage.campaign_file: reading, defaults, every refusal, and the policy's JSON form."""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.campaign_file import (
    CHANNELS,
    DEFAULT_POLICY,
    CampaignSpec,
    Policy,
    Window,
    load_campaign_file,
    parse_campaign,
    parse_duration,
)
from storage.problems import InputError, Problem

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
VN = timezone(timedelta(hours=7))
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
DROP = object()


def data(
    campaign: dict[str, Any] | None = None,
    policy: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A valid parsed file (MoHA province preset), changed by the arguments; DROP removes a key."""
    base: dict[str, Any] = {
        "campaign": {
            "code": "cchc-2024-tinh",
            "title": "Điều tra XHH xác định Chỉ số CCHC cấp tỉnh năm 2024",
            "survey_url": "https://survey.example.vn/s/{token}",
            "opens_at": datetime(2024, 12, 20, 8, 0, tzinfo=VN),
            "deadline": datetime(2025, 1, 10, 17, 0, tzinfo=VN),
            "groups": "bnv-cap-tinh",
        }
    }
    for key, value in (campaign or {}).items():
        if value is DROP:
            del base["campaign"][key]
        else:
            base["campaign"][key] = value
    if policy is not None:
        base["policy"] = policy
    for key, value in top.items():
        if value is DROP:
            base.pop(key, None)
        else:
            base[key] = value
    return copy.deepcopy(base)


def custom_groups(*groups: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(g) for g in groups]


GROUP_A = {"code": "hdnd_tinh", "name": "Đại biểu HĐND cấp tỉnh", "priority": 1}
GROUP_B = {"code": "lanh_dao_so", "name": "Lãnh đạo cấp sở", "priority": 2}
KIND_SO = {"code": "so", "name": "Sở, ban, ngành", "match": ["Sở", "Ban"]}


def parse(d: dict[str, Any]) -> CampaignSpec:
    return parse_campaign(d, source="dot-khao-sat.toml")


def assert_helpful(problem: Problem) -> None:
    """Vietnamese with its diacritics, polite, and saying what to do."""
    text = problem.message_vi
    assert any(unicodedata.normalize("NFD", ch) != ch or ch in "đĐ" for ch in text), text
    assert "Vui lòng" in text, text
    assert problem.message_en
    assert problem.file == "dot-khao-sat.toml"


def refused(d: dict[str, Any]) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        parse(d)
    problems = caught.value.problems
    assert problems
    for problem in problems:
        assert_helpful(problem)
    return problems


def only(d: dict[str, Any], column: str) -> Problem:
    """The single problem of ``d``, which must be at ``column``."""
    problems = refused(d)
    assert [p.column for p in problems] == [column], [p.render_en() for p in problems]
    return problems[0]


# --- accepted files ---------------------------------------------------------------------------


def test_minimal_file_gets_the_defaults() -> None:
    spec = parse(data())
    assert spec.code == "cchc-2024-tinh"
    assert spec.title == "Điều tra XHH xác định Chỉ số CCHC cấp tỉnh năm 2024"
    assert spec.survey_url == "https://survey.example.vn/s/{token}"
    assert spec.opens_at == datetime(2024, 12, 20, 8, 0, tzinfo=VN)
    assert spec.deadline == datetime(2025, 1, 10, 17, 0, tzinfo=VN)
    assert spec.timezone == "Asia/Ho_Chi_Minh"
    assert spec.preset == "bnv-cap-tinh"
    assert [g.code for g in spec.groups] == [
        "hdnd_tinh",
        "lanh_dao_so",
        "lanh_dao_phong",
        "lanh_dao_huyen",
    ]
    assert [k.code for k in spec.unit_kinds] == ["so", "huyen", "hdnd"]
    assert spec.source_file == "dot-khao-sat.toml"
    assert spec.policy == DEFAULT_POLICY
    assert spec.policy.reminders_before_deadline == (
        timedelta(days=7),
        timedelta(days=3),
        timedelta(days=1),
        timedelta(hours=3),
    )
    assert spec.policy.min_gap == timedelta(hours=20)
    assert spec.policy.max_reminders == 4
    assert spec.policy.window == Window(
        days=frozenset({0, 1, 2, 3, 4}),
        start=time(7, 30),
        end=time(17, 0),
        breaks=(),
        skip_holidays="VN",
    )
    assert spec.policy.escalate_below == 0.6
    assert spec.policy.escalate_at == (timedelta(days=3), timedelta(days=1))
    assert spec.policy.digest_at == time(8, 0)
    assert spec.policy.channels == ("email",)


def test_full_policy() -> None:
    spec = parse(
        data(
            policy={
                "reminders_before_deadline": ["1d", "7d", "3h", "1d12h"],
                "min_gap": "90m",
                "max_reminders": 0,
                "window": {
                    "days": "t2-t7",
                    "start": "7h30",
                    "end": time(16, 30),
                    "breaks": ["11:30-13:30", "07:30 – 08:00"],
                    "skip_holidays": False,
                },
                "escalate_below": 1,
                "escalate_at": ["2d"],
                "digest_at": "7:45",
                "channels": ["Zalo", "email"],
            }
        )
    )
    p = spec.policy
    # Offsets are kept largest first, whatever the file's order.
    assert p.reminders_before_deadline == (
        timedelta(days=7),
        timedelta(days=1, hours=12),
        timedelta(days=1),
        timedelta(hours=3),
    )
    assert p.min_gap == timedelta(minutes=90)
    assert p.max_reminders == 0
    assert p.window == Window(
        days=frozenset(range(6)),
        start=time(7, 30),
        end=time(16, 30),
        breaks=((time(7, 30), time(8, 0)), (time(11, 30), time(13, 30))),
        skip_holidays=None,
    )
    assert p.escalate_below == 1.0
    assert isinstance(p.escalate_below, float)
    assert p.escalate_at == (timedelta(days=2),)
    assert p.digest_at == time(7, 45)
    assert p.channels == ("zalo", "email")


def test_every_example_file_loads() -> None:
    names = sorted(p.name for p in EXAMPLES.glob("*.toml"))
    assert names == ["cchc-2024-sonla.toml", "cchc-2024-tinh.toml", "custom-groups.toml"]
    for path in EXAMPLES.glob("*.toml"):
        spec = load_campaign_file(path)
        assert spec.source_file == str(path)


def test_example_sonla() -> None:
    spec = load_campaign_file(EXAMPLES / "cchc-2024-sonla.toml")
    assert spec.preset == "sonla-2024"
    assert len(spec.groups) == 8
    # Bare dates: the working day's start and end, in Vietnam's time.
    assert spec.opens_at == datetime(2024, 11, 4, 8, 0, tzinfo=HCM)
    assert spec.deadline == datetime(2024, 11, 29, 17, 0, tzinfo=HCM)
    assert spec.policy.window.breaks == ((time(11, 30), time(13, 30)),)
    assert spec.policy.channels == ("email", "zalo")


def test_example_moha_province() -> None:
    spec = load_campaign_file(EXAMPLES / "cchc-2024-tinh.toml")
    assert spec.preset == "bnv-cap-tinh"
    assert spec.deadline == datetime(2025, 1, 10, 17, 0, tzinfo=VN)
    assert spec.deadline.utcoffset() == timedelta(hours=7)
    assert spec.policy.max_reminders == 5
    assert timedelta(days=5) in spec.policy.reminders_before_deadline


def test_example_custom_groups_of_2025() -> None:
    spec = load_campaign_file(EXAMPLES / "custom-groups.toml")
    assert spec.preset is None
    assert [g.code for g in spec.groups] == [
        "hdnd_tinh",
        "lanh_dao_so",
        "lanh_dao_phong",
        "lanh_dao_xa",
        "cong_chuc_xa",
    ]
    # No district level any more: communes carry the local groups.
    assert [k.code for k in spec.unit_kinds] == ["so", "xa", "hdnd"]
    assert dict(spec.groups[4].quotas) == {"xa": 2}
    assert spec.unit_kind_for("UBND phường Ba Đình") == "xa"
    assert spec.unit_kind_for("Đặc khu Phú Quốc") == "xa"
    assert spec.survey_url == "https://survey.example.vn/cchc-2025/tinh/{token}"
    assert spec.groups[0].survey_url is None
    assert spec.groups[3].survey_url == "https://survey.example.vn/cchc-2025/xa/{token}"
    assert spec.deadline == datetime(2026, 1, 9, 17, 0, tzinfo=HCM)


# --- dates and time zones ---------------------------------------------------------------------


def test_local_datetimes_are_taken_in_the_campaign_time_zone() -> None:
    spec = parse(
        data(
            {
                "opens_at": datetime(2024, 12, 20, 8, 0),
                "deadline": datetime(2025, 1, 10, 17, 0),
                "timezone": "Asia/Bangkok",
            }
        )
    )
    bangkok = ZoneInfo("Asia/Bangkok")
    assert spec.timezone == "Asia/Bangkok"
    assert spec.opens_at == datetime(2024, 12, 20, 8, 0, tzinfo=bangkok)
    assert spec.deadline.tzinfo == bangkok


def test_dates_mean_start_and_end_of_the_working_day() -> None:
    spec = parse(data({"opens_at": date(2024, 12, 20), "deadline": date(2025, 1, 10)}))
    assert spec.opens_at == datetime(2024, 12, 20, 8, 0, tzinfo=HCM)
    assert spec.deadline == datetime(2025, 1, 10, 17, 0, tzinfo=HCM)


def test_offset_datetimes_are_kept_as_written() -> None:
    deadline = datetime(2025, 1, 10, 10, 0, tzinfo=UTC)
    spec = parse(data({"deadline": deadline}))
    assert spec.deadline == deadline
    assert spec.deadline.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/01/2025", datetime(2025, 1, 10, 17, 0, tzinfo=HCM)),
        ("10/1/2025 16:30", datetime(2025, 1, 10, 16, 30, tzinfo=HCM)),
        ("10/01/2025 16h", datetime(2025, 1, 10, 16, 0, tzinfo=HCM)),
        ("2025-01-10", datetime(2025, 1, 10, 17, 0, tzinfo=HCM)),
        ("2025-01-10T12:00:00+07:00", datetime(2025, 1, 10, 12, 0, tzinfo=VN)),
    ],
)
def test_dates_written_as_text(text: str, expected: datetime) -> None:
    assert parse(data({"deadline": text})).deadline == expected


@pytest.mark.parametrize("value", ["31/02/2025", "mai", "2025-13-01", 20250110, True])
def test_bad_dates(value: object) -> None:
    problem = only(data({"deadline": value}), "campaign.deadline")
    assert "2025-01-10T17:00:00+07:00" in problem.message_vi


def test_deadline_must_follow_opening() -> None:
    problem = only(data({"deadline": datetime(2024, 12, 20, 8, 0, tzinfo=VN)}), "campaign.deadline")
    assert "opens_at" in problem.message_vi
    assert problem.value == "2024-12-20T08:00:00+07:00"


@pytest.mark.parametrize("zone", ["Asia/Hanoi", "GMT+7", "", 7])
def test_invalid_time_zone(zone: object) -> None:
    problem = only(data({"timezone": zone}), "campaign.timezone")
    assert "Asia/Ho_Chi_Minh" in problem.message_vi


# --- the [campaign] table -----------------------------------------------------------------------


def test_every_missing_key_is_reported_at_once() -> None:
    problems = refused({"campaign": {}})
    assert [p.column for p in problems] == [
        "campaign.code",
        "campaign.title",
        "campaign.opens_at",
        "campaign.deadline",
        "campaign.groups",
        "campaign.survey_url",
    ]
    assert all("Thiếu mục bắt buộc" in p.message_vi for p in problems[:4])


def test_missing_campaign_table() -> None:
    problems = refused({})
    assert problems[0].column == "campaign"
    assert "[campaign]" in problems[0].message_vi


@pytest.mark.parametrize(
    "code", ["ab", "CCHC-2024", "cchc 2024", "cchc_2024", "-cchc", "cchc-", "x" * 65, 2024]
)
def test_bad_campaign_codes(code: object) -> None:
    problem = only(data({"code": code}), "campaign.code")
    assert "cchc-2024-sonla" in problem.message_vi


@pytest.mark.parametrize("code", ["abc", "cchc-2024-sonla", "a" * 64, "2024-tinh"])
def test_good_campaign_codes(code: str) -> None:
    assert parse(data({"code": code})).code == code


@pytest.mark.parametrize("title", ["", "   ", "x" * 301, 12])
def test_bad_titles(title: object) -> None:
    only(data({"title": title}), "campaign.title")


@pytest.mark.parametrize(
    "url",
    [
        "https://survey.example.vn/s/",
        "https://survey.example.vn/s/{token}/{token}",
        "https://survey.example.vn/s/{TOKEN}",
        "ftp://survey.example.vn/{token}",
        "survey.example.vn/s/{token}",
        "https:///s/{token}",
        "https://survey.example.vn/s/{token}?g={group}",
        "https://survey.example.vn/s/ {token}",
        "https://survey.example.vn/" + "x" * 1000 + "{token}",
    ],
)
def test_bad_survey_urls(url: str) -> None:
    problem = only(data({"survey_url": url}), "campaign.survey_url")
    assert problem.value == (url[:199] + "…" if len(url) > 200 else url)
    assert "{token}" in problem.message_vi


def test_survey_url_token_message() -> None:
    problem = only(data({"survey_url": "https://survey.example.vn/s/"}), "campaign.survey_url")
    assert "{token}" in problem.message_vi
    assert "{token}" in problem.message_en


def test_survey_url_per_group() -> None:
    spec = parse(
        data(
            {
                "survey_url": {
                    "default": "https://s.example.vn/tinh/{token}",
                    "lanh_dao_huyen": "http://s.example.vn/huyen?t={token}",
                }
            }
        )
    )
    assert spec.survey_url == "https://s.example.vn/tinh/{token}"
    urls = {g.code: g.survey_url for g in spec.groups}
    assert urls == {
        "hdnd_tinh": None,
        "lanh_dao_so": None,
        "lanh_dao_phong": None,
        "lanh_dao_huyen": "http://s.example.vn/huyen?t={token}",
    }


def test_survey_url_for_every_group_without_default() -> None:
    codes = ["hdnd_tinh", "lanh_dao_so", "lanh_dao_phong", "lanh_dao_huyen"]
    table = {code: f"https://s.example.vn/{code}/{{token}}" for code in codes}
    spec = parse(data({"survey_url": table}))
    assert [g.survey_url for g in spec.groups] == [table[c] for c in codes]
    # The campaign-wide link stays usable: the first group's.
    assert spec.survey_url == table["hdnd_tinh"]


def test_survey_url_naming_an_unknown_group() -> None:
    problem = only(
        data(
            {
                "survey_url": {
                    "default": "https://s.example.vn/{token}",
                    "lanh_dao_sox": "https://s.example.vn/so/{token}",
                }
            }
        ),
        "campaign.survey_url.lanh_dao_sox",
    )
    assert "unknown group" in problem.message_en
    assert "lanh_dao_so" in problem.message_vi
    assert problem.value == "lanh_dao_sox"


def test_survey_url_table_must_cover_every_group() -> None:
    problem = only(
        data({"survey_url": {"hdnd_tinh": "https://s.example.vn/{token}"}}),
        "campaign.survey_url",
    )
    assert "lanh_dao_so, lanh_dao_phong, lanh_dao_huyen" in problem.message_vi
    assert "default" in problem.message_vi


def test_survey_url_table_checks_each_link() -> None:
    only(
        data(
            {
                "survey_url": {
                    "default": "https://s.example.vn/",
                    "hdnd_tinh": "https://s.example.vn/{token}",
                }
            }
        ),
        "campaign.survey_url.default",
    )


# --- groups -------------------------------------------------------------------------------------


def test_unknown_preset_lists_the_available_ones() -> None:
    problem = only(data({"groups": "bnv-tinh"}), "campaign.groups")
    for name in ("bnv-cap-bo", "bnv-cap-tinh", "sonla-2024"):
        assert name in problem.message_vi
        assert name in problem.message_en
    assert problem.value == "bnv-tinh"


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("BNV-CAP-TINH", "bnv-cap-tinh"),
        ("moha-ministry", "bnv-cap-bo"),
        ("Sonla-2024", "sonla-2024"),
    ],
)
def test_preset_names_are_tolerant(asked: str, expected: str) -> None:
    assert parse(data({"groups": asked})).preset == expected


def test_preset_and_groups_together() -> None:
    problem = only(data(groups=custom_groups(GROUP_A, GROUP_B)), "campaign.groups")
    assert "[[groups]]" in problem.message_vi


def test_no_groups_at_all() -> None:
    problem = only(data({"groups": DROP}), "campaign.groups")
    assert "bnv-cap-tinh" in problem.message_vi


def test_empty_groups_list() -> None:
    only(data({"groups": DROP}, groups=[]), "groups")


def test_groups_must_be_an_array_of_tables() -> None:
    only(data({"groups": DROP}, groups={"code": "a"}), "groups")


def test_own_groups_are_sorted_by_priority() -> None:
    spec = parse(
        data(
            {"groups": DROP},
            groups=custom_groups(
                {**GROUP_B, "quota": {"so": 3}, "aliases": ["Lãnh đạo sở"]},
                GROUP_A,
            ),
            unit_kinds=[KIND_SO],
        )
    )
    assert spec.preset is None
    assert [(g.code, g.priority) for g in spec.groups] == [("hdnd_tinh", 1), ("lanh_dao_so", 2)]
    assert dict(spec.groups[1].quotas) == {"so": 3}
    assert spec.groups[1].aliases == ("Lãnh đạo sở",)
    # Numbers in the roster follow the campaign's order, not the file's.
    assert spec.group_by_cell("Nhóm 1") is spec.groups[0]


def test_duplicate_group_codes() -> None:
    problem = only(
        data({"groups": DROP}, groups=custom_groups(GROUP_A, {**GROUP_B, "code": "hdnd_tinh"})),
        "groups[2].code",
    )
    assert problem.value == "hdnd_tinh"


def test_duplicate_group_priorities() -> None:
    problem = only(
        data({"groups": DROP}, groups=custom_groups(GROUP_A, {**GROUP_B, "priority": 1})),
        "groups[2].priority",
    )
    assert "Đại biểu HĐND cấp tỉnh" in problem.message_vi
    assert problem.value == "1"


@pytest.mark.parametrize("priority", [0, -1, "1", 1.5, True])
def test_bad_priorities(priority: object) -> None:
    only(
        data({"groups": DROP}, groups=custom_groups(GROUP_A, {**GROUP_B, "priority": priority})),
        "groups[2].priority",
    )


@pytest.mark.parametrize("code", ["Lanh_dao", "1so", "lanh-dao", "", "x" * 65])
def test_bad_group_codes(code: str) -> None:
    only(
        data({"groups": DROP}, groups=custom_groups(GROUP_A, {**GROUP_B, "code": code})),
        "groups[2].code",
    )


def test_clashes_are_found_beside_other_problems() -> None:
    problems = refused(
        data(
            {"groups": DROP},
            groups=custom_groups(
                {**GROUP_A, "quota": {"so": 0}},
                {**GROUP_B, "code": "hdnd_tinh", "priority": 1},
                {**GROUP_B, "priority": 3, "aliases": ["2"]},
            ),
            unit_kinds=[KIND_SO],
        )
    )
    assert [(p.column, p.value) for p in problems] == [
        ("groups[1].quota.so", "0"),
        ("groups[2].code", "hdnd_tinh"),
        ("groups[2].priority", "1"),
    ]


def test_alias_that_is_another_groups_number() -> None:
    problem = only(
        data(
            {"groups": DROP},
            groups=custom_groups({**GROUP_A, "aliases": ["2"]}, GROUP_B),
        ),
        "groups[1].aliases",
    )
    assert problem.value == "2"


def test_group_keys_are_required() -> None:
    problems = refused(data({"groups": DROP}, groups=[{"aliases": []}]))
    assert [p.column for p in problems] == [
        "groups[1].code",
        "groups[1].name",
        "groups[1].priority",
    ]


def test_quota_naming_an_unknown_unit_kind() -> None:
    problem = only(
        data(
            {"groups": DROP},
            groups=custom_groups({**GROUP_A, "quota": {"sox": 3}}),
            unit_kinds=[KIND_SO],
        ),
        "groups[1].quota.sox",
    )
    assert "«so»" in problem.message_vi
    assert "[[unit_kinds]]" in problem.message_vi


@pytest.mark.parametrize("count", [0, -3, "3", 2.5, True])
def test_quota_must_be_a_positive_integer(count: object) -> None:
    problem = only(
        data(
            {"groups": DROP},
            groups=custom_groups({**GROUP_A, "quota": {"so": count}}),
            unit_kinds=[KIND_SO],
        ),
        "groups[1].quota.so",
    )
    assert problem.value is not None


def test_quota_must_be_a_table() -> None:
    only(
        data({"groups": DROP}, groups=custom_groups({**GROUP_A, "quota": 3})),
        "groups[1].quota",
    )


@pytest.mark.parametrize("aliases", ["Lãnh đạo", [""], [3]])
def test_bad_aliases(aliases: object) -> None:
    only(
        data({"groups": DROP}, groups=custom_groups({**GROUP_A, "aliases": aliases})),
        "groups[1].aliases",
    )


def test_alias_naming_two_groups() -> None:
    problem = only(
        data(
            {"groups": DROP},
            groups=custom_groups(
                {**GROUP_A, "aliases": ["Lãnh đạo"]}, {**GROUP_B, "aliases": ["LÃNH ĐẠO"]}
            ),
        ),
        "groups[2].aliases",
    )
    assert problem.value == "LÃNH ĐẠO"
    assert "«Lãnh đạo cấp sở»" in problem.message_vi
    assert "«Đại biểu HĐND cấp tỉnh»" in problem.message_vi


def test_unit_kinds_add_to_and_replace_the_presets() -> None:
    spec = parse(
        data(
            unit_kinds=[
                {"code": "so", "name": "Sở, ban, ngành", "match": ["Sở", "Ban", "Văn phòng"]},
                {"code": "khac", "name": "Đơn vị khác", "match": ["Công an tỉnh"]},
            ]
        )
    )
    assert [k.code for k in spec.unit_kinds] == ["huyen", "hdnd", "so", "khac"]
    assert spec.unit_kind_for("Công an tỉnh Sơn La") == "khac"
    assert spec.unit_kind_for("Thanh tra tỉnh") is None


def test_unit_kind_problems() -> None:
    problems = refused(
        data(
            unit_kinds=[
                {"code": "xa", "name": "Xã", "match": ["Xã", "UBND huyện"]},
                {"code": "Phuong", "name": "Phường", "match": []},
                {"code": "xa", "name": "Xã khác", "match": ["Thị trấn"]},
                {"name": "", "mach": ["Đặc khu"]},
            ]
        )
    )
    assert [p.column for p in problems] == [
        "unit_kinds[2].code",
        "unit_kinds[2].match",
        "unit_kinds[3].code",
        "unit_kinds[4].mach",
        "unit_kinds[4].code",
        "unit_kinds[4].name",
        "unit_kinds[4].match",
        "unit_kinds[1].match",
    ]
    assert problems[3].message_en == "unknown key 'mach'; did you mean 'match'?"
    assert problems[-1].value == "UBND huyện"
    assert "«huyen»" in problems[-1].message_vi


# --- policy -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "column"),
    [
        ("min_gap", "20 hours", "policy.min_gap"),
        ("min_gap", "0h", "policy.min_gap"),
        ("min_gap", 20, "policy.min_gap"),
        ("min_gap", "-20h", "policy.min_gap"),
        ("reminders_before_deadline", ["7d", "3x"], "policy.reminders_before_deadline[2]"),
        ("reminders_before_deadline", ["7d", "0m"], "policy.reminders_before_deadline[2]"),
        ("reminders_before_deadline", ["1d", "24h"], "policy.reminders_before_deadline[2]"),
        ("reminders_before_deadline", "7d", "policy.reminders_before_deadline"),
        ("escalate_at", ["3d", "1.5d"], "policy.escalate_at[2]"),
        ("max_reminders", -1, "policy.max_reminders"),
        ("max_reminders", "4", "policy.max_reminders"),
        ("max_reminders", 2.5, "policy.max_reminders"),
        ("max_reminders", True, "policy.max_reminders"),
        ("escalate_below", 1.5, "policy.escalate_below"),
        ("escalate_below", -0.1, "policy.escalate_below"),
        ("escalate_below", "60%", "policy.escalate_below"),
        ("escalate_below", False, "policy.escalate_below"),
        ("digest_at", "25:00", "policy.digest_at"),
        ("digest_at", "8 giờ sáng", "policy.digest_at"),
        ("digest_at", time(8, 0, 30), "policy.digest_at"),
        ("channels", ["email", "viber"], "policy.channels[2]"),
        ("channels", ["email", "Email"], "policy.channels[2]"),
        ("channels", [], "policy.channels"),
        ("channels", "email", "policy.channels"),
        ("window", "mon-fri", "policy.window"),
    ],
)
def test_bad_policy_values(key: str, value: object, column: str) -> None:
    only(data(policy={key: value}), column)


def test_malformed_duration_says_how_to_write_one() -> None:
    problem = only(data(policy={"min_gap": "20 hours"}), "policy.min_gap")
    assert "«1d12h»" in problem.message_vi
    assert problem.value == "20 hours"


def test_reminder_longer_than_the_campaign() -> None:
    # The campaign lasts 21 days and 9 hours.
    problem = only(
        data(policy={"reminders_before_deadline": ["30d", "7d"]}),
        "policy.reminders_before_deadline[1]",
    )
    assert "21 ngày 9 giờ" in problem.message_vi
    assert "longer than the campaign" in problem.message_en
    only(data(policy={"escalate_at": ["4w"]}), "policy.escalate_at[1]")


def test_unknown_channel_suggests_the_closest() -> None:
    problem = only(data(policy={"channels": ["emial"]}), "policy.channels[1]")
    assert "«email»" in problem.message_vi
    assert "email, telegram, zalo" in problem.message_vi


@pytest.mark.parametrize("value", [0, 0.0, 1, 0.35])
def test_escalate_below_accepts_the_closed_interval(value: float) -> None:
    assert parse(data(policy={"escalate_below": value})).policy.escalate_below == value


@pytest.mark.parametrize(
    ("window", "column"),
    [
        ({"days": "mon-fry"}, "policy.window.days"),
        ({"days": "t2-t8"}, "policy.window.days"),
        ({"days": "mon-wed-fri"}, "policy.window.days"),
        ({"days": ""}, "policy.window.days"),
        ({"days": 5}, "policy.window.days"),
        ({"start": "7.30"}, "policy.window.start"),
        ({"start": "17:00", "end": "07:30"}, "policy.window.end"),
        ({"start": "08:00", "end": "08:00"}, "policy.window.end"),
        ({"breaks": ["11:30-18:00"]}, "policy.window.breaks[1]"),
        ({"breaks": ["06:00-08:00"]}, "policy.window.breaks[1]"),
        ({"breaks": ["13:30-11:30"]}, "policy.window.breaks[1]"),
        ({"breaks": ["trưa"]}, "policy.window.breaks[1]"),
        ({"breaks": ["11:30-13:30", "13:00-14:00"]}, "policy.window.breaks[2]"),
        ({"breaks": "11:30-13:30"}, "policy.window.breaks"),
        ({"skip_holidays": "US"}, "policy.window.skip_holidays"),
        ({"stat": "08:00"}, "policy.window.stat"),
    ],
)
def test_bad_windows(window: dict[str, Any], column: str) -> None:
    only(data(policy={"window": window}), column)


def test_window_end_before_start_names_both() -> None:
    problem = only(data(policy={"window": {"start": "17:00", "end": "07:30"}}), "policy.window.end")
    assert "07:30" in problem.message_vi
    assert "17:00" in problem.message_vi


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("mon,wed,fri", {0, 2, 4}),
        ("Mon-Wed, Sat", {0, 1, 2, 5}),
        ("monday-friday", {0, 1, 2, 3, 4}),
        ("sat-mon", {5, 6, 0}),
        ("t2-t6", {0, 1, 2, 3, 4}),
        ("T2,T3,T4,T5,T6,T7,CN", {0, 1, 2, 3, 4, 5, 6}),
        ("t2, t4, t6", {0, 2, 4}),
        ("t7-cn", {5, 6}),
        ("cn", {6}),
        ("Thứ Hai - Thứ Sáu", {0, 1, 2, 3, 4}),
        ("thứ 2 đến thứ 6", {0, 1, 2, 3, 4}),
        ("Thứ Tư; Chủ nhật", {2, 6}),
        ("thu", {3}),
        ("t2–t5", {0, 1, 2, 3}),
        (["mon", "t3-t4"], {0, 1, 2}),
    ],
)
def test_days(days: object, expected: set[int]) -> None:
    assert parse(data(policy={"window": {"days": days}})).policy.window.days == expected


def test_vietnamese_day_names_nfd() -> None:
    days = unicodedata.normalize("NFD", "Thứ Hai - Thứ Năm")
    assert parse(data(policy={"window": {"days": days}})).policy.window.days == {0, 1, 2, 3}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("07:30", time(7, 30)), ("7:30", time(7, 30)), ("7h30", time(7, 30)), ("6h", time(6, 0))],
)
def test_times(text: str, expected: time) -> None:
    assert parse(data(policy={"window": {"start": text}})).policy.window.start == expected


# --- unknown keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "column", "guess"),
    [
        (data({"deadine": "2025-01-10"}), "campaign.deadine", "deadline"),
        (data(polcy={}), "polcy", "policy"),
        (data(policy={"min_gaps": "20h"}), "policy.min_gaps", "min_gap"),
        (data(policy={"window": {"skip_holiday": "VN"}}), "policy.window.skip_holiday", None),
        (
            data({"groups": DROP}, groups=custom_groups({**GROUP_A, "prority": 2})),
            "groups[1].prority",
            "priority",
        ),
    ],
)
def test_unknown_keys_suggest_the_closest(
    d: dict[str, Any], column: str, guess: str | None
) -> None:
    problem = only(d, column)
    key = column.rsplit(".", 1)[-1]
    if guess is None:
        guess = "skip_holidays"
    assert f"«{key}»" in problem.message_vi
    assert f"«{guess}»" in problem.message_vi
    assert f"did you mean {guess!r}" in problem.message_en


def test_unknown_key_without_a_close_one_lists_the_known_keys() -> None:
    problem = only(data({"zzz": 1}), "campaign.zzz")
    assert "code, title, survey_url" in problem.message_vi


# --- several problems, files, syntax ------------------------------------------------------------


def test_several_problems_in_one_error() -> None:
    d = data(
        {"code": "X", "deadine": "2025-01-10", "survey_url": "https://s.example.vn/"},
        policy={"min_gap": "20 giờ rưỡi", "channels": ["email", "sms"], "window": {"end": "5"}},
    )
    with pytest.raises(InputError) as caught:
        parse(d)
    error = caught.value
    assert [p.column for p in error.problems] == [
        "campaign.deadine",
        "campaign.code",
        "campaign.survey_url",
        "policy.min_gap",
        "policy.window.end",
        "policy.channels[2]",
    ]
    assert "6 lỗi" in error.message_vi
    assert "Vui lòng" in error.message_vi
    assert "6 problems" in error.message_en


def write(tmp_path: Path, text: str, name: str = "dot.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


VALID_TOML = """\
[campaign]
code = "cchc-2024-tinh"
title = "Điều tra XHH xác định Chỉ số CCHC năm 2024"
survey_url = "https://survey.example.vn/s/{token}"
opens_at = 2024-12-20T08:00:00+07:00
deadline = 2025-01-10
groups = "bnv-cap-tinh"
"""


def test_load_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID_TOML)
    spec = load_campaign_file(path)
    assert spec.deadline == datetime(2025, 1, 10, 17, 0, tzinfo=HCM)
    assert spec.source_file == str(path)


def test_load_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + VALID_TOML.encode())
    assert load_campaign_file(path).code == "cchc-2024-tinh"


def file_problems(path: Path) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        load_campaign_file(path)
    for problem in caught.value.problems:
        assert problem.file == path.name
        assert "Vui lòng" in problem.message_vi
    return caught.value.problems


def test_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, VALID_TOML.replace('title = "Điều tra', "title = Điều tra"))
    (problem,) = file_problems(path)
    assert (problem.row, problem.column) == (3, "9")
    assert "cú pháp TOML" in problem.message_vi
    assert "dấu ngoặc kép" in problem.message_vi
    assert "line 3" in problem.message_en
    assert problem.render_vi().startswith("Tệp dot.toml, dòng 3, cột 9: ")


def test_syntax_error_at_end_of_file(tmp_path: Path) -> None:
    (problem,) = file_problems(write(tmp_path, VALID_TOML + 'digest = "08:00\n'))
    assert problem.row == 8
    (problem,) = file_problems(write(tmp_path, VALID_TOML + 'digest = "08:00'))
    assert problem.row is None
    assert "cuối tệp" in problem.message_vi


def test_problems_of_a_file_are_named_by_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID_TOML.replace("deadline", "deadine"))
    columns = [p.column for p in file_problems(path)]
    assert columns == ["campaign.deadine", "campaign.deadline"]


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "dot.toml"
    # "Điều" typed in a legacy 8-bit font.
    path.write_bytes(b"# \xd0i\xd2u tra\n" + VALID_TOML.encode())
    (problem,) = file_problems(path)
    assert "UTF-8" in problem.message_vi


def test_missing_file(tmp_path: Path) -> None:
    (problem,) = file_problems(tmp_path / "dot.toml")
    assert "Không tìm thấy tệp" in problem.message_vi


# --- roster matching --------------------------------------------------------------------------


@pytest.fixture
def province() -> CampaignSpec:
    return parse(data())


@pytest.mark.parametrize(
    "cell",
    [
        "Đại biểu HĐND cấp tỉnh",
        "dai bieu hdnd cap tinh",
        "  ĐẠI BIỂU  HĐND   CẤP TỈNH ",
        unicodedata.normalize("NFD", "Đại biểu HĐND cấp tỉnh"),
        "Đại biểu Hội đồng nhân dân cấp tỉnh",
        "ĐB HĐND",
        "hdnd_tinh",
        "1",
        "01",
        "Nhóm 1",
        "nhom 01",
    ],
)
def test_group_by_cell(province: CampaignSpec, cell: str) -> None:
    group = province.group_by_cell(cell)
    assert group is not None
    assert group.code == "hdnd_tinh"


def test_group_by_cell_other_groups(province: CampaignSpec) -> None:
    assert province.group_by_cell("Nhóm 2") is province.groups[1]
    assert province.group_by_cell("4") is province.groups[3]
    assert province.group_by_cell("Lãnh đạo phòng") is province.groups[2]
    assert province.group_by_cell("5") is None
    assert province.group_by_cell("Nhóm") is None
    assert province.group_by_cell("") is None


def test_unit_kind_for(province: CampaignSpec) -> None:
    assert province.unit_kind_for("Sở Nội vụ") == "so"
    assert province.unit_kind_for("Văn phòng Đoàn ĐBQH và HĐND tỉnh") == "hdnd"
    assert province.unit_kind_for(unicodedata.normalize("NFD", "UBND huyện Yên Thành")) == "huyen"
    assert province.unit_kind_for("Sơn La") is None


# --- durations and the policy's JSON form -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("3h", timedelta(hours=3)),
        ("20h", timedelta(hours=20)),
        ("90m", timedelta(minutes=90)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2w", timedelta(weeks=2)),
        ("1w2d3h4m", timedelta(weeks=1, days=2, hours=3, minutes=4)),
        (" 1D 12H ", timedelta(days=1, hours=12)),
        ("0h", timedelta(0)),
        ("7 ngày", timedelta(days=7)),
        ("3 giờ 30 phút", timedelta(hours=3, minutes=30)),
        ("2 tuần", timedelta(weeks=2)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("-3d", "negative"),
        ("3", "unit"),
        ("d", "unit"),
        ("1.5d", "unit"),
        ("7 days", "unit"),
        ("3x", "unit"),
        ("12h1d", "largest to the smallest"),
        ("1d1d", "largest to the smallest"),
        ("9" * 30 + "w", "too long"),
    ],
)
def test_parse_duration_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_duration(text)


@given(st.integers(0, 100_000), st.integers(0, 23))
def test_parse_duration_of_days_and_hours(days: int, hours: int) -> None:
    assert parse_duration(f"{days}d{hours}h") == timedelta(days=days, hours=hours)


durations = st.integers(1, 400 * 86_400).map(lambda s: timedelta(seconds=s))
clock_times = st.builds(time, st.integers(0, 23), st.integers(0, 59))
windows = st.builds(
    Window,
    days=st.frozensets(st.integers(0, 6)),
    start=clock_times,
    end=clock_times,
    breaks=st.lists(st.tuples(clock_times, clock_times), max_size=3).map(tuple),
    skip_holidays=st.sampled_from(["VN", None]),
)
policies = st.builds(
    Policy,
    reminders_before_deadline=st.lists(durations, max_size=6).map(tuple),
    min_gap=durations,
    max_reminders=st.integers(0, 50),
    window=windows,
    escalate_below=st.floats(0, 1),
    escalate_at=st.lists(durations, max_size=4).map(tuple),
    digest_at=clock_times,
    channels=st.permutations(CHANNELS).flatmap(
        lambda c: st.integers(1, len(c)).map(lambda n: tuple(c[:n]))
    ),
)


@given(policies)
def test_policy_json_round_trip(policy: Policy) -> None:
    stored = json.loads(json.dumps(policy.to_json()))
    assert stored == policy.to_json()
    assert Policy.from_json(stored) == policy


def test_policy_json_form() -> None:
    spec = parse(data(policy={"window": {"breaks": ["11:30-13:30"]}}))
    assert spec.policy.to_json() == {
        "reminders_before_deadline": [604_800, 259_200, 86_400, 10_800],
        "min_gap": 72_000,
        "max_reminders": 4,
        "window": {
            "days": [0, 1, 2, 3, 4],
            "start": "07:30",
            "end": "17:00",
            "breaks": [["11:30", "13:30"]],
            "skip_holidays": "VN",
        },
        "escalate_below": 0.6,
        "escalate_at": [259_200, 86_400],
        "digest_at": "08:00",
        "channels": ["email"],
    }


@pytest.mark.parametrize(
    "change",
    [
        {"min_gap": "20h"},
        {"min_gap": 1.5},
        {"max_reminders": True},
        {"digest_at": "8:00"},
        {"channels": ["sms"]},
        {"escalate_below": "0.6"},
        {"reminders_before_deadline": 3},
    ],
)
def test_policy_from_json_refuses_what_to_json_never_writes(change: dict[str, Any]) -> None:
    stored = {**DEFAULT_POLICY.to_json(), **change}
    with pytest.raises(ValueError, match="stored"):
        Policy.from_json(stored)


@pytest.mark.parametrize(
    "window",
    [{"days": [7]}, {"skip_holidays": "US"}, {"breaks": [["11:30"]]}],
)
def test_policy_from_json_refuses_bad_windows(window: dict[str, Any]) -> None:
    stored = DEFAULT_POLICY.to_json()
    stored["window"].update(window)
    with pytest.raises(ValueError, match="stored"):
        Policy.from_json(stored)


def test_policy_from_json_missing_key() -> None:
    stored = DEFAULT_POLICY.to_json()
    del stored["digest_at"]
    with pytest.raises(ValueError, match="malformed"):
        Policy.from_json(stored)


def test_policy_to_json_refuses_what_it_cannot_store_exactly() -> None:
    with pytest.raises(ValueError, match="whole"):
        Policy(**{**_fields(DEFAULT_POLICY), "min_gap": timedelta(seconds=1.5)}).to_json()
    with pytest.raises(ValueError, match="HH:MM"):
        Policy(**{**_fields(DEFAULT_POLICY), "digest_at": time(8, 0, 1)}).to_json()


def _fields(policy: Policy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in Policy.__dataclass_fields__}


def test_templates_folder_is_relative_to_the_campaign_file(tmp_path: Path) -> None:
    (tmp_path / "mau-thu").mkdir()
    spec = load_campaign_file(write(tmp_path, VALID_TOML + 'templates = "mau-thu"\n'))
    assert spec.templates_dir == (tmp_path / "mau-thu").resolve()
    assert load_campaign_file(write(tmp_path, VALID_TOML)).templates_dir is None


def test_a_missing_templates_folder_is_a_problem(tmp_path: Path) -> None:
    (problem,) = file_problems(write(tmp_path, VALID_TOML + 'templates = "khong-co"\n'))
    assert (problem.column, problem.value) == ("campaign.templates", "khong-co")


COMPLETION = """
[[completion_email]]
sender = "@khaosat.gov.vn"
subject = "hoàn thành"
pattern = "Mã phiếu: (?P<token>[A-Za-z0-9_-]{16,})"
"""


def test_completion_email_rules(tmp_path: Path) -> None:
    spec = load_campaign_file(write(tmp_path, VALID_TOML + COMPLETION))
    assert spec.completion_rules == (
        {
            "name": "completion-1",
            "sender": "@khaosat.gov.vn",
            "subject": "hoàn thành",
            "pattern": "Mã phiếu: (?P<token>[A-Za-z0-9_-]{16,})",
        },
    )


def test_bad_completion_email_rules_are_located(tmp_path: Path) -> None:
    bad = (
        VALID_TOML
        + '[[completion_email]]\nsender = "khaosat"\npattern = "Mã phiếu: ([A-Z]+"\n'
        + '[[completion_email]]\nsender = "@k.vn"\npattern = "Mã phiếu: (\\\\w+)"\nextra = 1\n'
    )
    found = {(p.column, p.value) for p in file_problems(write(tmp_path, bad))}
    assert found == {
        ("completion_email[1].sender", "khaosat"),
        ("completion_email[1].pattern", "Mã phiếu: ([A-Z]+"),
        ("completion_email[2].pattern", "Mã phiếu: (\\w+)"),
        ("completion_email[2].extra", None),
    }
