"""The SMTP sender against a real aiosmtpd server: outcomes, pooling, rate limit, TLS, AUTH."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mail.check import RELAY_TEST_RECIPIENT, Finding, check_smtp
from mail.config import MailIdentity, SmtpConfig
from mail.signing import make_tag
from mail.smtp import SmtpSender, TokenBucket, classify_reply
from storage.channel import PermanentError, RecipientGone, TransientError
from tests.smtpd import Fail, SilentServer, Smtpd, make_certificate, server_tls_context

SENDER = "dondoc+b1.0123456789@snv.sonla.gov.vn"
GOOD = "hungnv@sotuphap.sonla.gov.vn"
PASSWORD = "Mat-khau-S3cret-7qz"
MESSAGE = b"Subject: test\r\nMessage-ID: <t@x>\r\n\r\nXin chao.\r\n.leading dot\r\n"


class FakeClock:
    """Monotonic time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        # Wake at (time of the call + seconds), after every task that is ready has run, as a
        # real sleep would: concurrent sleepers each see the clock of their own call.
        self.sleeps.append(seconds)
        wake = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, wake)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    return server_tls_context(*make_certificate(tmp_path_factory.mktemp("tls")))


@pytest.fixture
async def server() -> AsyncIterator[Smtpd]:
    async with Smtpd() as smtpd:
        yield smtpd


@pytest.fixture
async def sender(server: Smtpd) -> AsyncIterator[SmtpSender]:
    async with SmtpSender(server.config(), local_hostname="dondoc.test") as smtp:
        yield smtp


async def test_a_message_arrives_byte_for_byte(server: Smtpd, sender: SmtpSender) -> None:
    reply = await sender.send(SENDER, GOOD, MESSAGE)
    assert reply.startswith("2.0.0 Ok: queued as")
    [got] = server.received
    assert (got.mail_from, got.rcpt_tos) == (SENDER, [GOOD])
    # Dot-stuffing and line ends are undone by the server: what arrives is what was sent.
    assert got.data == MESSAGE


@pytest.mark.parametrize(
    ("where", "reply", "error"),
    [
        ("rcpt", "451 4.3.0 Temporary lookup failure", TransientError),
        ("rcpt", "452 4.2.2 Mailbox full", TransientError),
        ("rcpt", "450 4.2.1 Mailbox busy", TransientError),
        ("rcpt", "550 5.1.1 <x>: Recipient address rejected: User unknown", RecipientGone),
        ("rcpt", "553 5.1.3 Bad recipient address syntax", RecipientGone),
        ("rcpt", "553 Mailbox name not allowed", RecipientGone),
        ("rcpt", "554 5.7.1 Relay access denied", PermanentError),
        ("rcpt", "550 Requested action not taken", PermanentError),
        ("data", "554 5.7.1 Message rejected as spam", PermanentError),
        ("data", "552 5.2.2 Mailbox over quota", TransientError),
        ("data", "552 5.3.4 Message too big", PermanentError),
        ("data", "451 4.7.1 Greylisted, try again", TransientError),
        ("data", "550 5.1.1 Recipient unknown after DATA", RecipientGone),
        ("mail", "553 5.1.8 Sender domain does not exist", PermanentError),
        (
            "mail",
            "550 5.7.60 Client does not have permission to send as this sender",
            PermanentError,
        ),
        ("mail", "451 4.3.5 Server configuration problem", TransientError),
    ],
)
async def test_each_refusal_maps_to_its_error_and_the_session_goes_on(
    server: Smtpd, sender: SmtpSender, where: str, reply: str, error: type[Exception]
) -> None:
    bad = "bad@sotuphap.sonla.gov.vn"
    failures = {
        "rcpt": server.rcpt_failures,
        "data": server.data_failures,
        "mail": server.sender_failures,
    }[where]
    failures[SENDER if where == "mail" else bad] = Fail(reply, times=1)
    with pytest.raises(error) as caught:
        await sender.send(SENDER, bad, MESSAGE)
    assert type(caught.value) is error
    code = reply.split()[0]
    assert code in caught.value.detail and where.upper() in caught.value.detail
    assert caught.value.message_vi
    # RSET cleaned the envelope: the next message goes out on the same connection.
    await sender.send(SENDER, GOOD, MESSAGE)
    assert [r.rcpt_tos for r in server.received] == [[GOOD]]
    assert server.connections == 1 and server.refused == 1


