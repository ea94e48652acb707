"""``dondoc report CAMPAIGN --xlsx FILE`` end to end on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from dondoc.cli import app
from tests.sample import PEOPLE, PROVINCE_TOML, roster_file


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DONDOC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def invoke(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_report_to_xlsx(cli: CliRunner, tmp_path: Path) -> None:
    invoke(cli, "init")
    path = tmp_path / "tinh.toml"
    path.write_text(PROVINCE_TOML, encoding="utf-8")
    invoke(cli, "campaign", "create", str(path))
    invoke(cli, "roster", "import", "cchc-2024-tinh", str(roster_file(tmp_path, PEOPLE)))

    whole = tmp_path / "bao-cao.xlsx"
    assert "Đã ghi báo cáo" in invoke(cli, "report", "cchc-2024-tinh", "--xlsx", str(whole))
    book = load_workbook(whole)
    assert book.sheetnames == ["Tổng hợp", "Theo đơn vị", "Theo nhóm", "Chưa trả lời"]
    assert book["Tổng hợp"]["B8"].value == 5

    one = tmp_path / "so-noi-vu.xlsx"
    invoke(cli, "report", "cchc-2024-tinh", "--xlsx", str(one), "--unit", "so noi vu")
    assert load_workbook(one)["Tổng hợp"]["B8"].value == 3
    assert not list(tmp_path.glob(".*.tmp"))

    assert "Không có đơn vị" in invoke(
        cli, "report", "cchc-2024-tinh", "--xlsx", str(one), "--unit", "Sở Y tế", code=1
    )
    assert ".xlsx" in invoke(cli, "report", "cchc-2024-tinh", "--xlsx", "bao-cao.csv", code=2)
    missing_dir = tmp_path / "khong-co" / "x.xlsx"
    assert "Không ghi được tệp" in invoke(
        cli, "report", "cchc-2024-tinh", "--xlsx", str(missing_dir), code=1
    )
