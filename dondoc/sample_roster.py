"""Generate realistic, deliberately messy Vietnamese survey rosters for the demo and the benchmarks.

Organisers import the list of people to survey from Excel files that their offices typed by hand.
Those files have a title block above the table, merged cells, names typed in decomposed Unicode,
stray spaces, phone numbers in five formats and a signature block under the table. This module
writes workbooks shaped like that, from a seed, and returns alongside them the clean values an
import is expected to produce, so tests and benchmarks can compare the two.

* ``sonla_layout()`` follows the quotas of Sơn La's 2024 survey plan (20 departments x 20 people,
  12 districts x 70 people: 1,240 people).
* ``national_layout()`` spreads the Ministry of Home Affairs' province-level groups over units
  named after the departments and districts of the 63 provinces that existed before 2025.
* ``write_sample_roster()`` writes the workbook ("Danh sách" and, optionally, "Đầu mối").

The place and organisation names live in ``sample_places``, the name tables and position titles in
``sample_people``; this module turns them into units, posts, people and the workbook.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

from dondoc.sample_people import (
    COMMUNE_CIVIL_SERVANTS,
    COMMUNE_LEADERS,
    STAFF_RANKS,
    WOMEN_AMONG_LEADERS,
    WOMEN_AMONG_STAFF,
    email_name_parts,
    random_mobile,
    random_name,
    squash,
)
from dondoc.sample_places import (
    DEPARTMENT_DIVISIONS,
    DISTRICT_DIVISIONS,
    DISTRICT_PREFIXES,
    GENERIC_COMMUNES,
    OTHER_DIVISIONS,
    PROVINCE_AGENCIES,
    PROVINCES,
    SMALL_AGENCY_DIVISIONS,
    SUBORDINATE_AGENCIES,
    TOWN_DIVISIONS,
    Division,
    office,
    phong,
)

# Re-exported so code importing them from this module, where they used to live, keeps working.
from dondoc.sample_places import SONLA_COMMUNES as SONLA_COMMUNES
from dondoc.sample_places import SONLA_DEPARTMENTS as SONLA_DEPARTMENTS
from storage.presets import find_preset

__all__ = [
    "CONTACT_HEADER",
    "HEADER",
    "ROLE_FOCAL_POINT",
    "ROLE_HEAD",
    "ROLE_IT",
    "ROLE_ORGANISER",
    "SCOPE_ALL",
    "SHEET_CONTACTS",
    "SHEET_PEOPLE",
    "WRITE_ONLY_ABOVE",
    "Layout",
    "SampleContact",
    "SamplePerson",
    "SampleRoster",
    "national_layout",
    "sonla_layout",
    "write_sample_roster",
]

Layout = list[tuple[str, list[tuple[str, int]]]]

SHEET_PEOPLE: Final = "Danh sách"
SHEET_CONTACTS: Final = "Đầu mối"
HEADER: Final = (
    "STT",
    "Họ và tên",
    "Chức vụ",
    "Cơ quan/đơn vị",
    "Nhóm đối tượng",
    "Email",
    "Số điện thoại",
)
CONTACT_HEADER: Final = (
    "STT",
    "Họ và tên",
    "Chức vụ",
    "Vai trò",
    "Đơn vị phụ trách",
    "Email",
    "Số điện thoại",
)
ROLE_FOCAL_POINT: Final = "Đầu mối"
ROLE_HEAD: Final = "Thủ trưởng đơn vị"
ROLE_IT: Final = "Đầu mối CNTT"
ROLE_ORGANISER: Final = "Cơ quan tổ chức"
SCOPE_ALL: Final = "Tất cả"
# Above this many people the workbook is streamed (openpyxl write-only mode): building 50,000
# styled rows in memory and merging cells is what makes the normal mode slow.
WRITE_ONLY_ABOVE: Final = 5000

DEFAULT_TITLE: Final = "DANH SÁCH ĐỐI TƯỢNG ĐIỀU TRA XÃ HỘI HỌC NĂM 2024"
DEFAULT_ISSUER: Final = ("UBND TỈNH SƠN LA", "SỞ NỘI VỤ")
CONTACTS_TITLE: Final = "DANH SÁCH ĐẦU MỐI VÀ THỦ TRƯỞNG CÁC CƠ QUAN, ĐƠN VỊ"


@dataclass(frozen=True, slots=True)
class SamplePerson:
    """One respondent, with the clean values an import should store."""

    full_name: str  # NFC, trimmed, single spaces
    position: str
    unit: str
    group: str  # the group's Vietnamese name as written in the sheet
    email: str  # lower-case
    phone_e164: str  # +84...


@dataclass(frozen=True, slots=True)
class SampleContact:
    """One row of the "Đầu mối" sheet, clean."""

    full_name: str
    position: str
    role: str  # ROLE_FOCAL_POINT, ROLE_HEAD, ROLE_IT or ROLE_ORGANISER
    scope: str  # SCOPE_ALL or one unit's exact name
    email: str
    phone_e164: str


@dataclass(frozen=True, slots=True)
class SampleRoster:
    path: Path
    people: tuple[SamplePerson, ...]
    contacts: tuple[SampleContact, ...]
    units: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Layouts
# --------------------------------------------------------------------------------------------


# Group names come from the presets, so a generated list imports into a preset campaign as is.
def _group_names(preset: str) -> dict[str, str]:
    found = find_preset(preset)
    if found is None:
        raise LookupError(f"preset {preset!r} is missing")
    return {g.code: g.name for g in found.groups}


_SONLA = _group_names("sonla-2024")
SONLA_DEPARTMENT_GROUPS: Final = (
    (_SONLA["lanh_dao_so"], 3),
    (_SONLA["lanh_dao_phong_so"], 5),
    (_SONLA["cong_chuc_so"], 12),
)
SONLA_DISTRICT_GROUPS: Final = (
    (_SONLA["hdnd_huyen"], 15),
    (_SONLA["lanh_dao_ubnd_huyen"], 3),
    (_SONLA["lanh_dao_co_quan_huyen"], 12),
    (_SONLA["cong_chuc_huyen"], 10),
    (_SONLA["can_bo_xa"], 30),
)


def sonla_layout() -> Layout:
    """Sơn La's 2024 survey: 20 departments x 20 people, 12 districts x 70 people (1,240)."""
    layout: Layout = [(unit, list(SONLA_DEPARTMENT_GROUPS)) for unit in SONLA_DEPARTMENTS]
    layout += [(f"UBND {district}", list(SONLA_DISTRICT_GROUPS)) for district in SONLA_COMMUNES]
    return layout


