"""Tolerant reader for the lists organisers import (rosters, answered lists): Excel workbooks
and CSV files as Vietnamese offices make them.

Real lists carry a title block above the header ("UBND TỈNH SƠN LA", "DANH SÁCH ..."), a row of
column numbers under it, unit cells merged down over their people, blank spacer rows, repeated
headers at page breaks and a signature footer. This module finds the header row by matching
column names against known spellings, and hands back the data rows with their Excel row numbers
so every problem can point at the cell to fix.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path

from python_calamine import CalamineError, CalamineWorkbook, PasswordError, SheetTypeEnum

from storage.problems import InputError, Problem
from storage.text import clean, fold, looks_like_legacy_encoding

__all__ = [
    "EXCEL_SUFFIXES",
    "FieldSpec",
    "SheetData",
    "SourceRow",
    "Table",
    "column_letter",
    "header_key",
    "locate_table",
    "read_sheets",
    "read_table",
]

EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls"})
_CSV_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    """Canonical field name, e.g. "full_name"."""
    label_vi: str
    """Shown to users, e.g. "Họ và tên"."""
    aliases: tuple[str, ...]
    """Header spellings, with or without diacritics: ("Họ và tên", "Họ tên", "Full name").
    ``label_vi`` is accepted too."""
    required: bool = False


@dataclass(frozen=True, slots=True)
class SheetData:
    name: str | None
    """Sheet name; None for a CSV file."""
    rows: list[list[str]]
    """Every cell as cleaned text; rows[0] is spreadsheet row 1, rows[r][0] is column A."""


@dataclass(frozen=True, slots=True)
class SourceRow:
    row: int
    """1-based row number as Excel shows it (for a CSV: the record number Excel shows)."""
    values: dict[str, str]
    """Every requested field -> cleaned text; "" when blank or when the column is absent."""


@dataclass(frozen=True, slots=True)
class Table:
    file: str
    """Display name of the file (its name, not the full path)."""
    sheet: str | None
    header_row: int
    """1-based."""
    columns: dict[str, int]
    """Canonical field -> 0-based column index, for the fields found in the header."""
    headers: dict[str, str]
    """Canonical field -> header text as written in the file."""
    rows: list[SourceRow]

    def column_label(self, field: str) -> str:
        """Where to look, the way the user sees it: "D (Email)"."""
        return f"{column_letter(self.columns[field])} ({self.headers[field]})"


def column_letter(index: int) -> str:
    """0 -> "A", 25 -> "Z", 26 -> "AA"."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


# --- Reading files --------------------------------------------------------------------------


def _refuse(file: str, message_vi: str, message_en: str, sheet: str | None = None) -> InputError:
    problem = Problem(file=file, sheet=sheet, message_vi=message_vi, message_en=message_en)
    return InputError([problem], f"Không đọc được tệp {file}", f"cannot read {file}")


CellValue = int | float | str | bool | time | date | datetime | timedelta


def _cell_text(value: CellValue) -> str:
    if isinstance(value, str):
        return clean(value) if value else ""
    if isinstance(value, float):
        if value.is_integer():
            # Phones and codes typed as numbers: 912480190.0 -> "912480190".
            return str(int(value))
        # Excel shows at most 15 significant digits; repr would leak 0.30000000000000004.
        return format(value, ".15g")
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _fill_merged(
    rows: list[list[str]], merged: Iterable[tuple[tuple[int, int], tuple[int, int]]]
) -> None:
    """Give every cell of a merged range the top-left value, as Excel displays it.

    Ranges are clipped to the data area: a merge over a whole row (A1:XFD1) must not widen
    every row to 16,384 cells.
    """
    height = len(rows)
    width = len(rows[0]) if rows else 0
    for (top, left), (bottom, right) in merged:
        if top >= height or left >= width:
            continue
        value = rows[top][left]
        for r in range(top, min(bottom, height - 1) + 1):
            row = rows[r]
            for c in range(left, min(right, width - 1) + 1):
                row[c] = value


