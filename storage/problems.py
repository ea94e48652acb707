"""Problems found in what people give us (campaign files, rosters, answered lists).

Each problem says where (file, sheet, row, column, value) and what to do, in Vietnamese for the
organiser and in English for logs. Importers collect every problem before refusing, so one run
lists them all instead of stopping at the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from storage.errors import DondocError


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    message_vi: str
    message_en: str
    sheet: str | None = None
    row: int | None = None
    # A spreadsheet column ("D (Email)") or a key in a campaign file ("policy.min_gap").
    column: str | None = None
    value: str | None = None

    def where_vi(self) -> str:
        parts = [f"Tệp {self.file}"]
        if self.sheet:
            parts.append(f"trang tính «{self.sheet}»")
        if self.row is not None:
            parts.append(f"dòng {self.row}")
        if self.column:
            parts.append(f"cột {self.column}" if self.row is not None else f"mục {self.column}")
        return ", ".join(parts)

    def where_en(self) -> str:
        parts = [f"file {self.file}"]
        if self.sheet:
            parts.append(f"sheet {self.sheet!r}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column}" if self.row is not None else f"key {self.column}")
        return ", ".join(parts)

    def render_vi(self) -> str:
        value = f" (giá trị: «{self.value}»)" if self.value not in (None, "") else ""
        return f"{self.where_vi()}{value}: {self.message_vi}"

    def render_en(self) -> str:
        value = f" (value: {self.value!r})" if self.value not in (None, "") else ""
        return f"{self.where_en()}{value}: {self.message_en}"


class InputError(DondocError):
    """Input refused as a whole; ``problems`` lists every reason, in file order."""

    def __init__(self, problems: Sequence[Problem], summary_vi: str, summary_en: str) -> None:
        self.problems = list(problems)
        details_en = "; ".join(p.render_en() for p in self.problems[:5])
        more = f" (+{len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(summary_vi, f"{summary_en}: {details_en}{more}")


class UnreadableFile(Exception):
    """A file could not be read as text; ``problem`` says why and what to do."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message_en)
        self.problem = problem


def read_utf8_text(path: Path, *, what_vi: str) -> str:
    """The text of a UTF-8 file (a BOM from Windows editors is dropped), or UnreadableFile.

    ``what_vi`` names the file for people ("tệp cấu hình đợt khảo sát"); each reader wraps the
    problem in its own refusal, so the messages for one kind of file read the same everywhere.
    """
    file = path.name
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile(
            Problem(
                file=file,
                message_vi="Tệp không được lưu ở bảng mã UTF-8. Vui lòng mở tệp bằng trình soạn "
                "thảo văn bản và lưu lại với bảng mã UTF-8.",
                message_en="the file is not UTF-8 text; save it again as UTF-8",
            )
        ) from None
    except FileNotFoundError as exc:
        raise UnreadableFile(
            Problem(
                file=file,
                message_vi=f"Không tìm thấy tệp «{path}». Vui lòng kiểm tra lại tên và đường dẫn "
                f"tới {what_vi}.",
                message_en=f"no such file: {path}",
            )
        ) from exc
    except OSError as exc:
        raise UnreadableFile(
            Problem(
                file=file,
                message_vi=f"Không đọc được tệp «{path}» ({exc.strerror or exc}). Vui lòng kiểm "
                "tra lại đường dẫn và quyền đọc tệp.",
                message_en=f"cannot read the file: {exc}",
            )
        ) from exc
