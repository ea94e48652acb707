"""The Excel report an organiser sends upward (``dondoc report --xlsx`` and the dashboard's
download): a summary sheet under a title block, then one sheet per view — by unit, by group, the
people who have not answered by unit. Vietnamese headers, numbers stored as numbers (rates as
percent-formatted fractions), frozen header rows, column widths fitted to the content, no tokens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from io import BytesIO
from typing import Final, cast

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Campaign
from storage.phones import format_national
from storage.progress import Tally
from storage.report import ReportData, report_data
from storage.vnformat import vn_datetime, vn_duration

SHEET_SUMMARY: Final = "Tổng hợp"
SHEET_UNITS: Final = "Theo đơn vị"
SHEET_GROUPS: Final = "Theo nhóm"
SHEET_PENDING: Final = "Chưa trả lời"

UNIT_HEADERS: Final = (
    "STT",
    "Mã đơn vị",
    "Cơ quan, đơn vị",
    "Cán bộ đầu mối",
    "Tổng số phiếu",
    "Đã trả lời",
    "Chưa trả lời",
    "Tỷ lệ trả lời",
)
GROUP_HEADERS: Final = (
    "STT",
    "Mã nhóm",
    "Nhóm đối tượng",
    "Tổng số phiếu",
    "Đã trả lời",
    "Chưa trả lời",
    "Tỷ lệ trả lời",
)
PENDING_HEADERS: Final = (
    "STT",
    "Cơ quan, đơn vị",
    "Họ và tên",
    "Chức vụ",
    "Nhóm đối tượng",
    "Email",
    "Số điện thoại",
)

INTEGER: Final = "#,##0"
PERCENT: Final = "0.0%"
_BOLD: Final = Font(bold=True)
_TITLE: Final = Font(bold=True, size=14)
_HEADER_FILL: Final = PatternFill("solid", fgColor="DDEBF7")
_THIN: Final = Side(style="thin", color="999999")
_BOX: Final = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_MIN_WIDTH: Final = 6
_MAX_WIDTH: Final = 50
# The title block above each table: title, as-of line, a blank row; the header comes next.
_HEADER_ROW: Final = 4


async def build_report(
    session: AsyncSession, campaign: Campaign, *, unit_ids: frozenset[int] | None, now: datetime
) -> bytes:
    """The .xlsx report of ``campaign`` as of ``now``; ``unit_ids`` limits it to those units
    (None: every unit)."""
    data = await report_data(session, campaign, unit_ids=unit_ids, now=now)
    # Building a large workbook takes seconds of CPU: keep the event loop free meanwhile.
    return await asyncio.to_thread(render_workbook, data)


def render_workbook(data: ReportData) -> bytes:
    book = Workbook()
    # A new workbook's only sheet is always a worksheet.
    _summary_sheet(cast(Worksheet, book.active), data)
    _units_sheet(book.create_sheet(SHEET_UNITS), data)
    _groups_sheet(book.create_sheet(SHEET_GROUPS), data)
    _pending_sheet(book.create_sheet(SHEET_PENDING), data)
    book.properties.title = f"Báo cáo tiến độ: {data.title}"
    book.properties.creator = "dondoc"
    # openpyxl writes naive times as UTC.
    stamp = data.now.astimezone(UTC).replace(tzinfo=None)
    book.properties.created = stamp
    book.properties.modified = stamp
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def as_of(data: ReportData) -> str:
    return f"Số liệu tính đến {vn_datetime(data.now, data.timezone)}"


def deadline_line(data: ReportData) -> str:
    left = data.deadline - data.now
    when = vn_datetime(data.deadline, data.timezone)
    if left.total_seconds() <= 0:
        return f"Hạn trả lời phiếu: {when} (đã hết hạn)"
    return f"Hạn trả lời phiếu: {when} (còn {vn_duration(left)})"


def scope_line(data: ReportData) -> str:
    if data.scope is None:
        return f"Phạm vi: toàn bộ {len(data.units)} cơ quan, đơn vị có đối tượng khảo sát"
    return f"Phạm vi: {len(data.units)} cơ quan, đơn vị được giao theo dõi"


def _title_block(sheet: Worksheet, heading: str, data: ReportData) -> None:
    sheet["A1"] = heading
    sheet["A1"].font = _TITLE
    sheet["A2"] = f"{data.title}. {as_of(data)}."


def _header(sheet: Worksheet, row: int, headers: Sequence[str]) -> None:
    for column, text in enumerate(headers, start=1):
        cell = sheet.cell(row=row, column=column, value=text)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.border = _BOX
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _counts(sheet: Worksheet, row: int, first: int, tally: Tally) -> None:
    """Total, answered, pending (integers) and the rate (a fraction shown as a percentage)."""
    for offset, value in enumerate((tally.total, tally.answered, tally.pending)):
        sheet.cell(row=row, column=first + offset, value=value).number_format = INTEGER
    sheet.cell(row=row, column=first + 3, value=round(tally.rate, 4)).number_format = PERCENT


def _boxed(sheet: Worksheet, first_row: int, last_row: int, columns: int) -> None:
    for row in sheet.iter_rows(min_row=first_row, max_row=last_row, max_col=columns):
        for cell in row:
            cell.border = _BOX


def _fit_columns(sheet: Worksheet, from_row: int) -> None:
    """Widths from the table's content (the title block spills over on purpose)."""
    widths: dict[int, int] = {}
    for row in sheet.iter_rows(min_row=from_row):
        for cell in row:
            if cell.value is None:
                continue
            value = cell.value
            text = f"{value:.1%}" if isinstance(value, float) else str(value)
            longest = max(len(part) for part in text.split("\n"))
            widths[cell.column] = max(widths.get(cell.column, 0), longest)
    for column, width in widths.items():
        letter = get_column_letter(column)
        sheet.column_dimensions[letter].width = min(_MAX_WIDTH, max(_MIN_WIDTH, width + 2))


