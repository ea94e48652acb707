"""Fixtures shared by the web tests (no tests here): a province campaign with its roster and
focal points, a clock the tests move, the app wired to a real SMTP sink, and a signed-in client.

The sample roster's contacts: Vũ Thị Lan, focal point of Sở Nội vụ; Đặng Văn Nam, focal point of
UBND huyện Mộc Châu and HĐND tỉnh Sơn La; Bùi Quang Huy, IT focal point (all units); Phạm Thị
Mai, organiser (all units).
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.applications import Starlette

from mail.config import MailIdentity
from mail.smtp import SmtpSender
from storage.db import session_factory
from storage.models import Campaign, Respondent, Unit
from storage.roster import import_roster
from tests.sample import PEOPLE, roster_file
from tests.smtpd import Smtpd
from web.app import create_app
from web.auth import CSRF_COOKIE, csrf_token
from web.config import WebConfig
from web.signin_mail import SmtpSignInMailer

SECRET_KEY = b"k" * 16 + b"0123456789abcdef0123"
BASE = "http://dondoc.test"
START = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hà Nội, before the deadline

FOCAL = "lanvt@snv.gov.vn"  # Sở Nội vụ only
FOCAL_2 = "namdv@mocchau.gov.vn"  # UBND huyện Mộc Châu and HĐND tỉnh Sơn La
ORGANISER = "maipt@snv.gov.vn"


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Site:
    app: Starlette
    client: httpx.AsyncClient
    clock: Clock
    smtpd: Smtpd
    campaign: Campaign
    units: dict[str, Unit]
    people: dict[str, Respondent]
    engine: AsyncEngine


@pytest.fixture(name="clock")
def clock_fixture() -> Clock:
    return Clock()


@pytest.fixture(name="monotonic")
def monotonic_fixture() -> Monotonic:
    return Monotonic()


@pytest.fixture(name="roster_campaign")
async def roster_campaign_fixture(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> Campaign:
    await import_roster(session, province, roster_file(tmp_path, PEOPLE), actor="test")
    await session.commit()
    return province


@pytest.fixture(name="site")
async def site_fixture(
    engine: AsyncEngine,
    session: AsyncSession,
    roster_campaign: Campaign,
    clock: Clock,
    monotonic: Monotonic,
) -> AsyncIterator[Site]:
    async with Smtpd() as smtpd, SmtpSender(smtpd.config()) as sender:
        identity = MailIdentity("cchc@snv.gov.vn", "Sở Nội vụ tỉnh Sơn La", SECRET_KEY)
        app = create_app(
            session_factory(engine),
            WebConfig(secret_key=SECRET_KEY, base_url=BASE),
            mailer=SmtpSignInMailer(sender, identity),
            clock=clock,
            monotonic=monotonic,
            hook_rate=2.0,
            hook_burst=50,
        )
        units = {u.code: u for u in await session.scalars(select(Unit))}
        people = {r.email or r.full_name: r for r in await session.scalars(select(Respondent))}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield Site(app, client, clock, smtpd, roster_campaign, units, people, engine)


def form_token(client: httpx.AsyncClient) -> str:
    cookie = client.cookies.get(CSRF_COOKIE)
    assert cookie, "the page set no CSRF cookie"
    return csrf_token(SECRET_KEY, cookie)


def mailed_link(data: bytes) -> str:
    """The sign-in link in a mail's plain-text part."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload()
            text = base64.b64decode(payload).decode() if isinstance(payload, str) else ""
            found = re.search(r"https?://\S+/dang-nhap/[A-Za-z0-9_-]+", text)
            assert found, text
            return found[0]
    raise AssertionError("no text part")


async def sign_in(site: Site, address: str) -> str:
    """Sign ``address`` in through the mailed link, as a browser would; the link used."""
    client = site.client
    (await client.get("/")).raise_for_status()
    before = len(site.smtpd.received)
    answer = await client.post("/dang-nhap", data={"email": address, "csrf": form_token(client)})
    assert answer.status_code == 200, answer.text
    assert len(site.smtpd.received) == before + 1
    link = mailed_link(site.smtpd.received[-1].data)
    page = await client.get(link.removeprefix(BASE))
    assert page.status_code == 200
    token = link.rsplit("/", 1)[1]
    done = await client.post(
        "/dang-nhap/xac-nhan", data={"token": token, "csrf": form_token(client)}
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/c/{site.campaign.code}/"
    return link
