"""Tests for storage.presets: the documents' groups, quotas, unit kinds, and preset lookup."""

from __future__ import annotations

import re
import unicodedata

import pytest

from storage.presets import (
    PRESET_ALIASES,
    PRESETS,
    GroupSpec,
    Preset,
    UnitKindSpec,
    find_preset,
    infer_unit_kind,
)
from storage.text import fold


def table(preset: Preset) -> list[tuple[str, str, int, dict[str, int]]]:
    return [(g.code, g.name, g.priority, dict(g.quotas)) for g in preset.groups]


def test_preset_names() -> None:
    assert set(PRESETS) == {"bnv-cap-tinh", "bnv-cap-bo", "sonla-2024"}
    assert dict(PRESET_ALIASES) == {"moha-province": "bnv-cap-tinh", "moha-ministry": "bnv-cap-bo"}
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert preset.title_vi
        assert preset.source


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("bnv-cap-tinh", "bnv-cap-tinh"),
        ("BNV-CAP-TINH", "bnv-cap-tinh"),
        ("  bnv_cap_tinh ", "bnv-cap-tinh"),
        ("bnv-cấp-tỉnh", "bnv-cap-tinh"),
        ("moha-province", "bnv-cap-tinh"),
        ("MoHA-Ministry", "bnv-cap-bo"),
        ("bnv-cap-bo", "bnv-cap-bo"),
        ("SonLa-2024", "sonla-2024"),
    ],
)
def test_find_preset_is_tolerant(asked: str, expected: str) -> None:
    found = find_preset(asked)
    assert found is not None
    assert found.name == expected


@pytest.mark.parametrize("asked", ["", "bnv", "sonla-2023", "moha"])
def test_find_preset_unknown(asked: str) -> None:
    assert find_preset(asked) is None


def test_moha_province_groups() -> None:
    preset = PRESETS["bnv-cap-tinh"]
    assert table(preset) == [
        ("hdnd_tinh", "Đại biểu HĐND cấp tỉnh", 1, {}),
        ("lanh_dao_so", "Lãnh đạo cấp sở", 2, {}),
        ("lanh_dao_phong", "Lãnh đạo phòng chuyên môn thuộc sở", 3, {}),
        ("lanh_dao_huyen", "Lãnh đạo UBND cấp huyện", 4, {}),
    ]
    assert [k.code for k in preset.unit_kinds] == ["so", "huyen", "hdnd"]
    hdnd = preset.groups[0]
    for alias in ("Đại biểu HĐND", "HĐND tỉnh", "ĐB HĐND"):
        assert alias in hdnd.aliases


def test_moha_ministry_groups_in_the_documents_order() -> None:
    preset = PRESETS["bnv-cap-bo"]
    assert table(preset) == [
        ("lanh_dao_vu", "Lãnh đạo cấp vụ", 1, {}),
        ("lanh_dao_so", "Lãnh đạo cấp sở", 2, {}),
        ("lanh_dao_phong", "Lãnh đạo phòng chuyên môn thuộc sở", 3, {}),
        ("cong_chuc_cchc", "Công chức phụ trách cải cách hành chính của bộ", 4, {"vu": 2}),
        ("lanh_dao_hoi", "Lãnh đạo Hội/Hiệp hội", 5, {}),
    ]
    assert [k.code for k in preset.unit_kinds] == ["vu", "so", "hoi"]


def test_sonla_quotas_match_the_decision() -> None:
    preset = PRESETS["sonla-2024"]
    assert [(g.code, g.priority, dict(g.quotas)) for g in preset.groups] == [
        ("hdnd_huyen", 1, {"huyen": 15}),
        ("lanh_dao_so", 2, {"so": 3}),
        ("lanh_dao_phong_so", 3, {"so": 5}),
        ("cong_chuc_so", 4, {"so": 12}),
        ("lanh_dao_ubnd_huyen", 5, {"huyen": 3}),
        ("lanh_dao_co_quan_huyen", 6, {"huyen": 12}),
        ("cong_chuc_huyen", 7, {"huyen": 10}),
        ("can_bo_xa", 8, {"huyen": 30}),
    ]
    per_department = sum(g.quotas.get("so", 0) for g in preset.groups)
    per_district = sum(g.quotas.get("huyen", 0) for g in preset.groups)
    assert per_department == 20
    assert per_district == 70
    # 20 departments and 12 districts: 1,240 of the plan's 1,580 questionnaires.
    assert 20 * per_department + 12 * per_district == 1240
    assert preset.groups[0].name == "Đại biểu Hội đồng nhân dân cấp huyện"
    assert preset.groups[1].name == "Tập thể lãnh đạo cấp sở"


@pytest.mark.parametrize("preset", list(PRESETS.values()), ids=list(PRESETS))
def test_preset_is_consistent(preset: Preset) -> None:
    kinds = {k.code for k in preset.unit_kinds}
    assert len(kinds) == len(preset.unit_kinds)
    assert len({g.code for g in preset.groups}) == len(preset.groups)
    priorities = [g.priority for g in preset.groups]
    assert priorities == sorted(set(priorities))
    for group in preset.groups:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", group.code)
        assert set(group.quotas) <= kinds
        assert all(n > 0 for n in group.quotas.values())
        assert group.survey_url is None
    # A roster cell must never name two groups.
    owners: dict[str, str] = {}
    for position, group in enumerate(preset.groups, start=1):
        for key in group.match_keys(position):
            assert owners.setdefault(key, group.code) == group.code, key
    # Nor may a unit-name prefix belong to two kinds.
    prefixes: dict[str, str] = {}
    for kind in preset.unit_kinds:
        for prefix in kind.match:
            assert prefixes.setdefault(fold(prefix), kind.code) == kind.code, prefix


