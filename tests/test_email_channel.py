"""The email channel end to end: Outgoing -> templates -> MIME -> a real aiosmtpd server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, cast

import pytest

from mail.channel import EmailChannel
from mail.config import MailIdentity
from mail.signing import Tag, read_tag, tag_of_address
from mail.smtp import SmtpSender
from mail.templates import CONTEXT_KEYS, sample_contexts
from storage.channel import (
    Channel,
    Outgoing,
    PermanentError,
    Recipient,
    RecipientGone,
    TransientError,
)
from tests.smtpd import Fail, Smtpd

SECRET = b"c" * 32
IDENTITY = MailIdentity("cchc@snv.sonla.gov.vn", "Sở Nội vụ tỉnh Sơn La", SECRET)
NOW = datetime(2025, 1, 7, 2, 30, tzinfo=UTC)
LINK = "https://survey.example.vn/s/Zr8pW2mQ5tLx9cVb3nHk7A"
# What the channel fills itself, from its identity and the Recipient.
FILLED = {"sender_name", "recipient_name", "recipient_position", "unit_name"}


def outgoing(
    email: str | None = "hungnv@sotuphap.sonla.gov.vn",
    *,
    reason: str = "invitation",
    delivery_id: int = 5,
    campaign: str = "cchc-2024-sonla",
    contact: bool = False,
    **context: Any,
) -> Outgoing:
    sample = sample_contexts(reason)[0]
    base = {k: v for k, v in sample.items() if k not in FILLED}
    if "survey_link" in base:
        base["survey_link"] = LINK
    person = 31
    return Outgoing(
        delivery_id=delivery_id,
        dedupe_key=f"{reason}:{person}:email",
        reason=reason,
        campaign_code=campaign,
        recipient=Recipient(
            full_name="Nguyễn Văn Hùng",
            email=email,
            position="Phó Chánh Văn phòng",
            unit="Sở Tư pháp",
            respondent_id=None if contact else person,
            contact_id=person if contact else None,
        ),
        context={**base, **context},
    )


@pytest.fixture
async def server() -> AsyncIterator[Smtpd]:
    async with Smtpd() as smtpd:
        yield smtpd


@pytest.fixture
async def channel(server: Smtpd) -> AsyncIterator[EmailChannel]:
    sender = SmtpSender(server.config(), local_hostname="dondoc.test")
    email = EmailChannel(sender, IDENTITY, clock=lambda: NOW)
    yield email
    await email.aclose()


def received(server: Smtpd, index: int = -1) -> EmailMessage:
    return cast(
        EmailMessage, BytesParser(policy=policy.default).parsebytes(server.received[index].data)
    )


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    return str(cast(EmailMessage, part).get_content())


def test_it_is_a_channel(channel: EmailChannel) -> None:
    assert isinstance(channel, Channel) and channel.name == "email"


async def test_an_invitation_arrives_personalised(server: Smtpd, channel: EmailChannel) -> None:
    receipt = await channel.send(outgoing())
    [got] = server.received
    mail = received(server)
    assert receipt.provider_id == mail["Message-ID"]
    assert receipt.provider_id.startswith("<dondoc.5.")
    assert got.rcpt_tos == ["hungnv@sotuphap.sonla.gov.vn"]
    assert read_tag(SECRET, tag_of_address(got.mail_from) or "") == Tag("b", 31)
    assert str(mail["To"]) == "Nguyễn Văn Hùng <hungnv@sotuphap.sonla.gov.vn>"
    text = text_of(mail)
    # Filled by the channel from the Recipient and the identity.
    assert text.startswith(
        "Kính gửi đồng chí Nguyễn Văn Hùng, Phó Chánh Văn phòng – Sở Tư pháp,\r\n"
    )
    assert "Sở Nội vụ tỉnh Sơn La trân trọng mời đồng chí" in text and LINK in text


async def test_the_dispatcher_context_wins_over_what_the_channel_fills(
    server: Smtpd, channel: EmailChannel
) -> None:
    await channel.send(outgoing(recipient_position="", unit_name="Văn phòng Sở Tư pháp"))
    assert text_of(received(server)).startswith(
        "Kính gửi đồng chí Nguyễn Văn Hùng – Văn phòng Sở Tư pháp,"
    )


async def test_a_retry_carries_the_same_message_id(server: Smtpd, channel: EmailChannel) -> None:
    first = await channel.send(outgoing())
    again = await channel.send(outgoing())
    assert first == again and server.received[0].data == server.received[1].data


async def test_contact_mails_use_contact_tags(server: Smtpd, channel: EmailChannel) -> None:
    await channel.send(outgoing(reason="digest", contact=True))
    mail = received(server)
    assert read_tag(SECRET, tag_of_address(server.received[0].mail_from) or "") == Tag("c", 31)
    assert read_tag(SECRET, tag_of_address(mail["Reply-To"].addresses[0].addr_spec) or "") == Tag(
        "f", 31
    )
    assert "1. Sở Tư pháp: đã trả lời 12/20 (60%)." in text_of(mail)


async def test_every_reason_goes_out(server: Smtpd, channel: EmailChannel) -> None:
    for number, reason in enumerate(CONTEXT_KEYS, 1):
        await channel.send(outgoing(reason=reason, delivery_id=number))
    assert len(server.received) == len(CONTEXT_KEYS) and server.connections == 1


async def test_no_address_means_the_recipient_is_gone(server: Smtpd, channel: EmailChannel) -> None:
    with pytest.raises(RecipientGone, match="no email address"):
        await channel.send(outgoing(None))
    assert server.received == [] and server.connections == 0


async def test_a_malformed_address_is_permanent(server: Smtpd, channel: EmailChannel) -> None:
    with pytest.raises(PermanentError) as caught:
        await channel.send(outgoing("nguyen van hung@sotuphap.sonla.gov.vn"))
    assert type(caught.value) is PermanentError and server.connections == 0


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("550 5.1.1 <hungnv@sotuphap.sonla.gov.vn>: Recipient address rejected", RecipientGone),
        ("451 4.3.0 Temporary failure", TransientError),
        ("421 4.7.0 Too many messages, closing", TransientError),
        ("554 5.7.1 Policy rejection", PermanentError),
    ],
)
async def test_server_refusals_come_out_typed(
    server: Smtpd, channel: EmailChannel, reply: str, error: type[Exception]
) -> None:
    server.rcpt_failures["hungnv@sotuphap.sonla.gov.vn"] = Fail(reply, times=1)
    with pytest.raises(error) as caught:
        await channel.send(outgoing())
    assert type(caught.value) is error
    await channel.send(outgoing())  # and the channel goes on
    assert len(server.received) == 1


async def test_a_drop_mid_data_is_transient_and_the_next_send_works(
    server: Smtpd, channel: EmailChannel
) -> None:
    server.drop_mid_data = 1
    with pytest.raises(TransientError):
        await channel.send(outgoing())
    receipt = await channel.send(outgoing())
    assert received(server)["Message-ID"] == receipt.provider_id
    assert server.connections == 2


async def test_a_template_error_at_send_time_is_permanent(channel: EmailChannel) -> None:
    message = outgoing()
    context = dict(message.context)
    del context["deadline"]
    broken = Outgoing(
        message.delivery_id,
        message.dedupe_key,
        message.reason,
        message.campaign_code,
        message.recipient,
        context,
    )
    with pytest.raises(PermanentError, match="deadline"):
        await channel.send(broken)


async def test_a_campaign_uses_its_own_templates(server: Smtpd, tmp_path: Path) -> None:
    (tmp_path / "invitation.subject.j2").write_text(
        "Thư mời riêng của {{ sender_name }}\n", encoding="utf-8"
    )
    sender = SmtpSender(server.config(), local_hostname="dondoc.test")
    channel = EmailChannel(sender, IDENTITY, template_dirs={"rieng": tmp_path}, clock=lambda: NOW)
    await channel.send(outgoing(campaign="rieng"))
    await channel.send(outgoing(campaign="cchc-2024-sonla"))
    await channel.aclose()
    subjects = [received(server, i)["Subject"] for i in range(2)]
    assert subjects[0] == "Thư mời riêng của Sở Nội vụ tỉnh Sơn La"
    assert subjects[1].startswith("Mời đồng chí trả lời phiếu khảo sát")


def test_an_unusable_sender_address_fails_at_start(server: Smtpd) -> None:
    bad = MailIdentity("cchc at snv.sonla.gov.vn", "Sở Nội vụ", SECRET)
    with pytest.raises(ValueError, match="not a deliverable"):
        EmailChannel(SmtpSender(server.config()), bad)
