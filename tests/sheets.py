"""Build spreadsheets shaped like the real ones (title block, merged cells, STT column...)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook

Row = Sequence[object]

TITLE_BLOCK: list[Row] = [
    ["UBND TỈNH SƠN LA", None, None, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"],
    ["SỞ NỘI VỤ", None, None, "Độc lập - Tự do - Hạnh phúc"],
    [],
    ["DANH SÁCH ĐỐI TƯỢNG ĐIỀU TRA XÃ HỘI HỌC NĂM 2024"],
    [],
]
HEADER: Row = [
    "STT",
    "Họ và tên",
    "Chức vụ",
    "Cơ quan/đơn vị",
    "Nhóm đối tượng",
    "Email",
    "Số điện thoại",
]
CONTACT_HEADER: Row = [
    "STT",
    "Họ và tên",
    "Chức vụ",
    "Vai trò",
    "Đơn vị phụ trách",
    "Email",
    "Số điện thoại",
]


def write_xlsx(
    path: Path,
    sheets: dict[str, list[Row]],
    merges: dict[str, list[str]] | None = None,
) -> Path:
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(list(row))
        for ref in (merges or {}).get(name, []):
            ws.merge_cells(ref)
    wb.save(path)
    return path


def roster_rows(people: list[Row], *, title: bool = True) -> list[Row]:
    """Title block, header, then people numbered in an STT column."""
    rows: list[Row] = list(TITLE_BLOCK) if title else []
    rows.append(HEADER)
    rows.extend([i, *person] if person else [] for i, person in enumerate(people, start=1))
    return rows


def write_csv(
    path: Path, rows: list[Row], *, encoding: str = "utf-8-sig", delimiter: str = ","
) -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path
