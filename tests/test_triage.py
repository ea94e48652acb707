"""Triage of single messages: constructed ones for each rule, and 117 real-world bounces.

The real-world corpus is flufl.bounce's: its sdist ships the messages under tests/data and the
expected addresses in tests/test_detectors.py. It is fetched from PyPI when the test runs (third
parties' messages are not copied into this repository) and cached in pytest's cache directory.
"""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
import tarfile
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from flufl.bounce import all_failures

import mail.triage
from mail.signing import make_tag, tagged_address
from mail.triage import (
    AutoReply,
    Bounce,
    Completion,
    CompletionRule,
    Delayed,
    Other,
    Reply,
    classify,
    parse,
    reply_excerpt,
    triage,
)

SECRET = b"unit-test-secret-0123456789abcdef"
ORGANISER = "cchc@snv.sonla.gov.vn"
OUR_ID = "<dondoc.41.0123456789abcdef@snv.sonla.gov.vn>"


def bounce_to(kind: str = "b", ident: int = 12) -> str:
    return tagged_address(ORGANISER, make_tag(SECRET, kind, ident))


def dsn(
    *,
    recipients: list[tuple[str, str, str, str]],
    to: str | None = None,
    returned: str | None = None,
    sender: str = "MAILER-DAEMON@mx.sonla.gov.vn",
) -> bytes:
    """A multipart/report DSN; recipients are (address, action, status, diagnostic)."""
    blocks = "\n".join(
        f"Final-Recipient: rfc822; {address}\nAction: {action}\nStatus: {status}\n"
        + (f"Diagnostic-Code: smtp; {diagnostic}\n" if diagnostic else "")
        for address, action, status, diagnostic in recipients
    )
    original = returned or (
        f"Return-Path: <{bounce_to()}>\nFrom: {ORGANISER}\nTo: {recipients[0][0]}\n"
        f"Message-ID: {OUR_ID}\nSubject: =?utf-8?b?TeG7nWkgdHLhuqMgbOG7nWk=?=\n"
    )
    return f"""Return-Path: <>
From: Mail Delivery System <{sender}>
To: {to or bounce_to()}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=utf-8

Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.sonla.gov.vn

{blocks}
--B
Content-Type: text/rfc822-headers

{original}
--B--
""".encode()


def plain(headers: dict[str, str], body: str = "Nội dung thư.", html: bool = False) -> bytes:
    lines = [f"{name}: {value}" for name, value in headers.items()]
    lines += [
        "MIME-Version: 1.0",
        f"Content-Type: text/{'html' if html else 'plain'}; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
    ]
    return "\n".join(lines).encode()


# --- bounces ---------------------------------------------------------------------------------


def test_a_dsn_for_an_unknown_user_is_a_permanent_bad_address_bounce() -> None:
    raw = dsn(recipients=[("HoaLT@snv.sonla.gov.vn", "failed", "5.1.1", "550 5.1.1 no user")])
    result = triage(raw, secret=SECRET)
    assert isinstance(result, Bounce)
    assert result.addresses == ("hoalt@snv.sonla.gov.vn",)
    assert (result.status, result.klass, result.permanent) == ("5.1.1", "bad_address", True)
    assert result.source == "dsn" and result.diagnostic == "smtp; 550 5.1.1 no user"
    assert result.tag is not None and (result.tag.kind, result.tag.ident) == ("b", 12)
    assert result.our_message_ids == (OUR_ID,)


def test_the_tag_is_found_in_the_returned_headers_when_the_bounce_is_forwarded() -> None:
    raw = dsn(recipients=[("x@y.vn", "failed", "5.1.1", "")], to=ORGANISER)
    result = triage(raw, secret=SECRET)
    assert result.tag is not None and result.tag.ident == 12


def test_a_forged_or_foreign_tag_is_ignored() -> None:
    forged = ORGANISER.replace("@", "+b13.0000000000@")
    result = triage(dsn(recipients=[("x@y.vn", "failed", "5.1.1", "")], to=forged), secret=SECRET)
    # The returned headers still carry the genuine tag of person 12; the forged one is not used.
    assert result.tag is not None and result.tag.ident == 12
    other_secret = triage(dsn(recipients=[("x@y.vn", "failed", "5.1.1", "")]), secret=b"x" * 32)
    assert other_secret.tag is None
    assert triage(dsn(recipients=[("x@y.vn", "failed", "5.1.1", "")])).tag is None


