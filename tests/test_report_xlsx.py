"""The Excel report read back with openpyxl, on SQLite and PostgreSQL: sheets, Vietnamese headers,
numbers stored as numbers, frozen header rows, a scope limited to some units, no tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.answered import import_answered
from storage.models import Campaign, Respondent, Unit
from storage.report_xlsx import (
    GROUP_HEADERS,
    PENDING_HEADERS,
    UNIT_HEADERS,
    build_report,
)
from storage.roster import import_roster
from tests.sample import PEOPLE, roster_file
from tests.sheets import write_csv

NOW = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hà Nội


@pytest.fixture
async def roster(session: AsyncSession, province: Campaign, tmp_path: Path) -> list[Respondent]:
    await import_roster(session, province, roster_file(tmp_path, PEOPLE), actor="test")
    listed = write_csv(
        tmp_path / "da-tra-loi.csv", [["Email"], ["hungnv@sonv.gov.vn"], ["tuanpm@mocchau.gov.vn"]]
    )
    await import_answered(session, province, listed, actor="test", now=NOW)
    await session.commit()
    return list(await session.scalars(select(Respondent)))


def rows(sheet: Worksheet, first: int = 5) -> list[tuple[object, ...]]:
    return [tuple(r) for r in sheet.iter_rows(min_row=first, values_only=True) if any(r)]


async def test_whole_campaign_report(
    session: AsyncSession, province: Campaign, roster: list[Respondent]
) -> None:
    content = await build_report(session, province, unit_ids=None, now=NOW)
    book = load_workbook(BytesIO(content))
    assert book.sheetnames == ["Tổng hợp", "Theo đơn vị", "Theo nhóm", "Chưa trả lời"]

    summary = book["Tổng hợp"]
    assert summary["A1"].value == "BÁO CÁO TIẾN ĐỘ TRẢ LỜI PHIẾU KHẢO SÁT"
    assert summary["A2"].value == province.title
    assert summary["A3"].value == "Số liệu tính đến 10:00 Thứ Hai, 06/01/2025"
    assert summary["A4"].value == "Hạn trả lời phiếu: 17:00 Thứ Sáu, 10/01/2025 (còn 4 ngày 7 giờ)"
    assert summary["A5"].value == "Phạm vi: toàn bộ 3 cơ quan, đơn vị có đối tượng khảo sát"
    figures = {label: cell for label, cell in zip(summary["A"][7:], summary["B"][7:], strict=True)}
    values = {label.value: cell.value for label, cell in figures.items()}
    # Six rows, one person listed twice: five people, two of whom answered.
    assert values == {
        "Tổng số người được khảo sát": 5,
        "Số người đã trả lời": 2,
        "Số người chưa trả lời": 3,
        "Tỷ lệ trả lời": 0.4,
        "Số cơ quan, đơn vị": 3,
        "Số cơ quan, đơn vị đã trả lời đủ": 1,
        "Số nhóm đối tượng": 4,
    }
    rate_cell = next(c for label, c in figures.items() if label.value == "Tỷ lệ trả lời")
    assert rate_cell.number_format == "0.0%" and isinstance(rate_cell.value, float)
    assert summary.freeze_panes == "A8"

    units = book["Theo đơn vị"]
    assert [c.value for c in units[4]] == list(UNIT_HEADERS)
    assert units.freeze_panes == "D5"
    body = rows(units)
    assert body == [
        (1, "hdnd-tinh-son-la", "HĐND tỉnh Sơn La", "Đặng Văn Nam", 1, 0, 1, 0),
        (2, "so-noi-vu", "Sở Nội vụ", "Vũ Thị Lan", 3, 1, 2, 0.3333),
        (3, "ubnd-huyen-moc-chau", "UBND huyện Mộc Châu", "Đặng Văn Nam", 1, 1, 0, 1),
        (None, None, "Tổng cộng", None, 5, 2, 3, 0.4),
    ]
    assert units.auto_filter.ref == "A4:H7"
    for row in units.iter_rows(min_row=5, min_col=5, max_col=8):
        counts, rate = row[:3], row[3]
        assert all(isinstance(c.value, int) and c.number_format == "#,##0" for c in counts)
        assert isinstance(rate.value, int | float) and rate.number_format == "0.0%"
    assert all(units.column_dimensions[letter].width >= 6 for letter in "ABCDEFGH")
    assert units.column_dimensions["C"].width >= len("UBND huyện Mộc Châu")

    groups = book["Theo nhóm"]
    assert [c.value for c in groups[4]] == list(GROUP_HEADERS)
    assert groups.freeze_panes == "A5"
    assert rows(groups) == [
        (1, "hdnd_tinh", "Đại biểu HĐND cấp tỉnh", 2, 1, 1, 0.5),
        (2, "lanh_dao_so", "Lãnh đạo cấp sở", 1, 0, 1, 0),
        (3, "lanh_dao_phong", "Lãnh đạo phòng chuyên môn thuộc sở", 1, 0, 1, 0),
        (4, "lanh_dao_huyen", "Lãnh đạo UBND cấp huyện", 1, 1, 0, 1),
        (None, None, "Tổng cộng", 5, 2, 3, 0.4),
    ]

    pending = book["Chưa trả lời"]
    assert [c.value for c in pending[4]] == list(PENDING_HEADERS)
    assert pending.freeze_panes == "C5"
    # By unit, then the Vietnamese way: by given name (Đức before Hoà).
    assert rows(pending) == [
        (
            1,
            "HĐND tỉnh Sơn La",
            "Lò Văn Pấng",
            "Đại biểu HĐND tỉnh",
            "Đại biểu HĐND cấp tỉnh",
            "pang.lv@sonla.gov.vn",
            "0381 234 567",
        ),
        (
            2,
            "Sở Nội vụ",
            "Lê Văn Đức",
            "Trưởng phòng",
            "Lãnh đạo phòng chuyên môn thuộc sở",
            "duclv@snv.gov.vn",
            "0912 521 464",
        ),
        (
            3,
            "Sở Nội vụ",
            "Trần Thị Hoà",
            "Phó Giám đốc",
            "Lãnh đạo cấp sở",
            "hoatt@snv.gov.vn",
            "0982 627 828",
        ),
    ]
    assert pending.auto_filter.ref == "A4:G7"

    # No token anywhere in the workbook.
    text = "\n".join(
        str(v)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for v in row
        if v is not None
    )
    for person in roster:
        assert person.token not in text


async def test_scope_limits_every_sheet_to_the_given_units(
    session: AsyncSession, province: Campaign, roster: list[Respondent]
) -> None:
    so_noi_vu = await session.scalar(select(Unit.id).where(Unit.name == "Sở Nội vụ"))
    assert so_noi_vu is not None
    content = await build_report(session, province, unit_ids=frozenset({so_noi_vu}), now=NOW)
    book = load_workbook(BytesIO(content))
    summary = {
        r[0]: r[1] for r in book["Tổng hợp"].iter_rows(min_row=8, max_col=2, values_only=True)
    }
    assert summary["Tổng số người được khảo sát"] == 3
    assert summary["Số người đã trả lời"] == 1
    assert summary["Tỷ lệ trả lời"] == 0.3333
    assert book["Tổng hợp"]["A5"].value == "Phạm vi: 1 cơ quan, đơn vị được giao theo dõi"
    assert [r[2] for r in rows(book["Theo đơn vị"])] == ["Sở Nội vụ", "Tổng cộng"]
    assert rows(book["Theo nhóm"])[-1][3:6] == (3, 1, 2)
    assert {r[1] for r in rows(book["Chưa trả lời"])} == {"Sở Nội vụ"}
    assert len(rows(book["Chưa trả lời"])) == 2

    nothing = load_workbook(
        BytesIO(await build_report(session, province, unit_ids=frozenset(), now=NOW))
    )
    assert rows(nothing["Theo đơn vị"]) == [(None, None, "Tổng cộng", None, 0, 0, 0, 0.0)]


async def test_after_the_deadline_and_everyone_answered(
    session: AsyncSession, province: Campaign, roster: list[Respondent], tmp_path: Path
) -> None:
    listed = write_csv(tmp_path / "tat-ca.csv", [["Token"], *[[p.token] for p in roster]])
    await import_answered(session, province, listed, actor="test", now=NOW)
    await session.commit()
    late = datetime(2025, 1, 11, 2, 0, tzinfo=UTC)
    book = load_workbook(BytesIO(await build_report(session, province, unit_ids=None, now=late)))
    assert book["Tổng hợp"]["A4"].value.endswith("(đã hết hạn)")
    assert rows(book["Chưa trả lời"])[0][:2] == (None, "Tất cả đối tượng đã trả lời phiếu.")
    assert rows(book["Theo đơn vị"])[-1][4:8] == (5, 5, 0, 1)
    assert book["Tổng hợp"]["B13"].value == 3  # every unit has answered in full
