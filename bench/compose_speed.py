"""How fast each way of building a mail is, on 5,000 realistic Vietnamese invitations.

    .venv/bin/python bench/compose_speed.py [--count 5000]

Renders the messages once (and reports that rate), then builds the same messages three ways in
the same run: the stdlib ``EmailMessage`` with the default policy, the ``compat32`` MIME classes,
and ``mail.compose`` (bytes written directly). Each builder does the same work: headers with
encoded Vietnamese names, the signed Reply-To, text + HTML alternatives, serialised to bytes.
"""

from __future__ import annotations

import argparse
import platform
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.charset import BASE64, Charset
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from zoneinfo import ZoneInfo

from dondoc.sample_people import STAFF_RANKS, email_name_parts, random_name
from dondoc.sample_places import SONLA_DEPARTMENTS
from mail.compose import compose, message_id
from mail.config import MailIdentity
from mail.signing import make_tag, tagged_address
from mail.templates import Rendered, Templates
from storage.channel import Outgoing, Recipient

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
IDENTITY = MailIdentity("cchc@snv.sonla.gov.vn", "Sở Nội vụ tỉnh Sơn La", b"bench-secret" * 3)
NOW = datetime(2025, 1, 6, 8, 0, tzinfo=TZ)
Job = tuple[Outgoing, Rendered]


def make_jobs(count: int) -> tuple[list[Job], float]:
    rng = random.Random(2024)
    templates = Templates()
    ranks = [rank for rank, _ in STAFF_RANKS]
    jobs: list[Job] = []
    started = time.perf_counter()
    for i in range(1, count + 1):
        name = random_name(rng, rng.random() < 0.5)
        given, initials = email_name_parts(name)
        reason = "invitation" if i % 2 else "reminder"
        context = {
            "recipient_name": name,
            "recipient_position": rng.choice(ranks),
            "unit_name": rng.choice(SONLA_DEPARTMENTS),
            "group_name": "Công chức chuyên môn",
            "campaign_title": "Điều tra XHH xác định Chỉ số CCHC năm 2024",
            "campaign_code": "cchc-2024-sonla",
            "sender_name": IDENTITY.from_name,
            "organiser_name": "Lò Thị Hoa",
            "organiser_email": "hoalt@snv.sonla.gov.vn",
            "organiser_phone": "+84212385248",
            "survey_link": f"https://survey.example.vn/s/{rng.getrandbits(128):032x}",
            "deadline": NOW + timedelta(days=4, hours=9),
            "timezone": "Asia/Ho_Chi_Minh",
            "now": NOW,
            "reminder_number": 1,
            "reminders_max": 4,
        }
        outgoing = Outgoing(
            delivery_id=i,
            dedupe_key=f"{reason}:{i}:email",
            reason=reason,
            campaign_code="cchc-2024-sonla",
            recipient=Recipient(
                full_name=name, email=f"{given}{initials}{i}@sonla.gov.vn", respondent_id=i
            ),
            context=context,
        )
        jobs.append((outgoing, templates.render(reason, context)))
    return jobs, time.perf_counter() - started


def _addresses(outgoing: Outgoing) -> tuple[str, str, str]:
    ident = outgoing.recipient.respondent_id or 0
    reply_to = tagged_address(IDENTITY.from_address, make_tag(IDENTITY.secret, "r", ident))
    envelope = tagged_address(IDENTITY.from_address, make_tag(IDENTITY.secret, "b", ident))
    msg_id = message_id(outgoing.delivery_id, outgoing.dedupe_key, "snv.sonla.gov.vn")
    return reply_to, envelope, msg_id


def build_email_message(outgoing: Outgoing, rendered: Rendered) -> bytes:
    reply_to, _envelope, msg_id = _addresses(outgoing)
    msg = EmailMessage()
    msg["Date"] = format_datetime(NOW)
    msg["From"] = Address(IDENTITY.from_name, addr_spec=IDENTITY.from_address)
    msg["To"] = Address(outgoing.recipient.full_name, addr_spec=outgoing.recipient.email or "")
    msg["Reply-To"] = Address(IDENTITY.from_name, addr_spec=reply_to)
    msg["Subject"] = rendered.subject
    msg["Message-ID"] = msg_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg.as_bytes()


UTF8_B64 = Charset("utf-8")
UTF8_B64.body_encoding = BASE64


def build_compat32(outgoing: Outgoing, rendered: Rendered) -> bytes:
    reply_to, _envelope, msg_id = _addresses(outgoing)
    msg = MIMEMultipart("alternative")
    msg["Date"] = format_datetime(NOW)
    msg["From"] = formataddr((IDENTITY.from_name, IDENTITY.from_address), charset="utf-8")
    to = (outgoing.recipient.full_name, outgoing.recipient.email or "")
    msg["To"] = formataddr(to, charset="utf-8")
    msg["Reply-To"] = formataddr((IDENTITY.from_name, reply_to), charset="utf-8")
    msg["Subject"] = Header(rendered.subject, "utf-8")
    msg["Message-ID"] = msg_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.attach(MIMEText(rendered.text, "plain", UTF8_B64))
    msg.attach(MIMEText(rendered.html, "html", UTF8_B64))
    return msg.as_bytes()


def build_dondoc(outgoing: Outgoing, rendered: Rendered) -> bytes:
    return compose(outgoing, rendered, IDENTITY, now=NOW).data


def rate(builder: Callable[[Outgoing, Rendered], bytes], jobs: list[Job]) -> tuple[float, int]:
    for outgoing, rendered in jobs[:100]:  # warm caches (zoneinfo, charset tables)
        builder(outgoing, rendered)
    started = time.perf_counter()
    size = sum(len(builder(outgoing, rendered)) for outgoing, rendered in jobs)
    return len(jobs) / (time.perf_counter() - started), size // len(jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    jobs, render_seconds = make_jobs(args.count)
    print(f"{len(jobs):,} messages, Python {platform.python_version()}")
    print(f"  render (Jinja2, subject + text + HTML)   {len(jobs) / render_seconds:>9,.0f} msg/s")
    for label, builder in (
        ("stdlib EmailMessage + as_bytes()", build_email_message),
        ("compat32 MIMEMultipart + as_bytes()", build_compat32),
        ("mail.compose (direct bytes)", build_dondoc),
    ):
        per_second, size = rate(builder, jobs)
        print(f"  {label:<40} {per_second:>9,.0f} msg/s  ({size:,} bytes/msg)")


if __name__ == "__main__":
    main()