@pytest.mark.parametrize(
    ("status", "diagnostic", "klass"),
    [
        ("5.1.1", "", "bad_address"),
        ("5.1.10", "", "bad_address"),
        ("5.2.2", "552 Quota exceeded", "mailbox_full"),
        ("5.7.1", "554 5.7.1 rejected as spam", "policy"),
        ("5.0.0", "550 5.1.1 <x@y.vn> user unknown", "bad_address"),
        ("5.0.0", "mailbox is full", "mailbox_full"),
        ("5.3.4", "message too big", "other"),
    ],
)
def test_bounce_classes_follow_rfc_3463(status: str, diagnostic: str, klass: str) -> None:
    result = triage(dsn(recipients=[("x@y.vn", "failed", status, diagnostic)]))
    assert isinstance(result, Bounce)
    assert result.klass == klass and result.permanent


def test_a_generic_status_takes_the_specific_code_of_the_diagnostic() -> None:
    result = triage(dsn(recipients=[("x@y.vn", "failed", "5.0.0", "550 5.1.1 user unknown")]))
    assert isinstance(result, Bounce) and result.status == "5.1.1"


def test_a_delay_notice_is_delayed_and_a_given_up_4xx_is_not_permanent() -> None:
    delayed = triage(dsn(recipients=[("x@y.vn", "delayed", "4.4.1", "connection refused")]))
    assert isinstance(delayed, Delayed)
    assert delayed.addresses == ("x@y.vn",) and delayed.status == "4.4.1"
    full = triage(dsn(recipients=[("x@y.vn", "delayed", "4.2.2", "over quota")]))
    assert isinstance(full, Delayed) and full.klass == "mailbox_full"
    # Postfix after its queue lifetime: "failed", with the last temporary status.
    expired = triage(dsn(recipients=[("x@y.vn", "failed", "4.4.1", "connection refused")]))
    assert isinstance(expired, Bounce)
    assert not expired.permanent and expired.klass == "other"


def test_only_the_failed_recipients_of_a_report_are_bounced() -> None:
    raw = dsn(
        recipients=[
            ("ok@y.vn", "delivered", "2.0.0", "250 ok"),
            ("bad@y.vn", "failure", "5.1.1", "no such user"),
            ("later@y.vn", "delayed", "4.4.1", ""),
        ]
    )
    result = triage(raw)
    assert isinstance(result, Bounce) and result.addresses == ("bad@y.vn",)
    only_delivered = triage(dsn(recipients=[("ok@y.vn", "delivered", "2.0.0", "")]))
    assert isinstance(only_delivered, Other)


def test_a_mailer_daemon_message_without_a_report_goes_to_flufl_bounce() -> None:
    raw = plain(
        {
            "From": "MAILER-DAEMON@mx.y.vn",
            "To": bounce_to(),
            "Subject": "failure notice",
        },
        "Hi. This is the qmail-send program at mx.y.vn.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<hoalt@y.vn>:\nSorry, no mailbox here by that name. (#5.1.1)\n",
    )
    result = triage(raw, secret=SECRET)
    assert isinstance(result, Bounce)
    assert result.addresses == ("hoalt@y.vn",) and result.source == "heuristic"
    assert (result.status, result.klass, result.permanent) == ("5.1.1", "bad_address", True)


def test_raw_utf8_headers_are_read_and_do_not_break_flufl_bounce() -> None:
    raw = plain(
        {
            "From": "Hệ thống thư điện tử <MAILER-DAEMON@mx.y.vn>",
            "To": bounce_to(),
            "Subject": "Thư không gửi được: Mời trả lời phiếu",
        },
        "Hi. This is the qmail-send program at mx.y.vn.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<hoalt@y.vn>:\nSorry, no mailbox here by that name. (#5.1.1)\n",
    )
    # The stdlib's compat32 parser alone hands flufl.bounce a Header object it cannot read.
    with pytest.raises(AttributeError):
        all_failures(message_from_bytes(raw))
    result = triage(raw, secret=SECRET)
    assert isinstance(result, Bounce) and result.addresses == ("hoalt@y.vn",)
    assert result.subject == "Thư không gửi được: Mời trả lời phiếu"


