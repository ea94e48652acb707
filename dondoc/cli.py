"""The ``dondoc`` command line: parses arguments, opens the database, calls storage, renders.

Errors meant for people (DondocError) are shown in Vietnamese and logged in English, and the
command exits 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.applications import Starlette

from bot.conversations import ChatConversations
from bot.linking import issue_code
from bot.people import find_person
from bot.render import chat_reply
from bot.telegram_bot import TelegramBot
from bot.zalo.service import ZaloService
from dondoc import render
from dondoc.demo import run_demo
from dondoc.settings import Settings
from mail.channel import EmailChannel
from mail.check import check_smtp
from mail.findings import Finding
from mail.imap import ImapWatcher
from mail.imapcheck import check_imap
from mail.inbound import active_completion_rules
from mail.smtp import SmtpSender
from mail.templates import check_templates
from scheduler.calendar import HolidayCalendar, SendingCalendar, load_overrides
from scheduler.context import ChatInvite
from scheduler.daemon import Daemon, Service
from scheduler.dispatch import Dispatcher
from scheduler.invitations import plan_invitations
from scheduler.planning import plan_reminders
from scheduler.rejections import recipient_gone
from scheduler.tick import tick as run_tick
from storage import migrate
from storage.answered import import_answered
from storage.campaign_file import Policy, load_campaign_file
from storage.campaigns import (
    campaign_groups,
    close_campaign,
    get_campaign,
    list_campaigns,
    save_campaign,
)
from storage.db import create_engine, session_factory
from storage.errors import ConfigurationError, DondocError
from storage.models import Campaign, CampaignState, DeliveryState, Event, Respondent, utcnow
from storage.outbox import retry_uncertain
from storage.problems import InputError
from storage.progress import campaign_progress, list_deliveries, resolve_unit
from storage.report_xlsx import build_report
from storage.roster import import_roster
from storage.vnformat import WEEKDAYS, vn_datetime, vn_duration, vn_number
from survey.poller import LimeSurveyPoller
from survey.service import LimeSurveyService
from web.app import create_app
from web.chat_hooks import ZaloWebhooks
from web.hooks import webhook_secret
from web.server import WebServer
from web.signin_mail import SignInMailer, SmtpSignInMailer

log = logging.getLogger("dondoc")
T = TypeVar("T")

app = typer.Typer(
    help="dondoc: đôn đốc trả lời phiếu điều tra xã hội học (Chỉ số CCHC).",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
campaign_app = typer.Typer(help="Đợt khảo sát: tạo, xem danh sách, xem chi tiết.")
roster_app = typer.Typer(help="Danh sách đối tượng điều tra và cán bộ đầu mối.")
answered_app = typer.Typer(help="Ghi nhận những người đã trả lời phiếu.")
app.add_typer(campaign_app, name="campaign")
app.add_typer(roster_app, name="roster")
app.add_typer(answered_app, name="answered")
deliveries_app = typer.Typer(
    help="Hộp thư đi: xem các thư, tin nhắn đã và sẽ gửi; gửi lại thư không chắc đã gửi.",
    invoke_without_command=True,
)
app.add_typer(deliveries_app, name="deliveries")
send_app = typer.Typer(help="Gửi thư mời tham gia khảo sát.")
app.add_typer(send_app, name="send")
mail_app = typer.Typer(help="Máy chủ thư: kiểm tra kết nối gửi (SMTP) và nhận (IMAP).")
app.add_typer(mail_app, name="mail")
contacts_app = typer.Typer(help="Cán bộ đầu mối và người trả lời: mã liên kết tài khoản chat.")
app.add_typer(contacts_app, name="contacts")

out = Console()
err = Console(stderr=True)


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def settings() -> Settings:
    return Settings.from_env()


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run one async command; turn our errors into a Vietnamese message and exit code 1."""
    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except InputError as exc:
        err.print(f"[bold red]Lỗi:[/] {exc.message_vi}", highlight=False)
        err.print(render.problems_view(exc.problems))
        # Expected refusals: the person already has the explanation, a traceback adds nothing.
        log.error("%s", exc.message_en)  # noqa: TRY400
        raise typer.Exit(1) from None
    except DondocError as exc:
        err.print(f"[bold red]Lỗi:[/] {exc.message_vi}", highlight=False)
        log.error("%s", exc.message_en)  # noqa: TRY400
        raise typer.Exit(1) from None


