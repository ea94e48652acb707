"""Tests for storage.tables on files built the way Vietnamese offices make them."""

from __future__ import annotations

import unicodedata
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from storage.problems import InputError, Problem
from storage.tables import (
    FieldSpec,
    SheetData,
    SourceRow,
    Table,
    column_letter,
    header_key,
    locate_table,
    read_sheets,
    read_table,
)

FIELDS = (
    FieldSpec("full_name", "Họ và tên", ("Họ và tên", "Họ tên", "Ho ten", "Full name"), True),
    FieldSpec("position", "Chức vụ", ("Chức vụ", "Chức danh")),
    FieldSpec("unit", "Cơ quan/đơn vị", ("Cơ quan/đơn vị", "Cơ quan, đơn vị", "Đơn vị"), True),
    FieldSpec("group", "Nhóm đối tượng", ("Nhóm đối tượng", "Đối tượng"), True),
    FieldSpec("email", "Email", ("Email", "Thư điện tử")),
    FieldSpec("phone", "Số điện thoại", ("Số điện thoại", "SĐT", "Điện thoại")),
)

HEADER = [
    "STT",
    unicodedata.normalize("NFD", "  Họ và   tên "),
    "Chức vụ",
    "Cơ quan, đơn vị",
    "Nhóm đối tượng (*)",
    "Email công vụ",
    "Số điện thoại di động",
    "Ghi chú",
]


def single_problem(error: InputError) -> Problem:
    assert len(error.problems) == 1
    return error.problems[0]