def test_flufl_bounce_raising_leaves_an_unreadable_bounce_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(_msg: Any) -> None:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "odd message")

    monkeypatch.setattr(mail.triage, "all_failures", explode)
    raw = plain(
        {"From": "postmaster@y.vn", "To": bounce_to(), "Subject": "Undeliverable"},
        "Delivery failed.",
    )
    with caplog.at_level(logging.WARNING, logger="mail.triage"):
        result = triage(raw, secret=SECRET)
    assert isinstance(result, Bounce)
    assert result.addresses == () and result.tag is not None
    assert "flufl.bounce failed" in caplog.text


def test_ordinary_mail_that_fools_flufl_bounce_stays_a_reply() -> None:
    body = (
        "Tôi nhận được thông báo này, nghĩa là gì?\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<bob@example.com>\n"
    )
    raw = plain(
        {
            "From": "Lê Văn Đức <duclv@snv.gov.vn>",
            "To": tagged_address(ORGANISER, make_tag(SECRET, "r", 3)),
            "Subject": "Re: Mời trả lời phiếu",
        },
        body,
    )
    # flufl.bounce alone would call this a bounce of bob@example.com.
    assert all_failures(parse(raw))[1] == {b"bob@example.com"}
    result = triage(raw, secret=SECRET)
    assert isinstance(result, Reply) and result.tag is not None and result.tag.ident == 3


def test_a_sieve_reject_is_a_bounce_and_a_read_receipt_an_auto_reply() -> None:
    def mdn(disposition: str, text: str) -> bytes:
        return f"""From: Mail Delivery Subsystem <admin@y.vn>
To: {bounce_to()}
Subject: Automatically rejected mail
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification; boundary="M"

--M
Content-Type: text/plain; charset=utf-8

{text}
--M
Content-Type: message/disposition-notification

Final-Recipient: rfc822; hoalt@y.vn
Disposition: automatic-action/MDN-sent-automatically; {disposition}

--M--
""".encode()

    rejected = triage(mdn("deleted", "Your message was rejected: Quota exceeded"), secret=SECRET)
    assert isinstance(rejected, Bounce)
    assert rejected.addresses == ("hoalt@y.vn",) and rejected.klass == "mailbox_full"
    receipt = triage(mdn("displayed", "Thư đã được đọc."), secret=SECRET)
    assert isinstance(receipt, AutoReply) and receipt.reason == "read receipt"


# --- auto-replies ----------------------------------------------------------------------------

REPLY_HEADERS = {
    "From": "Trần Thị Hoà <hoatt@snv.gov.vn>",
    "To": tagged_address(ORGANISER, make_tag(SECRET, "r", 2)),
    "In-Reply-To": OUR_ID,
    "Subject": "Re: Mời đồng chí trả lời phiếu khảo sát",
}


@pytest.mark.parametrize(
    "extra",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Auto-Submitted": "auto-generated (vacation)"},
        {"X-Autoreply": "yes"},
        {"X-Autorespond": "Tôi đi vắng"},
        {"Precedence": "auto_reply"},
        {"Subject": "Trả lời tự động: Mời đồng chí trả lời phiếu khảo sát"},
        {"Subject": "=?utf-8?b?VHLhuqMgbOG7nWkgdOG7sSDEkeG7mW5nOiBW4bqvbmcgbeG6t3Q=?="},
        {"Subject": "Vắng mặt đến hết ngày 10/01"},
        {"Subject": "Nghỉ phép: Re: Mời đồng chí trả lời phiếu khảo sát"},
        {"Subject": "Tôi đang đi công tác"},
        {"Subject": "Tra loi tu dong: dang nghi phep"},
        {"Subject": "Automatic reply: Mời đồng chí trả lời phiếu khảo sát"},
        {"Subject": "Out of Office: Mời đồng chí trả lời phiếu khảo sát"},
    ],
    ids=lambda extra: next(iter(extra.values()))[:30],
)
def test_auto_replies_are_never_replies_nor_bounces(extra: dict[str, str]) -> None:
    result = triage(plain({**REPLY_HEADERS, "Return-Path": "<>", **extra}), secret=SECRET)
    assert isinstance(result, AutoReply), result
    assert result.tag is not None and result.our_message_ids == (OUR_ID,)


