"""The dashboard's routes: sign-in by emailed link, then the campaign's pages within scope.

Every page under ``/c/<campaign>/`` starts from the session cookie: no session (or an expired
one) sends the browser to the sign-in page; another campaign's pages are "not found"; a unit
outside a focal point's scope is refused (403) in Vietnamese. Every query below is given the
viewer's unit ids, and the Excel report is built for the same scope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mail.compose import AddressError
from storage.cells import normalise_email
from storage.channel import ChannelError
from storage.models import Campaign, ContactRole, Event
from storage.progress import Tally, campaign_progress
from storage.report_xlsx import build_report
from storage.text import fold
from storage.vnformat import vn_datetime, vn_duration
from web import scoped
from web.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_TTL,
    Viewer,
    csrf_ok,
    issue_login_tokens,
    login_token_valid,
    redeem_login_token,
    revoke,
    viewer_for,
)
from web.chart import rate_chart
from web.pages import Renderer
from web.signin_mail import SignInMailer

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

TALLY_COLUMNS: Final = (
    ("name", "Tên"),
    ("answered", "Đã trả lời"),
    ("total", "Tổng số"),
    ("pending", "Chưa trả lời"),
    ("rate", "Tỷ lệ"),
)
STATE_FILTERS: Final = (
    ("all", "Tất cả"),
    ("sent", "Đã gửi"),
    ("failed", "Lỗi"),
    ("bounced", "Bị trả lại"),
    ("uncertain", "Không chắc đã gửi"),
    ("queued", "Đang chờ gửi"),
)
STATE_NAMES: Final = {
    "queued": "Đang chờ gửi",
    "sending": "Đang gửi",
    "sent": "Đã gửi",
    "failed": "Lỗi",
    "cancelled": "Đã hủy",
    "uncertain": "Không chắc đã gửi",
    "bounced": "Bị trả lại",
    "full": "Hộp thư đầy",
}
REASON_NAMES: Final = {
    "invitation": "Thư mời",
    "reminder": "Nhắc nhở",
    "last_day": "Nhắc ngày cuối",
    "digest": "Bản tin hằng ngày",
    "escalation": "Cảnh báo tiến độ",
    "bounce_alert": "Báo địa chỉ lỗi",
    "problem_report": "Báo sự cố",
    "link_code": "Mã liên kết",
    "reply_forward": "Chuyển thư trả lời",
    "bounced": "Thư bị trả lại",
    "mailbox_full": "Hộp thư đầy",
}


class Dashboard:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        renderer: Renderer,
        *,
        public_url: str,
        mailer: SignInMailer | None,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.r = renderer
        self.public_url = public_url
        self.mailer = mailer
        self.clock = clock

    # --- sign-in ----------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        now = self.clock()
        async with self.sessions() as session:
            viewer = await viewer_for(session, request.cookies.get(SESSION_COOKIE), now)
        if viewer is not None:
            return RedirectResponse(f"/c/{quote(viewer.campaign_code)}/", status_code=303)
        notice = None
        if request.query_params.get("het-han"):
            notice = "Phiên đăng nhập đã hết hạn. Xin đồng chí đăng nhập lại."
        return self.r.page(request, "sign_in.html.j2", notice=notice, email=None)

    async def request_link(self, request: Request) -> Response:
        form = await request.form()
        if refused := self._csrf_refusal(request, form.get("csrf")):
            return refused
        raw = str(form.get("email") or "").strip()
        try:
            email = normalise_email(raw)
        except ValueError:
            return self.r.page(
                request,
                "sign_in.html.j2",
                400,
                notice=f"«{raw}» không phải địa chỉ thư điện tử hợp lệ. Xin nhập lại, ví dụ "
                "lanvt@snv.gov.vn.",
                email=raw,
            )
        if self.mailer is None:
            return self.r.message(
                request,
                503,
                "Chưa gửi được thư",
                "Máy chủ gửi thư chưa được cấu hình nên chưa gửi được đường dẫn đăng nhập. "
                "Xin báo cán bộ quản trị hệ thống (cần đặt DONDOC_SMTP_HOST, DONDOC_MAIL_FROM).",
                back="/",
            )
        now = self.clock()
        async with self.sessions() as session, session.begin():
            issued = await issue_login_tokens(session, email, now)
        for item in issued:
            link = f"{self.public_url}/dang-nhap/{item.token}"
            try:
                await self.mailer.send(item, link, now)
            except (ChannelError, AddressError, TimeoutError) as exc:
                log.warning(
                    "sign-in mail to contact %d failed: %s", item.contact.id, type(exc).__name__
                )
                return self.r.message(
                    request,
                    502,
                    "Chưa gửi được thư",
                    "Máy chủ thư chưa nhận thư đăng nhập. Xin đồng chí thử lại sau ít phút; "
                    "nếu vẫn không được, xin báo cán bộ quản trị hệ thống.",
                    back="/",
                )
        # The same answer whether or not the address is known: no list of contacts to harvest.
        return self.r.message(
            request,
            200,
            "Đã gửi đường dẫn đăng nhập",
            f"Nếu {email} có trong danh sách cán bộ đầu mối, một thư có đường dẫn đăng nhập "
            "vừa được gửi tới địa chỉ đó. Đường dẫn dùng được một lần, trong 15 phút.",
        )

    async def confirm_page(self, request: Request) -> Response:
        token = request.path_params["token"]
        async with self.sessions() as session:
            valid = await login_token_valid(session, token, self.clock())
        if not valid:
            return self._link_invalid(request)
        return self.r.page(request, "sign_in_confirm.html.j2", token=token)

    async def confirm(self, request: Request) -> Response:
        form = await request.form()
        if refused := self._csrf_refusal(request, form.get("csrf")):
            return refused
        token = str(form.get("token") or "")
        now = self.clock()
        async with self.sessions() as session, session.begin():
            redeemed = await redeem_login_token(session, token, now) if token else None
        if redeemed is None:
            return self._link_invalid(request)
        secret, campaign = redeemed
        response = RedirectResponse(f"/c/{quote(campaign.code)}/", status_code=303)
        self.r.set_cookie(
            response, SESSION_COOKIE, secret, max_age=int(SESSION_TTL.total_seconds())
        )
        return response

    async def sign_out(self, request: Request) -> Response:
        form = await request.form()
        if refused := self._csrf_refusal(request, form.get("csrf")):
            return refused
        now = self.clock()
        async with self.sessions() as session, session.begin():
            viewer = await viewer_for(session, request.cookies.get(SESSION_COOKIE), now)
            if viewer is not None:
                await revoke(session, viewer.session_id, now)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def _link_invalid(self, request: Request) -> Response:
        return self.r.message(
            request,
            400,
            "Đường dẫn không còn hiệu lực",
            "Đường dẫn đăng nhập này đã được dùng hoặc đã hết hạn (sau 15 phút). Xin đồng chí "
            "yêu cầu một đường dẫn mới.",
            back="/",
        )

    def _csrf_refusal(self, request: Request, given: object) -> Response | None:
        if csrf_ok(self.r.secret_key, request.cookies.get(CSRF_COOKIE), str(given or "")):
            return None
        return self.r.message(
            request,
            403,
            "Biểu mẫu không hợp lệ",
            "Biểu mẫu đã hết hạn hoặc không được gửi từ trang của dondoc. Xin tải lại trang "
            "rồi thử lại.",
            back="/",
        )

    # --- pages ------------------------------------------------------------------------------

    async def _enter(
        self, request: Request, session: AsyncSession
    ) -> tuple[Viewer, Campaign] | Response:
        """The viewer and the campaign of the URL, or the answer that replaces the page."""
        cookie = request.cookies.get(SESSION_COOKIE)
        viewer = await viewer_for(session, cookie, self.clock())
        if viewer is None:
            return RedirectResponse("/?het-han=1" if cookie else "/", status_code=303)
        code = request.path_params["campaign"]
        campaign = await session.get(Campaign, viewer.campaign_id)
        if campaign is None or code != viewer.campaign_code:
            return self.r.message(
                request,
                404,
                "Không tìm thấy",
                f"Không có đợt khảo sát «{code}» trong phạm vi của đồng chí.",
                viewer=viewer,
                back="/",
            )
        return viewer, campaign

    def _scope_text(self, viewer: Viewer, units: int) -> str:
        if viewer.unit_ids is None:
            role = "Cơ quan tổ chức" if viewer.role == ContactRole.ORGANISER else "Đầu mối CNTT"
            return f"{role}: xem tất cả các đơn vị."
        return f"Cán bộ đầu mối: số liệu của {units} đơn vị đồng chí phụ trách."

    async def overview(self, request: Request) -> Response:
        async with self.sessions() as session:
            entered = await self._enter(request, session)
            if isinstance(entered, Response):
                return entered
            viewer, campaign = entered
            now = self.clock()
            progress = await campaign_progress(session, campaign, unit_ids=_ids(viewer), now=now)
            times = await scoped.answered_times(session, campaign, viewer.unit_ids)
        left = campaign.deadline - now
        return self.r.page(
            request,
            "overview.html.j2",
            viewer=viewer,
            campaign=campaign,
            progress=progress,
            scope_text=self._scope_text(viewer, len(progress.by_unit)),
            time_left=vn_duration(left) if left.total_seconds() > 0 else "Đã hết hạn",
            deadline=vn_datetime(campaign.deadline, campaign.timezone),
            chart=rate_chart(
                times,
                progress.overall.total,
                campaign.opens_at,
                campaign.deadline,
                now,
                campaign.timezone,
            ),
            lowest=progress.by_unit[:10],
            columns=TALLY_COLUMNS,
            sortable=False,
            sort="rate",
            order="asc",
            kind="unit",
        )

    async def units(self, request: Request) -> Response:
        return await self._tallies(request, "unit")

    async def groups(self, request: Request) -> Response:
        return await self._tallies(request, "group")

    async def _tallies(self, request: Request, kind: str) -> Response:
        async with self.sessions() as session:
            entered = await self._enter(request, session)
            if isinstance(entered, Response):
                return entered
            viewer, campaign = entered
            progress = await campaign_progress(
                session, campaign, unit_ids=_ids(viewer), now=self.clock()
            )
        rows = progress.by_unit if kind == "unit" else progress.by_group
        sort = request.query_params.get("sort", "rate" if kind == "unit" else "")
        order = request.query_params.get("order", "asc")
        if sort in dict(TALLY_COLUMNS):
            rows = _sorted(rows, sort, descending=order == "desc")
        return self.r.page(
            request,
            "tallies.html.j2",
            viewer=viewer,
            campaign=campaign,
            heading="Tiến độ theo đơn vị" if kind == "unit" else "Tiến độ theo nhóm đối tượng",
            scope_text=self._scope_text(viewer, len(progress.by_unit)),
            rows=rows,
            columns=TALLY_COLUMNS,
            sort=sort,
            order=order,
            kind=kind,
        )

    async def unit(self, request: Request) -> Response:
        async with self.sessions() as session:
            entered = await self._enter(request, session)
            if isinstance(entered, Response):
                return entered
            viewer, campaign = entered
            code = request.path_params["unit"]
            unit = await scoped.unit_by_code(session, campaign, code)
            if unit is None:
                return self.r.message(
                    request,
                    404,
                    "Không tìm thấy đơn vị",
                    f"Không có đơn vị «{code}» trong đợt khảo sát này.",
                    viewer=viewer,
                    back=f"/c/{campaign.code}/don-vi",
                )
            if not viewer.sees(unit.id):
                return self.r.message(
                    request,
                    403,
                    "Không có quyền xem",
                    "Đồng chí chỉ xem được số liệu của các đơn vị mình phụ trách. Đơn vị này "
                    "không thuộc phạm vi của đồng chí.",
                    viewer=viewer,
                    back=f"/c/{campaign.code}/don-vi",
                )
            now = self.clock()
            progress = await campaign_progress(session, campaign, unit_ids=[unit.id], now=now)
            people = await scoped.non_responders(session, campaign, unit)
            # Names and addresses were shown: the audit log records who looked.
            session.add(
                Event(
                    campaign_id=campaign.id,
                    contact_id=viewer.contact_id,
                    kind="status_viewed",
                    actor=f"web:contact:{viewer.contact_id}",
                    at=now,
                    data={"unit": unit.code, "pending": len(people)},
                )
            )
            await session.commit()
        tally = progress.overall
        return self.r.page(
            request,
            "unit.html.j2",
            viewer=viewer,
            campaign=campaign,
            unit=unit,
            tally=Tally(unit.code, unit.name, tally.answered, tally.total),
            people=people,
        )

    async def deliveries(self, request: Request) -> Response:
        async with self.sessions() as session:
            entered = await self._enter(request, session)
            if isinstance(entered, Response):
                return entered
            viewer, campaign = entered
            state = request.query_params.get("state", "all")
            if state not in scoped.DELIVERY_FILTERS:
                state = "all"
            lines = await scoped.delivery_log(
                session, campaign, viewer.unit_ids, viewer.contact_id, state
            )
        return self.r.page(
            request,
            "deliveries.html.j2",
            viewer=viewer,
            campaign=campaign,
            lines=lines,
            state=state,
            filters=STATE_FILTERS,
            states=STATE_NAMES,
            reasons=REASON_NAMES,
            tz=campaign.timezone,
        )

    async def bad_addresses(self, request: Request) -> Response:
        async with self.sessions() as session:
            entered = await self._enter(request, session)
            if isinstance(entered, Response):
                return entered
            viewer, campaign = entered
            rows = await scoped.bad_addresses(session, campaign, viewer.unit_ids)
        return self.r.page(
            request, "bad_addresses.html.j2", viewer=viewer, campaign=campaign, rows=rows
        )

    async def report(self, request: Request) -> Response:
        async with self.sessions() as session:
            entered = await self._enter(request, session)
            if isinstance(entered, Response):
                return entered
            viewer, campaign = entered
            now = self.clock()
            data = await build_report(session, campaign, unit_ids=viewer.unit_ids, now=now)
        name = f"bao-cao-{campaign.code}-{now:%Y%m%d}.xlsx"
        return Response(
            data,
            media_type=XLSX,
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )


def _ids(viewer: Viewer) -> list[int] | None:
    return None if viewer.unit_ids is None else sorted(viewer.unit_ids)


def _sorted(rows: list[Tally], key: str, *, descending: bool) -> list[Tally]:
    def value(t: Tally) -> Any:
        return fold(t.name) if key == "name" else getattr(t, key)

    return sorted(rows, key=value, reverse=descending)
