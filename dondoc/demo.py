"""The demo a newcomer watches: a whole Sơn La-sized campaign, in accelerated time, on the
embedded SQLite default.

It creates the campaign from a file, imports a generated (deliberately messy) roster with its
focal points, then lives through the campaign hour by hour on a simulated clock: invitations go
out over SMTP to a local server that keeps every message as an .eml file (and refuses a few
addresses, as real servers do), people answer over the days, each morning the organiser imports
the survey platform's list of who answered, and the scheduler's own pass plans and sends the
reminders (only to those who have not answered), the focal points' morning digests, the alerts
about bad addresses and the escalations. It ends with a timeline of what was sent to whom and
why, and the progress; then a focal point links a Telegram chat with a one-time code and
asks for the progress and who has not answered, through a local Bot API emulator. Everything it
writes stays in one folder, recreated on each run.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import random
import secrets
import sys
from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ChatRules, TelegramConfig
from bot.conversations import ChatConversations
from bot.linking import issue_code
from bot.telegram_bot import TelegramBot
from dondoc import render
from dondoc.mail_sink import MailSink
from dondoc.sample_roster import SampleRoster, sonla_layout, write_sample_roster
from mail.channel import EmailChannel
from mail.config import MailIdentity, SmtpConfig
from mail.smtp import SmtpSender
from scheduler.calendar import HolidayCalendar
from scheduler.invitations import plan_invitations
from scheduler.rejections import recipient_gone
from scheduler.tick import tick
from storage import migrate
from storage.answered import import_answered
from storage.campaign_file import load_campaign_file
from storage.campaigns import save_campaign
from storage.db import create_engine, session_factory
from storage.models import (
    Campaign,
    CampaignState,
    Contact,
    ContactRole,
    ContactUnit,
    Delivery,
    DeliveryState,
    Respondent,
    Unit,
    utcnow,
)
from storage.progress import campaign_progress
from storage.roster import import_roster
from storage.vnformat import WEEKDAYS, vn_datetime, vn_number

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CODE = "demo-sonla"
ACTOR = "demo"
BAD_ADDRESSES = 3


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
digest_at = "08:00"
escalate_below = 0.6
escalate_at = ["3d", "1d"]
"""


def campaign_days(today: date) -> tuple[datetime, datetime]:
    """The next working morning, and a Friday 17:00 about two weeks later."""
    start = today + timedelta(days=1)
    while start.weekday() >= 5:
        start += timedelta(days=1)
    last = start + timedelta(days=11)
    last += timedelta(days=(4 - last.weekday()) % 7)
    return datetime.combine(start, time(8, 0), TZ), datetime.combine(last, time(17, 0), TZ)


def answer_times(
    roster: SampleRoster, start: datetime, deadline: datetime, seed: int
) -> dict[str, datetime]:
    """When each person answers, if ever: units differ, most answer early, some never."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible demo, not a secret
    rates = {unit: rng.uniform(0.45, 0.97) for unit in roster.units}
    span = (deadline - start).total_seconds()
    times = {}
    for person in roster.people:
        if rng.random() < rates[person.unit]:
            # Front-loaded: the invitation brings most answers, reminders the rest.
            times[person.email] = start + timedelta(seconds=span * rng.random() ** 1.7)
    return times


def _prepare(workdir: Path, opens_at: datetime, deadline: datetime) -> tuple[Path, Path]:
    """A clean folder with the campaign file; returns (database file, campaign file)."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "demo.db"
    for leftover in (db, db.with_name("demo.db-wal"), db.with_name("demo.db-shm")):
        leftover.unlink(missing_ok=True)
    for old in (workdir / "hop-thu-thu-nghiem").glob("*.eml"):
        old.unlink()
    campaign_path = workdir / "campaign.toml"
    campaign_path.write_text(campaign_file_text(opens_at, deadline), encoding="utf-8")
    return db, campaign_path


def _write_answered(path: Path, emails: list[str]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["STT", "Email"])
        writer.writerows([i, email] for i, email in enumerate(emails, start=1))


