"""``dondoc answered poll`` end to end: a campaign file with [limesurvey], the emulator over
127.0.0.1 (in its own thread, since the command runs its own event loop), a SQLite file."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dondoc.cli import app
from tests.limesurvey_emulator import LimeSurveyEmulator
from tests.sample import PEOPLE, PROVINCE_TOML, roster_file

SID = 482913
PASSWORD = "mật-khẩu-bí-mật"


@pytest.fixture
def emulator() -> Iterator[LimeSurveyEmulator]:
    server = LimeSurveyEmulator(users={"dondoc": PASSWORD})
    server.add_survey(SID)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DONDOC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("DONDOC_LIMESURVEY_PASSWORD", raising=False)
    return CliRunner()


def invoke(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_answered_poll(
    cli: CliRunner,
    tmp_path: Path,
    emulator: LimeSurveyEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    invoke(cli, "init")
    path = tmp_path / "tinh.toml"
    path.write_text(
        PROVINCE_TOML
        + f'\n[limesurvey]\nurl = "{emulator.url}"\nuser = "dondoc"\nsurvey_id = {SID}\n',
        encoding="utf-8",
    )
    invoke(cli, "campaign", "create", str(path))
    invoke(cli, "roster", "import", "cchc-2024-tinh", str(roster_file(tmp_path, PEOPLE)))
    known = emulator.add_participant(SID, "LStoken00000001", "HoaTT@snv.gov.vn")
    stranger = emulator.add_participant(SID, "LStoken00000002", "ai.do@khong.vn")
    emulator.complete(SID, known, "2025-01-05 20:15")
    emulator.complete(SID, stranger, "Y")

    refused = invoke(cli, "answered", "poll", "cchc-2024-tinh", code=1)
    assert "DONDOC_LIMESURVEY_PASSWORD" in refused

    monkeypatch.setenv("DONDOC_LIMESURVEY_PASSWORD", PASSWORD)
    first = invoke(cli, "answered", "poll", "cchc-2024-tinh")
    assert "2 người đã hoàn thành phiếu; ghi nhận mới 1 người" in first
    assert f"(tid) {stranger}: ai.do@khong.vn" in first
    second = invoke(cli, "answered", "poll", "cchc-2024-tinh")
    assert "ghi nhận mới 0 người đã trả lời, 1 người đã được ghi nhận từ trước" in second
    status = invoke(cli, "status", "cchc-2024-tinh", "--format", "json")
    assert '"answered": 1' in status
    assert PASSWORD not in first + second + refused

    monkeypatch.setenv("DONDOC_LIMESURVEY_PASSWORD", "sai")
    wrong = invoke(cli, "answered", "poll", "cchc-2024-tinh", code=1)
    assert "không nhận tên đăng nhập «dondoc» hoặc mật khẩu" in wrong
