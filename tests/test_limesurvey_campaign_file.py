"""The campaign file's [limesurvey] table: what is accepted, every refusal with its key and a
Vietnamese explanation, and where it is stored (Campaign.sources)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from storage.campaign_file import load_campaign_file
from storage.campaigns import save_campaign
from tests.test_campaign_file import data, only, parse

URL = "https://khaosat.snv.sonla.gov.vn/index.php/admin/remotecontrol"


def with_ls(**table: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"url": URL, "user": "dondoc", "survey_id": 482913}
    for key, value in table.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return data(limesurvey=base)


def test_minimal_section_gets_defaults() -> None:
    spec = parse(with_ls())
    assert spec.limesurvey == {
        "url": URL,
        "user": "dondoc",
        "survey_id": 482913,
        "password_env": "DONDOC_LIMESURVEY_PASSWORD",
        "poll_seconds": 300,
    }
    assert parse(data()).limesurvey is None


def test_all_keys() -> None:
    get_form = "http://10.0.0.5/limesurvey/index.php?r=admin/remotecontrol"
    spec = parse(with_ls(url=get_form, password_env="LS_SONLA_PASS", poll_every="15m"))
    assert spec.limesurvey is not None
    assert spec.limesurvey["url"] == get_form
    assert spec.limesurvey["password_env"] == "LS_SONLA_PASS"
    assert spec.limesurvey["poll_seconds"] == 900


@pytest.mark.parametrize(
    ("change", "column", "words"),
    [
        ({"url": None}, "limesurvey.url", "Thiếu mục bắt buộc"),
        ({"url": "https://khaosat.snv.gov.vn/index.php/482913"}, "limesurvey.url", "RemoteControl"),
        ({"url": "ftp://x.vn/index.php/admin/remotecontrol"}, "limesurvey.url", "http://"),
        (
            {"url": "https://dondoc:pw@x.vn/index.php/admin/remotecontrol"},
            "limesurvey.url",
            "không chứa tên đăng nhập",
        ),
        ({"url": 5}, "limesurvey.url", "RemoteControl"),
        ({"user": None}, "limesurvey.user", "Thiếu mục bắt buộc"),
        ({"user": "  "}, "limesurvey.user", "không rỗng"),
        ({"survey_id": None}, "limesurvey.survey_id", "Thiếu mục bắt buộc"),
        ({"survey_id": "482913"}, "limesurvey.survey_id", "không có dấu ngoặc kép"),
        ({"survey_id": 0}, "limesurvey.survey_id", "số nguyên dương"),
        ({"survey_id": True}, "limesurvey.survey_id", "số nguyên dương"),
        ({"password_env": "mat khau 123"}, "limesurvey.password_env", "TÊN biến môi trường"),
        ({"password_env": 7}, "limesurvey.password_env", "TÊN biến môi trường"),
        ({"poll_every": "10s"}, "limesurvey.poll_every", "từ 1 phút đến 1 ngày"),
        ({"poll_every": "2d"}, "limesurvey.poll_every", "từ 1 phút đến 1 ngày"),
        ({"poll_every": 5}, "limesurvey.poll_every", "từ 1 phút đến 1 ngày"),
        ({"poll_every": "năm phút"}, "limesurvey.poll_every", "từ 1 phút đến 1 ngày"),
        ({"survey": 1}, "limesurvey.survey", "Có phải là «survey_id»"),
    ],
)
def test_refusals_name_the_key_and_say_what_to_do(
    change: dict[str, Any], column: str, words: str
) -> None:
    problem = only(with_ls(**change), column)
    assert words in problem.message_vi, problem.message_vi


def test_a_password_in_the_file_is_refused_without_echoing_it() -> None:
    problem = only(with_ls(password="Bi-mat-2024"), "limesurvey.password")
    assert "DONDOC_LIMESURVEY_PASSWORD" in problem.message_vi
    assert problem.value is None
    assert "Bi-mat-2024" not in problem.render_vi() + problem.render_en()


def test_not_a_table() -> None:
    problem = only(data(limesurvey="https://x.vn/index.php/admin/remotecontrol"), "limesurvey")
    assert "bảng" in problem.message_vi


async def test_stored_in_campaign_sources_and_removed_with_the_section(
    session: AsyncSession, tmp_path: Path
) -> None:
    head = """
[campaign]
code = "cchc-2024-tinh"
title = "Điều tra XHH xác định Chỉ số CCHC năm 2024"
survey_url = "https://survey.example.vn/s/{token}"
opens_at = 2024-12-20T08:00:00+07:00
deadline = 2025-01-10T17:00:00+07:00
groups = "bnv-cap-tinh"
"""
    path = tmp_path / "dot.toml"
    path.write_text(
        head + f'\n[limesurvey]\nurl = "{URL}"\nuser = "dondoc"\nsurvey_id = 482913\n'
        'poll_every = "10m"\n',
        encoding="utf-8",
    )
    campaign, _ = await save_campaign(session, load_campaign_file(path), actor="test")
    await session.commit()
    assert campaign.sources["limesurvey"]["poll_seconds"] == 600
    path.write_text(head, encoding="utf-8")
    campaign, _ = await save_campaign(session, load_campaign_file(path), actor="test", update=True)
    await session.commit()
    await session.refresh(campaign)
    assert "limesurvey" not in campaign.sources