async def run_demo(workdir: Path, console: Console) -> None:
    start, deadline = campaign_days(utcnow().astimezone(TZ).date())
    db, campaign_path = await asyncio.to_thread(_prepare, workdir, start, deadline)
    engine = create_engine(f"sqlite:///{db}")
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
            f"{campaign.title} — {len(spec.groups)} nhóm đối tượng theo Kế hoạch của UBND tỉnh "
            f"Sơn La; từ {vn_datetime(campaign.opens_at)} "
            f"đến hạn {vn_datetime(campaign.deadline)}.",
            highlight=False,
        )

        console.rule("3. Nhập danh sách đối tượng và cán bộ đầu mối (tệp Excel)")
        roster = await asyncio.to_thread(
            write_sample_roster, workdir / "danh-sach-doi-tuong.xlsx", sonla_layout(), seed=2024
        )
        console.print(
            f"Đã tạo tệp {roster.path.name}: {vn_number(len(roster.people))} người, "
            f"{len(roster.units)} đơn vị, {len(roster.contacts)} cán bộ đầu mối.",
            highlight=False,
        )
        async with sessions() as session, session.begin():
            report = await import_roster(session, campaign, roster.path, actor=ACTOR)
        console.print(render.roster_view(report))

        console.rule("4. Chạy nhanh cả đợt khảo sát (đồng hồ giả lập, từng giờ)")
        await live_through(sessions, campaign, roster, workdir, start, deadline, console)

        console.rule("5. Dòng thời gian: đã gửi gì, cho ai, vì sao")
        async with sessions() as session:
            console.print(await timeline(session, campaign))
            console.print(await one_story(session, campaign))

        console.rule("6. Tiến độ khi hết hạn")
        async with sessions() as session:
            progress = await campaign_progress(session, campaign, now=deadline)
            worst = progress.by_unit[0]
            detail = await campaign_progress(
                session, campaign, unit=worst.code, with_pending=True, now=deadline
            )
        console.print(render.progress_view(progress, campaign.timezone, unit_limit=8))
        console.rule(f"Người chưa trả lời ở đơn vị thấp nhất: {worst.name}")
        console.print(render.progress_view(detail, campaign.timezone))
        console.rule("7. Cán bộ đầu mối hỏi qua Telegram (máy chủ Telegram giả lập, 127.0.0.1)")
        await chat_with_focal_point(sessions, campaign, worst.code, deadline, console)
        console.print(
            "\nXem lại bất cứ lúc nào:\n"
            f"  DONDOC_DATABASE_URL=sqlite:///{db} dondoc status {CODE}\n"
            f"  DONDOC_DATABASE_URL=sqlite:///{db} dondoc deliveries --campaign {CODE}\n"
            f"  Các thư đã gửi: {workdir / 'hop-thu-thu-nghiem'}/",
            highlight=False,
        )
    finally:
        await engine.dispose()


def _telegram_emulator() -> Any:
    """The Bot API emulator of the test suite, from the source tree the demo runs in."""
    path = Path(__file__).resolve().parent.parent / "tests" / "telegram_emulator.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("dondoc_demo_telegram_emulator", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module.TelegramEmulator


