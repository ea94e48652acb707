"""Composed mails read back with the stdlib parser: headers, tags, ids, parts, the one link."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mail.compose import AddressError, Composed, compose, message_id
from mail.config import MailIdentity
from mail.signing import Tag, read_tag, tag_of_address
from mail.templates import Rendered, Templates, sample_contexts
from storage.channel import Outgoing, Recipient

SECRET = b"s" * 32
IDENTITY = MailIdentity("cchc@snv.sonla.gov.vn", "Sở Nội vụ tỉnh Sơn La", SECRET)
NOW = datetime(2025, 1, 7, 2, 30, tzinfo=UTC)
TOKEN = "q7Hc2xPz9LmT4vRk8sWn3A"
LINK = f"https://survey.example.vn/s/{TOKEN}?lang=vi&src=mail"
NAME = "Nguyễn Thị Phương Thảo"
EMAIL = "thaontp@sotuphap.sonla.gov.vn"
URL = re.compile(r"""https?://[^\s"'<>]+""")
VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ"
)


def outgoing(
    *,
    delivery_id: int = 41,
    reason: str = "invitation",
    name: str = NAME,
    email: str | None = EMAIL,
    respondent_id: int | None = 7,
    contact_id: int | None = None,
) -> Outgoing:
    context = {**sample_contexts(reason)[0], "survey_link": LINK, "recipient_name": name}
    if reason == "invitation":  # no chat bot configured: the survey link is the only link
        context |= {"link_code": None, "telegram_link": None}
    return Outgoing(
        delivery_id=delivery_id,
        dedupe_key=f"{reason}:{respondent_id or contact_id}:email",
        reason=reason,
        campaign_code="cchc-2024-sonla",
        recipient=Recipient(
            full_name=name, email=email, respondent_id=respondent_id, contact_id=contact_id
        ),
        context=context,
    )


def build(message: Outgoing, rendered: Rendered | None = None) -> Composed:
    rendered = rendered or Templates().render(message.reason, message.context)
    return compose(message, rendered, IDENTITY, now=NOW)


def parse(data: bytes) -> EmailMessage:
    return cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(data))


def body(mail: EmailMessage, subtype: str) -> str:
    part = mail.get_body((subtype,))
    assert part is not None
    return str(cast(EmailMessage, part).get_content()).replace("\r\n", "\n")


def test_headers_read_back_with_vietnamese_names() -> None:
    message = outgoing()
    rendered = Templates().render(message.reason, message.context)
    composed = build(message, rendered)
    mail = parse(composed.data)
    [sender] = mail["From"].addresses
    [to] = mail["To"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Sở Nội vụ tỉnh Sơn La",
        IDENTITY.from_address,
    )
    assert (to.display_name, to.addr_spec) == (NAME, EMAIL)
    assert mail["Subject"] == rendered.subject
    assert parsedate_to_datetime(mail["Date"]) == NOW
    assert mail["Date"].endswith("+0700")  # shown in Vietnamese time
    assert mail["Message-ID"] == composed.message_id
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["MIME-Version"] == "1.0" and mail["Content-Language"] == "vi"
    assert mail.defects == [] and all(part.defects == [] for part in mail.walk())


def test_one_recipient_per_message() -> None:
    composed = build(outgoing())
    mail = parse(composed.data)
    assert composed.recipient == EMAIL
    assert len(mail["To"].addresses) == 1
    for header in ("Cc", "Bcc"):
        assert header not in mail


def test_the_message_id_is_derived_from_the_delivery() -> None:
    first, again = build(outgoing()), build(outgoing())
    assert first.message_id == again.message_id and first.data == again.data
    assert re.fullmatch(r"<dondoc\.41\.[0-9a-f]{16}@snv\.sonla\.gov\.vn>", first.message_id)
    assert first.message_id == message_id(41, "invitation:7:email", "snv.sonla.gov.vn")
    assert build(outgoing(delivery_id=42)).message_id != first.message_id
    assert build(outgoing(reason="reminder")).message_id != first.message_id
    other = MailIdentity(IDENTITY.from_address, "x", SECRET, message_id_domain="dondoc.snv.vn")
    message = outgoing()
    rendered = Templates().render(message.reason, message.context)
    assert compose(message, rendered, other).message_id.endswith("@dondoc.snv.vn>")


