"""The small province roster the storage tests share: a real list's shape in seven rows."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from storage.campaign_file import load_campaign_file
from storage.campaigns import save_campaign
from storage.models import Campaign
from tests.sheets import CONTACT_HEADER, roster_rows, write_xlsx

PROVINCE_TOML = """
[campaign]
code = "cchc-2024-tinh"
title = "Điều tra XHH xác định Chỉ số CCHC năm 2024"
survey_url = "https://survey.example.vn/s/{token}"
opens_at = 2024-12-20T08:00:00+07:00
deadline = 2025-01-10T17:00:00+07:00
groups = "bnv-cap-tinh"
"""

SONLA_TOML = """
[campaign]
code = "cchc-2024-sonla"
title = "Điều tra XHH Chỉ số CCHC tỉnh Sơn La năm 2024"
survey_url = "https://survey.example.vn/s/{token}"
opens_at = 2024-09-01T08:00:00+07:00
deadline = 2024-12-20T17:00:00+07:00
groups = "sonla-2024"
"""


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


async def make_campaign(session: AsyncSession, tmp_path: Path, toml: str) -> Campaign:
    path = tmp_path / "campaign.toml"
    path.write_text(toml, encoding="utf-8")
    campaign, _ = await save_campaign(session, load_campaign_file(path), actor="test")
    await session.commit()
    return campaign


PEOPLE = [
    # A real list: NFD names, stray spaces, mixed phone formats, capitalised emails.
    [
        nfd("Nguyễn Văn Hùng"),
        "Giám đốc",
        "Sở Nội vụ",
        "Lãnh đạo cấp sở",
        "HungNV@SoNV.gov.vn",
        "0912.480.190",
    ],
    [
        "  Trần Thị   Hoà ",
        "Phó Giám đốc",
        None,
        "Lãnh đạo cấp sở",
        "hoatt@snv.gov.vn",
        "+84 982 627 828",
    ],
    [
        "Lê Văn Đức",
        "Trưởng phòng",
        None,
        "Lãnh đạo phòng chuyên môn thuộc sở",
        "duclv@snv.gov.vn",
        912521464,
    ],
    [],
    [
        "Phạm Minh Tuấn",
        "Chủ tịch UBND huyện",
        "UBND huyện Mộc Châu",
        "Lãnh đạo UBND cấp huyện",
        "tuanpm@mocchau.gov.vn",
        "0353 123 456",
    ],
    # The same person again as a People's Council delegate: the delegate group must win.
    [
        nfd("Nguyễn Văn Hùng"),
        "Đại biểu HĐND tỉnh",
        "Sở Nội vụ",
        "Đại biểu HĐND cấp tỉnh",
        "hungnv@sonv.gov.vn",
        None,
    ],
    [
        "Lò Văn Pấng",
        "Đại biểu HĐND tỉnh",
        "HĐND tỉnh Sơn La",
        "1",
        "pang.lv@sonla.gov.vn",
        "0168 123 4567",
    ],
]


def roster_file(tmp_path: Path, people: list[list[object]], *, contacts: bool = True) -> Path:
    sheets = {"Danh sách": roster_rows(people)}
    merges = {"Danh sách": ["A4:G4", "D7:D9"]}  # the title, and "Sở Nội vụ" merged down 3 rows
    if contacts:
        sheets["Đầu mối"] = [
            ["DANH SÁCH CÁN BỘ ĐẦU MỐI"],
            CONTACT_HEADER,
            [
                1,
                "Vũ Thị Lan",
                "Chuyên viên",
                "Đầu mối",
                "Sở Nội vụ",
                "lanvt@snv.gov.vn",
                "0904 111 222",
            ],
            [
                2,
                "Đặng Văn Nam",
                "Phó Chánh Văn phòng",
                "Đầu mối",
                "UBND huyện Mộc Châu; HĐND tỉnh Sơn La",
                "namdv@mocchau.gov.vn",
                None,
            ],
            [
                3,
                "Bùi Quang Huy",
                "Giám đốc Trung tâm CNTT",
                "Đầu mối CNTT",
                "Tất cả",
                "huybq@sonla.gov.vn",
                "0977 333 444",
            ],
            [
                4,
                "Phạm Thị Mai",
                "Trưởng phòng CCHC",
                "Cơ quan tổ chức",
                "Tất cả",
                "maipt@snv.gov.vn",
                None,
            ],
        ]
    return write_xlsx(tmp_path / "danh-sach.xlsx", sheets, merges)
