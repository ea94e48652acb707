"""The generated rosters: layouts add up, people are unique and valid, the workbook looks real."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from dondoc import sample_roster
from dondoc.sample_roster import (
    CONTACT_HEADER,
    HEADER,
    ROLE_FOCAL_POINT,
    ROLE_HEAD,
    ROLE_IT,
    ROLE_ORGANISER,
    SCOPE_ALL,
    SHEET_CONTACTS,
    SHEET_PEOPLE,
    SampleRoster,
    national_layout,
    sonla_layout,
    write_sample_roster,
)

NATIONAL_GROUPS = {
    "Đại biểu HĐND cấp tỉnh",
    "Lãnh đạo cấp sở",
    "Lãnh đạo phòng chuyên môn thuộc sở",
    "Lãnh đạo UBND cấp huyện",
}
EMAIL = re.compile(r"^[a-z0-9]+(\.[a-z0-9]+)+@[a-z0-9.]+$")


def small_layout() -> list[tuple[str, list[tuple[str, int]]]]:
    """Two departments and one district of Sơn La: 110 people, every kind of group."""
    layout = sonla_layout()
    return [layout[0], layout[1], layout[26]]


def total(layout: list[tuple[str, list[tuple[str, int]]]]) -> int:
    return sum(count for _, groups in layout for _, count in groups)


def people_sheet(roster: SampleRoster) -> Worksheet:
    ws = load_workbook(roster.path)[SHEET_PEOPLE]
    assert isinstance(ws, Worksheet)
    return ws


def header_row(ws: Worksheet, header: tuple[str, ...]) -> int:
    for number, row in enumerate(ws.iter_rows(max_row=20, values_only=True), start=1):
        if row[: len(header)] == header:
            return number
    raise AssertionError("header row not found")


@dataclass
class DataRow:
    row: int
    cells: tuple[object, ...]


def data_rows(ws: Worksheet) -> list[DataRow]:
    """The rows between the header and the footer that carry an STT number."""
    start = header_row(ws, HEADER) + 1
    rows = []
    for n, r in enumerate(ws.iter_rows(min_row=start, max_col=len(HEADER), values_only=True)):
        if isinstance(r[0], int):
            rows.append(DataRow(start + n, r))
    return rows


def clean_text(value: object) -> str:
    assert isinstance(value, str)
    return " ".join(unicodedata.normalize("NFC", value).split())


def e164(value: object) -> str:
    number = phonenumbers.parse(str(value), "VN")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


@pytest.fixture(scope="module")
def sonla(tmp_path_factory: pytest.TempPathFactory) -> SampleRoster:
    path = tmp_path_factory.mktemp("roster") / "sonla.xlsx"
    return write_sample_roster(path, sonla_layout())


@pytest.fixture(scope="module")
def tidy(tmp_path_factory: pytest.TempPathFactory) -> SampleRoster:
    path = tmp_path_factory.mktemp("roster") / "tidy.xlsx"
    return write_sample_roster(path, small_layout(), messy=False)


# --- layouts --------------------------------------------------------------------------------


def test_sonla_layout_follows_the_2024_quotas() -> None:
    layout = sonla_layout()
    assert total(layout) == 1240
    assert len(layout) == 32
    departments = [(u, g) for u, g in layout if not u.startswith("UBND ")]
    districts = [(u, g) for u, g in layout if u.startswith("UBND ")]
    assert len(departments) == 20 and len(districts) == 12
    assert all(sum(c for _, c in groups) == 20 for _, groups in departments)
    assert all(sum(c for _, c in groups) == 70 for _, groups in districts)
    units = {u for u, _ in layout}
    for unit in (
        "Sở Nội vụ",
        "Sở Tài chính",
        "Ban Quản lý các khu công nghiệp",
        "Văn phòng UBND tỉnh",
        "Thanh tra tỉnh",
        "UBND thành phố Sơn La",
        "UBND huyện Mộc Châu",
    ):
        assert unit in units
    assert (
        dict(districts[0][1])["Chủ tịch, Phó Chủ tịch UBND, công chức chuyên môn thuộc UBND cấp xã"]
        == 30
    )


def test_national_layout_has_50000_people_over_3000_unique_units() -> None:
    layout = national_layout()
    units = [u for u, _ in layout]
    assert len(units) == 3000 and len(set(units)) == 3000
    assert total(layout) == 50000
    assert all(count > 0 for _, groups in layout for _, count in groups)
    assert {g for _, groups in layout for g, _ in groups} == NATIONAL_GROUPS
    provinces = {re.sub(r"^.*?(tỉnh|thành phố) ", "", u.rsplit(", ", 1)[-1]) for u in units}
    assert {"Nghệ An", "Sơn La", "Hà Nội", "Hồ Chí Minh", "Cà Mau"} <= provinces
    assert "UBND huyện Quỳnh Lưu, tỉnh Nghệ An" in units
    assert "HĐND tỉnh Nghệ An" in units
    assert any(u.startswith("Sở Nội vụ tỉnh ") for u in units)


def test_national_layout_scales_and_refuses_impossible_sizes() -> None:
    small = national_layout(units=40, people=500)
    assert len(small) == 40 and total(small) == 500
    kinds = {u.split()[0] for u, _ in small}
    assert {"HĐND", "Sở", "UBND"} <= kinds  # picked across the pool, not just one kind
    with pytest.raises(ValueError):
        national_layout(units=10, people=9)
    with pytest.raises(ValueError):
        national_layout(units=100_000)


# --- people ---------------------------------------------------------------------------------


def test_same_seed_same_people_and_other_seed_other_people(tmp_path: Path) -> None:
    a = write_sample_roster(tmp_path / "a.xlsx", small_layout(), seed=7)
    b = write_sample_roster(tmp_path / "b.xlsx", small_layout(), seed=7)
    c = write_sample_roster(tmp_path / "c.xlsx", small_layout(), seed=8)
    assert a.people == b.people and a.contacts == b.contacts
    assert a.people != c.people
    # Messiness and the contacts sheet change what is written, not who is generated.
    d = write_sample_roster(
        tmp_path / "d.xlsx", small_layout(), seed=7, messy=False, contacts=False
    )
    assert d.people == a.people and d.contacts == ()


def test_people_match_the_layout(sonla: SampleRoster) -> None:
    assert len(sonla.people) == 1240
    assert sonla.units == tuple(u for u, _ in sonla_layout())
    counts = Counter((p.unit, p.group) for p in sonla.people)
    for unit, groups in sonla_layout():
        for group, count in groups:
            assert counts[unit, group] == count


def test_emails_and_phones_are_unique_and_clean(sonla: SampleRoster) -> None:
    emails = [p.email for p in sonla.people]
    phones = [p.phone_e164 for p in sonla.people]
    assert len(set(emails)) == len(emails)
    assert len(set(phones)) == len(phones)
    assert all(EMAIL.match(e) and e.endswith("@sonla.gov.vn") for e in emails)
    by_email = {p.email: p for p in sonla.people}
    contact_emails = [c.email for c in sonla.contacts]
    assert len(set(contact_emails)) == len(contact_emails)
    for c in sonla.contacts:
        if c.email in by_email:  # a unit head who is also a respondent is the same person
            p = by_email[c.email]
            assert (p.full_name, p.phone_e164) == (c.full_name, c.phone_e164)
        else:
            assert c.phone_e164 not in phones


def test_every_phone_is_a_valid_vietnamese_mobile(sonla: SampleRoster) -> None:
    for phone in [p.phone_e164 for p in sonla.people] + [c.phone_e164 for c in sonla.contacts]:
        assert re.fullmatch(r"\+84\d{9}", phone)
        number = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(number), phone
        assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE


def test_names_are_nfc_and_look_vietnamese(sonla: SampleRoster) -> None:
    names = [p.full_name for p in sonla.people]
    assert all(unicodedata.normalize("NFC", n) == n == " ".join(n.split()) for n in names)
    families = Counter(n.split()[0] for n in names)
    assert 0.30 < families["Nguyễn"] / len(names) < 0.46
    assert families["Trần"] > families["Ngô"]
    assert {"Lò", "Cầm"} & set(families)  # Thái family names
    given = {n.split()[-1] for n in names}
    assert {"Hoà", "Hòa"} <= given or {"Thuý", "Thúy"} <= given  # both tone placements
    middles = Counter(n.split()[1] for n in names)
    assert middles["Văn"] > 0 and middles["Thị"] > 0


def test_positions_fit_the_groups(sonla: SampleRoster) -> None:
    by_group: dict[str, list[str]] = {}
    for p in sonla.people:
        by_group.setdefault(p.group, []).append(p.position)
    assert "Giám đốc Sở" in by_group["Tập thể lãnh đạo cấp sở"]
    assert any(
        "UBND xã" in pos or "UBND phường" in pos
        for pos in by_group["Chủ tịch, Phó Chủ tịch UBND, công chức chuyên môn thuộc UBND cấp xã"]
    )
    assert "Chủ tịch UBND huyện Mộc Châu" in by_group["Chủ tịch, Phó Chủ tịch UBND cấp huyện"]
    assert all("HĐND" in pos for pos in by_group["Đại biểu Hội đồng nhân dân cấp huyện"])
    assert all(
        pos.split()[0] in {"Trưởng", "Phó", "Chánh"}
        for pos in by_group["Lãnh đạo các cơ quan chuyên môn trực thuộc UBND cấp huyện"]
    )


def test_national_roster_emails(tmp_path: Path) -> None:
    layout = national_layout(units=60, people=600)
    roster = write_sample_roster(tmp_path / "n.xlsx", layout, email_domain="gov.vn")
    assert len(roster.people) == 600
    assert {p.group for p in roster.people} == NATIONAL_GROUPS
    assert len({p.email for p in roster.people}) == 600
    assert all(EMAIL.match(p.email) and p.email.endswith("@gov.vn") for p in roster.people)


def test_national_group_positions(tmp_path: Path) -> None:
    layout = [
        ("HĐND tỉnh Nghệ An", [("Đại biểu HĐND cấp tỉnh", 8)]),
        (
            "Sở Nội vụ tỉnh Nghệ An",
            [("Lãnh đạo cấp sở", 4), ("Lãnh đạo phòng chuyên môn thuộc sở", 6)],
        ),
        ("Chi cục Kiểm lâm tỉnh Nghệ An", [("Lãnh đạo phòng chuyên môn thuộc sở", 4)]),
        ("UBND huyện Quỳnh Lưu, tỉnh Nghệ An", [("Lãnh đạo UBND cấp huyện", 5)]),
    ]
    roster = write_sample_roster(tmp_path / "n.xlsx", layout, email_domain="nghean.gov.vn")
    positions = {u: [p.position for p in roster.people if p.unit == u] for u, _ in layout}
    council = positions["HĐND tỉnh Nghệ An"]
    assert council[0] == "Chủ tịch HĐND tỉnh Nghệ An"
    assert council[-1] == "Đại biểu HĐND tỉnh Nghệ An"
    department = positions["Sở Nội vụ tỉnh Nghệ An"]
    assert department[:4] == ["Giám đốc Sở"] + ["Phó Giám đốc Sở"] * 3
    assert all(p.split()[0] in {"Trưởng", "Phó", "Chánh"} for p in department[4:])
    assert positions["Chi cục Kiểm lâm tỉnh Nghệ An"][0] == "Chi cục trưởng"
    district = positions["UBND huyện Quỳnh Lưu, tỉnh Nghệ An"]
    assert district[0] == "Chủ tịch UBND huyện Quỳnh Lưu"
    assert district[-1] == "Ủy viên UBND huyện Quỳnh Lưu"
    emails = {p.unit: p.email for p in roster.people}
    assert emails["Sở Nội vụ tỉnh Nghệ An"].endswith(".snv.nghean@nghean.gov.vn")
    assert emails["UBND huyện Quỳnh Lưu, tỉnh Nghệ An"].endswith(".quynhluu.nghean@nghean.gov.vn")


# --- the workbook ---------------------------------------------------------------------------


def test_workbook_has_title_block_header_merge_and_footer(sonla: SampleRoster) -> None:
    ws = people_sheet(sonla)
    assert ws["A1"].value == "UBND TỈNH SƠN LA"
    assert ws["A2"].value == "SỞ NỘI VỤ"
    assert ws["D1"].value == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert ws["D2"].value == "Độc lập - Tự do - Hạnh phúc"
    header = header_row(ws, HEADER)
    title_cell = ws.cell(row=header - 2, column=1)
    assert title_cell.value == "DANH SÁCH ĐỐI TƯỢNG ĐIỀU TRA XÃ HỘI HỌC NĂM 2024"
    assert title_cell.font.b
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert f"A{header - 2}:G{header - 2}" in merged
    # The first unit's 20 people share one merged "Cơ quan/đơn vị" cell.
    first = header + 1
    assert f"D{first}:D{first + 19}" in merged
    assert ws.cell(row=first, column=4).value == "Sở Nội vụ"
    values = [c for row in ws.iter_rows(min_row=ws.max_row - 6, values_only=True) for c in row]
    assert "Người lập biểu" in values


def test_sheet_cells_clean_up_to_the_expected_people(sonla: SampleRoster) -> None:
    rows = data_rows(people_sheet(sonla))
    assert len(rows) == len(sonla.people)
    unit = None
    for n, (row, person) in enumerate(zip(rows, sonla.people, strict=True), start=1):
        stt, name, position, unit_cell, group, email, phone = row.cells
        assert stt == n
        unit = clean_text(unit_cell) if unit_cell is not None else unit  # merged: carry down
        assert clean_text(name) == person.full_name
        assert clean_text(position) == person.position
        assert unit == person.unit
        assert group == person.group
        assert isinstance(email, str) and email.strip().lower() == person.email
        assert e164(phone) == person.phone_e164


def test_messy_sheet_is_actually_messy(sonla: SampleRoster) -> None:
    rows = data_rows(people_sheet(sonla))
    names = [r.cells[1] for r in rows]
    assert all(isinstance(n, str) for n in names)
    nfd = [n for n in names if isinstance(n, str) and unicodedata.normalize("NFC", n) != n]
    assert 0.05 < len(nfd) / len(names) < 0.16
    assert any(isinstance(n, str) and n != n.strip() for n in names)
    assert any(isinstance(n, str) and "  " in n for n in names)
    emails = [r.cells[5] for r in rows]
    assert any(isinstance(e, str) and e != e.lower() for e in emails)
    phones = [r.cells[6] for r in rows]
    assert any(isinstance(p, int) for p in phones)  # lost its leading zero
    assert any(isinstance(p, str) and p.startswith("+84 ") for p in phones)
    assert any(isinstance(p, str) and re.fullmatch(r"0\d{3}\.\d{3}\.\d{3}", p) for p in phones)
    assert any(isinstance(p, str) and re.fullmatch(r"0\d{3} \d{3} \d{3}", p) for p in phones)
    # A blank row here and there between the units.
    assert rows[-1].row - rows[0].row + 1 > len(rows)


def test_tidy_sheet_is_clean(tidy: SampleRoster) -> None:
    ws = people_sheet(tidy)
    rows = data_rows(ws)
    assert rows[-1].row - rows[0].row + 1 == len(rows)  # no blank rows
    for row, person in zip(rows, tidy.people, strict=True):
        _, name, position, unit, group, email, phone = row.cells
        assert (name, position, unit, group, email) == (
            person.full_name,
            person.position,
            person.unit,
            person.group,
            person.email,
        )
        assert phone == "0" + person.phone_e164.removeprefix("+84")
    assert not [r for r in ws.merged_cells.ranges if r.min_col == 4 and r.max_row > r.min_row]


def test_contacts_sheet(sonla: SampleRoster) -> None:
    roles = Counter(c.role for c in sonla.contacts)
    assert roles == {ROLE_FOCAL_POINT: 32, ROLE_HEAD: 32, ROLE_IT: 1, ROLE_ORGANISER: 1}
    for role in (ROLE_FOCAL_POINT, ROLE_HEAD):
        assert sorted(c.scope for c in sonla.contacts if c.role == role) == sorted(sonla.units)
    assert {c.scope for c in sonla.contacts if c.role in (ROLE_IT, ROLE_ORGANISER)} == {SCOPE_ALL}
    heads = {c.scope: c.position for c in sonla.contacts if c.role == ROLE_HEAD}
    assert heads["Sở Nội vụ"] == "Giám đốc Sở"
    assert heads["UBND huyện Mộc Châu"] == "Chủ tịch UBND huyện Mộc Châu"

    ws = load_workbook(sonla.path)[SHEET_CONTACTS]
    assert isinstance(ws, Worksheet)
    header = header_row(ws, CONTACT_HEADER)
    assert header > 1 and ws.cell(row=1, column=1).value  # a title line above the header
    rows = list(ws.iter_rows(min_row=header + 1, values_only=True))
    assert len(rows) == len(sonla.contacts)
    for cells, contact in zip(rows, sonla.contacts, strict=True):
        assert clean_text(cells[1]) == contact.full_name
        assert (cells[3], cells[4]) == (contact.role, contact.scope)
        assert str(cells[5]).strip().lower() == contact.email
        assert e164(cells[6]) == contact.phone_e164


def test_no_contacts_sheet_when_not_asked(tmp_path: Path) -> None:
    roster = write_sample_roster(tmp_path / "r.xlsx", small_layout(), contacts=False)
    assert load_workbook(roster.path).sheetnames == [SHEET_PEOPLE]


def test_large_layouts_are_streamed_with_title_block_but_no_merges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lower the threshold rather than writing 5,000+ people in a unit test.
    monkeypatch.setattr(sample_roster, "WRITE_ONLY_ABOVE", 50)
    roster = write_sample_roster(tmp_path / "big.xlsx", small_layout())
    ws = people_sheet(roster)
    assert ws["A1"].value == "UBND TỈNH SƠN LA"
    assert str(ws.cell(row=header_row(ws, HEADER) - 2, column=1).value).startswith("DANH SÁCH")
    assert not ws.merged_cells.ranges
    rows = data_rows(ws)
    assert len(rows) == len(roster.people)
    assert all(r.cells[3] is not None for r in rows)  # unit on every row when not merged


def test_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_sample_roster(tmp_path / "x.xlsx", [("Sở Nội vụ", [("A", 1)])] * 2)
    with pytest.raises(ValueError):
        write_sample_roster(tmp_path / "x.xlsx", [("Sở Nội vụ", [("A", -1)])])