@asynccontextmanager
async def database(*, check_schema: bool = True) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings().database_url)
    try:
        if check_schema:
            try:
                current = await migrate.current_revision(engine)
            except OSError as exc:
                raise ConfigurationError(
                    f"Không kết nối được cơ sở dữ liệu: {exc}. Hãy kiểm tra DONDOC_DATABASE_URL.",
                    f"cannot connect to the database: {exc}",
                ) from exc
            if current != migrate.head_revision():
                raise ConfigurationError(
                    "Cơ sở dữ liệu chưa được khởi tạo hoặc cần nâng cấp. Hãy chạy: dondoc init",
                    f"database schema at {current!r}, expected {migrate.head_revision()!r}",
                )
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with session_factory(engine)() as session, session.begin():
        yield session


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    labels = {"read": "Đọc tệp", "check": "Kiểm tra", "write": "Ghi dữ liệu"}
    if not enabled or not err.is_terminal:
        yield lambda _step, _done, _total: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(labels.get(step, step), total=total)
            bar.update(tasks[step], completed=done, total=total)  # type: ignore[arg-type]

        yield update


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Ghi nhật ký chi tiết.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def init() -> None:
    """Khởi tạo hoặc nâng cấp cơ sở dữ liệu (chạy nhiều lần vẫn an toàn)."""

    async def main() -> None:
        async with database(check_schema=False) as engine:
            before, after = await migrate.upgrade(engine)
        if before == after:
            out.print(f"Cơ sở dữ liệu đã ở phiên bản mới nhất ({after}).")
        elif before is None:
            out.print(f"Đã khởi tạo cơ sở dữ liệu (phiên bản {after}).")
        else:
            out.print(f"Đã nâng cấp cơ sở dữ liệu từ phiên bản {before} lên {after}.")

    run(main)


@campaign_app.command("create")
def campaign_create(
    file: Annotated[Path, typer.Argument(help="Tệp cấu hình đợt khảo sát (.toml).")],
    update: Annotated[
        bool, typer.Option("--update", help="Cập nhật đợt đã có theo tệp này.")
    ] = False,
) -> None:
    """Tạo đợt khảo sát từ tệp cấu hình, sau khi kiểm tra toàn bộ tệp."""

    async def main() -> None:
        spec = load_campaign_file(file)
        # A broken template must stop the campaign here, not the first send weeks later.
        if problems := await asyncio.to_thread(check_templates, spec.templates_dir):
            raise InputError(
                problems,
                f"Mẫu thư của đợt {spec.code} có {len(problems)} lỗi; chưa tạo đợt khảo sát. "
                "Hãy sửa các lỗi dưới đây rồi chạy lại.",
                f"templates of campaign {spec.code} refused",
            )
        async with database() as engine, transaction(engine) as session:
            campaign, created = await save_campaign(session, spec, actor=actor(), update=update)
        verb = "Đã tạo" if created else "Đã cập nhật"
        out.print(
            f"{verb} đợt khảo sát [bold]{campaign.code}[/]: {campaign.title}; "
            f"{len(spec.groups)} nhóm đối tượng; hạn trả lời "
            f"{vn_datetime(campaign.deadline, campaign.timezone)}.",
            highlight=False,
        )

    run(main)


@campaign_app.command("list")
def campaign_list() -> None:
    """Liệt kê các đợt khảo sát."""

    async def main() -> None:
        async with database() as engine, transaction(engine) as session:
            summaries = await list_campaigns(session)
        if not summaries:
            out.print("Chưa có đợt khảo sát nào. Tạo đợt mới: dondoc campaign create TỆP.toml")
            return
        out.print(render.campaigns_view(summaries))

    run(main)


@campaign_app.command("show")
def campaign_show(code: Annotated[str, typer.Argument(help="Mã đợt khảo sát.")]) -> None:
    """Xem chi tiết một đợt: thời hạn, nhóm đối tượng, chỉ tiêu, lịch nhắc."""

    async def main() -> None:
        async with database() as engine, transaction(engine) as session:
            campaign = await get_campaign(session, code)
            groups = await campaign_groups(session, campaign)
        tz = campaign.timezone
        policy = Policy.from_json(campaign.policy)
        out.print(f"[bold]{campaign.title}[/] ({campaign.code})", highlight=False)
        out.print(f"  Bắt đầu: {vn_datetime(campaign.opens_at, tz)}", highlight=False)
        out.print(f"  Hạn trả lời: {vn_datetime(campaign.deadline, tz)}", highlight=False)
        out.print(f"  Đường dẫn khảo sát: {campaign.survey_url}", highlight=False)
        if campaign.preset:
            out.print(f"  Bộ nhóm đối tượng có sẵn: {campaign.preset}", highlight=False)
        reminders = ", ".join(f"trước {vn_duration(d)}" for d in policy.reminders_before_deadline)
        days = ", ".join(WEEKDAYS[d] for d in sorted(policy.window.days))
        out.print(
            f"  Nhắc: {reminders or 'không'}; tối đa {policy.max_reminders} lần, "
            f"cách nhau ít nhất {vn_duration(policy.min_gap)}",
            highlight=False,
        )
        out.print(
            f"  Giờ gửi: {policy.window.start:%H:%M}–{policy.window.end:%H:%M} ({days})"
            + ("; nghỉ lễ Việt Nam" if policy.window.skip_holidays else ""),
            highlight=False,
        )
        out.print(f"  Kênh: {', '.join(policy.channels)}", highlight=False)
        kinds = {k["code"]: k["name"] for k in campaign.unit_kinds}
        table = Table(title="Nhóm đối tượng", title_justify="left")
        for column in ("Ưu tiên", "Mã", "Tên nhóm", "Chỉ tiêu mỗi đơn vị"):
            table.add_column(column)
        for g in groups:
            quotas = "; ".join(f"{kinds.get(k, k)}: {n}" for k, n in g.quotas.items())
            table.add_row(str(g.priority), g.code, g.name, quotas)
        out.print(table)

    run(main)