# MoHA's province-level respondent groups for the PAR Index sociological survey.
_PROVINCE = _group_names("bnv-cap-tinh")
NATIONAL_COUNCIL_GROUP: Final = _PROVINCE["hdnd_tinh"]
NATIONAL_DEPARTMENT_LEADERS_GROUP: Final = _PROVINCE["lanh_dao_so"]
NATIONAL_DIVISION_LEADERS_GROUP: Final = _PROVINCE["lanh_dao_phong"]
NATIONAL_DISTRICT_GROUP: Final = _PROVINCE["lanh_dao_huyen"]


# Relative number of respondents per unit kind, close to the real ratios: a provincial council
# has 50-95 delegates, a department 4 leaders and a dozen division heads, a district 3-5 leaders.
_KIND_WEIGHTS: Final = {"council": 40, "department": 20, "subordinate": 6, "district": 5}
_MAX_DEPARTMENT_LEADERS: Final = 4  # a director and at most three deputies


def _districts(province: str, encoded: str) -> list[str]:
    """Decode one province's district list into unit names such as
    "UBND huyện Quỳnh Lưu, tỉnh Nghệ An"."""
    names = []
    for item in encoded.split("; "):
        prefix, _, rest = item.partition(" ")
        kind = DISTRICT_PREFIXES.get(prefix)
        district = f"{kind} {rest}" if kind else f"huyện {item}"
        names.append(f"UBND {district}, {province}")
    return names


def _national_pool() -> list[tuple[str, str]]:
    """Every unit a national roster can use, as (unit name, kind), grouped by province."""
    pool: list[tuple[str, str]] = []
    for province, encoded in PROVINCES:
        pool.append((f"HĐND {province}", "council"))
        pool += [(f"{agency} {province}", "department") for agency in PROVINCE_AGENCIES]
        pool += [(f"{agency} {province}", "subordinate") for agency in SUBORDINATE_AGENCIES]
        pool += [(unit, "district") for unit in _districts(province, encoded)]
    return pool