async def test_421_is_transient_and_the_next_message_reconnects(
    server: Smtpd, sender: SmtpSender
) -> None:
    server.rcpt_failures["busy@x.test"] = Fail("421 4.7.0 Too many errors, closing", times=1)
    await sender.send(SENDER, GOOD, MESSAGE)
    with pytest.raises(TransientError) as caught:
        await sender.send(SENDER, "busy@x.test", MESSAGE)
    assert type(caught.value) is TransientError and "421" in caught.value.detail
    await sender.send(SENDER, GOOD, MESSAGE)
    assert len(server.received) == 2 and server.connections == 2


async def test_a_connection_dropped_mid_data_is_transient_and_never_retried(
    server: Smtpd, sender: SmtpSender
) -> None:
    server.drop_mid_data = 1
    with pytest.raises(TransientError) as caught:
        await sender.send(SENDER, GOOD, MESSAGE)
    assert "DATA" in caught.value.detail
    assert server.dropped == 1 and server.received == [] and server.connections == 1
    await sender.send(SENDER, GOOD, MESSAGE)
    assert len(server.received) == 1 and server.received[0].connection == 2


@pytest.mark.parametrize("goodbye", [None, "421 4.4.2 smtpd.test Error: timeout exceeded"])
async def test_an_idle_connection_closed_by_the_server_is_replaced_once(
    server: Smtpd, sender: SmtpSender, goodbye: str | None
) -> None:
    await sender.send(SENDER, GOOD, MESSAGE)
    assert server.close_connections(goodbye) == 1
    # No await in between: the client cannot have noticed; it finds out at MAIL FROM.
    await sender.send(SENDER, GOOD, MESSAGE)
    assert [r.connection for r in server.received] == [1, 2]


async def test_a_refusal_on_a_fresh_connection_is_not_retried(
    server: Smtpd, sender: SmtpSender
) -> None:
    await sender.send(SENDER, GOOD, MESSAGE)
    server.sender_failures[SENDER] = Fail("421 4.7.0 Too many connections from your host")
    with pytest.raises(TransientError):
        await sender.send(SENDER, GOOD, MESSAGE)
    # The pooled connection and exactly one fresh one: tried twice, never more.
    assert server.refused == 2 and server.connections == 2


async def test_sequential_messages_share_one_connection(server: Smtpd, sender: SmtpSender) -> None:
    for _ in range(10):
        await sender.send(SENDER, GOOD, MESSAGE)
    assert len(server.received) == 10 and server.connections == 1


async def test_concurrent_messages_use_at_most_the_configured_connections(
    server: Smtpd,
) -> None:
    clock = FakeClock()  # no real spacing: all 30 want a connection at once
    config = server.config(connections=3)
    async with SmtpSender(config, clock=clock, sleep=clock.sleep, local_hostname="t") as sender:
        await asyncio.gather(*(sender.send(SENDER, f"p{i}@x.test", MESSAGE) for i in range(30)))
        await asyncio.gather(*(sender.send(SENDER, f"q{i}@x.test", MESSAGE) for i in range(30)))
    assert len(server.received) == 60 and server.connections == 3
    assert {r.connection for r in server.received} == {1, 2, 3}


async def test_connections_are_renewed_after_a_number_of_messages(server: Smtpd) -> None:
    async with SmtpSender(server.config(), max_per_connection=3) as sender:
        for _ in range(7):
            await sender.send(SENDER, GOOD, MESSAGE)
    assert [r.connection for r in server.received] == [1, 1, 1, 2, 2, 2, 3]
    assert server.live == set()  # every session ended with QUIT


async def test_the_rate_limit_spaces_messages_without_waiting_for_real_time(
    server: Smtpd,
) -> None:
    clock = FakeClock()
    config = server.config(per_minute=6)
    async with SmtpSender(config, clock=clock, sleep=clock.sleep) as sender:
        for _ in range(4):
            await sender.send(SENDER, GOOD, MESSAGE)
        assert clock.sleeps == [10.0, 10.0, 10.0]
        # A quiet minute refills the bucket to one message, never more: no burst.
        clock.now += 60
        await asyncio.gather(*(sender.send(SENDER, GOOD, MESSAGE) for _ in range(3)))
    assert clock.sleeps[3:] == [10.0, 20.0]
    assert len(server.received) == 7