@campaign_app.command("close")
def campaign_close(code: Annotated[str, typer.Argument(help="Mã đợt khảo sát.")]) -> None:
    """Kết thúc đợt khảo sát: không nhắc nữa, hủy các thư, tin nhắn đang chờ gửi."""

    async def main() -> None:
        async with database() as engine, transaction(engine) as session:
            found = await get_campaign(session, code)
            cancelled = await close_campaign(session, found, actor=actor())
        out.print(
            f"Đã kết thúc đợt {code}; đã hủy {vn_number(cancelled)} thư, tin nhắn đang chờ gửi.",
            highlight=False,
        )

    run(main)


@campaign_app.command("secret")
def campaign_secret(code: Annotated[str, typer.Argument(help="Mã đợt khảo sát.")]) -> None:
    """In khóa bí mật ký webhook của đợt (tính từ DONDOC_SECRET_KEY): chỉ đưa cho nền tảng
    khảo sát, không gửi qua thư hay tin nhắn."""

    async def main() -> None:
        key = settings().web.secret_key
        if key is None or len(key) < 32:
            raise ConfigurationError(
                "Cần đặt DONDOC_SECRET_KEY (ít nhất 32 ký tự ngẫu nhiên) để tính khóa webhook.",
                "DONDOC_SECRET_KEY must be set to at least 32 characters",
            )
        async with database() as engine, transaction(engine) as session:
            found = await get_campaign(session, code)
        sys.stdout.write(webhook_secret(key, found.code) + "\n")
        err.print(
            f"Khóa ký webhook của đợt {found.code} (địa chỉ: POST "
            f"{settings().web.public_url}/hooks/{found.code}/answered). Xem README, mục webhook.",
            highlight=False,
        )

    run(main)


@asynccontextmanager
async def sign_in_mailer(config: Settings) -> AsyncIterator[SignInMailer | None]:
    """What mails sign-in links (its own SMTP pool), or None when mail is not configured."""
    if config.smtp is None or config.identity is None:
        yield None
        return
    async with SmtpSender(config.smtp) as sender:
        yield SmtpSignInMailer(sender, config.identity)


def web_app(
    config: Settings,
    engine: AsyncEngine,
    mailer: SignInMailer | None,
    *,
    zalo: ZaloWebhooks | None = None,
) -> tuple[WebServer, Starlette, str]:
    """The bound server, the app, and the address people use (links in sign-in mails)."""
    server = WebServer(config.web.host, config.web.port)
    web = dataclasses.replace(config.web, port=server.port)
    app = create_app(session_factory(engine), web, mailer=mailer, zalo=zalo)
    return server, app, web.public_url


