"""The dashboard over HTTP (the ASGI app itself): sign-in by mailed link, CSRF, session expiry,
and scope on every page, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import create_engine, session_factory
from storage.models import (
    Campaign,
    Delivery,
    DeliveryState,
    EmailHealth,
    Event,
    Respondent,
    RespondentState,
    WebLoginToken,
    WebSession,
)
from storage.report_xlsx import build_report
from tests.test_web_fixtures import (  # noqa: F401 - fixtures
    BASE,
    FOCAL,
    FOCAL_2,
    ORGANISER,
    SECRET_KEY,
    Site,
    clock_fixture,
    form_token,
    mailed_link,
    monotonic_fixture,
    roster_campaign_fixture,
    sign_in,
    site_fixture,
)
from web import dashboard
from web.app import create_app
from web.auth import SESSION_COOKIE, digest
from web.config import WebConfig

PAGES = ("", "don-vi", "nhom", "gui-thu", "dia-chi-loi")


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', html)
    assert found, element_id
    return found[1]


async def test_signing_in_through_the_mailed_link(site: Site, session: AsyncSession) -> None:
    link = await sign_in(site, FOCAL)
    mail = site.smtpd.received[-1]
    assert mail.rcpt_tos == [FOCAL]
    assert b"Subject: =?utf-8?b?" in mail.data  # Vietnamese subject, encoded
    # Only the hash of the token is stored.
    token = link.rsplit("/", 1)[1]
    stored = (await session.scalars(select(WebLoginToken.token_hash))).all()
    assert stored == [digest(token)] and token not in stored
    # The overview shows the focal point's numbers.
    page = await site.client.get(f"/c/{site.campaign.code}/")
    assert page.status_code == 200
    assert "Vũ Thị Lan" in page.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert page.headers["Referrer-Policy"] == "no-referrer"
    cookie = next(c for c in site.client.cookies.jar if c.name == SESSION_COOKIE)
    assert cookie.has_nonstandard_attr("HttpOnly")
    event = await session.scalar(select(Event).where(Event.kind == "web_signed_in"))
    assert event is not None


async def test_a_sign_in_link_works_once_and_not_after_15_minutes(site: Site) -> None:
    link = await sign_in(site, ORGANISER)
    token = link.rsplit("/", 1)[1]
    again = await site.client.get(link.removeprefix(BASE))
    assert again.status_code == 400 and "không còn hiệu lực" in again.text
    used = await site.client.post(
        "/dang-nhap/xac-nhan", data={"token": token, "csrf": form_token(site.client)}
    )
    assert used.status_code == 400

    site.clock.advance(timedelta(minutes=2))
    await site.client.post("/dang-nhap", data={"email": ORGANISER, "csrf": form_token(site.client)})
    late = mailed_link(site.smtpd.received[-1].data)
    site.clock.advance(timedelta(minutes=15, seconds=1))
    assert (await site.client.get(late.removeprefix(BASE))).status_code == 400
    answer = await site.client.post(
        "/dang-nhap/xac-nhan",
        data={"token": late.rsplit("/", 1)[1], "csrf": form_token(site.client)},
    )
    assert answer.status_code == 400


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(site: Site) -> None:
    await site.client.get("/")
    answer = await site.client.post(
        "/dang-nhap", data={"email": "ai.do@khong.vn", "csrf": form_token(site.client)}
    )
    assert answer.status_code == 200 and "Nếu ai.do@khong.vn có trong danh sách" in answer.text
    assert site.smtpd.received == []
    bad = await site.client.post(
        "/dang-nhap", data={"email": "khong-phai-email", "csrf": form_token(site.client)}
    )
    assert bad.status_code == 400 and "không phải địa chỉ thư điện tử hợp lệ" in bad.text


async def test_forms_without_the_csrf_token_are_refused(site: Site) -> None:
    await site.client.get("/")
    for data in ({"email": FOCAL}, {"email": FOCAL, "csrf": "0" * 64}):
        answer = await site.client.post("/dang-nhap", data=data)
        assert answer.status_code == 403 and "Biểu mẫu không hợp lệ" in answer.text
    assert site.smtpd.received == []
    # A token made for another browser's cookie does not pass either.
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=site.app), base_url=BASE)
    async with other:
        await other.get("/")
        stolen = form_token(other)
    answer = await site.client.post("/dang-nhap", data={"email": FOCAL, "csrf": stolen})
    assert answer.status_code == 403

    await sign_in(site, FOCAL)
    refused = await site.client.post("/dang-xuat", data={})
    assert refused.status_code == 403
    assert (await site.client.get(f"/c/{site.campaign.code}/")).status_code == 200
    out = await site.client.post("/dang-xuat", data={"csrf": form_token(site.client)})
    assert out.status_code == 303


async def test_signing_out_ends_the_session(site: Site, session: AsyncSession) -> None:
    await sign_in(site, FOCAL)
    cookie = site.client.cookies[SESSION_COOKIE]
    await site.client.post("/dang-xuat", data={"csrf": form_token(site.client)})
    revoked = await session.scalar(select(WebSession.revoked_at))
    assert revoked == site.clock()
    # Even a copy of the old cookie opens nothing now.
    site.client.cookies.set(SESSION_COOKIE, cookie)
    answer = await site.client.get(f"/c/{site.campaign.code}/")
    assert answer.status_code == 303


async def test_sessions_expire(site: Site) -> None:
    await sign_in(site, FOCAL)
    code = site.campaign.code
    site.clock.advance(timedelta(hours=7, minutes=59))
    assert (await site.client.get(f"/c/{code}/")).status_code == 200
    site.clock.advance(timedelta(minutes=2))
    for page in PAGES:
        answer = await site.client.get(f"/c/{code}/{page}")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/?het-han=1"
    notice = await site.client.get("/?het-han=1")
    assert "Phiên đăng nhập đã hết hạn" in notice.text


async def test_pages_need_a_session(site: Site) -> None:
    for page in (*PAGES, "don-vi/so-noi-vu", "bao-cao.xlsx"):
        answer = await site.client.get(f"/c/{site.campaign.code}/{page}")
        assert (answer.status_code, answer.headers["location"]) == (303, "/")


async def _traffic(site: Site, session: AsyncSession) -> None:
    """Answers, deliveries and bounces in two units, so scope has something to hide."""
    people = {r.email: r for r in await session.scalars(select(Respondent))}
    at = site.clock()
    await session.execute(
        update(Respondent)
        .where(Respondent.email.in_(["hoatt@snv.gov.vn", "tuanpm@mocchau.gov.vn"]))
        .values(state=RespondentState.ANSWERED, answered_at=at - timedelta(days=1))
    )
    await session.execute(
        update(Respondent)
        .where(Respondent.email.in_(["duclv@snv.gov.vn", "pang.lv@sonla.gov.vn"]))
        .values(email_health=EmailHealth.BOUNCED)
    )
    for i, (address, state, error) in enumerate(
        [
            ("duclv@snv.gov.vn", DeliveryState.FAILED, "SMTP 550 5.1.1 User unknown (so noi vu)"),
            ("pang.lv@sonla.gov.vn", DeliveryState.FAILED, "SMTP 550 5.1.1 (hdnd)"),
            ("tuanpm@mocchau.gov.vn", DeliveryState.UNCERTAIN, "crash mid-send (moc chau)"),
            ("hoatt@snv.gov.vn", DeliveryState.SENT, None),
        ]
    ):
        person = people[address]
        session.add(
            Delivery(
                campaign_id=site.campaign.id,
                respondent_id=person.id,
                channel="email",
                reason="invitation",
                dedupe_key=f"invitation:{person.id}:email:{i}",
                due_at=at - timedelta(days=2),
                state=state,
                last_error=error,
                sent_at=at - timedelta(days=2) if state == DeliveryState.SENT else None,
            )
        )
        if state == DeliveryState.FAILED:
            session.add(
                Event(
                    campaign_id=site.campaign.id,
                    respondent_id=person.id,
                    kind="bounced",
                    actor="imap",
                    at=at - timedelta(days=1),
                    data={"class": "bad_address", "status": "5.1.1", "detail": error},
                )
            )
    await session.commit()


async def test_a_focal_point_sees_only_their_units_on_every_page(
    site: Site, session: AsyncSession
) -> None:
    await _traffic(site, session)
    await sign_in(site, FOCAL)  # Sở Nội vụ: Hùng, Hoà, Đức
    code = site.campaign.code
    overview = (await site.client.get(f"/c/{code}/")).text
    assert (text_of(overview, "answered"), text_of(overview, "total")) == ("1", "3")
    assert "<polyline" in overview
    units = (await site.client.get(f"/c/{code}/don-vi")).text
    assert "Sở Nội vụ" in units and "Mộc Châu" not in units and "HĐND" not in units
    groups = (await site.client.get(f"/c/{code}/nhom")).text
    assert "Lãnh đạo UBND cấp huyện" not in groups  # Tuấn's group, in Mộc Châu
    log = (await site.client.get(f"/c/{code}/gui-thu")).text
    assert "so noi vu" in log and "hdnd" not in log and "moc chau" not in log
    bounced = (await site.client.get(f"/c/{code}/gui-thu?state=bounced")).text
    assert "Lê Văn Đức" in bounced and "Lò Văn Pấng" not in bounced
    bad = (await site.client.get(f"/c/{code}/dia-chi-loi")).text
    assert "duclv@snv.gov.vn" in bad and "pang.lv@sonla.gov.vn" not in bad

    own = await site.client.get(f"/c/{code}/don-vi/{site_unit(site, 'Sở Nội vụ')}")
    assert own.status_code == 200
    assert "Lê Văn Đức" in own.text and "Trần Thị Hoà" not in own.text  # Hoà has answered
    other = await site.client.get(f"/c/{code}/don-vi/{site_unit(site, 'UBND huyện Mộc Châu')}")
    assert other.status_code == 403
    assert "Không có quyền xem" in other.text and "Phạm Minh Tuấn" not in other.text
    missing = await site.client.get(f"/c/{code}/don-vi/khong-co")
    assert missing.status_code == 404 and "Không tìm thấy đơn vị" in missing.text
    elsewhere = await site.client.get("/c/cchc-2024-sonla/")
    assert elsewhere.status_code == 404 and "Không tìm thấy" in elsewhere.text
    # Looking at names is in the audit log.
    viewed = await session.scalar(select(Event).where(Event.kind == "status_viewed"))
    assert viewed is not None and viewed.data["unit"] == site_unit(site, "Sở Nội vụ")


async def test_a_focal_point_of_two_units_and_the_organiser(
    site: Site, session: AsyncSession
) -> None:
    await _traffic(site, session)
    code = site.campaign.code
    await sign_in(site, FOCAL_2)  # Mộc Châu (Tuấn) and HĐND tỉnh (Pấng)
    overview = (await site.client.get(f"/c/{code}/")).text
    assert (text_of(overview, "answered"), text_of(overview, "total")) == ("1", "2")
    units = (await site.client.get(f"/c/{code}/don-vi?sort=name&order=asc")).text
    assert units.index("HĐND tỉnh Sơn La") < units.index("UBND huyện Mộc Châu")
    assert "Sở Nội vụ" not in units
    sored = await site.client.get(f"/c/{code}/don-vi/{site_unit(site, 'Sở Nội vụ')}")
    assert sored.status_code == 403

    site.client.cookies.clear()
    site.clock.advance(timedelta(minutes=2))
    await sign_in(site, ORGANISER)
    overview = (await site.client.get(f"/c/{code}/")).text
    assert (text_of(overview, "answered"), text_of(overview, "total")) == ("2", "5")
    log = (await site.client.get(f"/c/{code}/gui-thu?state=failed")).text
    assert "so noi vu" in log and "hdnd" in log and "moc chau" not in log
    for unit in ("Sở Nội vụ", "UBND huyện Mộc Châu", "HĐND tỉnh Sơn La"):
        answer = await site.client.get(f"/c/{code}/don-vi/{site_unit(site, unit)}")
        assert answer.status_code == 200


def site_unit(site: Site, name: str) -> str:
    return next(u.code for u in site.units.values() if u.name == name)


async def test_the_excel_report_is_built_for_the_viewers_scope(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[frozenset[int] | None] = []

    async def spy(
        session: AsyncSession, campaign: Campaign, *, unit_ids: frozenset[int] | None, now: datetime
    ) -> bytes:
        seen.append(unit_ids)
        return await build_report(session, campaign, unit_ids=unit_ids, now=now)

    # The real report, watched on its way: which scope the page asked it for.
    monkeypatch.setattr(dashboard, "build_report", spy)
    await sign_in(site, FOCAL)
    answer = await site.client.get(f"/c/{site.campaign.code}/bao-cao.xlsx")
    assert answer.status_code == 200
    assert answer.content[:2] == b"PK"  # a zip container, as .xlsx files are
    assert "attachment" in answer.headers["Content-Disposition"]
    assert seen == [frozenset({site.units[site_unit(site, "Sở Nội vụ")].id})]


async def test_health_says_whether_the_database_answers(site: Site, tmp_path: Path) -> None:
    answer = await site.client.get("/healthz")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok", "database": "ok"})
    broken = create_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    try:
        app = create_app(session_factory(broken), WebConfig(secret_key=SECRET_KEY))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE
        ) as client:
            answer = await client.get("/healthz")
        assert (answer.status_code, answer.json()["status"]) == (503, "error")
    finally:
        await broken.dispose()


async def test_static_files_are_served_locally(site: Site) -> None:
    page = await site.client.get("/")
    assert 'href="/static/dondoc.css"' in page.text
    assert "http" not in re.sub(r'href="/static/[^"]+"', "", page.text.split("<body>")[0])
    css = await site.client.get("/static/dondoc.css")
    assert css.status_code == 200 and "@media (max-width: 600px)" in css.text
