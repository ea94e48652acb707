"""How results look to a person at a terminal: Rich tables and Vietnamese wording.

Pure functions from storage's result objects to Rich renderables or text, so the CLI stays
wiring and the wording can be tested.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from email import policy
from email.parser import BytesParser

from rich.console import Group as RichGroup
from rich.console import RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from scheduler.dispatch import DispatchStats
from scheduler.invitations import InvitationPlan
from scheduler.planning import PlanReport
from scheduler.tick import TickReport
from storage.answered import AnsweredReport
from storage.campaigns import CampaignSummary
from storage.models import Campaign
from storage.phones import format_national
from storage.problems import Problem
from storage.progress import DeliveryRow, Progress, Tally
from storage.roster import RosterReport
from storage.vnformat import vn_datetime, vn_duration, vn_number


def time_left(progress: Progress, tz: str) -> str:
    left = progress.time_left
    when = vn_datetime(progress.deadline, tz)
    if left.total_seconds() > 0:
        return f"Hạn trả lời: {when} (còn {vn_duration(left)})"
    if left.total_seconds() > -60:
        return f"Hạn trả lời: {when} (vừa hết hạn)"
    return f"Hạn trả lời: {when} (đã hết hạn {vn_duration(left)} trước)"


def percent(tally: Tally) -> str:
    return f"{tally.rate * 100:.1f}%".replace(".", ",")


def _bar(rate: float, width: int = 20) -> Text:
    filled = round(rate * width)
    style = "green" if rate >= 0.8 else "yellow" if rate >= 0.6 else "red"
    return Text("█" * filled + "░" * (width - filled), style=style)


def _tally_table(title: str, first: str, tallies: list[Tally]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("Mã", style="dim", no_wrap=True)
    table.add_column(first)
    table.add_column("Đã trả lời", justify="right")
    table.add_column("Tổng số", justify="right")
    table.add_column("Tỉ lệ", justify="right")
    table.add_column("", no_wrap=True)
    for t in tallies:
        table.add_row(
            t.code, t.name, vn_number(t.answered), vn_number(t.total), percent(t), _bar(t.rate)
        )
    return table


def progress_view(progress: Progress, tz: str, *, unit_limit: int | None = None) -> RenderableType:
    o = progress.overall
    head = Text.assemble(
        (f"{progress.title} ({progress.campaign_code})\n", "bold"),
        f"Đã trả lời {vn_number(o.answered)}/{vn_number(o.total)} ({percent(o)}), "
        f"còn {vn_number(o.pending)} người chưa trả lời.\n",
        time_left(progress, tz),
    )
    parts: list[RenderableType] = [head]
    if progress.deliveries:
        parts.append(Text(deliveries_line(progress.deliveries)))
    parts.append(_tally_table("Theo nhóm đối tượng", "Nhóm đối tượng", progress.by_group))
    units = progress.by_unit
    if unit_limit is not None and len(units) > unit_limit:
        parts.append(
            _tally_table(
                f"Theo đơn vị ({unit_limit} đơn vị có tỉ lệ thấp nhất / {len(units)})",
                "Cơ quan/đơn vị",
                units[:unit_limit],
            )
        )
    else:
        parts.append(_tally_table("Theo đơn vị (tỉ lệ thấp trước)", "Cơ quan/đơn vị", units))
    if progress.pending is not None:
        table = Table(title=f"Chưa trả lời ({len(progress.pending)} người)", title_justify="left")
        for column in ("Họ và tên", "Chức vụ", "Cơ quan/đơn vị", "Nhóm", "Email", "Điện thoại"):
            table.add_column(column)
        for p in progress.pending:
            phone = format_national(p.phone) if p.phone else ""
            table.add_row(p.full_name, p.position or "", p.unit, p.group, p.email or "", phone)
        parts.append(table)
    return RichGroup(*parts)


DELIVERY_STATES = {
    "sent": "đã gửi",
    "queued": "đang chờ gửi",
    "sending": "đang gửi",
    "failed": "lỗi",
    "cancelled": "đã hủy",
    "uncertain": "không chắc đã gửi (cần kiểm tra)",
}


def deliveries_line(counts: dict[str, int]) -> str:
    parts = [
        f"{label}: {vn_number(counts[state])}"
        for state, label in DELIVERY_STATES.items()
        if counts.get(state)
    ]
    hint = (
        " — xem bằng lệnh «dondoc deliveries --state uncertain», gửi lại bằng "
        "«dondoc deliveries retry»"
        if counts.get("uncertain")
        else ""
    )
    return "Thư và tin nhắn: " + "; ".join(parts) + hint


def deliveries_view(rows: list[DeliveryRow], tz: str) -> RenderableType:
    table = Table(title=f"Hộp thư đi ({len(rows)})", title_justify="left")
    for column in ("Số", "Lý do", "Kênh", "Người nhận", "Trạng thái", "Lần", "Thời điểm", "Lỗi"):
        table.add_column(column, overflow="fold")
    for r in rows:
        when = r.sent_at or r.due_at
        table.add_row(
            str(r.id),
            REASONS_VI.get(r.reason, r.reason),
            r.channel,
            r.recipient,
            DELIVERY_STATES.get(r.state, r.state),
            str(r.attempts),
            vn_datetime(when, tz),
            r.last_error or "",
        )
    return table


REASONS_VI = {
    "invitation": "thư mời",
    "reminder": "nhắc",
    "last_day": "nhắc ngày cuối",
    "digest": "báo cáo hằng ngày",
    "escalation": "cảnh báo",
    "bounce_alert": "báo địa chỉ lỗi",
    "problem_report": "báo sự cố",
    "link_code": "mã liên kết",
    "reply_forward": "chuyển thư trả lời",
}


def progress_csv(progress: Progress) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if progress.pending is not None:
        writer.writerow(["Họ và tên", "Chức vụ", "Cơ quan/đơn vị", "Nhóm", "Email", "Điện thoại"])
        for p in progress.pending:
            writer.writerow([p.full_name, p.position or "", p.unit, p.group, p.email, p.phone])
        return out.getvalue()
    writer.writerow(["Loại", "Mã", "Tên", "Đã trả lời", "Tổng số", "Tỉ lệ (%)"])
    rows = [("Tổng", progress.overall)]
    rows += [("Nhóm", t) for t in progress.by_group] + [("Đơn vị", t) for t in progress.by_unit]
    for kind, t in rows:
        writer.writerow([kind, t.code, t.name, t.answered, t.total, f"{t.rate * 100:.1f}"])
    return out.getvalue()


def progress_json(progress: Progress) -> str:
    def tally(t: Tally) -> dict[str, object]:
        return {
            "code": t.code,
            "name": t.name,
            "answered": t.answered,
            "total": t.total,
            "rate": round(t.rate, 4),
        }

    data: dict[str, object] = {
        "campaign": progress.campaign_code,
        "title": progress.title,
        "deadline": progress.deadline.isoformat(),
        "now": progress.now.isoformat(),
        "seconds_left": int(progress.time_left.total_seconds()),
        "overall": tally(progress.overall),
        "by_group": [tally(t) for t in progress.by_group],
        "by_unit": [tally(t) for t in progress.by_unit],
        "deliveries": progress.deliveries,
    }
    if progress.pending is not None:
        data["pending"] = [
            {
                "full_name": p.full_name,
                "position": p.position,
                "unit": p.unit,
                "group": p.group,
                "email": p.email,
                "phone": p.phone,
            }
            for p in progress.pending
        ]
    return json.dumps(data, ensure_ascii=False, indent=2)


def problems_view(problems: list[Problem], limit: int = 200) -> RenderableType:
    table = Table(title=f"Các lỗi cần sửa ({len(problems)})", title_justify="left", show_lines=True)
    for column in ("Trang tính", "Dòng", "Cột", "Giá trị", "Lỗi và cách sửa"):
        table.add_column(column, overflow="fold")
    for p in problems[:limit]:
        table.add_row(
            p.sheet or "",
            "" if p.row is None else str(p.row),
            p.column or "",
            p.value or "",
            p.message_vi,
        )
    if len(problems) > limit:
        table.caption = f"… và {len(problems) - limit} lỗi khác"
    return table


def roster_view(report: RosterReport) -> RenderableType:
    verb = "Đã nhập" if report.written else "Chạy thử (chưa ghi gì)"
    where = report.file + (f" / trang «{report.sheet}»" if report.sheet else "")
    lines = [
        f"{verb}: {where}",
        f"  Số dòng đọc được: {vn_number(report.rows_read)}",
        f"  Người mới: {vn_number(report.added)}; cập nhật: {vn_number(report.updated)}; "
        f"không đổi: {vn_number(report.unchanged)}",
        f"  Đơn vị mới: {report.units_added}",
    ]
    if report.contacts_added or report.contacts_updated:
        lines.append(
            f"  Cán bộ đầu mối: mới {report.contacts_added}, cập nhật {report.contacts_updated}"
        )
    if report.signature_rows:
        rows = report.signature_rows
        lines.append(
            f"  Bỏ qua phần ký tên dưới bảng: dòng {rows[0]}–{rows[-1]} "
            "(không có đơn vị và nhóm đối tượng)."
        )
    if report.invalid_rows:
        lines.append(f"  Dòng lỗi bị bỏ qua: {report.invalid_rows}")
    if report.not_in_file:
        lines.append(
            f"  Có {report.not_in_file} người đã nhập trước đây nhưng không có trong tệp này "
            "(vẫn giữ nguyên, không xóa)."
        )
    parts: list[RenderableType] = [Text("\n".join(lines))]
    if report.merges:
        table = Table(
            title=f"Người có tên hai lần, đã gộp ({len(report.merges)})", title_justify="left"
        )
        for column in ("Dòng giữ", "Dòng gộp", "Họ và tên", "Giải thích"):
            table.add_column(column, overflow="fold")
        for m in report.merges:
            table.add_row(str(m.kept_row), str(m.dropped_row), m.full_name, m.reason_vi)
        parts.append(table)
    if report.quota_gaps:
        table = Table(
            title=f"Số người chưa khớp chỉ tiêu ({len(report.quota_gaps)})", title_justify="left"
        )
        for column in ("Cơ quan/đơn vị", "Nhóm", "Chỉ tiêu", "Có", "Chênh lệch"):
            table.add_column(column, overflow="fold")
        for g in report.quota_gaps:
            diff = g.actual - g.expected
            table.add_row(
                g.unit,
                g.group,
                str(g.expected),
                str(g.actual),
                Text(f"{diff:+d}", style="red" if diff < 0 else "yellow"),
            )
        parts.append(table)
    if report.problems:
        parts.append(problems_view(report.problems))
    return RichGroup(*parts)


def answered_view(report: AnsweredReport) -> RenderableType:
    lines = [
        f"Danh sách đã trả lời: {report.file}",
        f"  Số dòng: {vn_number(report.rows_read)}",
        f"  Ghi nhận mới đã trả lời: {vn_number(report.newly_answered)}",
        f"  Đã ghi nhận từ trước: {vn_number(report.already_answered)}",
        f"  Không khớp với ai: {len(report.unmatched)}",
    ]
    parts: list[RenderableType] = [Text("\n".join(lines))]
    if report.unmatched:
        parts.append(problems_view(report.unmatched))
    return RichGroup(*parts)


def campaigns_view(summaries: list[CampaignSummary]) -> RenderableType:
    table = Table(title="Các đợt khảo sát", title_justify="left")
    for column in ("Mã", "Tên", "Trạng thái", "Hạn trả lời", "Đã trả lời"):
        table.add_column(column)
    states = {"draft": "soạn thảo", "active": "đang chạy", "closed": "đã đóng"}
    for s in summaries:
        c = s.campaign
        table.add_row(
            c.code,
            c.title,
            states.get(c.state.value, c.state.value),
            vn_datetime(c.deadline, c.timezone),
            f"{s.answered}/{s.respondents}",
        )
    return table


def invitation_plan_view(plan: InvitationPlan, *, dry_run: bool) -> RenderableType:
    verb = "Sẽ gửi" if dry_run else "Đã xếp vào hàng gửi"
    lines = [f"{verb} {vn_number(plan.queued)} thư mời."]
    if plan.already_queued:
        lines.append(
            f"  {vn_number(plan.already_queued)} người đã có thư mời từ trước (không gửi lại)."
        )
    for reason, count in sorted(plan.skipped.items()):
        lines.append(f"  Bỏ qua {vn_number(count)} người: {reason}.")
    return Text("\n".join(lines))


def dispatch_view(stats: DispatchStats) -> RenderableType:
    lines = [f"Đã gửi: {vn_number(stats.sent)}"]
    if stats.retried:
        lines.append(f"Sẽ thử lại sau (lỗi tạm thời): {vn_number(stats.retried)}")
    if stats.failed:
        lines.append(f"Không gửi được: {vn_number(stats.failed)}")
    if stats.uncertain:
        lines.append(
            f"Không chắc đã gửi: {vn_number(stats.uncertain)} "
            "(xem «dondoc deliveries --state uncertain»)"
        )
    parts: list[RenderableType] = [Text("\n".join(lines))]
    if stats.errors:
        table = Table(title="Lỗi theo loại", title_justify="left")
        table.add_column("Lỗi")
        table.add_column("Số thư", justify="right")
        for error, count in stats.errors.most_common():
            table.add_row(error, vn_number(count))
        parts.append(table)
    return RichGroup(*parts)


def mail_preview(raw: bytes, *, lines: int = 18) -> RenderableType:
    """The headers a person sees and the start of the plain-text part of one message."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    head = [f"{name}: {message[name]}" for name in ("From", "To", "Reply-To", "Subject")]
    shown = "\n".join([*head, "", *str(text).splitlines()[:lines], "…"])
    return Panel(shown, title="Một thư mời như người nhận thấy", title_align="left")