def test_an_auto_reply_saying_the_mailbox_is_unknown_is_still_not_a_bounce(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consulted: list[object] = []

    def spy(msg: object) -> tuple[set[bytes], set[bytes]]:
        consulted.append(msg)
        return set(), set()

    monkeypatch.setattr(mail.triage, "all_failures", spy)
    raw = plain(
        {**REPLY_HEADERS, "Return-Path": "<>", "Auto-Submitted": "auto-replied"},
        "I am away. Mail to bob@y.vn: user unknown.",
    )
    assert isinstance(triage(raw, secret=SECRET), AutoReply)
    assert consulted == []


def test_auto_submitted_no_is_a_person_writing() -> None:
    result = triage(plain({**REPLY_HEADERS, "Auto-Submitted": "no"}), secret=SECRET)
    assert isinstance(result, Reply)


# --- replies ---------------------------------------------------------------------------------


def test_a_reply_keeps_the_writers_words_without_the_quote() -> None:
    body = (
        "Kính gửi Sở Nội vụ,\n\nTôi đã nghỉ hưu từ tháng 10/2024, đề nghị bỏ tên khỏi danh sách.\n"
        "\nVào Th 2, 6 thg 1, 2025 lúc 08:00 Sở Nội vụ <cchc@snv.sonla.gov.vn> đã viết:\n"
        "> Kính gửi đồng chí Trần Thị Hoà,\n> Đề nghị đồng chí trả lời phiếu.\n"
    )
    result = triage(plain(REPLY_HEADERS, body), secret=SECRET)
    assert isinstance(result, Reply)
    assert result.excerpt == (
        "Kính gửi Sở Nội vụ,\n\nTôi đã nghỉ hưu từ tháng 10/2024, đề nghị bỏ tên khỏi danh sách."
    )
    assert result.subject == "Re: Mời đồng chí trả lời phiếu khảo sát"
    assert result.in_reply_to == OUR_ID and result.sender == "hoatt@snv.gov.vn"


def test_a_reply_is_matched_by_in_reply_to_alone_and_html_is_read() -> None:
    headers = {**REPLY_HEADERS, "To": ORGANISER}
    html = "<html><body><p>Đường link <b>không mở được</b>.</p><blockquote>x</blockquote></body>"
    result = triage(plain(headers, html, html=True), secret=SECRET)
    assert isinstance(result, Reply)
    assert result.tag is None and result.in_reply_to == OUR_ID
    assert result.excerpt.startswith("Đường link không mở được.")


@pytest.mark.parametrize(
    "quote",
    [
        "On Mon, Jan 6, 2025 at 8:00 AM Sở Nội vụ <cchc@snv.sonla.gov.vn> wrote:\n> old",
        "-----Original Message-----\nFrom: Sở Nội vụ\nSent: Monday",
        "________________________________\nTừ: Sở Nội vụ <cchc@snv.sonla.gov.vn>\nGửi lúc: ...",
        "From: Sở Nội vụ <cchc@snv.sonla.gov.vn>\nSent: Monday",
    ],
)
def test_quote_headers_of_common_mail_programs_end_the_excerpt(quote: str) -> None:
    assert reply_excerpt(f"Đã nhận, cảm ơn.\n\n{quote}\nmore") == "Đã nhận, cảm ơn."


def test_a_long_reply_is_shortened() -> None:
    assert len(reply_excerpt("Dài " * 2000)) == 1000


# --- completion notices ----------------------------------------------------------------------

RULE = CompletionRule(
    sender="@survey.sonla.gov.vn",
    subject=r"hoàn thành|completed",
    pattern=r"Mã phiếu:\s*(?P<token>[A-Za-z0-9_-]{16,})|Email:\s*(?P<email>\S+@\S+)",
    name="limesurvey",
)


def test_a_completion_notice_yields_the_token_or_the_email() -> None:
    headers = {
        "From": "LimeSurvey <noreply@survey.sonla.gov.vn>",
        "To": ORGANISER,
        "Subject": "Phiếu khảo sát đã hoàn thành",
        "Auto-Submitted": "auto-generated",
    }
    by_token = triage(plain(headers, "Mã phiếu: Hq7cT2pLm9VxR4sKw8Yb3N\n"), completion_rules=[RULE])
    assert isinstance(by_token, Completion)
    assert (by_token.token, by_token.email, by_token.rule) == (
        "Hq7cT2pLm9VxR4sKw8Yb3N",
        None,
        "limesurvey",
    )
    by_email = triage(plain(headers, "Email: HoaTT@snv.gov.vn\n"), completion_rules=[RULE])
    assert isinstance(by_email, Completion) and by_email.email == "hoatt@snv.gov.vn"


def test_a_completion_rule_needs_its_sender_and_subject() -> None:
    body = "Mã phiếu: Hq7cT2pLm9VxR4sKw8Yb3N\n"
    wrong_sender = plain({"From": "someone@gmail.com", "Subject": "đã hoàn thành"}, body)
    assert not isinstance(triage(wrong_sender, completion_rules=[RULE]), Completion)
    wrong_subject = plain({"From": "noreply@survey.sonla.gov.vn", "Subject": "Nhắc"}, body)
    assert not isinstance(triage(wrong_subject, completion_rules=[RULE]), Completion)


def test_a_completion_rule_is_checked_when_it_is_made() -> None:
    with pytest.raises(ValueError, match="named group"):
        CompletionRule(sender="@x.vn", pattern=r"token: (\w+)")
    with pytest.raises(ValueError, match="bad regular expression"):
        CompletionRule(sender="@x.vn", pattern=r"(?P<token>")
    with pytest.raises(ValueError, match="sender"):
        CompletionRule(sender="survey", pattern=r"(?P<token>\w+)")


# --- everything else -------------------------------------------------------------------------


def test_mail_that_is_not_ours_is_other() -> None:
    raw = plain({"From": "vanthu@snv.gov.vn", "To": ORGANISER, "Subject": "Lịch họp"})
    result = triage(raw, secret=SECRET)
    assert isinstance(result, Other) and result.subject == "Lịch họp"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff\xfe\x00garbage\r\n\r\n\x00\x01",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=X\n\n--X\n",
        b"Content-Type: multipart/report; report-type=delivery-status\n\nno boundary",
        b"From: MAILER-DAEMON@x\nContent-Type: text/plain; charset=x-unknown\n\n\xff\xfe",
        b"Subject: =?x-unknown?q?abc?=\nDate: not a date\n\nbody",
    ],
)
def test_malformed_messages_never_raise(raw: bytes) -> None:
    triage(raw, secret=SECRET)