def test_reply_to_and_envelope_sender_carry_signed_tags() -> None:
    composed = build(outgoing())
    mail = parse(composed.data)
    [reply_to] = mail["Reply-To"].addresses
    assert reply_to.display_name == "Sở Nội vụ tỉnh Sơn La"
    assert read_tag(SECRET, tag_of_address(reply_to.addr_spec) or "") == Tag("r", 7)
    assert read_tag(SECRET, tag_of_address(composed.envelope_from) or "") == Tag("b", 7)
    assert composed.envelope_from.endswith("@snv.sonla.gov.vn")
    # Another deployment's key does not read them.
    assert read_tag(b"x" * 32, tag_of_address(reply_to.addr_spec) or "") is None


def test_contacts_get_their_own_tag_kinds() -> None:
    composed = build(outgoing(reason="digest", respondent_id=None, contact_id=3))
    reply_to = parse(composed.data)["Reply-To"].addresses[0].addr_spec
    assert read_tag(SECRET, tag_of_address(reply_to) or "") == Tag("f", 3)
    assert read_tag(SECRET, tag_of_address(composed.envelope_from) or "") == Tag("c", 3)


def test_no_header_carries_the_token() -> None:
    composed = build(outgoing())
    head = composed.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    mail = parse(composed.data)
    assert TOKEN not in head
    assert all(TOKEN not in str(value) for value in mail.values())
    assert all(TOKEN not in str(v) for part in mail.walk() for v in part.values())
    assert TOKEN in body(mail, "plain")  # it is in the body, where the link is


def test_text_and_html_alternatives_in_utf8() -> None:
    message = outgoing()
    rendered = Templates().render(message.reason, message.context)
    mail = parse(build(message, rendered).data)
    assert mail.get_content_type() == "multipart/alternative"
    parts = [cast(EmailMessage, p) for p in mail.iter_parts()]
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert body(mail, "plain") == rendered.text
    assert body(mail, "html") == rendered.html


@pytest.mark.parametrize("reason", ["invitation", "reminder", "last_day"])
def test_a_respondent_mail_has_exactly_one_link_the_survey_link(reason: str) -> None:
    mail = parse(build(outgoing(reason=reason)).data)
    text, html = body(mail, "plain"), body(mail, "html")
    assert URL.findall(text) == [LINK]
    assert set(URL.findall(html.replace("&amp;", "&"))) == {LINK}
    assert html.count("<a ") == 1 and f'href="{LINK.replace("&", "&amp;")}"' in html
    assert "<img" not in html


def test_lines_are_short_and_end_in_crlf() -> None:
    data = build(outgoing()).data
    lines = data.split(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in lines) <= 78
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()


def test_a_name_cannot_inject_headers() -> None:
    composed = build(outgoing(name="Lê Văn A\r\nBcc: all@snv.sonla.gov.vn"))
    mail = parse(composed.data)
    assert "Bcc" not in mail
    assert mail["To"].addresses[0].display_name == "Lê Văn A Bcc: all@snv.sonla.gov.vn"


@pytest.mark.parametrize(
    "address",
    [
        "nguyen van a@snv.gov.vn",
        "hoà@snv.gov.vn",
        "a@b",
        "a@snv.gov.vn\r\nBcc: x@y.vn",
        "a@snv.gov.vn, b@snv.gov.vn",
        "<a@snv.gov.vn>",
        "",
    ],
)
def test_unusable_addresses_are_refused(address: str) -> None:
    with pytest.raises(AddressError):
        build(outgoing(email=address))


def test_no_address_and_no_person_are_refused() -> None:
    with pytest.raises(AddressError, match="no address"):
        build(outgoing(email=None))
    with pytest.raises(ValueError, match="neither respondent nor contact"):
        build(outgoing(respondent_id=None))


names = st.text(
    alphabet=st.sampled_from(VIETNAMESE + VIETNAMESE.upper() + " .,'\"()<>@;:\\-ABCxyz"),
    min_size=0,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(name=names, subject=st.text(min_size=1, max_size=300).filter(lambda s: s.strip()))
def test_any_name_and_subject_read_back(name: str, subject: str) -> None:
    message = outgoing(name=name)
    rendered = Rendered(subject=subject, text="Xin chào.\n", html="<p>Xin chào.</p>\n")
    mail = parse(compose(message, rendered, IDENTITY, now=NOW).data)
    expected_name = " ".join(name.split())
    [to] = mail["To"].addresses
    assert (to.display_name, to.addr_spec) == (expected_name, EMAIL)
    cleaned = " ".join(re.sub(r"[\x00-\x1f\x7f]+", " ", subject).split())
    assert str(mail["Subject"]) == cleaned
    assert mail.defects == []
