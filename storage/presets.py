"""Respondent groups and unit kinds as the documents define them, ready to use by name.

A campaign file says ``groups = "bnv-cap-tinh"`` instead of copying the Ministry's groups by hand.
This module also holds the two small types every campaign's groups are made of (``GroupSpec``,
``UnitKindSpec``), so that presets and campaign files describe groups the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from storage.text import fold


@dataclass(frozen=True, slots=True)
class UnitKindSpec:
    """A kind of unit (department, district...) recognised by how unit names begin."""

    code: str
    name: str
    # Unit-name prefixes, compared folded and on word boundaries ("Sở" must not match "Sơn La").
    match: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """A respondent group (nhóm đối tượng) of a campaign."""

    code: str
    name: str
    # Lower wins when one person is listed in two groups.
    priority: int
    # Unit kind code -> people expected per unit of that kind; empty means "survey everyone".
    quotas: Mapping[str, int] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    # The group's own questionnaire when it differs from the campaign's.
    survey_url: str | None = None

    def __post_init__(self) -> None:
        # A read-only copy, so a spec shared between campaigns cannot be changed through one.
        object.__setattr__(self, "quotas", MappingProxyType(dict(self.quotas)))

    def match_keys(self, position: int) -> frozenset[str]:
        """Folded texts a roster's "Nhóm đối tượng" cell may hold to mean this group.

        ``position`` is the group's 1-based number in the campaign, since lists often say "1" or
        "Nhóm 1" rather than the group's name.
        """
        if position < 1:
            raise ValueError(f"group position must be 1 or more, got {position}")
        words = (self.code, self.code.replace("_", " "), self.name, *self.aliases)
        numbers = {str(position), f"{position:02d}"}
        keys = {fold(word) for word in words}
        keys |= numbers | {f"nhom {n}" for n in numbers}
        return frozenset(keys)


def infer_unit_kind(unit_name: str, kinds: Iterable[UnitKindSpec]) -> str | None:
    """The code of the kind whose longest prefix begins ``unit_name``, or None.

    The longest prefix wins so that "Văn phòng Đoàn ĐBQH và HĐND tỉnh" is not taken for a
    department by the shorter "Văn phòng".
    """
    name = fold(unit_name)
    best: tuple[int, str] | None = None
    for kind in kinds:
        for prefix in kind.match:
            key = fold(prefix)
            if not key or not name.startswith(key):
                continue
            rest = name[len(key) :]
            if rest and rest[0].isalnum():
                continue
            if best is None or len(key) > best[0]:
                best = (len(key), kind.code)
    return best[1] if best else None


@dataclass(frozen=True, slots=True)
class Preset:
    """A named set of groups and unit kinds that a campaign file can use as is."""

    name: str
    title_vi: str
    groups: tuple[GroupSpec, ...]
    unit_kinds: tuple[UnitKindSpec, ...]
    # The documents the groups are taken from, for the organiser to check against.
    source: str


_MOHA_SOURCE = (
    "Công văn số 385/BNV-CCHC ngày 06/02/2023 và Công văn số 8131/BNV-CCHC ngày 13/12/2024 "
    "của Bộ Nội vụ"
)

_SO_PROVINCE = UnitKindSpec(
    code="so",
    name="Sở, ban, ngành cấp tỉnh",
    # "thành phố" for the centrally-run cities (Hà Nội, Thành phố Hồ Chí Minh...).
    match=("Sở", "Ban", "Văn phòng", "Thanh tra tỉnh", "Thanh tra thành phố"),
)
_HUYEN = UnitKindSpec(
    code="huyen",
    name="Huyện, thị xã, thành phố thuộc tỉnh",
    match=(
        "UBND huyện",
        "UBND thị xã",
        "UBND thành phố",
        "Ủy ban nhân dân huyện",
        "Ủy ban nhân dân thị xã",
        "Ủy ban nhân dân thành phố",
        "Huyện",
        "Thị xã",
        "Thành phố",
        # The district's own office, which the province's "Văn phòng" prefix would otherwise take.
        "Văn phòng HĐND và UBND huyện",
        "Văn phòng HĐND và UBND thị xã",
        "Văn phòng HĐND và UBND thành phố",
    ),
)

_LANH_DAO_SO_ALIASES = ("Lãnh đạo sở", "LĐ sở", "LĐ cấp sở")
_LANH_DAO_PHONG_ALIASES = (
    "Lãnh đạo phòng",
    "Lãnh đạo phòng thuộc sở",
    "LĐ phòng",
    "Trưởng, Phó Trưởng phòng",
)

BNV_CAP_TINH = Preset(
    name="bnv-cap-tinh",
    title_vi="Chỉ số CCHC cấp tỉnh: 04 nhóm đối tượng theo hướng dẫn của Bộ Nội vụ",
    groups=(
        # The documents: a person in two groups is surveyed as a People's Council delegate.
        GroupSpec(
            code="hdnd_tinh",
            name="Đại biểu HĐND cấp tỉnh",
            priority=1,
            aliases=(
                "Đại biểu Hội đồng nhân dân cấp tỉnh",
                "Đại biểu Hội đồng nhân dân tỉnh",
                "Đại biểu HĐND tỉnh",
                "Đại biểu HĐND",
                "ĐB HĐND",
                "ĐB HĐND tỉnh",
                "HĐND tỉnh",
                "HĐND",
            ),
        ),
        GroupSpec(
            code="lanh_dao_so",
            name="Lãnh đạo cấp sở",
            priority=2,
            aliases=(*_LANH_DAO_SO_ALIASES, "Lãnh đạo các cơ quan chuyên môn cấp tỉnh"),
        ),
        GroupSpec(
            code="lanh_dao_phong",
            name="Lãnh đạo phòng chuyên môn thuộc sở",
            priority=3,
            aliases=_LANH_DAO_PHONG_ALIASES,
        ),
        GroupSpec(
            code="lanh_dao_huyen",
            name="Lãnh đạo UBND cấp huyện",
            priority=4,
            aliases=(
                "Lãnh đạo Ủy ban nhân dân cấp huyện",
                "Lãnh đạo UBND huyện",
                "Lãnh đạo huyện",
                "LĐ UBND huyện",
                "LĐ huyện",
            ),
        ),
    ),
    unit_kinds=(
        _SO_PROVINCE,
        _HUYEN,
        UnitKindSpec(
            code="hdnd",
            name="Hội đồng nhân dân tỉnh và cơ quan giúp việc",
            match=(
                "HĐND tỉnh",
                "HĐND thành phố",
                "Hội đồng nhân dân tỉnh",
                "Hội đồng nhân dân thành phố",
                "Thường trực HĐND tỉnh",
                "Thường trực HĐND thành phố",
                "Đoàn ĐBQH và HĐND",
                "Văn phòng HĐND tỉnh",
                "Văn phòng HĐND thành phố",
                "Văn phòng Đoàn ĐBQH và HĐND",
                "Văn phòng Đoàn đại biểu Quốc hội và Hội đồng nhân dân",
            ),
        ),
    ),
    source=_MOHA_SOURCE,
)

BNV_CAP_BO = Preset(
    name="bnv-cap-bo",
    title_vi="Chỉ số CCHC cấp bộ: 05 nhóm đối tượng theo hướng dẫn của Bộ Nội vụ",
    groups=(
        GroupSpec(
            code="lanh_dao_vu",
            name="Lãnh đạo cấp vụ",
            priority=1,
            aliases=(
                "Lãnh đạo vụ, cục, tổng cục và tương đương",
                "Lãnh đạo vụ",
                "Lãnh đạo cục",
                "Lãnh đạo tổng cục",
                "LĐ vụ",
                "LĐ cấp vụ",
            ),
        ),
        GroupSpec(
            code="lanh_dao_so",
            name="Lãnh đạo cấp sở",
            priority=2,
            aliases=_LANH_DAO_SO_ALIASES,
        ),
        GroupSpec(
            code="lanh_dao_phong",
            name="Lãnh đạo phòng chuyên môn thuộc sở",
            priority=3,
            aliases=_LANH_DAO_PHONG_ALIASES,
        ),
        GroupSpec(
            code="cong_chuc_cchc",
            name="Công chức phụ trách cải cách hành chính của bộ",
            priority=4,
            # "Khảo sát mỗi đơn vị thuộc bộ 02 công chức phụ trách cải cách hành chính."
            quotas={"vu": 2},
            aliases=(
                "Công chức phụ trách CCHC",
                "Công chức phụ trách CCHC của bộ",
                "Công chức phụ trách cải cách hành chính",
            ),
        ),
        GroupSpec(
            code="lanh_dao_hoi",
            name="Lãnh đạo Hội/Hiệp hội",
            priority=5,
            aliases=("Lãnh đạo Hội, Hiệp hội", "Lãnh đạo hội", "Lãnh đạo hiệp hội"),
        ),
    ),
    unit_kinds=(
        UnitKindSpec(
            code="vu",
            name="Vụ, cục, tổng cục và tương đương thuộc bộ",
            match=("Vụ", "Cục", "Tổng cục", "Văn phòng Bộ", "Thanh tra Bộ"),
        ),
        UnitKindSpec(code="so", name="Sở, ban, ngành cấp tỉnh", match=("Sở",)),
        UnitKindSpec(
            code="hoi",
            name="Hội, hiệp hội",
            match=("Hội", "Hiệp hội", "Liên hiệp"),
        ),
    ),
    source=_MOHA_SOURCE,
)

SONLA_2024 = Preset(
    name="sonla-2024",
    title_vi="Sơn La 2024: điều tra XHH tại 20 sở, ban, ngành và 12 huyện, thành phố",
    groups=(
        GroupSpec(
            code="hdnd_huyen",
            name="Đại biểu Hội đồng nhân dân cấp huyện",
            priority=1,
            quotas={"huyen": 15},
            aliases=(
                "Đại biểu HĐND cấp huyện",
                "Đại biểu HĐND huyện",
                "ĐB HĐND huyện",
                "HĐND huyện",
            ),
        ),
        GroupSpec(
            code="lanh_dao_so",
            name="Tập thể lãnh đạo cấp sở",
            priority=2,
            quotas={"so": 3},
            aliases=("Lãnh đạo cấp sở", "Lãnh đạo sở", "LĐ sở"),
        ),
        GroupSpec(
            code="lanh_dao_phong_so",
            name="Lãnh đạo các phòng chuyên môn, cơ quan, đơn vị trực thuộc sở, ban, ngành",
            priority=3,
            quotas={"so": 5},
            aliases=(
                "Lãnh đạo phòng chuyên môn thuộc sở",
                "Lãnh đạo phòng thuộc sở",
                "Lãnh đạo các phòng chuyên môn, đơn vị trực thuộc sở",
            ),
        ),
        GroupSpec(
            code="cong_chuc_so",
            name=(
                "Công chức, viên chức các phòng chuyên môn, cơ quan, đơn vị trực thuộc "
                "sở, ban, ngành"
            ),
            priority=4,
            quotas={"so": 12},
            aliases=("Công chức, viên chức thuộc sở", "Công chức sở", "CCVC sở"),
        ),
        GroupSpec(
            code="lanh_dao_ubnd_huyen",
            name="Chủ tịch, Phó Chủ tịch UBND cấp huyện",
            priority=5,
            quotas={"huyen": 3},
            aliases=("Lãnh đạo UBND cấp huyện", "Lãnh đạo UBND huyện", "Lãnh đạo huyện"),
        ),
        GroupSpec(
            code="lanh_dao_co_quan_huyen",
            name="Lãnh đạo các cơ quan chuyên môn trực thuộc UBND cấp huyện",
            priority=6,
            quotas={"huyen": 12},
            aliases=(
                "Lãnh đạo cơ quan chuyên môn thuộc UBND huyện",
                "Lãnh đạo phòng thuộc huyện",
                "Lãnh đạo phòng chuyên môn huyện",
            ),
        ),
        GroupSpec(
            code="cong_chuc_huyen",
            name="Công chức, viên chức các cơ quan chuyên môn trực thuộc UBND cấp huyện",
            priority=7,
            quotas={"huyen": 10},
            aliases=("Công chức, viên chức thuộc huyện", "Công chức huyện", "CCVC huyện"),
        ),
        GroupSpec(
            code="can_bo_xa",
            name="Chủ tịch, Phó Chủ tịch UBND, công chức chuyên môn thuộc UBND cấp xã",
            priority=8,
            # Counted per district: 6 communes x 5 people chosen by each district.
            quotas={"huyen": 30},
            aliases=(
                "Lãnh đạo, công chức UBND cấp xã",
                "Cán bộ, công chức cấp xã",
                "Công chức xã",
                "Cấp xã",
            ),
        ),
    ),
    unit_kinds=(
        _SO_PROVINCE,
        _HUYEN,
        UnitKindSpec(
            code="xa",
            name="Xã, phường, thị trấn",
            match=("UBND xã", "UBND phường", "UBND thị trấn", "Xã", "Phường", "Thị trấn"),
        ),
    ),
    source="Quyết định số 1801/QĐ-UBND ngày 30/8/2024 của UBND tỉnh Sơn La",
)

PRESETS: Mapping[str, Preset] = MappingProxyType(
    {p.name: p for p in (BNV_CAP_TINH, BNV_CAP_BO, SONLA_2024)}
)

# English names for people who read the documents in translation.
PRESET_ALIASES: Mapping[str, str] = MappingProxyType(
    {"moha-province": "bnv-cap-tinh", "moha-ministry": "bnv-cap-bo"}
)


def find_preset(name: str) -> Preset | None:
    """The preset called ``name`` or one of its aliases, ignoring case, accents and separators."""
    key = fold(name).replace("_", "-").replace(" ", "-")
    return PRESETS.get(PRESET_ALIASES.get(key, key))
