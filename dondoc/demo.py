"""The demo a newcomer watches: a whole Sơn La-sized campaign on the embedded SQLite default.

It creates the campaign from a file, imports a generated (deliberately messy) roster with its
focal points, records who has answered from a list, and shows the progress. Everything it writes
stays in one folder, recreated on each run, so the demo can be repeated and inspected.
"""

from __future__ import annotations

import asyncio
import csv
import random
import secrets
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from sqlalchemy import select

from dondoc import render
from dondoc.mail_sink import MailSink
from dondoc.sample_roster import SampleRoster, sonla_layout, write_sample_roster
from mail.channel import EmailChannel
from mail.config import MailIdentity, SmtpConfig
from mail.smtp import SmtpSender
from scheduler.dispatch import Dispatcher
from scheduler.invitations import plan_invitations
from storage import migrate
from storage.answered import import_answered
from storage.campaign_file import load_campaign_file
from storage.campaigns import save_campaign
from storage.db import create_engine, session_factory
from storage.models import Respondent, utcnow
from storage.progress import campaign_progress
from storage.roster import import_roster
from storage.vnformat import vn_datetime, vn_number

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CODE = "demo-sonla"
ACTOR = "demo"


def campaign_file_text(opens_at: datetime, deadline: datetime) -> str:
    return f"""# Đợt khảo sát chạy thử, tạo bởi lệnh «dondoc demo».
[campaign]
code = "{CODE}"
title = "Điều tra XHH xác định Chỉ số CCHC năm 2024 (chạy thử)"
survey_url = "https://khaosat.example.vn/s/{{token}}"
opens_at = {opens_at.isoformat()}
deadline = {deadline.isoformat()}
groups = "sonla-2024"

[policy]
reminders_before_deadline = ["7d", "3d", "1d", "3h"]
min_gap = "20h"
max_reminders = 4
window = {{ days = "mon-fri", start = "07:30", end = "17:00", skip_holidays = "VN" }}
"""


def answered_list(roster: SampleRoster, tokens: dict[str, str], seed: int) -> list[list[str]]:
    """Who answered, as the survey platform would export it: units answer at different rates,
    and the export identifies people sometimes by token, sometimes by email or phone."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible demo, not a secret
    rates = {unit: rng.uniform(0.25, 0.95) for unit in roster.units}
    rows = []
    for person in roster.people:
        if rng.random() >= rates[person.unit]:
            continue
        how = rng.random()
        if how < 0.5:
            rows.append([tokens[person.email], "", ""])
        elif how < 0.85:
            rows.append(["", person.email.upper(), ""])
        else:
            rows.append(["", "", person.phone_e164.replace("+84", "0")])
    return rows


def _prepare(workdir: Path, opens_at: datetime, deadline: datetime) -> tuple[Path, Path]:
    """A clean folder with the campaign file; returns (database file, campaign file)."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "demo.db"
    for leftover in (db, db.with_name("demo.db-wal"), db.with_name("demo.db-shm")):
        leftover.unlink(missing_ok=True)
    campaign_path = workdir / "campaign.toml"
    campaign_path.write_text(campaign_file_text(opens_at, deadline), encoding="utf-8")
    return db, campaign_path