@app.command("web")
def web_command() -> None:
    """Chạy riêng dịch vụ web: webhook ghi nhận đã trả lời và trang theo dõi tiến độ."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        config = settings()
        async with database() as engine, sign_in_mailer(config) as mailer:
            server, web, url = web_app(config, engine, mailer)
            out.print(
                f"Dịch vụ web đang chạy: {url} (nghe tại {server.host}:{server.port}). "
                "Dừng: Ctrl+C hoặc SIGTERM.",
                highlight=False,
            )
            await server.run(web, stop)
        out.print("Dịch vụ web đã dừng.")

    run(main)


def parse_moment(text: str | None, tz: str = "Asia/Ho_Chi_Minh") -> datetime:
    """--at: an ISO moment; without an offset it is taken in the campaign's zone."""
    if text is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError as exc:
        raise DondocError(
            f"Thời điểm «{text}» không đúng dạng. Ví dụ đúng: 2025-01-06 08:00 hoặc "
            "2025-01-06T08:00+07:00.",
            f"bad --at value {text!r}",
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.astimezone(UTC)


def holiday_calendar() -> HolidayCalendar:
    """Vietnamese public holidays plus this deployment's override file, if any."""
    path = os.environ.get("DONDOC_HOLIDAYS_FILE")
    return HolidayCalendar(overrides=load_overrides(Path(path)) if path else None)


@app.command("plan")
def plan_command(
    campaign: Annotated[str, typer.Argument(help="Mã đợt khảo sát.")],
    at: Annotated[
        str | None, typer.Option("--at", help="Thời điểm xem thử, ví dụ «2025-01-06 08:00».")
    ] = None,
) -> None:
    """Cho biết vào thời điểm đó sẽ nhắc ai, khi nào và vì sao; không gửi gì."""

    async def main() -> None:
        async with database() as engine, transaction(engine) as session:
            found = await get_campaign(session, campaign)
            moment = parse_moment(at, found.timezone)
            report = await plan_reminders(
                session, found, now=moment, holidays=holiday_calendar(), dry_run=True
            )
            names = dict(
                (
                    await session.execute(
                        select(Respondent.id, Respondent.full_name).where(
                            Respondent.campaign_id == found.id
                        )
                    )
                ).all()
            )
        out.print(render.plan_view(report, names, moment, found))

    run(main)


@app.command()
def tick(
    at: Annotated[
        str | None, typer.Option("--at", help="Chạy như thể đang ở thời điểm này (thử nghiệm).")
    ] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", "-c", help="Chỉ một đợt khảo sát.")
    ] = None,
) -> None:
    """Chạy một lượt: lập lịch nhắc cho các đợt đang chạy rồi gửi những gì đã đến hạn."""

    async def main() -> None:
        config = settings()
        holidays = holiday_calendar()
        async with database() as engine:
            sessions = session_factory(engine)
            moment = parse_moment(at)
            if config.smtp is None or config.identity is None:
                report = await run_tick(
                    sessions, now=moment, holidays=holidays, campaign_code=campaign
                )
                out.print("Chưa cấu hình máy chủ gửi thư: chỉ lập lịch, chưa gửi.")
            else:
                async with SmtpSender(config.smtp) as sender:
                    channels = {"email": EmailChannel(sender, config.identity)}
                    report = await run_tick(
                        sessions,
                        now=moment,
                        holidays=holidays,
                        channels=channels,
                        campaign_code=campaign,
                        on_gone=recipient_gone,
                    )
        out.print(render.tick_view(report))

    run(main)


@roster_app.command("import")
def roster_import(
    campaign: Annotated[str, typer.Argument(help="Mã đợt khảo sát.")],
    file: Annotated[Path, typer.Argument(help="Tệp danh sách (.xlsx hoặc .csv).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Chỉ kiểm tra và báo cáo, không ghi gì.")
    ] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Nhập các dòng hợp lệ, liệt kê các dòng lỗi."),
    ] = False,
    contacts: Annotated[
        Path | None,
        typer.Option(
            "--contacts", help="Tệp riêng danh sách cán bộ đầu mối (nếu không ở cùng tệp)."
        ),
    ] = None,
) -> None:
    """Nhập danh sách đối tượng điều tra (và cán bộ đầu mối ở trang «Đầu mối»)."""

    async def main() -> None:
        with progress_bar(True) as progress:
            async with database() as engine, transaction(engine) as session:
                found = await get_campaign(session, campaign)
                report = await import_roster(
                    session,
                    found,
                    file,
                    actor=actor(),
                    dry_run=dry_run,
                    skip_invalid=skip_invalid,
                    contacts_path=contacts,
                    progress=progress,
                )
        out.print(render.roster_view(report))

    run(main)


@answered_app.command("import")
def answered_import(
    campaign: Annotated[str, typer.Argument(help="Mã đợt khảo sát.")],
    file: Annotated[Path, typer.Argument(help="Tệp danh sách đã trả lời (.xlsx hoặc .csv).")],
) -> None:
    """Ghi nhận đã trả lời theo danh sách (mã token, email hoặc số điện thoại)."""

    async def main() -> None:
        async with database() as engine, transaction(engine) as session:
            found = await get_campaign(session, campaign)
            report = await import_answered(session, found, file, actor=actor())
        out.print(render.answered_view(report))

    run(main)