def _apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` proportionally to ``weights`` (largest remainder), summing exactly."""
    weight_sum = sum(weights)
    exact = [total * w / weight_sum for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _evenly(items: Sequence[int], n: int) -> list[int]:
    """``n`` of ``items`` spread evenly over the sequence (so over the provinces)."""
    return [items[i * len(items) // n] for i in range(n)]


def national_layout(units: int = 3000, people: int = 50000) -> Layout:
    """MoHA's province-level groups over ``units`` real-looking units, ``people`` in total.

    Councils, departments and districts come first (all of them from 2,028 units up); the
    departments' subordinate units fill the rest. Smaller sizes pick evenly over the provinces,
    so they still mix every kind. Every unit gets at least one person; the rest are shared out
    by realistic weights per kind. Units are listed province by province.
    """
    pool = _national_pool()
    if not 1 <= units <= len(pool):
        raise ValueError(f"units must be between 1 and {len(pool)}, got {units}")
    if people < units:
        raise ValueError(f"people ({people}) must be at least units ({units})")
    core = [i for i, (_, kind) in enumerate(pool) if kind != "subordinate"]
    filler = [i for i, (_, kind) in enumerate(pool) if kind == "subordinate"]
    if units <= len(core):
        picked = _evenly(core, units)
    else:
        picked = core + _evenly(filler, units - len(core))
    chosen = [pool[i] for i in sorted(picked)]
    extra = _apportion(people - units, [_KIND_WEIGHTS[kind] for _, kind in chosen])
    layout: Layout = []
    for (unit, kind), more in zip(chosen, extra, strict=True):
        count = 1 + more
        if kind == "council":
            groups = [(NATIONAL_COUNCIL_GROUP, count)]
        elif kind == "department":
            leaders = min(_MAX_DEPARTMENT_LEADERS, max(1, count // 5))
            groups = [(NATIONAL_DEPARTMENT_LEADERS_GROUP, leaders)]
            if count > leaders:
                groups.append((NATIONAL_DIVISION_LEADERS_GROUP, count - leaders))
        elif kind == "subordinate":
            groups = [(NATIONAL_DIVISION_LEADERS_GROUP, count)]
        else:
            groups = [(NATIONAL_DISTRICT_GROUP, count)]
        layout.append((unit, groups))
    return layout


# --------------------------------------------------------------------------------------------
# Units: what kind of body a unit name denotes, and what its people are called
# --------------------------------------------------------------------------------------------

_DISTRICT_UNIT = re.compile(
    r"^UBND (huyện|thị xã|thành phố|quận) ([^,]+?)(?:, (tỉnh|thành phố) (.+))?$"
)
_COUNCIL_UNIT = re.compile(
    r"^HĐND (tỉnh|thành phố|huyện|thị xã|quận) ([^,]+?)(?:, (tỉnh|thành phố) (.+))?$"
)
_AGENCY_UNIT = re.compile(r"^(.+?) (tỉnh|thành phố) ([^,]+)$")


@dataclass(frozen=True, slots=True)
class _UnitInfo:
    kind: str  # "district", "council" or "agency"
    agency: str  # "Sở Nội vụ", "Thanh tra", "UBND", "HĐND"
    locality: str  # "huyện Mộc Châu", "tỉnh Nghệ An", or just "tỉnh"
    province: str  # "Nghệ An", or "" when the unit name does not say


def _unit_info(unit: str) -> _UnitInfo:
    if m := _DISTRICT_UNIT.match(unit):
        return _UnitInfo("district", "UBND", f"{m[1]} {m[2]}", m[4] or "")
    if m := _COUNCIL_UNIT.match(unit):
        province = m[4] or (m[2] if m[1] in ("tỉnh", "thành phố") else "")
        return _UnitInfo("council", "HĐND", f"{m[1]} {m[2]}", province)
    if m := _AGENCY_UNIT.match(unit):
        return _UnitInfo("agency", m[1], f"{m[2]} {m[3]}", m[3])
    # A province's own list says "Thanh tra tỉnh", "Văn phòng UBND tỉnh" without the name.
    for level in ("tỉnh", "thành phố"):
        if unit.endswith(f" {level}"):
            return _UnitInfo("agency", unit.removesuffix(f" {level}"), level, "")
    return _UnitInfo("agency", unit, "tỉnh", "")


# District-level localities and the short form mailbox names use for them.
_DISTRICT_LEVELS: Final = {"huyện": "", "thị xã": "tx", "thành phố": "tp", "quận": "q"}


def _split_locality(locality: str) -> tuple[str, str]:
    """ "thị xã Sa Pa" -> ("thị xã", "Sa Pa"); "tỉnh Nghệ An" -> ("tỉnh", "Nghệ An")."""
    for level in (*_DISTRICT_LEVELS, "tỉnh"):
        if locality == level or locality.startswith(level + " "):
            return level, locality[len(level) :].strip()
    return "", locality


def _level(info: _UnitInfo) -> str:
    """ "tỉnh" or "thành phố": how a province-level title refers to its province."""
    return "thành phố" if info.locality.startswith("thành phố") else "tỉnh"


def _leader_titles(info: _UnitInfo) -> tuple[str, str]:
    """(head, deputy) titles of a unit's own leadership."""
    agency = info.agency
    if info.kind == "district":
        return f"Chủ tịch UBND {info.locality}", f"Phó Chủ tịch UBND {info.locality}"
    if info.kind == "council":
        return f"Chủ tịch HĐND {info.locality}", f"Phó Chủ tịch HĐND {info.locality}"
    if agency.startswith("Sở "):
        return "Giám đốc Sở", "Phó Giám đốc Sở"
    if agency == "Văn phòng UBND":
        level = _level(info)
        return f"Chánh Văn phòng UBND {level}", f"Phó Chánh Văn phòng UBND {level}"
    if agency == "Thanh tra":
        level = _level(info)
        return f"Chánh Thanh tra {level}", f"Phó Chánh Thanh tra {level}"
    if agency.startswith("Ban "):
        return "Trưởng ban", "Phó Trưởng ban"
    if agency.startswith("Chi cục "):
        return "Chi cục trưởng", "Phó Chi cục trưởng"
    if agency.startswith("Trung tâm "):
        return "Giám đốc", "Phó Giám đốc"
    return "Thủ trưởng đơn vị", "Phó Thủ trưởng đơn vị"


def _divisions(info: _UnitInfo) -> tuple[Division, ...]:
    if info.kind == "district":
        level = _split_locality(info.locality)[0] or "huyện"
        base = DISTRICT_DIVISIONS if level == "huyện" else TOWN_DIVISIONS
        return (base[0], office(f"Thanh tra {level}"), *base[2:])
    if info.kind == "council":
        return (office("Văn phòng Đoàn ĐBQH và HĐND"),)
    if info.agency in OTHER_DIVISIONS:
        return OTHER_DIVISIONS[info.agency]
    if info.agency.startswith("Sở "):
        specialised = DEPARTMENT_DIVISIONS.get(info.agency, ("Nghiệp vụ", "Quản lý chuyên ngành"))
        common = ("Kế hoạch - Tài chính",) if info.agency != "Sở Tài chính" else ()
        return (
            office("Văn phòng Sở"),
            office("Thanh tra Sở"),
            *(phong(name) for name in (*common, *specialised)),
        )
    return SMALL_AGENCY_DIVISIONS


Post = tuple[str, float]  # (position, probability the holder is a woman)


def _own_leaders(info: _UnitInfo, count: int) -> list[Post]:
    head, deputy = _leader_titles(info)
    titles = [head] + [deputy] * min(count - 1, 3)
    # A district People's Committee also has ordinary members (heads of police, army, offices).
    extra = f"Ủy viên UBND {info.locality}" if info.kind == "district" else deputy
    titles += [extra] * (count - len(titles))
    return [(t, WOMEN_AMONG_LEADERS) for t in titles[:count]]


def _division_leaders(info: _UnitInfo, count: int, rng: random.Random) -> list[Post]:
    """Heads and deputies of divisions; a division never gets two heads."""
    posts: list[Post] = []
    if info.kind == "agency" and info.agency in SUBORDINATE_AGENCIES:
        # The unit *is* a "đơn vị trực thuộc sở": its own leaders come first.
        posts = _own_leaders(info, min(count, 3))
    divisions = list(_divisions(info))
    rng.shuffle(divisions)
    visited: set[str] = set()
    i = 0
    while len(posts) < count:
        division = divisions[i % len(divisions)]
        i += 1
        if division.label not in visited and rng.random() < 0.7:
            title = division.head
        else:
            title = division.deputy
        visited.add(division.label)
        posts.append((title, WOMEN_AMONG_LEADERS))
    return posts


def _staff(info: _UnitInfo, count: int, rng: random.Random) -> list[Post]:
    divisions = _divisions(info)
    ranks = [r for r, _ in STAFF_RANKS]
    weights = [w for _, w in STAFF_RANKS]
    posts = []
    for _ in range(count):
        division = rng.choice(divisions)
        rank = rng.choices(ranks, weights)[0]
        if division.label.startswith("Thanh tra") and rng.random() < 0.5:
            rank = "Thanh tra viên"
        posts.append((f"{rank} {division.label}", WOMEN_AMONG_STAFF))
    return posts


def _delegates(info: _UnitInfo, count: int) -> list[Post]:
    where = info.locality
    committees = (
        ("Kinh tế - Ngân sách", "Văn hóa - Xã hội", "Pháp chế", "Dân tộc")
        if info.kind == "council" or where.startswith("tỉnh")
        else ("Kinh tế - Xã hội", "Pháp chế")
    )
    posts = [f"Chủ tịch HĐND {where}", f"Phó Chủ tịch HĐND {where}"]
    posts += [f"Trưởng Ban {c} HĐND {where}" for c in committees]
    posts += [f"Đại biểu HĐND {where}"] * max(0, count - len(posts))
    return [(p, WOMEN_AMONG_LEADERS) for p in posts[:count]]


def _commune_people(info: _UnitInfo, count: int, rng: random.Random) -> list[Post]:
    """Five people per commune (Party, council, committee chair and deputy, a civil servant)."""
    communes = list(SONLA_COMMUNES.get(info.locality, ()))
    communes += [c for c in GENERIC_COMMUNES if c not in communes]
    posts: list[Post] = []
    for n in range(count):
        commune = communes[(n // 5) % len(communes)]
        slot = n % 5
        if slot == 4:
            servant = rng.choice(COMMUNE_CIVIL_SERVANTS)
            posts.append((f"Công chức {servant} {commune}", WOMEN_AMONG_STAFF))
            continue
        posts.append((f"{COMMUNE_LEADERS[slot]} {commune}", WOMEN_AMONG_LEADERS))
    return posts


def _posts(group: str, unit: str, count: int, rng: random.Random) -> list[Post]:
    """Positions for ``count`` people of ``group`` in ``unit``, read from the group's wording.

    Order matters: "công chức" and "cấp xã" groups also mention "lãnh đạo" or "UBND".
    """
    g = group.casefold()
    info = _unit_info(unit)
    if "cấp xã" in g:
        return _commune_people(info, count, rng)
    if "đại biểu" in g and ("hđnd" in g or "hội đồng nhân dân" in g):
        return _delegates(info, count)
    if "công chức" in g or "viên chức" in g:
        return _staff(info, count, rng)
    if "cơ quan chuyên môn" in g or "phòng" in g:
        return _division_leaders(info, count, rng)
    if "ubnd cấp huyện" in g or "cấp sở" in g:
        return _own_leaders(info, count)
    return [("Chuyên viên", WOMEN_AMONG_STAFF)] * count


# --------------------------------------------------------------------------------------------
# People: mailbox codes for units, and unique e-mail addresses and phone numbers
# --------------------------------------------------------------------------------------------


# Initials would collide or read badly for these (Nội vụ/Ngoại vụ are both "snv").
_CODE_OVERRIDES: Final = {
    "Sở Ngoại vụ": "sngv",
    "Văn phòng UBND": "vpubnd",
    "Thanh tra": "thanhtra",
    "UBND": "ubnd",
    "HĐND": "hdnd",
}
_CODE_SKIP_WORDS: Final = {"và", "các", "-", ","}


def _agency_code(agency: str) -> str:
    if agency in _CODE_OVERRIDES:
        return _CODE_OVERRIDES[agency]
    letters = []
    for word in agency.replace(",", " ").split():
        if word.casefold() in _CODE_SKIP_WORDS:
            continue
        # Acronyms (UBND, HĐND, CNTT) keep all their letters, other words give their initial.
        letters.append(squash(word) if word.isupper() and len(word) > 1 else squash(word[0]))
    return "".join(letters) or "dv"


def _unit_code(info: _UnitInfo) -> str:
    """Short ASCII code for a unit, as used in official mailboxes ("snv", "mocchau")."""
    if info.kind in ("district", "council"):
        code = "hdnd" if info.kind == "council" else ""
        level, name = _split_locality(info.locality)
        # A province's council is just "hdnd"; district-level bodies are named by place.
        if level in _DISTRICT_LEVELS and not (info.kind == "council" and name == info.province):
            code += _DISTRICT_LEVELS[level] + squash(name)
    else:
        code = _agency_code(info.agency)
    return f"{code}.{squash(info.province)}" if info.province else code


@dataclass(frozen=True, slots=True)
class _Generated:
    """A generated person: clean values plus what the messy e-mail spelling is built from."""

    full_name: str
    position: str
    email: str
    phone_e164: str
    given_ascii: str
    initials: str
    suffix: str
    code: str


class _PeopleFactory:
    """Draws unique people: one place keeps the e-mail and phone registries."""

    def __init__(self, rng: random.Random, domain: str) -> None:
        self.rng = rng
        self.domain = domain.lower()
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.codes: dict[str, str] = {}  # unit -> code
        self.code_owner: dict[str, str] = {}  # code -> unit

    def code_for(self, unit: str) -> str:
        if unit not in self.codes:
            base = _unit_code(_unit_info(unit))
            code, n = base, 1
            while code in self.code_owner:
                n += 1
                code = f"{base}{n}"
            self.codes[unit] = code
            self.code_owner[code] = unit
        return self.codes[unit]

    def name(self, female: bool) -> str:
        return random_name(self.rng, female)

    def phone(self) -> str:
        while True:
            national = random_mobile(self.rng)
            if national not in self.phones:
                self.phones.add(national)
                return "+84" + national[1:]

    def person(self, unit: str, position: str, women_share: float) -> _Generated:
        full_name = self.name(self.rng.random() < women_share)
        given_ascii, initials = email_name_parts(full_name)
        code = self.code_for(unit)
        suffix, n = "", 1
        while (email := f"{given_ascii}{initials}{suffix}.{code}@{self.domain}") in self.emails:
            n += 1
            suffix = str(n)
        self.emails.add(email)
        return _Generated(
            full_name, position, email, self.phone(), given_ascii, initials, suffix, code
        )


# --------------------------------------------------------------------------------------------
# Messiness: what the cells look like when people typed them
# --------------------------------------------------------------------------------------------

CellValue = str | int | None


class _Mess:
    """Spoils clean values the way hand-made lists are spoiled; ``None`` rng = keep clean."""

    def __init__(self, rng: random.Random | None) -> None:
        self.rng = rng

    def name(self, name: str) -> str:
        rng = self.rng
        if rng is None:
            return name
        r = rng.random()
        if r < 0.03:
            name = " " + name
        elif r < 0.06:
            name += " "
        elif r < 0.08:
            name = name.replace(" ", "  ", 1)
        # Unikey's "Unicode tổ hợp" setting and macOS give decomposed text.
        if rng.random() < 0.10:
            name = unicodedata.normalize("NFD", name)
        return name

    def text(self, text: str, share: float = 0.03) -> str:
        if self.rng is None or self.rng.random() >= share:
            return text
        return text + " " if self.rng.random() < 0.7 else " " + text

    def email(self, person: _Generated) -> str:
        rng = self.rng
        if rng is None:
            return person.email
        r = rng.random()
        if r < 0.10:  # "HungNV.SNV@Sonla.gov.vn"
            local = f"{person.given_ascii.capitalize()}{person.initials.upper()}{person.suffix}"
            domain = person.email.partition("@")[2]
            return f"{local}.{person.code.upper()}@{domain.capitalize()}"
        if r < 0.13:
            return person.email.upper()
        if r < 0.15:
            return person.email + " "
        return person.email

    def phone(self, e164: str) -> CellValue:
        national = "0" + e164.removeprefix("+84")
        if self.rng is None:
            return national
        body = national[1:]
        r = self.rng.random()
        if r < 0.40:
            return national
        if r < 0.60:
            return f"{national[:4]}.{national[4:7]}.{national[7:]}"
        if r < 0.75:
            return f"{national[:4]} {national[4:7]} {national[7:]}"
        if r < 0.85:
            return f"+84 {body[:3]} {body[3:6]} {body[6:]}"
        # Typed into a number-formatted cell: Excel drops the leading zero.
        return int(body)

    def blank_row(self) -> bool:
        return self.rng is not None and self.rng.random() < 0.08


# --------------------------------------------------------------------------------------------
# Writing the workbook
# --------------------------------------------------------------------------------------------

_COLUMN_WIDTHS: Final = (6, 26, 40, 36, 44, 36, 16)
_THIN: Final = Side(style="thin")
_BOX: Final = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_BOLD: Final = Font(name="Times New Roman", bold=True, size=12)
_PLAIN: Final = Font(name="Times New Roman", size=12)
_ITALIC: Final = Font(name="Times New Roman", italic=True, size=12)
_TITLE_FONT: Final = Font(name="Times New Roman", bold=True, size=14)
_CENTRE: Final = Alignment(horizontal="center", vertical="center", wrap_text=True)


class _Sheet:
    """Appends rows to a normal or a streamed (write-only) sheet; merges only in the former."""

    def __init__(self, wb: Workbook, title: str, write_only: bool) -> None:
        self.write_only = write_only
        self.ws: Worksheet | WriteOnlyWorksheet = wb.create_sheet(title)
        # WriteOnlyWorksheet has column_dimensions at runtime; the type stubs omit it.
        dims = cast(Worksheet, self.ws).column_dimensions
        for i, width in enumerate(_COLUMN_WIDTHS, start=1):
            dims[get_column_letter(i)].width = width
        self.row_count = 0

    def append(
        self,
        values: Sequence[CellValue],
        *,
        font: Font | None = None,
        align: Alignment | None = None,
        border: bool = False,
    ) -> int:
        """Append one row; style its non-empty cells (all cells when ``border``)."""
        self.row_count += 1
        styled = font is not None or align is not None or border
        if self.write_only:
            ws = cast(WriteOnlyWorksheet, self.ws)
            if not styled:
                ws.append(list(values))
                return self.row_count
            cells = []
            for value in values:
                cell = WriteOnlyCell(ws, value)
                if value is not None or border:
                    cell.font = font or _PLAIN
                    if align:
                        cell.alignment = align
                    if border:
                        cell.border = _BOX
                cells.append(cell)
            ws.append(cells)
            return self.row_count
        sheet = cast(Worksheet, self.ws)
        sheet.append(list(values))
        if styled:
            for col, value in enumerate(values, start=1):
                if value is None and not border:
                    continue
                target = sheet.cell(row=self.row_count, column=col)
                target.font = font or _PLAIN
                if align:
                    target.alignment = align
                if border:
                    target.border = _BOX
        return self.row_count

    def merge(self, row: int, first_col: int, last_row: int, last_col: int) -> None:
        if not self.write_only:
            cast(Worksheet, self.ws).merge_cells(
                start_row=row, start_column=first_col, end_row=last_row, end_column=last_col
            )


def _title_block(sheet: _Sheet, issuer: tuple[str, str], title: str) -> None:
    """The national heading every administrative document carries, then the list's title."""
    width = len(HEADER)
    r1 = sheet.append([issuer[0], None, None, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"], font=_PLAIN)
    r2 = sheet.append([issuer[1], None, None, "Độc lập - Tự do - Hạnh phúc"], font=_BOLD)
    r3 = sheet.append([None, None, None, "………, ngày …… tháng …… năm ……"], font=_ITALIC)
    for row in (r1, r2):
        sheet.merge(row, 1, row, 3)
    for row in (r1, r2, r3):
        sheet.merge(row, 4, row, width)
    r4 = sheet.append([title, *([None] * (width - 1))], font=_TITLE_FONT, align=_CENTRE)
    sheet.merge(r4, 1, r4, width)
    sheet.append([])


def _footer(sheet: _Sheet, drafter: str, head: str) -> None:
    """The signature block under the table: a name in the "Họ và tên" column, nothing else."""
    sheet.append([])
    sheet.append([None, "Người lập biểu", None, None, None, "THỦ TRƯỞNG ĐƠN VỊ"], font=_BOLD)
    sheet.append(
        [None, "(Ký, ghi rõ họ tên)", None, None, None, "(Ký tên, đóng dấu)"], font=_ITALIC
    )
    sheet.append([])
    sheet.append([])
    sheet.append([None, drafter, None, None, None, head], font=_BOLD)


@dataclass(frozen=True, slots=True)
class _Row:
    person: _Generated
    unit: str
    group: str


def _write_people(
    sheet: _Sheet, rows: Sequence[_Row], units: Sequence[str], mess: _Mess, merge_units: bool
) -> None:
    header = sheet.append(list(HEADER), font=_BOLD, align=_CENTRE, border=not sheet.write_only)
    stt = 0
    by_unit: dict[str, list[_Row]] = {u: [] for u in units}
    for row in rows:
        by_unit[row.unit].append(row)
    last = header
    for unit in units:
        members = by_unit[unit]
        if not members:
            continue
        if last != header and mess.blank_row():
            sheet.append([])
        first = None
        for i, row in enumerate(members):
            stt += 1
            p = row.person
            unit_cell = mess.text(unit) if (i == 0 or not merge_units) else None
            values: list[CellValue] = [
                stt,
                mess.name(p.full_name),
                mess.text(p.position),
                unit_cell,
                row.group,
                mess.email(p),
                mess.phone(p.phone_e164),
            ]
            last = sheet.append(values, border=not sheet.write_only)
            first = first or last
        if merge_units and first is not None and last > first:
            sheet.merge(first, 4, last, 4)
            cast(Worksheet, sheet.ws).cell(row=first, column=4).alignment = Alignment(
                vertical="center", wrap_text=True
            )


def _write_contacts(sheet: _Sheet, contacts: Sequence[SampleContact], mess: _Mess) -> None:
    width = len(CONTACT_HEADER)
    r = sheet.append([CONTACTS_TITLE, *([None] * (width - 1))], font=_TITLE_FONT, align=_CENTRE)
    sheet.merge(r, 1, r, width)
    sheet.append(list(CONTACT_HEADER), font=_BOLD, align=_CENTRE, border=not sheet.write_only)
    for stt, c in enumerate(contacts, start=1):
        email = mess.text(c.email, 0.05)
        values: list[CellValue] = [
            stt,
            mess.name(c.full_name),
            mess.text(c.position),
            c.role,
            c.scope,
            email,
            mess.phone(c.phone_e164),
        ]
        sheet.append(values, border=not sheet.write_only)


def _seeded(seed: int | str) -> random.Random:
    # Sample data only: reproducibility matters here, unpredictability does not.
    return random.Random(seed)  # noqa: S311


def _focal_position(info: _UnitInfo) -> str:
    """Who usually answers for a unit: a civil servant of its office or home-affairs division."""
    if info.kind == "district":
        return "Chuyên viên Phòng Nội vụ"
    if info.kind == "council":
        return "Chuyên viên Văn phòng Đoàn ĐBQH và HĐND"
    if info.agency.startswith("Sở "):
        return "Chuyên viên Văn phòng Sở"
    return f"Chuyên viên {_divisions(info)[0].label}"


def _contacts(
    factory: _PeopleFactory, rows: Sequence[_Row], units: Sequence[str]
) -> list[SampleContact]:
    organiser_unit = "Sở Nội vụ"
    organiser = factory.person(organiser_unit, "Chuyên viên Phòng Cải cách hành chính", 0.6)
    it_unit = "Sở Thông tin và Truyền thông"
    it = factory.person(it_unit, "Viên chức Trung tâm Công nghệ thông tin và Truyền thông", 0.3)
    contacts = [
        SampleContact(
            organiser.full_name,
            organiser.position,
            ROLE_ORGANISER,
            SCOPE_ALL,
            organiser.email,
            organiser.phone_e164,
        ),
        SampleContact(it.full_name, it.position, ROLE_IT, SCOPE_ALL, it.email, it.phone_e164),
    ]
    heads: dict[tuple[str, str], _Generated] = {}
    for row in rows:
        heads.setdefault((row.unit, row.person.position), row.person)
    for unit in units:
        info = _unit_info(unit)
        head_title = _leader_titles(info)[0]
        # The head is usually also a respondent: same person, same e-mail, on both sheets.
        head = heads.get((unit, head_title)) or factory.person(
            unit, head_title, WOMEN_AMONG_LEADERS
        )
        focal = factory.person(unit, _focal_position(info), 0.6)
        for person, role in ((head, ROLE_HEAD), (focal, ROLE_FOCAL_POINT)):
            contacts.append(
                SampleContact(
                    person.full_name,
                    person.position,
                    role,
                    unit,
                    person.email,
                    person.phone_e164,
                )
            )
    return contacts


def write_sample_roster(
    path: Path,
    layout: Sequence[tuple[str, Sequence[tuple[str, int]]]],
    *,
    seed: int = 2024,
    messy: bool = True,
    contacts: bool = True,
    title: str = DEFAULT_TITLE,
    email_domain: str = "sonla.gov.vn",
    issuer: tuple[str, str] = DEFAULT_ISSUER,
) -> SampleRoster:
    """Write a roster workbook for ``layout`` to ``path`` and return the clean expected values.

    The people depend only on ``layout``, ``seed`` and ``email_domain``: ``messy`` and
    ``contacts`` change what is written, not who is generated. ``issuer`` is the two-line
    heading on the left of the title block (the authority and the issuing office).
    """
    units = [unit for unit, _ in layout]
    if len(set(units)) != len(units):
        raise ValueError("unit names in a layout must be unique")
    if any(not unit.strip() for unit in units):
        raise ValueError("unit names must not be empty")
    if any(count < 0 for _, groups in layout for _, count in groups):
        raise ValueError("group counts must not be negative")

    factory = _PeopleFactory(_seeded(seed), email_domain)
    rows: list[_Row] = []
    for unit, groups in layout:
        for group, count in groups:
            for position, women in _posts(group, unit, count, factory.rng):
                rows.append(_Row(factory.person(unit, position, women), unit, group))
    contact_list = _contacts(factory, rows, units) if contacts else []
    drafter = factory.name(factory.rng.random() < 0.6)
    head_signature = factory.name(False)

    mess = _Mess(_seeded(f"messy:{seed}") if messy else None)
    write_only = len(rows) > WRITE_ONLY_ABOVE
    wb = Workbook(write_only=write_only)
    if not write_only:
        default = wb.active
        if default is not None:
            wb.remove(default)
    people_sheet = _Sheet(wb, SHEET_PEOPLE, write_only)
    _title_block(people_sheet, issuer, title)
    _write_people(people_sheet, rows, units, mess, merge_units=messy and not write_only)
    _footer(people_sheet, drafter, head_signature)
    if contacts:
        _write_contacts(_Sheet(wb, SHEET_CONTACTS, write_only), contact_list, mess)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)

    people = tuple(
        SamplePerson(
            r.person.full_name,
            r.person.position,
            r.unit,
            r.group,
            r.person.email,
            r.person.phone_e164,
        )
        for r in rows
    )
    return SampleRoster(path, people, tuple(contact_list), tuple(units))