def _write_answered(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Token", "Email", "Số điện thoại"])
        writer.writerows(rows)
        # One line that matches nobody, as real exports have: the report must show it.
        writer.writerow(["", "khong.co.ai@example.vn", ""])


async def run_demo(workdir: Path, console: Console) -> None:
    today = utcnow().astimezone(TZ).date()
    opens_at = datetime.combine(today - timedelta(days=7), time(8, 0), TZ)
    # The Friday at least two weeks away: deadlines fall on working days.
    last_day = today + timedelta(days=14 + (4 - (today + timedelta(days=14)).weekday()) % 7)
    deadline = datetime.combine(last_day, time(17, 0), TZ)
    db, campaign_path = await asyncio.to_thread(_prepare, workdir, opens_at, deadline)
    url = f"sqlite:///{db}"

    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        console.rule("1. Khởi tạo cơ sở dữ liệu")
        _, revision = await migrate.upgrade(engine)
        console.print(f"SQLite: {db} (phiên bản lược đồ {revision})", highlight=False)

        console.rule("2. Tạo đợt khảo sát từ tệp cấu hình")
        spec = load_campaign_file(campaign_path)
        async with sessions() as session, session.begin():
            campaign, _ = await save_campaign(session, spec, actor=ACTOR)
        console.print(
            f"{campaign.title} — {len(spec.groups)} nhóm đối tượng theo Kế hoạch của "
            f"UBND tỉnh Sơn La; hạn trả lời {vn_datetime(campaign.deadline)}.",
            highlight=False,
        )

        console.rule("3. Nhập danh sách đối tượng và cán bộ đầu mối (tệp Excel)")
        roster = write_sample_roster(
            workdir / "danh-sach-doi-tuong.xlsx", sonla_layout(), seed=2024
        )
        console.print(
            f"Đã tạo tệp {roster.path.name}: {vn_number(len(roster.people))} người, "
            f"{len(roster.units)} đơn vị, {len(roster.contacts)} cán bộ đầu mối.",
            highlight=False,
        )
        async with sessions() as session, session.begin():
            report = await import_roster(session, campaign, roster.path, actor=ACTOR)
        console.print(render.roster_view(report))

        console.rule("4. Gửi thư mời qua máy chủ thư thử nghiệm (SMTP trên máy này)")
        sink_dir = workdir / "hop-thu-thu-nghiem"
        async with MailSink(sink_dir) as sink:
            async with sessions() as session, session.begin():
                plan = await plan_invitations(session, campaign, now=utcnow())
            identity = MailIdentity(
                from_address="cchc@snv.sonla.example.vn",
                from_name="Sở Nội vụ tỉnh Sơn La",
                secret=secrets.token_bytes(32),
            )
            smtp = SmtpConfig(
                host="127.0.0.1", port=sink.port, security="none", per_minute=60_000, connections=4
            )
            async with SmtpSender(smtp) as sender:
                dispatcher = Dispatcher(
                    sessions,
                    {"email": EmailChannel(sender, identity)},
                    clock=utcnow,
                    concurrency=8,
                )
                stats = await dispatcher.run_once(campaign_id=campaign.id)
        console.print(render.invitation_plan_view(plan, dry_run=False))
        console.print(render.dispatch_view(stats))
        console.print(
            f"Máy chủ thư thử nghiệm đã nhận {vn_number(sink.received)} thư, lưu ở {sink_dir}/ "
            "(mở bằng bất kỳ trình đọc thư nào).",
            highlight=False,
        )
        first = await asyncio.to_thread(lambda: sorted(sink_dir.glob("*.eml"))[0].read_bytes())
        console.print(render.mail_preview(first))

        console.rule("5. Ghi nhận người đã trả lời (danh sách xuất từ phần mềm khảo sát)")
        async with sessions() as session:
            tokens = {
                email: token
                for email, token in await session.execute(
                    select(Respondent.email, Respondent.token).where(
                        Respondent.campaign_id == campaign.id
                    )
                )
                if email
            }
        answered_path = workdir / "da-tra-loi.csv"
        await asyncio.to_thread(
            _write_answered, answered_path, answered_list(roster, tokens, seed=7)
        )
        async with sessions() as session, session.begin():
            answered = await import_answered(session, campaign, answered_path, actor=ACTOR)
        console.print(render.answered_view(answered))

        console.rule("6. Tiến độ")
        async with sessions() as session:
            progress = await campaign_progress(session, campaign)
            worst = progress.by_unit[0]
            detail = await campaign_progress(session, campaign, unit=worst.code, with_pending=True)
        console.print(render.progress_view(progress, campaign.timezone, unit_limit=8))
        console.rule(f"Người chưa trả lời ở đơn vị thấp nhất: {worst.name}")
        console.print(render.progress_view(detail, campaign.timezone))
        console.print(
            "\nXem lại bất cứ lúc nào:\n"
            f"  DONDOC_DATABASE_URL=sqlite:///{db} dondoc status {CODE}\n"
            f"  DONDOC_DATABASE_URL=sqlite:///{db} dondoc status {CODE} "
            f"--unit {worst.code} --pending",
            highlight=False,
        )
    finally:
        await engine.dispose()