def _read_excel(path: Path, file: str) -> list[SheetData]:
    try:
        workbook = CalamineWorkbook.from_path(path)
    except PasswordError:
        raise _refuse(
            file,
            "Tệp Excel đang đặt mật khẩu. Hãy mở tệp, bỏ mật khẩu (File > Info > Protect "
            "Workbook) rồi lưu lại trước khi nhập.",
            "the workbook is password-protected",
        ) from None
    except (CalamineError, OSError, ValueError) as exc:
        raise _refuse(
            file,
            "Tệp bị hỏng hoặc không phải tệp Excel thật (có thể chỉ được đổi đuôi). Hãy mở tệp "
            "bằng Excel, chọn File > Save As > Excel Workbook (.xlsx) rồi nhập lại.",
            f"not a readable Excel workbook ({type(exc).__name__}: {exc})",
        ) from None
    sheets: list[SheetData] = []
    with workbook:
        for meta in workbook.sheets_metadata:
            # Chart and macro sheets hold no table.
            if meta.typ != SheetTypeEnum.WorkSheet:
                continue
            try:
                sheet = workbook.get_sheet_by_name(meta.name)
                raw = sheet.to_python(skip_empty_area=False)
                merged = sheet.merged_cell_ranges
            except (CalamineError, ValueError) as exc:
                raise _refuse(
                    file,
                    "Không đọc được trang tính này (tệp có thể bị hỏng). Hãy mở bằng Excel, lưu "
                    "lại dưới dạng .xlsx rồi nhập lại.",
                    f"cannot read the sheet ({type(exc).__name__}: {exc})",
                    sheet=meta.name,
                ) from None
            rows = [[_cell_text(v) for v in row] for row in raw]
            if merged:
                _fill_merged(rows, merged)
            sheets.append(SheetData(name=meta.name, rows=rows))
    return sheets


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most consistent number of columns.

    Excel writes every column on every line, so the right delimiter gives equal widths; a
    ';' file whose values contain commas gives ragged widths when split on ','.
    """
    sample = text[:65536].splitlines()[:50]
    best, best_score = ",", (-1.0, 0)
    for delimiter in _CSV_DELIMITERS:
        widths = [len(r) for r in csv.reader(sample, delimiter=delimiter) if any(r)]
        if not widths:
            continue
        mode = max(set(widths), key=widths.count)
        if mode < 2:
            continue
        score = (widths.count(mode) / len(widths), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _read_csv(path: Path, file: str) -> list[SheetData]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refuse(
            file,
            "Tệp CSV không ở dạng UTF-8 nên chữ tiếng Việt sẽ bị lỗi. Hãy mở tệp bằng Excel, "
            "chọn File > Save As, ở mục kiểu tệp chọn «CSV UTF-8 (Comma delimited) (*.csv)» "
            "rồi nhập lại (hoặc nhập thẳng tệp .xlsx).",
            "the CSV file is not UTF-8; save it as 'CSV UTF-8' in Excel",
        ) from None
    delimiter = _sniff_delimiter(text)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise _refuse(
            file,
            "Tệp CSV bị lỗi định dạng. Hãy mở bằng Excel và lưu lại dạng «CSV UTF-8».",
            f"malformed CSV ({exc})",
        ) from None
    return [SheetData(name=None, rows=[[clean(v) for v in r] for r in records])]


def read_sheets(path: Path) -> list[SheetData]:
    """Every worksheet of an .xlsx/.xlsm/.xls workbook, or the one table of a .csv file.

    Numbers that are whole print without ".0", dates as ISO text, merged cells filled in.
    Raises InputError (never a raw traceback) for a missing, unreadable or unsupported file.
    """
    file = path.name
    suffix = path.suffix.lower()
    if suffix not in EXCEL_SUFFIXES and suffix != ".csv":
        raise _refuse(
            file,
            "Chỉ nhận tệp Excel (.xlsx, .xlsm, .xls) hoặc CSV (.csv). Hãy lưu danh sách dưới một "
            "trong các dạng này rồi nhập lại.",
            f"unsupported file type {suffix or '(none)'}; use .xlsx, .xlsm, .xls or .csv",
        )
    if not path.is_file():
        raise _refuse(
            file,
            f"Không tìm thấy tệp tại {path}. Hãy kiểm tra lại đường dẫn và tên tệp.",
            f"file not found: {path}",
        )
    try:
        if suffix == ".csv":
            return _read_csv(path, file)
        return _read_excel(path, file)
    except OSError as exc:
        raise _refuse(
            file,
            "Không mở được tệp (có thể tệp đang mở trong Excel hoặc không có quyền đọc). "
            "Hãy đóng tệp trong Excel rồi thử lại.",
            f"cannot open the file ({exc})",
        ) from None


# --- Finding the table ----------------------------------------------------------------------

_PUNCTUATION = re.compile(r"[\W_]+")
_COLUMN_NUMBER = re.compile(r"\(?(\d{1,3})\)?")


def header_key(text: str) -> str:
    """Header text reduced to words: "Số ĐT (*)" -> "so dt", "E-mail:" -> "e mail"."""
    return _PUNCTUATION.sub(" ", fold(text)).strip()


@dataclass(frozen=True, slots=True)
class _Alias:
    field: int
    key: str
    compact: str


@dataclass(frozen=True, slots=True)
class _HeaderMatch:
    row: int
    columns: dict[int, int]
    """Field index -> column index."""


def _aliases(fields: Sequence[FieldSpec]) -> list[_Alias]:
    result = []
    for i, spec in enumerate(fields):
        for alias in (*spec.aliases, spec.label_vi):
            key = header_key(alias)
            if key:
                result.append(_Alias(i, key, key.replace(" ", "")))
    return result


def _match_row(cells: list[str], aliases: list[_Alias]) -> dict[int, int]:
    """Field index -> column index for one candidate header row.

    An exact match beats a prefix match ("Email công vụ" for "Email"), a longer alias beats a
    shorter one, then the leftmost column; each column and each field is used once. Spaces do
    not count in exact matches, so "E-mail" equals "Email".
    """
    candidates: list[tuple[int, int, int, int, int]] = []
    for col, cell in enumerate(cells):
        if not cell:
            continue
        key = header_key(cell)
        if not key:
            continue
        compact = key.replace(" ", "")
        for alias in aliases:
            if compact == alias.compact:
                candidates.append((0, -len(alias.key), col, alias.field, col))
            elif key.startswith(alias.key + " "):
                candidates.append((1, -len(alias.key), col, alias.field, col))
    candidates.sort()
    chosen: dict[int, int] = {}
    used: set[int] = set()
    for *_, field, col in candidates:
        if field not in chosen and col not in used:
            chosen[field] = col
            used.add(col)
    return chosen


_Score = tuple[int, int, int]


def _find_header(
    sheet: SheetData, fields: Sequence[FieldSpec], scan_rows: int
) -> tuple[_HeaderMatch | None, _HeaderMatch | None, _Score]:
    """The header row (None if no row has every required field), and for error messages the
    row closest to a header with its score (required found, fields found, cells filled)."""
    aliases = _aliases(fields)
    required = {i for i, f in enumerate(fields) if f.required}
    best: _HeaderMatch | None = None
    closest: _HeaderMatch | None = None
    closest_score: _Score = (0, 0, 0)
    for r, cells in enumerate(sheet.rows[:scan_rows]):
        matched = _match_row(cells, aliases)
        filled = sum(1 for c in cells if c)
        score = (len(required & matched.keys()), len(matched), filled)
        if filled and score > closest_score:
            closest, closest_score = _HeaderMatch(r, matched), score
        # Ties go to the upper row: with a two-row merged header the lower one then reads as a
        # repeat of the header and is skipped.
        if matched and required <= matched.keys():
            if best is None or len(matched) > len(best.columns):
                best = _HeaderMatch(r, matched)
    return best, closest, closest_score


def _is_column_numbers(cells: list[str]) -> bool:
    """A "(1) (2) (3)" or "1 2 3" row printed under the header of official forms."""
    numbers = []
    for cell in cells:
        if not cell:
            continue
        m = _COLUMN_NUMBER.fullmatch(cell)
        if m is None:
            return False
        numbers.append(int(m.group(1)))
    return len(numbers) >= 2 and all(a < b for a, b in pairwise(numbers))


def locate_table(
    file: str, sheet: SheetData, fields: Sequence[FieldSpec], *, scan_rows: int = 30
) -> Table | None:
    """The table under the header row found in the first ``scan_rows`` rows, or None.

    The header row is the one with the most recognised columns among rows that have every
    required field. Data rows skip: rows blank in every recognised column (spacers, footers
    written in other columns), repeats of the header (page breaks) and column-number rows.
    """
    header, _, _ = _find_header(sheet, fields, scan_rows)
    if header is None:
        return None
    header_cells = sheet.rows[header.row]
    columns = {fields[f].name: c for f, c in sorted(header.columns.items(), key=lambda x: x[1])}
    headers = {name: header_cells[c] for name, c in columns.items()}
    header_keys = {c: header_key(header_cells[c]) for c in columns.values()}
    repeat_min = min(2, len(columns))
    rows: list[SourceRow] = []
    for r in range(header.row + 1, len(sheet.rows)):
        cells = sheet.rows[r]
        mapped = {c: cells[c] if c < len(cells) else "" for c in columns.values()}
        filled = [c for c, v in mapped.items() if v]
        if not filled:
            continue
        if len(filled) >= repeat_min and all(
            header_key(mapped[c]) == header_keys[c] for c in filled
        ):
            continue
        if _is_column_numbers(cells):
            continue
        values = {spec.name: "" for spec in fields}
        values.update({name: mapped[c] for name, c in columns.items()})
        rows.append(SourceRow(row=r + 1, values=values))
    return Table(
        file=file,
        sheet=sheet.name,
        header_row=header.row + 1,
        columns=columns,
        headers=headers,
        rows=rows,
    )


# --- Choosing the sheet ---------------------------------------------------------------------

_LEGACY_VI = (
    "Tệp dùng bảng mã cũ (TCVN3/.VnTime hoặc VNI-Windows), chữ tiếng Việt không đọc được. "
    "Hãy chuyển sang Unicode bằng Unikey Toolkit (Unikey: «Công cụ chuyển mã», chọn bảng mã "
    "nguồn TCVN3 hoặc VNI Windows, bảng mã đích Unicode) rồi nhập lại."
)
_LEGACY_EN = (
    "the file uses a legacy Vietnamese font encoding (TCVN3 or VNI); convert it to Unicode "
    "with Unikey Toolkit before importing"
)


def _legacy_problem(file: str, sheet: str | None) -> InputError:
    problem = Problem(file=file, sheet=sheet, message_vi=_LEGACY_VI, message_en=_LEGACY_EN)
    return InputError([problem], f"Tệp {file} dùng bảng mã cũ", f"{file}: legacy encoding")


def _quoted(texts: Iterable[str], limit: int = 12) -> str:
    items = [f"«{t[:40]}»" for t in texts if t]
    more = f" (và {len(items) - limit} ô khác)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _no_header_problem(
    file: str,
    sheets: Sequence[SheetData],
    fields: Sequence[FieldSpec],
    scan_rows: int,
) -> InputError:
    closest_sheet: SheetData | None = None
    closest: _HeaderMatch | None = None
    closest_score: _Score = (0, 0, 0)
    for sheet in sheets:
        _, candidate, score = _find_header(sheet, fields, scan_rows)
        if candidate is not None and score > closest_score:
            closest_sheet, closest, closest_score = sheet, candidate, score
    sheet_name = closest_sheet.name if closest_sheet else (sheets[0].name if sheets else None)
    sample = [v for s in sheets for row in s.rows[:scan_rows] for v in row if v]
    if looks_like_legacy_encoding(sample):
        return _legacy_problem(file, sheet_name)
    summary_vi = f"Không tìm thấy bảng danh sách trong tệp {file}"
    summary_en = f"no table with the required columns in {file}"
    if closest is None or closest_sheet is None:
        problem = Problem(
            file=file,
            sheet=sheet_name,
            message_vi="Tệp không có dữ liệu. Hãy kiểm tra lại tệp đã chọn.",
            message_en="the file holds no data",
        )
        return InputError([problem], summary_vi, summary_en)
    missing = [f for i, f in enumerate(fields) if f.required and i not in closest.columns]
    if missing:
        wanted_vi, wanted_en = "các cột bắt buộc", "the required columns"
    else:
        # Nothing is required on its own (an answered list needs a token, email or phone),
        # so the header had none of the fields.
        missing = list(fields)
        wanted_vi, wanted_en = "ít nhất một trong các cột", "at least one of the columns"
    seen = [c for c in closest_sheet.rows[closest.row] if c]
    hints = "; ".join(
        f"«{f.label_vi}» có thể ghi là " + ", ".join(f"«{a}»" for a in f.aliases[:4])
        for f in missing
    )
    message_vi = (
        f"Không tìm thấy dòng tiêu đề có {wanted_vi}: "
        + ", ".join(f"«{f.label_vi}»" for f in missing)
        + f". Dòng giống tiêu đề nhất (dòng {closest.row + 1}) có: {_quoted(seen)}. "
        + f"Hãy kiểm tra tên cột trong {scan_rows} dòng đầu ({hints}) và chọn đúng trang tính."
    )
    message_en = (
        f"no header row with {wanted_en} {', '.join(f.name for f in missing)} in the "
        f"first {scan_rows} rows; closest is row {closest.row + 1}: {' | '.join(seen[:12])}"
    )
    problem = Problem(file=file, sheet=sheet_name, message_vi=message_vi, message_en=message_en)
    return InputError([problem], summary_vi, summary_en)


def read_table(
    path: Path,
    fields: Sequence[FieldSpec],
    *,
    sheet: str | None = None,
    exclude_sheets: Collection[str] = (),
    sheets: Sequence[SheetData] | None = None,
) -> Table:
    """The table of ``fields`` in a workbook or CSV file.

    ``sheets`` are the file's sheets when the caller has read them already (a roster and its
    focal points come from one workbook, read once).

    ``sheet`` names the workbook sheet to read (accents and case ignored; ignored for a CSV
    file); otherwise the first sheet that has a header with every required field, skipping
    ``exclude_sheets``. Raises InputError saying which required columns are missing, or that
    the file is in a legacy font encoding (checked on the data rows too: a Unicode header
    over names pasted from an old .VnTime file still matches).
    """
    file = path.name
    if sheets is None:
        sheets = read_sheets(path)
    # A CSV file is one table, so a sheet name has nothing to choose between.
    if sheet is not None and any(s.name is not None for s in sheets):
        wanted = fold(sheet)
        candidates = [s for s in sheets if s.name is not None and fold(s.name) == wanted]
        if not candidates:
            names = ", ".join(f"«{s.name}»" for s in sheets if s.name is not None)
            problem = Problem(
                file=file,
                sheet=sheet,
                message_vi=f"Không có trang tính «{sheet}». Các trang tính trong tệp: {names}.",
                message_en=f"no sheet named {sheet!r}; the sheets are: {names}",
            )
            raise InputError([problem], f"Không có trang tính «{sheet}»", f"no sheet {sheet!r}")
    else:
        excluded = {fold(name) for name in exclude_sheets}
        candidates = [s for s in sheets if s.name is None or fold(s.name) not in excluded]
    for candidate in candidates:
        table = locate_table(file, candidate, fields)
        if table is None:
            continue
        sample = [v for row in table.rows[:500] for v in row.values.values() if v]
        if looks_like_legacy_encoding(sample):
            raise _legacy_problem(file, table.sheet)
        return table
    raise _no_header_problem(file, candidates, fields, 30)


def split_signature_block(
    rows: Sequence[SourceRow], key_fields: Collection[str]
) -> tuple[list[SourceRow], list[SourceRow]]:
    """(data rows, signature rows): the block under a list ("Người lập biểu", names, titles).

    It is the run of last rows, set apart from the data by at least one blank row, in which
    every ``key_fields`` cell is empty. A row missing those cells inside the list, or right
    under it, stays a data row, so the importer reports it instead of dropping a person.
    """
    end = len(rows)
    while end > 0 and not any(rows[end - 1].values.get(f) for f in key_fields):
        end -= 1
    if end == 0 or end == len(rows) or rows[end].row - rows[end - 1].row < 2:
        return list(rows), []
    return list(rows[:end]), list(rows[end:])
