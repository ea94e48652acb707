"""The dashboard in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
playwright) against the app served by uvicorn on loopback, sign-in mails caught by the aiosmtpd
sink. Skipped only when Chromium is missing outside CI (scripts/browser.sh installs it)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mail.config import MailIdentity
from mail.smtp import SmtpSender
from storage.db import session_factory
from storage.models import Campaign, Unit
from tests.smtpd import Smtpd
from tests.test_web_fixtures import (  # noqa: F401 - fixtures
    FOCAL,
    SECRET_KEY,
    Clock,
    clock_fixture,
    mailed_link,
    roster_campaign_fixture,
)
from web.app import create_app
from web.config import WebConfig
from web.hooks import signed_headers, webhook_secret
from web.server import WebServer
from web.signin_mail import SmtpSignInMailer

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}

if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI must run the browser tests: install chromium (scripts/browser.sh)")
    pytest.skip(
        "Chromium is not installed (apt-get install chromium, or run scripts/test as root)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=ARGS, headless=True, timeout=60_000
        )
        try:
            yield launched
        finally:
            await launched.close()


async def test_a_focal_point_signs_in_reads_the_numbers_and_stays_in_scope(
    engine: AsyncEngine,
    session: AsyncSession,
    roster_campaign: Campaign,
    clock: Clock,
    browser: Browser,
) -> None:
    code = roster_campaign.code
    units = {u.name: u.code for u in await session.scalars(select(Unit))}
    server = WebServer("127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.port}"
    stop = asyncio.Event()
    async with Smtpd() as smtpd, SmtpSender(smtpd.config()) as sender:
        identity = MailIdentity("cchc@snv.gov.vn", "Sở Nội vụ tỉnh Sơn La", SECRET_KEY)
        app = create_app(
            session_factory(engine),
            WebConfig(secret_key=SECRET_KEY, base_url=base),
            mailer=SmtpSignInMailer(sender, identity),
            clock=clock,
        )
        serving = asyncio.create_task(server.run(app, stop))
        try:
            # Hoà (Sở Nội vụ) answers, as a survey platform reports it through the webhook.
            body = json.dumps({"email": "hoatt@snv.gov.vn"}).encode()
            headers = signed_headers(webhook_secret(SECRET_KEY, code), body, clock())
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                hook = await client.post(f"/hooks/{code}/answered", content=body, headers=headers)
            assert hook.json() == {"status": "answered"}

            context = await browser.new_context(viewport=PHONE, locale="vi-VN")
            page = await context.new_page()
            page.set_default_timeout(20_000)
            await page.goto(f"{base}/")
            await page.fill("#email", FOCAL)
            await page.click("button[type=submit]")
            await page.wait_for_selector("text=Đã gửi đường dẫn đăng nhập")
            assert len(smtpd.received) == 1 and smtpd.received[0].rcpt_tos == [FOCAL]
            link = mailed_link(smtpd.received[0].data)
            assert link.startswith(f"{base}/dang-nhap/")

            await page.goto(link)
            await page.click("#confirm")
            await page.wait_for_url(f"{base}/c/{code}/")
            assert await page.text_content("#answered") == "1"
            assert await page.text_content("#total") == "3"
            assert await page.text_content("#rate") == "33,3%"
            assert await page.locator("svg.chart polyline").count() == 1
            # Fits a phone screen: nothing wider than the viewport.
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"]

            await page.click("text=Đơn vị")
            await page.wait_for_url(f"{base}/c/{code}/don-vi")
            rows = await page.locator("table.tally tbody tr").all_text_contents()
            assert len(rows) == 1 and "Sở Nội vụ" in rows[0]
            await page.click("text=Sở Nội vụ")
            await page.wait_for_selector("text=Những người chưa trả lời")
            people = await page.locator("table.people tbody").text_content()
            assert people is not None and "Lê Văn Đức" in people and "Trần Thị Hoà" not in people

            other = await page.goto(f"{base}/c/{code}/don-vi/{units['UBND huyện Mộc Châu']}")
            assert other is not None and other.status == 403
            assert await page.locator("text=Không có quyền xem").count() == 1
            assert await page.locator("text=Phạm Minh Tuấn").count() == 0
            await context.close()
        finally:
            stop.set()
            await asyncio.wait_for(serving, 15)