@answered_app.command("poll")
def answered_poll(campaign: Annotated[str, typer.Argument(help="Mã đợt khảo sát.")]) -> None:
    """Hỏi LimeSurvey một lần (mục [limesurvey] của tệp cấu hình đợt) và ghi nhận những người
    đã hoàn thành phiếu. Mật khẩu lấy từ biến môi trường ghi ở password_env."""

    async def main() -> None:
        async with database() as engine:
            sessions = session_factory(engine)
            async with sessions() as session:
                found = await get_campaign(session, campaign)
            async with LimeSurveyPoller.from_campaign(found, sessions) as poller:
                report = await poller.poll_once()
        out.print(
            f"LimeSurvey (khảo sát {poller.config.survey_id}): {vn_number(report.completed)} "
            f"người đã hoàn thành phiếu; ghi nhận mới {vn_number(report.newly_answered)} người "
            f"đã trả lời, {vn_number(report.already_answered)} người đã được ghi nhận từ trước, "
            f"{vn_number(len(report.unknown))} người không có trong danh sách của đợt.",
            highlight=False,
        )
        for unknown in report.unknown[:20]:
            out.print(
                f"  - mã người tham gia (tid) {unknown.tid}: {unknown.email or '(không có email)'}",
                highlight=False,
            )
        if len(report.unknown) > 20:
            out.print(f"  … và {len(report.unknown) - 20} người khác.", highlight=False)

    run(main)


@app.command()
def report(
    campaign: Annotated[str, typer.Argument(help="Mã đợt khảo sát.")],
    xlsx: Annotated[Path, typer.Option("--xlsx", help="Tệp Excel (.xlsx) sẽ ghi báo cáo.")],
    units: Annotated[
        list[str] | None,
        typer.Option("--unit", help="Chỉ các đơn vị này (mã hoặc tên; lặp lại được)."),
    ] = None,
) -> None:
    """Báo cáo tiến độ ra tệp Excel: tổng hợp, theo đơn vị, theo nhóm, danh sách chưa trả lời."""
    if xlsx.suffix.lower() != ".xlsx":
        err.print(f"[bold red]Lỗi:[/] tên tệp báo cáo phải có đuôi .xlsx (không phải «{xlsx}»).")
        raise typer.Exit(2)

    async def main() -> None:
        async with database() as engine, transaction(engine) as session:
            found = await get_campaign(session, campaign)
            scope = (
                frozenset([await resolve_unit(session, found, u) for u in units]) if units else None
            )
            content = await build_report(session, found, unit_ids=scope, now=utcnow())
            # Names and addresses leave the system in this file: the audit log records who.
            session.add(
                Event(
                    campaign_id=found.id,
                    kind="report_exported",
                    actor=actor(),
                    data={"file": xlsx.name, "units": sorted(scope) if scope else None},
                )
            )
        partial = xlsx.with_name(f".{xlsx.name}.tmp")
        try:
            partial.write_bytes(content)
            partial.replace(xlsx)
        except OSError as exc:
            raise ConfigurationError(
                f"Không ghi được tệp {xlsx}: {exc.strerror}. Vui lòng kiểm tra thư mục và quyền "
                "ghi, hoặc đóng tệp nếu đang mở trong Excel.",
                f"cannot write {xlsx}: {exc.strerror}",
            ) from None
        out.print(f"Đã ghi báo cáo vào {xlsx}.", highlight=False)

    run(main)


@app.command()
def status(
    campaign: Annotated[str, typer.Argument(help="Mã đợt khảo sát.")],
    unit: Annotated[
        str | None, typer.Option("--unit", help="Chỉ một đơn vị (mã hoặc tên).")
    ] = None,
    group: Annotated[str | None, typer.Option("--group", help="Chỉ một nhóm (mã).")] = None,
    pending: Annotated[
        bool, typer.Option("--pending", help="Liệt kê những người chưa trả lời.")
    ] = False,
    output: Annotated[
        str, typer.Option("--format", help="table, csv hoặc json.", case_sensitive=False)
    ] = "table",
) -> None:
    """Tiến độ trả lời theo đơn vị và nhóm; thời gian còn lại."""
    fmt = output.lower()
    if fmt not in ("table", "csv", "json"):
        err.print(
            f"[bold red]Lỗi:[/] --format phải là table, csv hoặc json (không phải «{output}»)."
        )
        raise typer.Exit(2)

    async def main() -> None:
        async with database() as engine, transaction(engine) as session:
            found = await get_campaign(session, campaign)
            result = await campaign_progress(
                session, found, unit=unit, group=group, with_pending=pending
            )
            if pending:
                # Names and addresses were shown: the audit log records who looked.
                session.add(
                    Event(
                        campaign_id=found.id,
                        kind="status_viewed",
                        actor=actor(),
                        data={"unit": unit, "group": group, "pending": len(result.pending or [])},
                    )
                )
        if fmt == "csv":
            sys.stdout.write(render.progress_csv(result))
        elif fmt == "json":
            sys.stdout.write(render.progress_json(result) + "\n")
        else:
            out.print(render.progress_view(result, found.timezone, unit_limit=None))

    run(main)