async def chat_with_focal_point(
    sessions: async_sessionmaker[AsyncSession],
    campaign: Campaign,
    unit_code: str,
    now: datetime,
    console: Console,
) -> None:
    """A focal point of ``unit_code`` links a chat with a one-time code, then asks /tiendo and
    /chuatraloi; the unmodified python-telegram-bot talks to a local Bot API emulator."""
    emulator_class = _telegram_emulator()
    if emulator_class is None:
        console.print("(Phần Telegram cần mã nguồn đầy đủ, có thư mục tests/.)", highlight=False)
        return
    rules = ChatRules(secret=secrets.token_bytes(32), sender_name="Sở Nội vụ tỉnh Sơn La")
    async with sessions() as session, session.begin():
        focal = await session.scalar(
            select(Contact)
            .join(ContactUnit, ContactUnit.contact_id == Contact.id)
            .join(Unit, Unit.id == ContactUnit.unit_id)
            .where(
                Contact.campaign_id == campaign.id,
                Contact.role == ContactRole.UNIT_FOCAL,
                Unit.code == unit_code,
            )
            .order_by(Contact.id)
            .limit(1)
        )
        if focal is None:
            console.print("(Đơn vị này không có cán bộ đầu mối.)", highlight=False)
            return
        name = focal.full_name
        code = await issue_code(
            session, rules, campaign, contact_id=focal.id, issued_by=ACTOR, now=now
        )
    console.print(
        f"Cơ quan tổ chức cấp mã một lần cho đồng chí {name} (dondoc contacts code {CODE} "
        f"--email …): {code}",
        highlight=False,
    )
    token = f"{secrets.randbelow(10**9)}:demo-{secrets.token_urlsafe(12)}"
    talk = ChatConversations(
        sessions,
        rules,
        clock=lambda: now,
        next_open=lambda _campaign, moment: moment,
    )
    async with emulator_class(token, username="sonla_dondoc_bot") as emulator:
        config = TelegramConfig(
            token=token, username=emulator.username, base_url=emulator.base_url, poll_timeout=1
        )
        stop = asyncio.Event()
        async with TelegramBot(config, rules, talk, sessions, clock=lambda: now) as bot:
            running = asyncio.create_task(bot.run(stop))
            try:
                chat_id = 880_000_001
                for number, text in enumerate((f"/start {code}", "/tiendo", "/chuatraloi"), 1):
                    emulator.send_text(chat_id, text, first_name=name)
                    answer = (await emulator.wait_sent(number, within=15.0))[-1]
                    console.print(Text(f"{name} » {text}", style="bold cyan"))
                    console.print(Text(answer.text), highlight=False)
                    console.print()
            finally:
                stop.set()
                await asyncio.wait_for(running, timeout=10)


async def live_through(
    sessions: async_sessionmaker[AsyncSession],
    campaign: Campaign,
    roster: SampleRoster,
    workdir: Path,
    start: datetime,
    deadline: datetime,
    console: Console,
) -> None:
    """The campaign on a simulated clock: each working hour one scheduler pass, each morning
    the organiser imports who has answered."""
    answers = answer_times(roster, start, deadline, seed=7)
    refused = frozenset(p.email for p in roster.people[5 : 5 + BAD_ADDRESSES])
    identity = MailIdentity(
        from_address="cchc@snv.sonla.example.vn",
        from_name="Sở Nội vụ tỉnh Sơn La",
        secret=secrets.token_bytes(32),
    )
    holidays = HolidayCalendar()
    clock = start
    sink_dir = workdir / "hop-thu-thu-nghiem"
    async with MailSink(sink_dir, refuse=refused) as sink:
        smtp = SmtpConfig(
            host="127.0.0.1", port=sink.port, security="none", per_minute=600_000, connections=4
        )
        async with SmtpSender(smtp) as sender:
            channels = {"email": EmailChannel(sender, identity, clock=lambda: clock)}
            async with sessions() as session, session.begin():
                found = await session.get(Campaign, campaign.id)
                if found is not None:
                    found.state = CampaignState.ACTIVE
                plan = await plan_invitations(session, campaign, now=clock)
            console.print(render.invitation_plan_view(plan, dry_run=False))
            imported: set[str] = set()
            day = start.date()
            while clock < deadline:
                for hour in range(7, 18):
                    clock = datetime.combine(day, time(hour, 0), TZ)
                    if clock < start or clock > deadline:
                        continue
                    if hour == 7:
                        imported |= await morning_import(
                            sessions, campaign, workdir, answers, imported, clock
                        )
                    await tick(
                        sessions,
                        now=clock,
                        holidays=holidays,
                        channels=channels,
                        on_gone=recipient_gone,
                    )
                day += timedelta(days=1)
    console.print(
        f"Máy chủ thư thử nghiệm đã nhận {vn_number(sink.received)} thư, lưu ở {sink_dir}/ "
        f"(mở bằng bất kỳ trình đọc thư nào); {BAD_ADDRESSES} địa chỉ bị từ chối như hộp thư "
        "không tồn tại.",
        highlight=False,
    )
    first = await asyncio.to_thread(lambda: sorted(sink_dir.glob("*.eml"))[0].read_bytes())
    console.print(render.mail_preview(first))


