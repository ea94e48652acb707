"""Invitations end to end: the dispatcher, the real email channel, a real SMTP server refusing
one address, and what follows in the database — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mail.channel import EmailChannel
from mail.config import MailIdentity
from mail.signing import read_tag, tag_of_address
from mail.smtp import SmtpSender
from scheduler.dispatch import Dispatcher
from scheduler.invitations import plan_invitations
from scheduler.rejections import recipient_gone
from storage.db import session_factory
from storage.models import (
    Campaign,
    Contact,
    Delivery,
    DeliveryState,
    EmailHealth,
    Respondent,
    RespondentState,
)
from storage.roster import import_roster
from tests.sample import PEOPLE, roster_file
from tests.smtpd import Fail, Smtpd

NOW = datetime(2025, 1, 6, 2, 0, tzinfo=UTC)
IDENTITY = MailIdentity(
    from_address="cchc@snv.sonla.gov.vn", from_name="Sở Nội vụ tỉnh Sơn La", secret=b"k" * 32
)


def text_of(data: bytes) -> str:
    parsed = BytesParser(policy=policy.default).parsebytes(data)
    body = parsed.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


async def wave(engine: AsyncEngine, server: Smtpd) -> None:
    async with SmtpSender(server.config(), local_hostname="dondoc.test") as sender:
        dispatcher = Dispatcher(
            session_factory(engine),
            {"email": EmailChannel(sender, IDENTITY, clock=lambda: NOW)},
            clock=lambda: NOW,
            on_gone=recipient_gone,
        )
        await dispatcher.run_once()


async def test_a_wave_with_a_refused_address(
    engine: AsyncEngine, session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    await import_roster(session, province, roster_file(tmp_path, PEOPLE), actor="test")
    await plan_invitations(session, province, now=NOW)
    await session.commit()
    async with Smtpd(rcpt_failures={"duclv@snv.gov.vn": Fail("550 5.1.1 No such user")}) as server:
        await wave(engine, server)
        # Four invitations, then (same pass) the two alerts about the refused address.
        assert sorted(r.rcpt_tos[0] for r in server.received) == [
            "hoatt@snv.gov.vn",
            "hungnv@sonv.gov.vn",
            "huybq@sonla.gov.vn",
            "lanvt@snv.gov.vn",
            "pang.lv@sonla.gov.vn",
            "tuanpm@mocchau.gov.vn",
        ]
        invitations = [r for r in server.received if "+b" in r.mail_from]
        assert len(invitations) == 4
        # Each message names its person by a signed tag in the envelope, never by the token.
        for message in invitations:
            tag = read_tag(IDENTITY.secret, tag_of_address(message.mail_from) or "")
            assert tag is not None and tag.kind == "b"
            parsed = BytesParser(policy=policy.default).parsebytes(message.data)
            token = await session.scalar(select(Respondent.token).where(Respondent.id == tag.ident))
            assert token is not None and token not in str(parsed["Reply-To"])
            assert token not in message.mail_from

        session.expunge_all()
        people = {r.email: r for r in await session.scalars(select(Respondent))}
        duc = people["duclv@snv.gov.vn"]
        assert duc.email_health == EmailHealth.BOUNCED and duc.state == RespondentState.PENDING
        assert people["hoatt@snv.gov.vn"].state == RespondentState.INVITED
        deliveries = (await session.scalars(select(Delivery))).all()
        alerts = {d.contact_id for d in deliveries if d.reason == "bounce_alert"}
        contacts = {c.id: c for c in await session.scalars(select(Contact))}
        # Đức is in Sở Nội vụ: its focal point and the IT focal point are told, by name.
        assert {contacts[c].full_name for c in alerts} == {"Vũ Thị Lan", "Bùi Quang Huy"}
        alert = next(d for d in deliveries if d.reason == "bounce_alert")
        assert alert.payload["person"]["full_name"] == "Lê Văn Đức"
        assert {d.state for d in deliveries if d.reason == "bounce_alert"} == {DeliveryState.SENT}
        lan = next(r for r in server.received if r.rcpt_tos == ["lanvt@snv.gov.vn"])
        assert "Lê Văn Đức" in text_of(lan.data) and "duclv@snv.gov.vn" in text_of(lan.data)
        refused = next(d for d in deliveries if d.respondent_id == duc.id)
        assert refused.state == DeliveryState.FAILED and "5.1.1" in (refused.last_error or "")

        # Asking again sends nothing new to the people already invited.
        again = await plan_invitations(session, province, now=NOW)
        await session.commit()
        assert (again.queued, again.already_queued, again.skipped) == (
            0,
            4,
            {"email bị trả lại": 1},
        )
