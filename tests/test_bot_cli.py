"""The chat's command-line and wiring: link codes from ``dondoc contacts code``, the settings,
and the demo's Telegram conversation."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from typer.testing import CliRunner

from dondoc.cli import app
from dondoc.demo import chat_with_focal_point
from dondoc.settings import Settings
from storage.db import session_factory
from storage.errors import ConfigurationError
from storage.models import Campaign, LinkCode, Unit
from tests.chat_sample import NOW, running_campaign
from tests.sample import PEOPLE, PROVINCE_TOML, roster_file

KEY = "s" * 40


def invoke(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_contacts_code_is_shown_once_and_stored_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("DONDOC_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("DONDOC_SECRET_KEY", KEY)
    monkeypatch.setenv("DONDOC_TELEGRAM_TOKEN", "1:abc")
    monkeypatch.setenv("DONDOC_TELEGRAM_BOT_USERNAME", "@sonla_dondoc_bot")
    cli = CliRunner()
    invoke(cli, "init")
    toml = tmp_path / "tinh.toml"
    toml.write_text(PROVINCE_TOML, encoding="utf-8")
    invoke(cli, "campaign", "create", str(toml))
    invoke(cli, "roster", "import", "cchc-2024-tinh", str(roster_file(tmp_path, PEOPLE)))
    output = invoke(cli, "contacts", "code", "cchc-2024-tinh", "--email", "LanVT@snv.gov.vn")
    assert "Vũ Thị Lan (cán bộ đầu mối)" in output
    code = output.split("): ")[1].split()[0]
    assert f"https://t.me/sonla_dondoc_bot?start={code}" in output
    by_phone = invoke(cli, "contacts", "code", "cchc-2024-tinh", "--phone", "0912.521.464")
    assert "Lê Văn Đức (người trả lời phiếu)" in by_phone
    missing = invoke(cli, "contacts", "code", "cchc-2024-tinh", "--email", "x@y.vn", code=1)
    assert "Không có ai với thư điện tử «x@y.vn»" in missing
    both = invoke(cli, "contacts", "code", "cchc-2024-tinh", code=1)
    assert "--email hoặc --phone" in both
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT code_hash, used_at FROM link_codes").fetchall()
    assert len(stored) == 2 and all(code not in h and used is None for h, used in stored)


def test_telegram_settings_need_the_secret_key_and_the_bot_name() -> None:
    with pytest.raises(ConfigurationError, match="DONDOC_SECRET_KEY"):
        Settings.from_env({"DONDOC_TELEGRAM_TOKEN": "1:abc"})
    with pytest.raises(ConfigurationError, match="USERNAME"):
        Settings.from_env({"DONDOC_TELEGRAM_TOKEN": "1:abc", "DONDOC_SECRET_KEY": KEY})
    with pytest.raises(ConfigurationError, match="WEBHOOK_SECRET"):
        Settings.from_env(
            {
                "DONDOC_TELEGRAM_TOKEN": "1:abc",
                "DONDOC_SECRET_KEY": KEY,
                "DONDOC_TELEGRAM_BOT_USERNAME": "b",
                "DONDOC_TELEGRAM_WEBHOOK_URL": "https://x.example.vn/telegram",
            }
        )
    settings = Settings.from_env(
        {
            "DONDOC_TELEGRAM_TOKEN": "1:abc",
            "DONDOC_SECRET_KEY": KEY,
            "DONDOC_TELEGRAM_BOT_USERNAME": "@b",
            "DONDOC_CHAT_NAMES_ALLOWED": "false",
        }
    )
    assert settings.telegram is not None and settings.chat is not None
    assert settings.telegram.username == "b" and not settings.chat.names_allowed
    assert settings.telegram.overall_per_second == 25 and settings.telegram.per_chat_per_second == 1
    assert "1:abc" not in repr(settings) and KEY not in repr(settings)
    assert Settings.from_env({}).telegram is None


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def test_the_demo_shows_a_focal_point_asking_over_telegram(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    campaign = await running_campaign(session, province, tmp_path)
    unit = await session.scalar(select(Unit).where(Unit.name == "Sở Nội vụ"))
    assert unit is not None
    buffer = io.StringIO()
    console = Console(file=buffer, width=200)
    await chat_with_focal_point(session_factory(engine), campaign, unit.code, NOW, console)
    text = buffer.getvalue()
    assert "Vũ Thị Lan » /tiendo" in text and "Đã trả lời 0/3 (0%)" in text
    assert "Vũ Thị Lan » /chuatraloi" in text and "Lê Văn Đức, Trưởng phòng" in text
    assert "Lò Văn Pấng" not in text
    used = (await session.scalars(select(LinkCode))).all()
    assert [c.used_by is not None for c in used] == [True]