@deliveries_app.callback()
def deliveries_list(
    ctx: typer.Context,
    campaign: Annotated[
        str | None, typer.Option("--campaign", "-c", help="Mã đợt khảo sát.")
    ] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", help="queued, sending, sent, failed, cancelled hoặc uncertain."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Số dòng tối đa.")] = 200,
) -> None:
    """Liệt kê hộp thư đi (mới nhất trước)."""
    if ctx.invoked_subcommand is not None:
        return
    states = [s.value for s in DeliveryState]
    if state is not None and state not in states:
        err.print(f"[bold red]Lỗi:[/] --state phải là một trong: {', '.join(states)}.")
        raise typer.Exit(2)

    async def main() -> None:
        async with database() as engine, transaction(engine) as session:
            found = await one_campaign(session, campaign)
            rows = await list_deliveries(session, found, state=state, limit=limit)
        if not rows:
            out.print("Hộp thư đi trống" + (f" (trạng thái {state})." if state else "."))
            return
        out.print(render.deliveries_view(rows, found.timezone))

    run(main)


@deliveries_app.command("retry")
def deliveries_retry(
    campaign: Annotated[str, typer.Argument(help="Mã đợt khảo sát.")],
) -> None:
    """Gửi lại các thư «không chắc đã gửi» (bị gián đoạn khi đang gửi). Người nhận có thể nhận
    hai lần nếu thư trước đã đến: chỉ chạy khi đã kiểm tra."""

    async def main() -> None:
        async with database() as engine, transaction(engine) as session:
            found = await get_campaign(session, campaign)
            count = await retry_uncertain(session, now=utcnow(), campaign_id=found.id)
            session.add(
                Event(
                    campaign_id=found.id,
                    kind="deliveries_retried",
                    actor=actor(),
                    data={"count": count},
                )
            )
        out.print(f"Đã xếp lại {count} thư/tin nhắn vào hàng gửi.")

    run(main)


async def one_campaign(session: AsyncSession, code: str | None) -> Campaign:
    """The named campaign, or the only one there is."""
    if code is not None:
        return await get_campaign(session, code)
    summaries = await list_campaigns(session)
    if len(summaries) == 1:
        return summaries[0].campaign
    raise DondocError(
        "Có nhiều đợt khảo sát (hoặc chưa có đợt nào): hãy chọn bằng --campaign MÃ_ĐỢT.",
        "several campaigns (or none): choose one with --campaign",
    )


@send_app.command("invitations")
def send_invitations(
    campaign: Annotated[str, typer.Argument(help="Mã đợt khảo sát.")],
    unit: Annotated[
        str | None, typer.Option("--unit", help="Chỉ gửi cho một đơn vị (mã hoặc tên).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Chỉ cho biết sẽ gửi bao nhiêu thư, không gửi.")
    ] = False,
) -> None:
    """Gửi thư mời (kèm đường dẫn khảo sát riêng) cho từng người; chạy lại không gửi trùng."""

    async def main() -> None:
        config = settings()
        async with database() as engine:
            async with transaction(engine) as session:
                found = await get_campaign(session, campaign)
                plan = await plan_invitations(
                    session, found, now=utcnow(), unit=unit, dry_run=dry_run
                )
                if not dry_run:
                    # Sending the invitations is what starts the campaign: reminders follow.
                    if found.state == CampaignState.DRAFT:
                        found.state = CampaignState.ACTIVE
                    session.add(
                        Event(
                            campaign_id=found.id,
                            kind="invitations_queued",
                            actor=actor(),
                            data={"unit": unit, "queued": plan.queued},
                        )
                    )
            out.print(render.invitation_plan_view(plan, dry_run=dry_run))
            if dry_run:
                return
            smtp, identity = config.require_mail()
            template_dirs = {found.code: Path(found.templates_dir)} if found.templates_dir else {}
            with progress_bar(True) as progress:
                async with SmtpSender(smtp) as sender:
                    dispatcher = Dispatcher(
                        session_factory(engine),
                        {"email": EmailChannel(sender, identity, template_dirs=template_dirs)},
                        clock=utcnow,
                        concurrency=max(1, smtp.connections),
                        on_gone=recipient_gone,
                        on_progress=lambda st: progress("send", st.handled, plan.queued),
                        chat_invite=chat_invite(config),
                    )
                    stats = await dispatcher.run_once(campaign_id=found.id)
        out.print(render.dispatch_view(stats))

    run(main)