async def morning_import(
    sessions: async_sessionmaker[AsyncSession],
    campaign: Campaign,
    workdir: Path,
    answers: dict[str, datetime],
    imported: set[str],
    now: datetime,
) -> set[str]:
    """The organiser imports the platform's export of who has answered so far."""
    new = sorted(e for e, t in answers.items() if t <= now and e not in imported)
    if not new:
        return set()
    path = workdir / f"da-tra-loi-{now:%Y%m%d}.csv"
    await asyncio.to_thread(_write_answered, path, new)
    async with sessions() as session, session.begin():
        await import_answered(session, campaign, path, actor=ACTOR, now=now)
    return set(new)


TIMELINE = (
    ("invitation", "Thư mời"),
    ("reminder", "Nhắc"),
    ("last_day", "Nhắc ngày cuối"),
    ("digest", "Báo cáo đầu mối"),
    ("escalation", "Cảnh báo đơn vị chậm"),
    ("bounce_alert", "Báo địa chỉ lỗi"),
)


async def timeline(session: AsyncSession, campaign: Campaign) -> RenderableType:
    sent = (
        await session.execute(
            select(Delivery.reason, Delivery.sent_at).where(
                Delivery.campaign_id == campaign.id, Delivery.state == DeliveryState.SENT
            )
        )
    ).all()
    answered = (
        await session.scalars(
            select(Respondent.answered_at).where(
                Respondent.campaign_id == campaign.id, Respondent.answered_at.is_not(None)
            )
        )
    ).all()
    per_day: dict[date, Counter[str]] = {}
    for reason, when in sent:
        if when is not None:
            per_day.setdefault(when.astimezone(TZ).date(), Counter())[reason] += 1
    answers = Counter(a.astimezone(TZ).date() for a in answered if a is not None)
    table = Table(title="Theo ngày (giờ Việt Nam)", title_justify="left")
    table.add_column("Ngày")
    for _, label in TIMELINE:
        table.add_column(label, justify="right")
    table.add_column("Trả lời trong ngày", justify="right")
    for day in sorted(set(per_day) | set(answers)):
        counts = per_day.get(day, Counter())
        table.add_row(
            f"{WEEKDAYS[day.weekday()]} {day:%d/%m}",
            *(vn_number(counts[r]) if counts[r] else "" for r, _ in TIMELINE),
            vn_number(answers[day]) if answers[day] else "",
        )
    return table


async def one_story(session: AsyncSession, campaign: Campaign) -> RenderableType:
    """Everything one person who answered late received, and why: the reminders stopped."""
    person = await session.scalar(
        select(Respondent)
        .where(Respondent.campaign_id == campaign.id, Respondent.answered_at.is_not(None))
        .join(Delivery, Delivery.respondent_id == Respondent.id)
        .where(Delivery.reason == "reminder", Delivery.state == DeliveryState.SENT)
        .order_by(Respondent.answered_at.desc(), Respondent.id)
        .limit(1)
    )
    if person is None:
        return Text("")
    rows = (
        await session.execute(
            select(Delivery.reason, Delivery.sent_at, Delivery.payload)
            .where(Delivery.respondent_id == person.id, Delivery.state == DeliveryState.SENT)
            .order_by(Delivery.sent_at)
        )
    ).all()
    lines = [f"Một người: {person.full_name} ({person.position or ''}):"]
    for reason, when, payload in rows:
        what = render.REASONS_VI.get(reason, reason)
        if "reminder_number" in payload:
            what += f" lần {payload['reminder_number']}"
        lines.append(f"  {vn_datetime(when) if when else ''}: {what}")
    if person.answered_at is not None:
        lines.append(
            f"  {vn_datetime(person.answered_at)}: đã trả lời — từ đó không nhắc nữa "
            "(biết qua danh sách nhập sáng hôm sau)."
        )
    return Text("\n".join(lines))