def write_roster(path: Path) -> Path:
    """A roster as a provincial office sends it (row numbers noted for the assertions)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Danh sách"
    ws["A1"] = "UBND TỈNH SƠN LA"
    ws.merge_cells("A1:C1")
    ws["E1"] = "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    ws.merge_cells("E1:H1")
    ws["A2"] = "SỞ NỘI VỤ"
    ws.merge_cells("A2:C2")
    ws["A4"] = "DANH SÁCH ĐỐI TƯỢNG ĐIỀU TRA XHH NĂM 2024"
    ws.merge_cells("A4:H4")
    for col, text in enumerate(HEADER, start=1):  # row 6
        ws.cell(row=6, column=col, value=text)
    for col in range(1, 9):  # row 7: column numbers
        ws.cell(row=7, column=col, value=f"({col})")
    people: dict[int, tuple[int, str, str, str | None]] = {
        8: (1, unicodedata.normalize("NFD", "Nguyễn Văn Đức"), "Chuyên viên", "Sở Nội vụ"),
        9: (2, "  Trần   Thị Thuỷ ", "Phó Trưởng phòng", None),
        10: (3, "Lê Hoàng Phương", "Chuyên viên", None),
        12: (4, "Phạm Ngọc Ánh", "Chủ tịch", "UBND huyện Mộc Châu"),
        14: (5, "Đỗ Minh Ân", "Văn thư", "UBND huyện Mộc Châu"),
    }
    phones: dict[int, int | str | None] = {
        8: 912480190,
        9: 982627828,
        10: "0912.480.191",
        12: 1628480190,
        14: None,
    }
    for row, (stt, name, position, unit) in people.items():
        ws.cell(row=row, column=1, value=stt)
        ws.cell(row=row, column=2, value=name)
        ws.cell(row=row, column=3, value=position)
        if unit is not None:
            ws.cell(row=row, column=4, value=unit)
        ws.cell(row=row, column=5, value="Công chức")
        ws.cell(row=row, column=6, value=f"nguoi{row}@sonla.gov.vn")
        ws.cell(row=row, column=7, value=phones[row])
    # The unit is written once and merged down over its three people.
    ws.merge_cells("D8:D10")
    # Row 11 is a blank spacer; row 13 repeats the header after a page break.
    for col, text in enumerate(HEADER, start=1):
        ws.cell(row=13, column=col, value=text)
    # Footer in columns no field maps to.
    ws["H16"] = "Sơn La, ngày 10 tháng 5 năm 2024"
    ws["A17"] = "Người lập biểu"
    ws["H17"] = "GIÁM ĐỐC"
    ws["H20"] = "Nguyễn Văn Giám"
    wb.save(path)
    return path


# --- read_table on a real-looking roster ----------------------------------------------------


def test_roster_with_title_block_merges_and_footer(tmp_path: Path) -> None:
    table = read_table(write_roster(tmp_path / "ds_son_la.xlsx"), FIELDS)
    assert table.file == "ds_son_la.xlsx"
    assert table.sheet == "Danh sách"
    assert table.header_row == 6
    assert table.columns == {
        "full_name": 1,
        "position": 2,
        "unit": 3,
        "group": 4,
        "email": 5,
        "phone": 6,
    }
    assert table.headers == {
        "full_name": "Họ và tên",
        "position": "Chức vụ",
        "unit": "Cơ quan, đơn vị",
        "group": "Nhóm đối tượng (*)",
        "email": "Email công vụ",
        "phone": "Số điện thoại di động",
    }
    assert table.column_label("email") == "F (Email công vụ)"
    assert table.column_label("full_name") == "B (Họ và tên)"
    assert table.rows == [
        SourceRow(
            8,
            {
                "full_name": "Nguyễn Văn Đức",
                "position": "Chuyên viên",
                "unit": "Sở Nội vụ",
                "group": "Công chức",
                "email": "nguoi8@sonla.gov.vn",
                "phone": "912480190",
            },
        ),
        SourceRow(
            9,
            {
                "full_name": "Trần Thị Thuỷ",
                "position": "Phó Trưởng phòng",
                "unit": "Sở Nội vụ",
                "group": "Công chức",
                "email": "nguoi9@sonla.gov.vn",
                "phone": "982627828",
            },
        ),
        SourceRow(
            10,
            {
                "full_name": "Lê Hoàng Phương",
                "position": "Chuyên viên",
                "unit": "Sở Nội vụ",
                "group": "Công chức",
                "email": "nguoi10@sonla.gov.vn",
                "phone": "0912.480.191",
            },
        ),
        SourceRow(
            12,
            {
                "full_name": "Phạm Ngọc Ánh",
                "position": "Chủ tịch",
                "unit": "UBND huyện Mộc Châu",
                "group": "Công chức",
                "email": "nguoi12@sonla.gov.vn",
                "phone": "1628480190",
            },
        ),
        SourceRow(
            14,
            {
                "full_name": "Đỗ Minh Ân",
                "position": "Văn thư",
                "unit": "UBND huyện Mộc Châu",
                "group": "Công chức",
                "email": "nguoi14@sonla.gov.vn",
                "phone": "",
            },
        ),
    ]
    assert unicodedata.is_normalized("NFC", table.rows[0].values["full_name"])


def test_read_sheets_fills_merges_and_keeps_row_numbers(tmp_path: Path) -> None:
    (sheet,) = read_sheets(write_roster(tmp_path / "ds.xlsx"))
    assert sheet.name == "Danh sách"
    assert sheet.rows[0][:4] == ["UBND TỈNH SƠN LA"] * 3 + [""]
    assert sheet.rows[3] == ["DANH SÁCH ĐỐI TƯỢNG ĐIỀU TRA XHH NĂM 2024"] * 8
    assert sheet.rows[4] == [""] * 8
    assert [sheet.rows[r][3] for r in (7, 8, 9)] == ["Sở Nội vụ"] * 3
    assert sheet.rows[10][3] == ""
    assert sheet.rows[19][7] == "Nguyễn Văn Giám"
    assert len(sheet.rows) == 20


def test_cell_types_become_text(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append([912480190, 1.5, 0.1 + 0.2, date(2024, 5, 1), datetime(2024, 5, 1, 8, 30), True])
    ws.append([12.0, -3, 1e15, "  text\u00a0 ", None, False])
    wb.save(tmp_path / "types.xlsx")
    (sheet,) = read_sheets(tmp_path / "types.xlsx")
    assert sheet.rows == [
        ["912480190", "1.5", "0.3", "2024-05-01", "2024-05-01 08:30:00", "TRUE"],
        ["12", "-3", "1000000000000000", "text", "", "FALSE"],
    ]


def test_data_starts_off_column_a_and_row_1(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws["C5"] = "Họ tên"
    ws["D5"] = "Đơn vị"
    ws["E5"] = "Đối tượng"
    ws["C6"] = "Lò Văn Sướng"
    ws["D6"] = "Sở Tư pháp"
    ws["E6"] = "Lãnh đạo"
    wb.save(tmp_path / "offset.xlsx")
    table = read_table(tmp_path / "offset.xlsx", FIELDS)
    assert table.header_row == 5
    assert table.columns == {"full_name": 2, "unit": 3, "group": 4}
    assert table.column_label("unit") == "D (Đơn vị)"
    assert table.rows == [
        SourceRow(
            6,
            {
                "full_name": "Lò Văn Sướng",
                "position": "",
                "unit": "Sở Tư pháp",
                "group": "Lãnh đạo",
                "email": "",
                "phone": "",
            },
        )
    ]


def test_two_row_header_with_merged_cells(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["STT", "Họ và tên", "Đơn vị", "Đối tượng", "Liên hệ", None])
    ws.append([None, None, None, None, "E-mail", "ĐT cơ quan"])
    ws.append([1, "Hà Thị Phượng", "Sở Y tế", "Công chức", "phuong@sonla.gov.vn", "02123851234"])
    for rng in ("A1:A2", "B1:B2", "C1:C2", "D1:D2", "E1:F1"):
        ws.merge_cells(rng)
    wb.save(tmp_path / "two_rows.xlsx")
    table = read_table(tmp_path / "two_rows.xlsx", FIELDS)
    assert table.header_row == 2
    assert table.columns == {"full_name": 1, "unit": 2, "group": 3, "email": 4}
    assert table.headers["email"] == "E-mail"
    assert [r.row for r in table.rows] == [3]


def test_exact_header_wins_over_prefix(tmp_path: Path) -> None:
    rows = [
        ["Họ và tên", "Điện thoại cơ quan", "Điện thoại", "Đơn vị", "Đối tượng"],
        ["Vũ Thị Hương", "02123851234", "0912480190", "Sở Tài chính", "Công chức"],
    ]
    table = locate_table("x.csv", SheetData(None, rows), FIELDS)
    assert table is not None
    assert table.columns == {"full_name": 0, "phone": 2, "unit": 3, "group": 4}
    assert table.rows[0].values["phone"] == "0912480190"


def test_header_keys() -> None:
    assert header_key("Số ĐT (*)") == "so dt"
    assert header_key(" Cơ quan/đơn vị: ") == "co quan don vi"
    assert header_key("E-mail") == "e mail"
    assert header_key("Họ, tên - chức vụ.") == "ho ten chuc vu"
    assert [column_letter(i) for i in (0, 25, 26, 51, 52, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AZ",
        "BA",
        "ZZ",
        "AAA",
    ]


def test_locate_table_rows_to_skip() -> None:
    rows = [
        ["DANH SÁCH", "", "", ""],
        ["STT", "Họ tên", "Đơn vị", "Đối tượng"],
        ["1", "2", "3", "4"],
        ["1", "Cầm Văn Hùng", "Sở Xây dựng", "Công chức"],
        ["", "", "", ""],
        ["STT", "HỌ TÊN", "ĐƠN VỊ", "ĐỐI TƯỢNG"],
        ["Người lập biểu", "", "", ""],
        ["2", "Quàng Thị Mai", "Sở Xây dựng", "Viên chức"],
    ]
    table = locate_table("ds.csv", SheetData(None, rows), FIELDS)
    assert table is not None
    assert table.header_row == 2
    assert [(r.row, r.values["full_name"]) for r in table.rows] == [
        (4, "Cầm Văn Hùng"),
        (8, "Quàng Thị Mai"),
    ]


def test_locate_table_none_without_required_fields() -> None:
    rows = [["Họ và tên", "Email"], ["Lê Văn Tám", "tam@sonla.gov.vn"]]
    assert locate_table("ds.csv", SheetData(None, rows), FIELDS) is None


def test_locate_table_scans_only_the_first_rows() -> None:
    rows = [[f"Dòng {i}", "", ""] for i in range(5)] + [
        ["Họ và tên", "Đơn vị", "Đối tượng"],
        ["Lê Văn Tám", "Sở Nội vụ", "Công chức"],
    ]
    sheet = SheetData("DS", rows)
    assert locate_table("ds.xlsx", sheet, FIELDS, scan_rows=5) is None
    table = locate_table("ds.xlsx", sheet, FIELDS, scan_rows=6)
    assert table is not None
    assert table.header_row == 6


# --- choosing the sheet ---------------------------------------------------------------------


def write_two_sheets(path: Path) -> Path:
    wb = openpyxl.Workbook()
    cover = wb.active
    assert cover is not None
    cover.title = "Bìa"
    cover["B3"] = "KẾ HOẠCH ĐIỀU TRA XÃ HỘI HỌC"
    cover["B5"] = "Đơn vị: Sở Nội vụ tỉnh Sơn La"
    data = wb.create_sheet("Danh sách")
    data.append(["Họ và tên", "Cơ quan/đơn vị", "Nhóm đối tượng", "SĐT"])
    data.append(["Lường Văn Pọm", "UBND xã Chiềng Sơn", "Người dân", 912480190])
    contacts = wb.create_sheet("Đầu mối")
    contacts.append(["Họ và tên", "Cơ quan/đơn vị", "Nhóm đối tượng"])
    contacts.append(["Đầu Mối", "Sở Nội vụ", "Đầu mối"])
    wb.save(path)
    return path


def test_first_sheet_is_a_cover_page(tmp_path: Path) -> None:
    table = read_table(write_two_sheets(tmp_path / "ds.xlsx"), FIELDS)
    assert table.sheet == "Danh sách"
    assert table.header_row == 1
    assert table.column_label("phone") == "D (SĐT)"
    assert [(r.row, r.values["full_name"], r.values["phone"]) for r in table.rows] == [
        (2, "Lường Văn Pọm", "912480190")
    ]


def test_named_and_excluded_sheets_match_without_accents(tmp_path: Path) -> None:
    path = write_two_sheets(tmp_path / "ds.xlsx")
    assert read_table(path, FIELDS, sheet="dau moi").sheet == "Đầu mối"
    only_contacts = read_table(path, FIELDS, exclude_sheets=("DANH SACH",))
    assert only_contacts.sheet == "Đầu mối"
    with pytest.raises(InputError) as info:
        read_table(path, FIELDS, sheet="Tổng hợp")
    problem = single_problem(info.value)
    assert problem.message_vi == (
        "Không có trang tính «Tổng hợp». Các trang tính trong tệp: «Bìa», «Danh sách», «Đầu mối»."
    )


def test_missing_required_column(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "DS"
    ws["A1"] = "DANH SÁCH ĐỐI TƯỢNG ĐIỀU TRA XHH NĂM 2024"
    ws.append([])
    ws.append(["STT", "Họ và tên", "Cơ quan/đơn vị", "Email", "Ghi chú"])
    ws.append([1, "Lê Văn Tám", "Sở Nội vụ", "tam@sonla.gov.vn", None])
    wb.save(tmp_path / "thieu_cot.xlsx")
    with pytest.raises(InputError) as info:
        read_table(tmp_path / "thieu_cot.xlsx", FIELDS)
    problem = single_problem(info.value)
    assert problem.file == "thieu_cot.xlsx"
    assert problem.sheet == "DS"
    assert problem.message_vi == (
        "Không tìm thấy dòng tiêu đề có các cột bắt buộc: «Nhóm đối tượng». "
        "Dòng giống tiêu đề nhất (dòng 3) có: «STT», «Họ và tên», «Cơ quan/đơn vị», «Email», "
        "«Ghi chú». Hãy kiểm tra tên cột trong 30 dòng đầu («Nhóm đối tượng» có thể ghi là "
        "«Nhóm đối tượng», «Đối tượng») và chọn đúng trang tính."
    )
    assert problem.message_en == (
        "no header row with the required columns group in the first 30 rows; "
        "closest is row 3: STT | Họ và tên | Cơ quan/đơn vị | Email | Ghi chú"
    )
    assert info.value.message_vi == "Không tìm thấy bảng danh sách trong tệp thieu_cot.xlsx"


def test_no_header_at_all_lists_every_required_label(tmp_path: Path) -> None:
    path = tmp_path / "ds.csv"
    path.write_text("Tên,Nơi làm\nLê Văn Tám,Sở Nội vụ\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_table(path, FIELDS)
    problem = single_problem(info.value)
    assert problem.sheet is None
    assert problem.message_vi.startswith(
        "Không tìm thấy dòng tiêu đề có các cột bắt buộc: «Họ và tên», «Cơ quan/đơn vị», "
        "«Nhóm đối tượng». Dòng giống tiêu đề nhất (dòng 1) có: «Tên», «Nơi làm»."
    )


def test_no_required_fields_and_none_found(tmp_path: Path) -> None:
    answered = (
        FieldSpec("token", "Mã (token)", ("Token", "Mã khảo sát")),
        FieldSpec("email", "Email", ("Email", "E-mail")),
    )
    path = tmp_path / "da_tra_loi.csv"
    path.write_text("Họ và tên,Ghi chú\nNguyễn Văn Hùng,xong\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_table(path, answered)
    assert single_problem(info.value).message_vi == (
        "Không tìm thấy dòng tiêu đề có ít nhất một trong các cột: «Mã (token)», «Email». "
        "Dòng giống tiêu đề nhất (dòng 1) có: «Họ và tên», «Ghi chú». Hãy kiểm tra tên cột "
        "trong 30 dòng đầu («Mã (token)» có thể ghi là «Token», «Mã khảo sát»; «Email» có thể "
        "ghi là «Email», «E-mail») và chọn đúng trang tính."
    )
    path.write_text("STT,E-mail\n1,hung@sonla.gov.vn\n", encoding="utf-8")
    table = read_table(path, answered)
    assert table.columns == {"email": 1}
    assert table.rows == [SourceRow(2, {"token": "", "email": "hung@sonla.gov.vn"})]


# --- legacy font encodings ------------------------------------------------------------------

# TCVN3 (.VnTime) spellings of the header and names, as Excel shows them.
TCVN3_HEADER = ["STT", "Hä vµ tªn", "C¬ quan, ®¬n vÞ", "Nhãm ®èi t\xadîng"]
TCVN3_PEOPLE = [
    ["1", "NguyÔn V¨n §øc", "Së Néi vô", "C«ng chøc"],
    ["2", "TrÇn ThÞ Thñy", "Së Néi vô", "C«ng chøc"],
]


def test_tcvn3_workbook_is_refused_with_unikey_advice(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["UBND TØNH S¥N LA"])
    for row in [TCVN3_HEADER, *TCVN3_PEOPLE]:
        ws.append(row)
    wb.save(tmp_path / "cu.xlsx")
    with pytest.raises(InputError) as info:
        read_table(tmp_path / "cu.xlsx", FIELDS)
    problem = single_problem(info.value)
    assert problem.message_vi.startswith("Tệp dùng bảng mã cũ (TCVN3/.VnTime hoặc VNI-Windows)")
    assert "Unikey Toolkit" in problem.message_vi
    assert "«Công cụ chuyển mã»" in problem.message_vi


def test_unicode_header_over_vni_names_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vni.csv"
    path.write_text(
        "Họ và tên,Đơn vị,Đối tượng\n"
        "Nguyeãn Vaên Ñöùc,Sôû Noäi vuï,Coâng chöùc\n"
        "Traàn Thò Thuûy,Sôû Noäi vuï,Coâng chöùc\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        read_table(path, FIELDS)
    assert "bảng mã cũ" in single_problem(info.value).message_vi


# --- CSV ------------------------------------------------------------------------------------


def test_csv_with_bom_and_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "ds.csv"
    text = (
        "DANH SÁCH ĐỐI TƯỢNG;;;\r\n"
        "Họ và tên;Cơ quan, đơn vị;Đối tượng;Số điện thoại\r\n"
        "Nguyễn Văn Đức;Phòng Tổ chức, Sở Nội vụ;Công chức;0912.480.190\r\n"
        ';;;\r\n"Trần Thị\r\nThuỷ";Sở Y tế;Viên chức;912480191\r\n'
        "Lê Văn Tám;Sở Y tế;Viên chức;\r\n"
    )
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    table = read_table(path, FIELDS)
    assert table.sheet is None
    assert table.header_row == 2
    assert table.column_label("unit") == "B (Cơ quan, đơn vị)"
    assert [
        (r.row, r.values["full_name"], r.values["unit"], r.values["phone"]) for r in table.rows
    ] == [
        (3, "Nguyễn Văn Đức", "Phòng Tổ chức, Sở Nội vụ", "0912.480.190"),
        (5, "Trần Thị Thuỷ", "Sở Y tế", "912480191"),
        (6, "Lê Văn Tám", "Sở Y tế", ""),
    ]
    # A CSV file has no sheets to choose between.
    assert read_table(path, FIELDS, sheet="Danh sách") == table


@pytest.mark.parametrize(("delimiter", "name"), [(",", "comma"), ("\t", "tab")])
def test_csv_delimiters(tmp_path: Path, delimiter: str, name: str) -> None:
    path = tmp_path / f"{name}.csv"
    lines = [["Họ tên", "Đơn vị", "Đối tượng"], ["Lê Văn Tám", "Sở Nội vụ", "Công chức"]]
    path.write_text("\n".join(delimiter.join(line) for line in lines) + "\n", encoding="utf-8")
    (sheet,) = read_sheets(path)
    assert sheet == SheetData(None, lines)


def to_cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: ă â ê ô ơ ư đ precomposed, tones combining."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        decomposed = unicodedata.normalize("NFD", ch)
        base, marks = decomposed[0], decomposed[1:]
        letter = [m for m in marks if m in "\u0306\u0302\u031b"]
        tones = [m for m in marks if m not in letter]
        out.append(unicodedata.normalize("NFC", base + "".join(letter)) + "".join(tones))
    return "".join(out).encode("cp1258")


@pytest.mark.parametrize(
    "content",
    [
        to_cp1258("Họ và tên;Đơn vị\nTrần Văn Hùng;Sở Nội vụ\n"),
        "Hé;Là\n".encode("latin-1"),
    ],
)
def test_non_utf8_csv_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ds.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_sheets(path)
    problem = single_problem(info.value)
    assert problem.file == "ds.csv"
    assert problem.message_vi.startswith("Tệp CSV không ở dạng UTF-8")
    assert "«CSV UTF-8 (Comma delimited) (*.csv)»" in problem.message_vi
    assert problem.message_en == "the CSV file is not UTF-8; save it as 'CSV UTF-8' in Excel"


# --- unreadable files -----------------------------------------------------------------------


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "ds.ods"
    path.write_bytes(b"PK")
    with pytest.raises(InputError) as info:
        read_sheets(path)
    assert single_problem(info.value).message_vi.startswith(
        "Chỉ nhận tệp Excel (.xlsx, .xlsm, .xls) hoặc CSV (.csv)."
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_table(tmp_path / "khong_co.xlsx", FIELDS)
    problem = single_problem(info.value)
    assert problem.file == "khong_co.xlsx"
    assert problem.message_vi.startswith("Không tìm thấy tệp tại ")


@pytest.mark.parametrize(
    "content",
    [b"", b"this is not a workbook", b"PK\x03\x04 truncated zip"],
)
def test_corrupt_workbook(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "hong.xlsx"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_sheets(path)
    assert single_problem(info.value).message_vi.startswith(
        "Tệp bị hỏng hoặc không phải tệp Excel thật"
    )


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "nen.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(InputError) as info:
        read_sheets(path)
    assert single_problem(info.value).message_vi.startswith(
        "Tệp bị hỏng hoặc không phải tệp Excel thật"
    )


def test_empty_csv(tmp_path: Path) -> None:
    path = tmp_path / "rong.csv"
    path.write_bytes(b"\xef\xbb\xbf")
    with pytest.raises(InputError) as info:
        read_table(path, FIELDS)
    assert single_problem(info.value).message_vi == (
        "Tệp không có dữ liệu. Hãy kiểm tra lại tệp đã chọn."
    )


def test_table_is_frozen(tmp_path: Path) -> None:
    table = read_table(write_two_sheets(tmp_path / "ds.xlsx"), FIELDS)
    assert isinstance(table, Table)
    with pytest.raises(AttributeError):
        table.sheet = "khác"  # type: ignore[misc]