def test_the_token_bucket_never_lets_more_than_per_minute_through_a_minute() -> None:
    clock = FakeClock()
    bucket = TokenBucket(30, clock=clock)
    sent: list[float] = []
    for _ in range(100):
        wait = bucket.reserve()
        sent.append(clock.now + wait)
        clock.now += wait * 0.5  # callers arrive faster than they may leave
    for start in sent:
        assert sum(start <= t < start + 60 for t in sent) <= 30
    with pytest.raises(ValueError, match="per_minute"):
        TokenBucket(0)


async def test_starttls_and_auth(tls: ssl.SSLContext) -> None:
    async with Smtpd(security="starttls", tls=tls, users={"cchc": PASSWORD}) as server:
        async with SmtpSender(server.config(port=server.port)) as sender:
            await sender.send(SENDER, GOOD, MESSAGE)
    [got] = server.received
    assert got.tls and got.authenticated


async def test_implicit_tls(tls: ssl.SSLContext) -> None:
    async with Smtpd(security="ssl", tls=tls, users={"cchc": PASSWORD}) as server:
        async with SmtpSender(server.config()) as sender:
            await sender.send(SENDER, GOOD, MESSAGE)
    [got] = server.received
    assert got.tls and got.authenticated


async def test_a_refused_login_is_transient_and_never_shows_the_password(
    tls: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with Smtpd(security="starttls", tls=tls, users={"cchc": PASSWORD}) as server:
        sender = SmtpSender(server.config(password="wrong-" + PASSWORD))
        async with sender:
            with pytest.raises(TransientError) as caught:
                await sender.send(SENDER, GOOD, MESSAGE)
    error = caught.value
    assert "535" in error.detail and "cchc" in error.message_vi
    shown = [str(error), repr(error), error.detail, error.message_vi, repr(sender), caplog.text]
    shown += [str(error.__cause__), repr(error.__cause__)]
    assert not any(PASSWORD in text for text in shown)
    assert server.received == []


async def test_an_unverifiable_certificate_is_a_tls_failure(tls: ssl.SSLContext) -> None:
    async with Smtpd(security="starttls", tls=tls) as server:
        async with SmtpSender(server.config(verify_tls=True)) as sender:
            with pytest.raises(TransientError, match="TLS"):
                await sender.send(SENDER, GOOD, MESSAGE)


async def test_a_server_that_does_not_answer_times_out() -> None:
    async with SilentServer() as silent:
        config = Smtpd(port=silent.port).config(timeout=0.2)
        started = time.monotonic()
        async with SmtpSender(config) as sender:
            with pytest.raises(TransientError) as caught:
                await sender.send(SENDER, GOOD, MESSAGE)
        assert time.monotonic() - started < 3
    assert "Timed out" in caught.value.detail or "time-out" in caught.value.detail


async def test_nobody_listening_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with SmtpSender(Smtpd(port=port).config()) as sender:
        with pytest.raises(TransientError, match="cannot use SMTP server"):
            await sender.send(SENDER, GOOD, MESSAGE)


async def test_closing_says_goodbye_and_refuses_further_sends(
    server: Smtpd, sender: SmtpSender
) -> None:
    await asyncio.gather(*(sender.send(SENDER, GOOD, MESSAGE) for _ in range(4)))
    assert len(server.live) == 2
    await sender.aclose()
    assert await _settle(lambda: not server.live)
    with pytest.raises(TransientError, match="closed"):
        await sender.send(SENDER, GOOD, MESSAGE)


async def _settle(condition: Callable[[], bool], rounds: int = 100) -> bool:
    """Let the loop run until ``condition`` holds, a bounded number of turns (no time passes)."""
    for _ in range(rounds):
        if condition():
            return True
        await asyncio.sleep(0)
    return condition()


def test_enhanced_codes_decide_between_gone_and_refused() -> None:
    assert isinstance(classify_reply(550, "5.1.1 User unknown", "rcpt"), RecipientGone)
    # 5.1.7/5.1.8 are about our sender address, not the recipient.
    assert not isinstance(classify_reply(553, "5.1.8 Bad sender domain", "mail"), RecipientGone)
    assert not isinstance(classify_reply(550, "5.1.7 Bad sender", "rcpt"), RecipientGone)
    assert isinstance(classify_reply(552, "5.2.2 Quota exceeded", "data"), TransientError)
    assert type(classify_reply(554, "5.7.1 Spam", "data")) is PermanentError


# --- dondoc mail check ------------------------------------------------------------------------

IDENTITY = MailIdentity("cchc@snv.sonla.gov.vn", "Sở Nội vụ tỉnh Sơn La", b"k" * 32)


async def test_check_walks_every_step_of_a_working_server(tls: ssl.SSLContext) -> None:
    async with Smtpd(security="starttls", tls=tls, users={"cchc": PASSWORD}) as server:
        findings = await check_smtp(server.config(), identity=IDENTITY, local_hostname="t")
    assert all(f.ok for f in findings), findings
    said = " ".join(f.message_en for f in findings)
    for step in ("DNS", "connected", "STARTTLS", "logged in", "MAIL FROM", "relay"):
        assert step in said
    # The sender tried is the tagged bounce address real mail uses; nothing was delivered.
    assert f"<cchc+b0.{make_tag(IDENTITY.secret, 'b', 0)[3:]}@snv.sonla.gov.vn>" in said
    assert server.received == []


async def _check(config: SmtpConfig, **kwargs: Any) -> tuple[Finding, list[Finding]]:
    findings = await check_smtp(config, identity=IDENTITY, local_hostname="t", **kwargs)
    assert findings and not findings[-1].ok and all(f.ok for f in findings[:-1]), findings
    assert PASSWORD not in repr(findings)
    return findings[-1], findings


async def test_check_names_a_dns_failure() -> None:
    async def nowhere(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    config = SmtpConfig(host="mail.snv.sonla.gov.vn.invalid", password=PASSWORD)
    last, findings = await _check(config, resolver=nowhere)
    assert len(findings) == 1 and "DNS" in last.message_vi and "Không tìm thấy" in last.message_vi


async def test_check_names_a_refused_connection_and_a_time_out() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    last, _ = await _check(Smtpd(port=port).config())
    assert "từ chối kết nối" in last.message_vi
    async with SilentServer() as silent:
        last, _ = await _check(Smtpd(port=silent.port).config(timeout=0.2))
    assert "quá 0.2 giây" in last.message_vi


async def test_check_names_tls_failures(tls: ssl.SSLContext) -> None:
    async with Smtpd(security="starttls", tls=tls) as server:
        last, _ = await _check(server.config(verify_tls=True))
        assert "TLS" in last.message_vi and "Chứng chỉ" in last.message_vi
    async with Smtpd(security="ssl", tls=tls) as server:
        last, _ = await _check(server.config(verify_tls=True))
        assert "TLS" in last.message_vi
    async with Smtpd() as server:  # a plain server, configured as STARTTLS
        last, _ = await _check(server.config(security="starttls"))
        assert "không hỗ trợ STARTTLS" in last.message_vi


async def test_check_names_a_refused_login(tls: ssl.SSLContext) -> None:
    async with Smtpd(security="starttls", tls=tls, users={"cchc": PASSWORD}) as server:
        last, _ = await _check(server.config(password="sai-" + PASSWORD))
    assert "từ chối đăng nhập" in last.message_vi and "«cchc»" in last.message_vi


async def test_check_names_a_refused_sender_and_a_refused_relay(tls: ssl.SSLContext) -> None:
    async with Smtpd(security="starttls", tls=tls, users={"cchc": PASSWORD}) as server:
        server.rcpt_failures[RELAY_TEST_RECIPIENT] = Fail("554 5.7.1 Relay access denied")
        last, _ = await _check(server.config())
        assert "relay" in last.message_vi and "554" in last.message_vi
        server.sender_failures[
            "cchc+b0." + make_tag(IDENTITY.secret, "b", 0)[3:] + "@snv.sonla.gov.vn"
        ] = Fail("553 5.7.1 Sender address rejected: not owned by user cchc")
        last, _ = await _check(server.config())
        assert "địa chỉ gửi" in last.message_vi and "553" in last.message_vi
    assert server.received == []