@mail_app.command("check")
def mail_check() -> None:
    """Kết nối thử tới máy chủ gửi thư (SMTP) và hộp thư nhận (IMAP), nói rõ chỗ nào chưa đúng."""

    async def main() -> bool:
        config = settings()
        findings: list[Finding] = []
        if config.smtp is None:
            findings.append(
                Finding(False, "Chưa cấu hình SMTP (DONDOC_SMTP_HOST).", "SMTP not configured")
            )
        else:
            findings += await check_smtp(config.smtp, identity=config.identity)
        if config.imap is None:
            findings.append(
                Finding(False, "Chưa cấu hình IMAP (DONDOC_IMAP_HOST).", "IMAP not configured")
            )
        else:
            findings += await check_imap(config.imap)
        for finding in findings:
            mark = "[green]✓[/]" if finding.ok else "[bold red]✗[/]"
            out.print(f"{mark} {finding.message_vi}", highlight=False)
        return all(f.ok for f in findings)

    if not run(main):
        raise typer.Exit(1)


@mail_app.command("watch")
def mail_watch(
    once: Annotated[
        bool, typer.Option("--once", help="Đọc hộp thư một lượt rồi dừng (dùng với cron).")
    ] = False,
) -> None:
    """Theo dõi hộp thư nhận: thư báo lỗi, thư trả lời tự động, thư trả lời của người nhận."""

    async def main() -> None:
        config = settings()
        if config.imap is None or config.identity is None:
            raise ConfigurationError(
                "Chưa cấu hình hộp thư nhận: cần DONDOC_IMAP_HOST, DONDOC_MAIL_FROM và "
                "DONDOC_SECRET_KEY.",
                "IMAP is not configured",
            )
        async with database() as engine:
            async with transaction(engine) as session:
                rules = await active_completion_rules(session)
            watcher = ImapWatcher(
                config.imap,
                session_factory(engine),
                secret=config.identity.secret,
                completion_rules=rules,
            )
            async with watcher:
                if once:
                    report = await watcher.run_once()
                    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(report.kinds.items()))
                    out.print(
                        f"Đã xử lý {report.processed} thư mới" + (f" ({kinds})." if kinds else "."),
                        highlight=False,
                    )
                    return
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                # SIGTERM/SIGINT end the watch cleanly: the current message is finished first.
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(signum, stop.set)
                out.print("Đang theo dõi hộp thư (Ctrl+C để dừng)...")
                await watcher.run_forever(stop)

    run(main)


def window_opening(holidays: HolidayCalendar) -> Callable[[Campaign, datetime], datetime]:
    """When a campaign's sending window next opens (for the chat's "sent at ..." answers)."""

    def opening(campaign: Campaign, moment: datetime) -> datetime:
        window = Policy.from_json(campaign.policy).window
        return SendingCalendar(window, campaign.timezone, holidays=holidays).next_open(moment)

    return opening


def daemon_services(
    config: Settings, engine: AsyncEngine, holidays: HolidayCalendar
) -> tuple[list[Service], ZaloService | None]:
    """What runs beside the mail: the LimeSurvey pollers always (they start with the first
    campaign that has a [limesurvey] table), Telegram and Zalo when configured. The Zalo
    service is also returned for the web service, which receives its webhooks."""
    sessions = session_factory(engine)
    services: list[Service] = [LimeSurveyService(sessions)]
    zalo_configured = config.zalo.bot is not None or config.zalo.oa is not None
    if config.chat is None:
        if zalo_configured:
            raise ConfigurationError(
                "Cần đặt DONDOC_SECRET_KEY (ít nhất 32 ký tự ngẫu nhiên) để dùng Zalo: mã liên "
                "kết tài khoản chat được tạo và lưu bằng khóa này.",
                "DONDOC_SECRET_KEY (>= 32 characters) is required with the Zalo settings",
            )
        return services, None
    rules = config.chat
    talk = ChatConversations(sessions, rules, clock=utcnow, next_open=window_opening(holidays))
    if config.telegram is not None:
        services.append(TelegramBot(config.telegram, rules, talk, sessions, clock=utcnow))
    zalo = None
    if zalo_configured:
        zalo = ZaloService(config.zalo, sessions, talk, lambda m: chat_reply(rules, m))
        services.append(zalo)
    return services, zalo