def test_classify_falls_back_to_the_words_of_the_server() -> None:
    assert classify(None, "552 Mailbox full") == "mailbox_full"
    assert classify(None, "Hộp thư đã đầy") == "mailbox_full"
    assert classify(None, "550 Địa chỉ không tồn tại") == "bad_address"
    assert classify("5.0.0", "rejected: listed in blacklist") == "policy"
    assert classify("4.4.1", "connection refused") == "other"


# --- the flufl.bounce corpus -----------------------------------------------------------------

FLUFL = "flufl.bounce==6.0.0"
# Where this triage knows better than flufl.bounce's expectations, and why.
CORPUS_OVERRIDES: dict[str, tuple[set[str], bool]] = {
    # An RFC 3464 report naming the failed recipient (Status 5.0.0, diagnostic 550-5.7.1 spam
    # block); flufl.bounce's detectors return nothing for its anonymised "david...@" address.
    "simple_42.txt": ({"david...@gmail.com"}, False),
}
# Class per message, checked by reading each one.
CORPUS_CLASSES = {
    "dsn_01.txt": "mailbox_full",  # Status 5.0.0 (recipient reached disk quota)
    "dsn_09.txt": "other",  # X.400 gateway, 5.0.0 "Unable-To-Transfer"
    "dsn_11.txt": "bad_address",  # 5.1.1 User unknown
    "dsn_17.txt": "mailbox_full",  # delayed 4.3.0, "Quota exceeded"
    "exim_01.txt": "bad_address",
    "postfix_01.txt": "bad_address",
    "postfix_04.txt": "mailbox_full",
    "simple_38.txt": "mailbox_full",  # Dovecot's rejection as an MDN: "Quota exceeded"
    "simple_42.txt": "policy",  # 550-5.7.1 unsolicited mail
    "yahoo_11.txt": "bad_address",
}


