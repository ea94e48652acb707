"""Turning a table's cells into clean values, with a Problem for every bad one.

Shared by every importer that reads people from a sheet (roster, focal points), so an email or a
phone number is judged and explained the same way wherever it comes from.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from storage.phones import PhoneError, normalize_phone
from storage.problems import Problem
from storage.tables import SourceRow, Table


def normalise_email(raw: str) -> str:
    """Lower-cased, syntax-checked address (no DNS: the machine may be offline)."""
    try:
        checked = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return checked.normalized.lower()


class RowChecker:
    """Turns table rows into clean values, collecting a Problem for every bad cell."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.problems: list[Problem] = []
        self.bad_rows: set[int] = set()

    def problem(self, row: int, fld: str, value: str, vi: str, en: str) -> None:
        self.bad_rows.add(row)
        self.problems.append(
            Problem(
                file=self.table.file,
                sheet=self.table.sheet,
                row=row,
                column=self.table.column_label(fld) if fld in self.table.columns else fld,
                value=value,
                message_vi=vi,
                message_en=en,
            )
        )

    def required(self, src: SourceRow, fld: str, label: str) -> str:
        value = src.values.get(fld, "")
        if not value:
            self.problem(
                src.row,
                fld,
                value,
                f"Thiếu {label}. Hãy điền {label} cho dòng này hoặc xóa dòng nếu thừa.",
                f"missing {fld}",
            )
        return value

    def email(self, src: SourceRow) -> str | None:
        raw = src.values.get("email", "")
        if not raw:
            return None
        try:
            return normalise_email(raw)
        except ValueError as exc:
            self.problem(
                src.row,
                "email",
                raw,
                "Địa chỉ email không hợp lệ. Hãy sửa lại theo dạng ten@coquan.gov.vn "
                "(không dấu, không khoảng trắng, mỗi ô một địa chỉ).",
                f"invalid email address: {exc}",
            )
            return None

    def phone(self, src: SourceRow) -> str | None:
        raw = src.values.get("phone", "")
        if not raw:
            return None
        try:
            return normalize_phone(raw)
        except PhoneError as exc:
            self.problem(src.row, "phone", raw, exc.message_vi, exc.message_en)
            return None
