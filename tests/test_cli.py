"""The command line as an organiser uses it, end to end on a SQLite file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import queue
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from dondoc.cli import app
from dondoc.mail_sink import MailSink
from tests.mailserver import (
    DOMAIN,
    ORGANISER,
    PASSWORD,
    SECRET,
    MailServers,
    mail_servers,  # noqa: F401 - a fixture
)
from tests.sample import PEOPLE, PROVINCE_TOML, roster_file
from tests.sheets import write_csv

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DONDOC_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def invoke(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def province(cli: CliRunner, tmp_path: Path) -> str:
    invoke(cli, "init")
    path = tmp_path / "tinh.toml"
    path.write_text(PROVINCE_TOML, encoding="utf-8")
    invoke(cli, "campaign", "create", str(path))
    return "cchc-2024-tinh"


def test_init_is_idempotent(cli: CliRunner) -> None:
    assert "Đã khởi tạo cơ sở dữ liệu" in invoke(cli, "init")
    assert "đã ở phiên bản mới nhất" in invoke(cli, "init")


def test_commands_before_init_say_what_to_do(cli: CliRunner) -> None:
    output = invoke(cli, "campaign", "list", code=1)
    assert "dondoc init" in output


def test_campaign_create_list_show_and_update(cli: CliRunner) -> None:
    invoke(cli, "init")
    example = str(EXAMPLES / "cchc-2024-sonla.toml")
    created = invoke(cli, "campaign", "create", example)
    assert "Đã tạo đợt khảo sát" in created
    assert "đã có" in invoke(cli, "campaign", "create", example, code=1)
    assert "Đã cập nhật" in invoke(cli, "campaign", "create", example, "--update")
    listing = invoke(cli, "campaign", "list")
    assert "cchc-2024-sonla" in listing
    shown = invoke(cli, "campaign", "show", "cchc-2024-sonla")
    assert "Tập thể lãnh đạo cấp sở" in shown and "Đại biểu Hội đồng nhân dân cấp huyện" in shown
    assert "unknown" not in shown
    assert "Không tìm thấy đợt khảo sát" in invoke(cli, "campaign", "show", "khong-co", code=1)


def test_a_bad_campaign_file_lists_every_problem(cli: CliRunner, tmp_path: Path) -> None:
    invoke(cli, "init")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        PROVINCE_TOML.replace("/s/{token}", "/s/").replace(
            "deadline = 2025-01-10T17:00:00+07:00", "deadline = 2024-12-01T17:00:00+07:00"
        ),
        encoding="utf-8",
    )
    output = invoke(cli, "campaign", "create", str(bad), code=1)
    assert "campaign.survey_url" in output and "campaign.deadline" in output
    assert "{token}" in output


def test_roster_dry_run_import_answered_and_status(
    cli: CliRunner, province: str, tmp_path: Path
) -> None:
    roster = str(roster_file(tmp_path, PEOPLE))
    dry = invoke(cli, "roster", "import", province, roster, "--dry-run")
    assert "Chạy thử (chưa ghi gì)" in dry and "Người mới: 5" in dry
    assert "Đã trả lời 0/0" in invoke(cli, "status", province)
    done = invoke(cli, "roster", "import", province, roster)
    assert "Đã nhập" in done and "Người mới: 5" in done
    assert "giữ nhóm «Đại biểu HĐND cấp tỉnh»" in done

    answered = write_csv(tmp_path / "xong.csv", [["Email"], ["hoatt@snv.gov.vn"], ["ai@khong.vn"]])
    report = invoke(cli, "answered", "import", province, str(answered))
    assert "Ghi nhận mới đã trả lời: 1" in report and "Không khớp với ai: 1" in report

    table = invoke(cli, "status", province)
    assert "Đã trả lời 1/5" in table and "Hạn trả lời: 17:00 Thứ Sáu, 10/01/2025" in table

    as_csv = list(csv.reader(io.StringIO(invoke(cli, "status", province, "--format", "csv"))))
    assert as_csv[0] == ["Loại", "Mã", "Tên", "Đã trả lời", "Tổng số", "Tỉ lệ (%)"]
    assert as_csv[1][:5] == [
        "Tổng",
        province,
        "Điều tra XHH xác định Chỉ số CCHC năm 2024",
        "1",
        "5",
    ]

    data = json.loads(
        invoke(cli, "status", province, "--format", "json", "--unit", "so-noi-vu", "--pending")
    )
    assert (data["overall"]["answered"], data["overall"]["total"]) == (1, 3)
    assert [p["full_name"] for p in data["pending"]] == ["Lê Văn Đức", "Nguyễn Văn Hùng"]

    pending = invoke(cli, "status", province, "--group", "hdnd_tinh", "--pending")
    assert "Lò Văn Pấng" in pending and "Trần Thị Hoà" not in pending
    assert "--format phải là" in invoke(cli, "status", province, "--format", "xml", code=2)


def test_roster_errors_name_row_column_and_value(
    cli: CliRunner, province: str, tmp_path: Path
) -> None:
    people = [list(p) for p in PEOPLE]
    people[1][4] = "hoatt@@snv.gov.vn"
    output = invoke(cli, "roster", "import", province, str(roster_file(tmp_path, people)), code=1)
    assert "chưa nhập gì" in output
    assert "hoatt@@snv.gov.vn" in output and "F (Email)" in output and "8" in output


def test_the_demo_runs_a_whole_campaign(cli: CliRunner, tmp_path: Path) -> None:
    output = invoke(cli, "demo", "--dir", str(tmp_path / "demo"))
    assert "1.240 người" in output
    # Three addresses are refused by the demo's mail server: 1,237 invitations, and the unit
    # focal point and the IT focal point told about each refused address.
    row = next(line for line in output.splitlines() if "1.237" in line)
    assert row.split("│")[-3].strip() == "6"
    received = int(
        output.split("Máy chủ thư thử nghiệm đã nhận ")[1].split(" thư")[0].replace(".", "")
    )
    assert len(list((tmp_path / "demo" / "hop-thu-thu-nghiem").glob("*.eml"))) == received
    assert "Nhắc ngày cuối" in output and "Báo cáo đầu mối" in output
    assert "đã trả lời — từ đó không nhắc nữa" in output
    assert "Theo nhóm đối tượng" in output and "Chưa trả lời" in output
    assert (tmp_path / "demo" / "demo.db").exists()


def test_deliveries_list_filter_and_retry(cli: CliRunner, province: str, tmp_path: Path) -> None:
    invoke(cli, "roster", "import", province, str(roster_file(tmp_path, PEOPLE)))
    assert "Hộp thư đi trống" in invoke(cli, "deliveries")
    assert "--state phải là" in invoke(cli, "deliveries", "--state", "lost", code=2)
    assert "Đã xếp lại 0" in invoke(cli, "deliveries", "retry", province)


def test_mail_check_and_watch_against_real_servers(
    cli: CliRunner,
    province: str,
    tmp_path: Path,
    mail_servers: MailServers,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = "CLI"
    with mail_servers.imap() as client:
        client.create(folder)
    mail_servers.append(folder, b"From: ai@example.vn\r\nSubject: Xin chao\r\n\r\nThu thuong.\r\n")
    for name, value in {
        "DONDOC_SMTP_HOST": "127.0.0.1",
        "DONDOC_SMTP_PORT": str(mail_servers.smtp_port),
        "DONDOC_SMTP_SECURITY": "none",
        "DONDOC_MAIL_FROM": f"{ORGANISER}@{DOMAIN}",
        "DONDOC_SECRET_KEY": SECRET.decode(),
        "DONDOC_IMAP_HOST": "127.0.0.1",
        "DONDOC_IMAP_PORT": str(mail_servers.imap_port),
        "DONDOC_IMAP_SECURITY": "none",
        "DONDOC_IMAP_USERNAME": ORGANISER,
        "DONDOC_IMAP_PASSWORD": PASSWORD,
        "DONDOC_IMAP_MAILBOX": folder,
    }.items():
        monkeypatch.setenv(name, value)
    # The survey platform's completion email, recognised by the campaign's rule.
    invoke(cli, "roster", "import", province, str(roster_file(tmp_path, PEOPLE)))
    rules = tmp_path / "tinh.toml"
    rules.write_text(
        PROVINCE_TOML
        + '[[completion_email]]\nsender = "@khaosat.example.vn"\n'
        + 'pattern = "Mã phiếu: (?P<token>[A-Za-z0-9_-]{16,})"\n',
        encoding="utf-8",
    )
    invoke(cli, "campaign", "create", str(rules), "--update")
    with sqlite3.connect(tmp_path / "cli.db") as db:
        (token,) = db.execute(
            "SELECT token FROM respondents WHERE email = 'hoatt@snv.gov.vn'"
        ).fetchone()
    mail_servers.append(
        folder,
        (
            "From: noreply@khaosat.example.vn\r\nSubject: Phieu da hoan thanh\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Mã phiếu: {token}\r\n"
        ).encode(),
    )
    checked = invoke(cli, "mail", "check")
    assert "✗" not in checked and PASSWORD not in checked
    assert checked.count("✓") >= 6, checked  # SMTP and IMAP steps, each said
    watched = invoke(cli, "mail", "watch", "--once")
    assert "Đã xử lý 2 thư mới" in watched and "completion: 1" in watched
    assert "Đã trả lời 1/5" in invoke(cli, "status", province)
    assert "Đã xử lý 0 thư mới" in invoke(cli, "mail", "watch", "--once")

    monkeypatch.setenv("DONDOC_IMAP_PASSWORD", "sai-mat-khau")
    refused = invoke(cli, "mail", "check", code=1)
    assert "✗" in refused and "sai-mat-khau" not in refused


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    """A local SMTP server in its own thread and loop, so the CLI's own asyncio.run can reach
    it; it keeps mail to itself (a real MTA would bounce to the shared IMAP test mailbox)."""
    ready: queue.Queue[MailSink] = queue.Queue()
    stop = threading.Event()

    async def serve() -> None:
        async with MailSink(tmp_path / "sink") as server:
            ready.put(server)
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield ready.get(timeout=10)
    finally:
        stop.set()
        thread.join(timeout=10)


def test_invitations_plan_tick_and_close(
    cli: CliRunner,
    tmp_path: Path,
    sink: MailSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    invoke(cli, "init")
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    soon = tmp_path / "soon.toml"
    soon.write_text(
        PROVINCE_TOML.replace("2024-12-20T08:00:00+07:00", f"{today - timedelta(days=1)}").replace(
            "2025-01-10T17:00:00+07:00", f"{today + timedelta(days=21)}"
        ),
        encoding="utf-8",
    )
    invoke(cli, "campaign", "create", str(soon))
    invoke(cli, "roster", "import", "cchc-2024-tinh", str(roster_file(tmp_path, PEOPLE)))
    for name, value in {
        "DONDOC_SMTP_HOST": "127.0.0.1",
        "DONDOC_SMTP_PORT": str(sink.port),
        "DONDOC_SMTP_SECURITY": "none",
        "DONDOC_SMTP_PER_MINUTE": "6000",
        "DONDOC_MAIL_FROM": f"{ORGANISER}@{DOMAIN}",
        "DONDOC_SECRET_KEY": SECRET.decode(),
    }.items():
        monkeypatch.setenv(name, value)

    assert "Sẽ gửi 5 thư mời" in invoke(cli, "send", "invitations", "cchc-2024-tinh", "--dry-run")
    sent = invoke(cli, "send", "invitations", "cchc-2024-tinh")
    assert "Đã gửi: 5" in sent and sink.received == 5
    assert "0 thư mời" in invoke(cli, "send", "invitations", "cchc-2024-tinh")

    later = f"{today + timedelta(days=14)} 10:00"
    plan = invoke(cli, "plan", "cchc-2024-tinh", "--at", later)
    assert "Lần nhắc tiếp theo của 5 người" in plan and "7 ngày trước hạn" in plan
    assert "Đã gửi" not in plan

    monkeypatch.delenv("DONDOC_SMTP_HOST")
    ticked = invoke(cli, "tick")
    assert "chỉ lập lịch" in ticked and "xếp lịch 5 lần nhắc mới" in ticked
    assert "xếp lịch 0 lần nhắc mới" in invoke(cli, "tick")
    assert invoke(cli, "deliveries", "--state", "queued").count("nhắc") >= 5

    assert "đã hủy 5" in invoke(cli, "campaign", "close", "cchc-2024-tinh")
    assert "Không có đợt khảo sát nào đang chạy" in invoke(cli, "tick")