def _total_row(sheet: Worksheet, row: int, label_column: int, first: int, tally: Tally) -> None:
    sheet.cell(row=row, column=label_column, value="Tổng cộng").font = _BOLD
    _counts(sheet, row, first, tally)
    for column in range(first, first + 4):
        sheet.cell(row=row, column=column).font = _BOLD


def _summary_sheet(sheet: Worksheet, data: ReportData) -> None:
    sheet.title = SHEET_SUMMARY
    sheet["A1"] = "BÁO CÁO TIẾN ĐỘ TRẢ LỜI PHIẾU KHẢO SÁT"
    sheet["A1"].font = _TITLE
    sheet["A2"] = data.title
    sheet["A2"].font = _BOLD
    sheet["A3"] = as_of(data)
    sheet["A4"] = deadline_line(data)
    sheet["A5"] = scope_line(data)
    header = 7
    _header(sheet, header, ("Chỉ tiêu", "Số liệu"))
    overall = data.overall
    rows: list[tuple[str, int | float, str]] = [
        ("Tổng số người được khảo sát", overall.total, INTEGER),
        ("Số người đã trả lời", overall.answered, INTEGER),
        ("Số người chưa trả lời", overall.pending, INTEGER),
        ("Tỷ lệ trả lời", round(overall.rate, 4), PERCENT),
        ("Số cơ quan, đơn vị", len(data.units), INTEGER),
        ("Số cơ quan, đơn vị đã trả lời đủ", data.units_done, INTEGER),
        ("Số nhóm đối tượng", len(data.groups), INTEGER),
    ]
    for offset, (label, value, fmt) in enumerate(rows, start=1):
        sheet.cell(row=header + offset, column=1, value=label)
        sheet.cell(row=header + offset, column=2, value=value).number_format = fmt
    _boxed(sheet, header + 1, header + len(rows), 2)
    sheet.freeze_panes = f"A{header + 1}"
    _fit_columns(sheet, header)


def _units_sheet(sheet: Worksheet, data: ReportData) -> None:
    _title_block(sheet, "TIẾN ĐỘ TRẢ LỜI THEO CƠ QUAN, ĐƠN VỊ", data)
    _header(sheet, _HEADER_ROW, UNIT_HEADERS)
    row = _HEADER_ROW
    for number, line in enumerate(data.units, start=1):
        row += 1
        sheet.cell(row=row, column=1, value=number)
        sheet.cell(row=row, column=2, value=line.tally.code)
        sheet.cell(row=row, column=3, value=line.tally.name)
        sheet.cell(row=row, column=4, value="; ".join(line.focal_points) or None)
        _counts(sheet, row, 5, line.tally)
    _boxed(sheet, _HEADER_ROW + 1, row, len(UNIT_HEADERS))
    _total_row(sheet, row + 1, 3, 5, data.overall)
    sheet.freeze_panes = f"D{_HEADER_ROW + 1}"
    if data.units:
        sheet.auto_filter.ref = f"A{_HEADER_ROW}:{get_column_letter(len(UNIT_HEADERS))}{row}"
    _fit_columns(sheet, _HEADER_ROW)


def _groups_sheet(sheet: Worksheet, data: ReportData) -> None:
    _title_block(sheet, "TIẾN ĐỘ TRẢ LỜI THEO NHÓM ĐỐI TƯỢNG", data)
    _header(sheet, _HEADER_ROW, GROUP_HEADERS)
    row = _HEADER_ROW
    for number, tally in enumerate(data.groups, start=1):
        row += 1
        sheet.cell(row=row, column=1, value=number)
        sheet.cell(row=row, column=2, value=tally.code)
        sheet.cell(row=row, column=3, value=tally.name)
        _counts(sheet, row, 4, tally)
    _boxed(sheet, _HEADER_ROW + 1, row, len(GROUP_HEADERS))
    _total_row(sheet, row + 1, 3, 4, data.overall)
    sheet.freeze_panes = f"A{_HEADER_ROW + 1}"
    _fit_columns(sheet, _HEADER_ROW)


def _pending_sheet(sheet: Worksheet, data: ReportData) -> None:
    _title_block(sheet, "DANH SÁCH CHƯA TRẢ LỜI PHIẾU, THEO CƠ QUAN, ĐƠN VỊ", data)
    _header(sheet, _HEADER_ROW, PENDING_HEADERS)
    row = _HEADER_ROW
    for number, person in enumerate(data.pending, start=1):
        row += 1
        values = (
            number,
            person.unit,
            person.full_name,
            person.position,
            person.group,
            person.email,
            format_national(person.phone) if person.phone else None,
        )
        for column, value in enumerate(values, start=1):
            sheet.cell(row=row, column=column, value=value)
    if not data.pending:
        sheet.cell(row=row + 1, column=2, value="Tất cả đối tượng đã trả lời phiếu.")
    else:
        # No cell borders here: openpyxl styles each cell separately, which for a national
        # list (25,000 people) would take 15 s; the filter row and gridlines do the job.
        sheet.auto_filter.ref = f"A{_HEADER_ROW}:{get_column_letter(len(PENDING_HEADERS))}{row}"
    sheet.freeze_panes = f"C{_HEADER_ROW + 1}"
    _fit_columns(sheet, _HEADER_ROW)