@pytest.fixture(scope="session")
def flufl_corpus(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """flufl.bounce's sdist from PyPI (pip's own client), unpacked in pytest's cache (or in a
    temporary folder when the cache plugin is off)."""
    store = getattr(pytestconfig, "cache", None)
    if store is not None:
        cache = store.mkdir("flufl-bounce-6.0.0")
    else:
        cache = tmp_path_factory.mktemp("flufl-bounce-6.0.0")
    tests = cache / "tests"
    if (tests / "test_detectors.py").exists():
        return tests
    sdists = list(cache.glob("flufl*bounce-6.0.0.tar.gz"))
    if not sdists:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--disable-pip-version-check",
                "--quiet",
                "-d",
                str(cache),
                FLUFL,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=180,
            check=False,
        )
        sdists = list(cache.glob("flufl*bounce-6.0.0.tar.gz"))
        if done.returncode != 0 or not sdists:
            last = (done.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
            pytest.skip(f"PyPI unreachable: 'pip download {FLUFL}' failed: {last}")
    with tarfile.open(sdists[0]) as archive:
        members = [
            m
            for m in archive.getmembers()
            if m.isfile()
            and (
                m.name.endswith("/tests/test_detectors.py")
                or ("/tests/data/" in m.name and m.name.endswith(".txt"))
            )
        ]
        for member in members:
            member.name = "tests/" + member.name.split("/tests/", 1)[1]
        archive.extractall(cache, members=members, filter="data")
    return tests


def corpus_expectations(tests: Path) -> dict[str, tuple[set[str], bool]]:
    """file -> (expected addresses, temporary?) from flufl.bounce's own test table."""
    tree = ast.parse((tests / "test_detectors.py").read_text(encoding="utf-8"))
    table: list[tuple[str, str, list[bytes], bool]] = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "DETECTORS" for t in node.targets)
    )
    expected: dict[str, tuple[set[str], bool]] = {}
    for _detector, filename, addresses, temporary in table:
        found, _ = expected.get(filename, (set(), temporary))
        found |= {a.decode().lower() for a in addresses}
        expected[filename] = (found, temporary)
    # From the same file's scan tests, outside the table.
    expected.setdefault("simple_01.txt", ({"bbbsss@example.com"}, False))
    expected.setdefault("dumbass_01.txt", (set(), False))
    expected.update(CORPUS_OVERRIDES)
    return expected


def test_real_world_bounces_give_the_right_addresses_and_class(flufl_corpus: Path) -> None:
    expected = corpus_expectations(flufl_corpus)
    files = sorted((flufl_corpus / "data").glob("*.txt"))
    assert len(files) >= 117, f"only {len(files)} corpus messages"
    problems: list[str] = []
    claimed = 0
    for path in files:
        result = triage(path.read_bytes())
        want, temporary = expected.get(path.name, (set(), False))
        if isinstance(result, Bounce | Delayed):
            claimed += 1
            got = set(result.addresses)
            if got != want and not (got == set() and want == set()):
                problems.append(f"{path.name}: addresses {sorted(got)} != {sorted(want)}")
            if want and isinstance(result, Delayed) != temporary:
                problems.append(f"{path.name}: {type(result).__name__}, temporary={temporary}")
            if path.name in CORPUS_CLASSES and result.klass != CORPUS_CLASSES[path.name]:
                problems.append(f"{path.name}: class {result.klass}")
        elif want:
            problems.append(f"{path.name}: {type(result).__name__}, expected a bounce of {want}")
    assert not problems, "\n".join(problems)
    # Every message with known failed addresses is claimed; the rest are auto-replies, a plain
    # reply, and messages no detector reads.
    assert claimed >= 110