def plan_view(
    report: PlanReport, names: dict[int, str], moment: datetime, campaign: Campaign
) -> RenderableType:
    tz = campaign.timezone
    lines = [
        f"Lịch nhắc của đợt {campaign.code} tại {vn_datetime(moment, tz)} "
        f"(đợt {CAMPAIGN_STATES.get(campaign.state.value, campaign.state.value)}):",
        f"  Lần nhắc tiếp theo của {vn_number(len(report.planned))} người.",
    ]
    for why, count in sorted(report.skipped.items()):
        lines.append(f"  Không nhắc {vn_number(count)} người: {why}.")
    parts: list[RenderableType] = [Text("\n".join(lines))]
    if report.planned:
        table = Table(title="Sẽ nhắc", title_justify="left")
        for column in ("Người nhận", "Lần", "Loại", "Gửi lúc", "Vì sao"):
            table.add_column(column, overflow="fold")
        for rid, planned in sorted(
            report.planned, key=lambda p: (p[1].due_at, names.get(p[0], ""))
        ):
            why = f"{vn_duration(planned.offset)} trước hạn"
            if planned.due_at != planned.nominal_at:
                why += f" ({vn_datetime(planned.nominal_at, tz)} ngoài giờ gửi, dời tới giờ mở gửi)"
            if planned.caught_up:
                why += "; bù lần đã lỡ"
            table.add_row(
                names.get(rid, str(rid)),
                str(planned.number),
                REASONS_VI.get(planned.reason, planned.reason),
                vn_datetime(planned.due_at, tz),
                why,
            )
        parts.append(table)
    return RichGroup(*parts)


def tick_view(report: TickReport) -> RenderableType:
    lines = []
    if report.uncertain:
        lines.append(
            f"{vn_number(report.uncertain)} thư bị gián đoạn khi đang gửi, chuyển sang «không chắc "
            "đã gửi» (xem «dondoc deliveries --state uncertain»)."
        )
    for code, plan in report.planned.items():
        line = f"Đợt {code}: xếp lịch {vn_number(plan.queued)} lần nhắc mới"
        if report.digests.get(code):
            line += f", {vn_number(report.digests[code])} báo cáo hằng ngày"
        if report.escalations.get(code):
            line += f", {vn_number(report.escalations[code])} cảnh báo đơn vị chậm"
        lines.append(line + ".")
    if not report.planned:
        lines.append("Không có đợt khảo sát nào đang chạy.")
    parts: list[RenderableType] = [Text("\n".join(lines))]
    if report.dispatched is not None:
        parts.append(dispatch_view(report.dispatched))
    return RichGroup(*parts)


CAMPAIGN_STATES = {"draft": "soạn thảo", "active": "đang chạy", "closed": "đã đóng"}