def test_match_keys() -> None:
    group = PRESETS["bnv-cap-tinh"].groups[0]
    keys = group.match_keys(1)
    assert {
        "hdnd_tinh",
        "hdnd tinh",
        "dai bieu hdnd cap tinh",
        "dai bieu hdnd",
        "db hdnd",
        "1",
        "01",
        "nhom 1",
        "nhom 01",
    } <= keys
    assert "2" not in keys
    assert "nhom 12" in group.match_keys(12)
    with pytest.raises(ValueError, match="position"):
        group.match_keys(0)


def test_group_quotas_are_read_only() -> None:
    quotas = {"so": 3}
    group = GroupSpec(code="a", name="A", priority=1, quotas=quotas)
    quotas["so"] = 99
    assert group.quotas == {"so": 3}
    with pytest.raises(TypeError):
        group.quotas["so"] = 4  # type: ignore[index]


@pytest.mark.parametrize(
    ("preset", "unit", "kind"),
    [
        ("bnv-cap-tinh", "Sở Nội vụ", "so"),
        ("bnv-cap-tinh", "SỞ TÀI CHÍNH TỈNH NGHỆ AN", "so"),
        ("bnv-cap-tinh", "Ban Quản lý Khu kinh tế Đông Nam", "so"),
        ("bnv-cap-tinh", "Văn phòng UBND tỉnh", "so"),
        ("bnv-cap-tinh", "Thanh tra tỉnh", "so"),
        ("bnv-cap-tinh", "Văn phòng Đoàn ĐBQH và HĐND tỉnh", "hdnd"),
        ("bnv-cap-tinh", "HĐND tỉnh Nghệ An", "hdnd"),
        ("bnv-cap-tinh", "HĐND thành phố Hà Nội", "hdnd"),
        ("bnv-cap-tinh", "Văn phòng UBND thành phố Hà Nội", "so"),
        ("bnv-cap-tinh", "Thanh tra thành phố Hồ Chí Minh", "so"),
        ("bnv-cap-tinh", "UBND thành phố Thủ Đức", "huyen"),
        ("bnv-cap-tinh", "Văn phòng HĐND và UBND thành phố Vinh", "huyen"),
        ("bnv-cap-tinh", "UBND huyện Quỳnh Lưu", "huyen"),
        ("bnv-cap-tinh", "Uỷ ban nhân dân thị xã Hoàng Mai", "huyen"),
        ("bnv-cap-tinh", "Thành phố Vinh", "huyen"),
        ("bnv-cap-tinh", "Văn phòng HĐND và UBND huyện Quỳnh Lưu", "huyen"),
        # "Sở" must not match "Sơn La", nor "Ban" match "Bảo hiểm".
        ("bnv-cap-tinh", "Sơn La", None),
        ("bnv-cap-tinh", "Bảo hiểm xã hội tỉnh", None),
        ("bnv-cap-tinh", "Công an tỉnh", None),
        ("bnv-cap-tinh", "", None),
        ("bnv-cap-bo", "Vụ Tổ chức cán bộ", "vu"),
        ("bnv-cap-bo", "Tổng cục Thống kê", "vu"),
        ("bnv-cap-bo", "Cục Văn thư và Lưu trữ nhà nước", "vu"),
        ("bnv-cap-bo", "Văn phòng Bộ", "vu"),
        ("bnv-cap-bo", "Hiệp hội Dệt may Việt Nam", "hoi"),
        ("bnv-cap-bo", "Hội Luật gia Việt Nam", "hoi"),
        ("bnv-cap-bo", "Sở Nội vụ tỉnh Sơn La", "so"),
        ("sonla-2024", "UBND huyện Mộc Châu", "huyen"),
        ("sonla-2024", "UBND thành phố Sơn La", "huyen"),
        ("sonla-2024", "Xã Chiềng Cọ", "xa"),
        ("sonla-2024", "UBND thị trấn Mộc Châu", "xa"),
        ("sonla-2024", "Sở Nội vụ", "so"),
    ],
)
def test_infer_unit_kind(preset: str, unit: str, kind: str | None) -> None:
    kinds = PRESETS[preset].unit_kinds
    assert infer_unit_kind(unit, kinds) == kind
    assert infer_unit_kind(unicodedata.normalize("NFD", unit), kinds) == kind


def test_longest_prefix_wins_whatever_the_order() -> None:
    short = UnitKindSpec(code="so", name="Sở", match=("Văn phòng",))
    long = UnitKindSpec(code="hdnd", name="HĐND", match=("Văn phòng Đoàn ĐBQH và HĐND",))
    name = "Văn phòng Đoàn ĐBQH và HĐND tỉnh Sơn La"
    assert infer_unit_kind(name, [short, long]) == "hdnd"
    assert infer_unit_kind(name, [long, short]) == "hdnd"
    assert infer_unit_kind("Văn phòng UBND tỉnh", [long, short]) == "so"