def chat_invite(config: Settings) -> ChatInvite | None:
    """What invitations offer to link a chat: nothing unless a chat bot is configured."""
    zalo = config.zalo.bot is not None or config.zalo.oa is not None
    if config.chat is None or (config.telegram is None and not zalo):
        return None
    username = config.telegram.username if config.telegram is not None else None
    return ChatInvite(config.chat.secret, username)


@contacts_app.command("code")
def contacts_code(
    campaign: Annotated[str, typer.Argument(help="Mã đợt khảo sát.")],
    email: Annotated[
        str | None, typer.Option("--email", help="Thư điện tử của người cần liên kết.")
    ] = None,
    phone: Annotated[
        str | None, typer.Option("--phone", help="Số điện thoại của người cần liên kết.")
    ] = None,
) -> None:
    """Cấp mã liên kết một lần (dùng một lần, có hạn) để một người liên kết tài khoản chat
    (Telegram: /start MÃ). Mã chỉ hiện một lần; hệ thống chỉ lưu bản băm."""

    async def main() -> None:
        config = settings()
        if config.chat is None:
            raise ConfigurationError(
                "Cần đặt DONDOC_SECRET_KEY (ít nhất 32 ký tự ngẫu nhiên) để cấp mã liên kết.",
                "DONDOC_SECRET_KEY must be set to issue link codes",
            )
        if (email is None) == (phone is None):
            raise DondocError(
                "Hãy chỉ rõ người cần liên kết bằng đúng một trong hai tuỳ chọn --email hoặc "
                "--phone.",
                "give exactly one of --email or --phone",
            )
        async with database() as engine, transaction(engine) as session:
            found = await get_campaign(session, campaign)
            who = await find_person(session, found, email=email, phone=phone)
            code = await issue_code(
                session,
                config.chat,
                found,
                respondent_id=who.respondent_id,
                contact_id=who.contact_id,
                issued_by=actor(),
                now=utcnow(),
            )
        expires = vn_datetime(utcnow() + config.chat.code_ttl, found.timezone)
        out.print(f"Mã liên kết cho {who.full_name} ({who.role_vi}): {code}", highlight=False)
        if config.telegram is not None:
            out.print(f"Đường link Telegram: {config.telegram.deep_link(code)}", highlight=False)
        out.print(
            f"Dùng một lần, hết hạn lúc {expires}. Mã chỉ hiện một lần này: hãy chuyển trực tiếp "
            "cho đúng người (thư công vụ hoặc trao tay).",
            highlight=False,
        )

    run(main)


@app.command("run")
def run_daemon(
    tick_seconds: Annotated[
        int, typer.Option("--tick-seconds", min=1, help="Bao nhiêu giây chạy một lượt.")
    ] = 60,
) -> None:
    """Chạy thường trực: lập lịch nhắc, gửi thư đến hạn, theo dõi hộp thư nhận (nếu có cấu hình).
    SIGTERM hoặc Ctrl+C: gửi nốt thư đang gửi, không nhận việc mới, dừng trong 10 giây."""

    async def main() -> None:
        # The only signal handlers of the daemon: they ask it to stop, it does the rest.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        # The daemon logs each pass; APScheduler's line per alarm would only repeat it.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        config = settings()
        smtp, identity = config.require_mail()
        async with database() as engine, sign_in_mailer(config) as mailer:
            holidays = holiday_calendar()
            services, zalo = daemon_services(config, engine, holidays)
            # Bound before the daemon starts: a port in use stops everything with a clear error.
            server, web, url = web_app(config, engine, mailer, zalo=zalo)
            daemon = Daemon(
                session_factory(engine),
                smtp=smtp,
                identity=identity,
                imap=config.imap,
                holidays=holidays,
                tick_seconds=tick_seconds,
                services=services,
                chat_invite=chat_invite(config),
            )
            watching = "; theo dõi hộp thư nhận" if config.imap is not None else ""
            out.print(
                f"dondoc đang chạy: mỗi {tick_seconds} giây một lượt{watching}. "
                "Dừng: Ctrl+C hoặc SIGTERM.",
                highlight=False,
            )
            out.print(f"Trang theo dõi: {url}", highlight=False)
            serving = asyncio.create_task(server.run(web, stop), name="dondoc-web")
            try:
                await daemon.run(stop)
            finally:
                stop.set()
                await serving
        out.print("dondoc đã dừng.")

    run(main)


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option("--dir", help="Thư mục chứa dữ liệu chạy thử.")] = Path(
        "demo-run"
    ),
) -> None:
    """Chạy thử một đợt khảo sát hoàn chỉnh trên SQLite (không cần cài đặt gì thêm)."""
    run(lambda: run_demo(workdir, out))


def main() -> None:
    app()
