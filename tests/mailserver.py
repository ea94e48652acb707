"""Private Dovecot (IMAP + LMTP + Sieve) and Postfix instances for the IMAP tests.

Everything lives in one directory under /tmp (Postfix's queue must be reachable by the postfix
user, and pytest's tmp_path parents are 0700), both servers listen on free loopback ports, and
neither touches the system's own configuration or services. Postfix hands mail for the test
domain to Dovecot over LMTP, so the messages the tests read are genuine: an unknown user comes
back as an RFC 3464 DSN 5.1.1, a mailbox over quota as 5.2.2, a Sieve vacation rule answers with
an RFC 3834 auto-reply, and a domain whose server refuses connections gives a "delayed" DSN and
then a "failed" one.

The servers start once per test session, whichever module asks first (they are kept in the
pytest config's stash), and are stopped by the config's cleanup, which pytest runs at the end of
the session whatever happened: failures, errors, Ctrl-C, a per-test time-out.

``real_traffic`` sends the scenario once per session through Postfix and files what comes back
in the organiser's folder ``Corpus``; each test copies it into a folder of its own.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from mail.config import ImapConfig
from mail.signing import make_tag, tagged_address
from storage.models import utcnow

DOMAIN = "example.test"
# Mail to this domain goes to a loopback port nobody listens on: deferred, then returned.
UNREACHABLE_DOMAIN = "unreachable.test"
SURVEY_DOMAIN = "survey.example.test"
# Distinctive, so the tests can look for it in logs and error messages.
PASSWORD = "Kiem-tra-S3cret-9xq"
SECRET = b"test-secret-for-signed-tags-0123456789"
ORGANISER = "dondoc"
VACATION_USER = "vacation"
FULL_USER = "full"
HUMAN_USER = "alice"
USERS = (ORGANISER, VACATION_USER, FULL_USER, HUMAN_USER)
# One byte of storage: any message is over quota, so Dovecot answers LMTP with 552 5.2.2.
FULL_QUOTA = "*:storage=1B"
VACATION_SUBJECT = "Trả lời tự động: Vắng mặt"
VACATION_SIEVE = f"""require ["vacation"];
vacation :days 1 :subject "{VACATION_SUBJECT}"
  "Tôi đang đi công tác đến hết tuần, sẽ trả lời khi về cơ quan.";
"""
# Postfix retries and gives up within seconds instead of days, so the delayed and failed DSNs of
# the unreachable domain arrive while the session waits for them.
POSTFIX_TIMERS = {
    "queue_run_delay": "1s",
    "minimal_backoff_time": "1s",
    "maximal_backoff_time": "2s",
    "delay_warning_time": "1s",
    "maximal_queue_lifetime": "6s",
    "bounce_queue_lifetime": "6s",
}
MAIL_UID = 8  # Debian's "mail" user owns the test mailboxes; Dovecot refuses root

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
POSTFIX = "/usr/sbin/postfix"
NEEDED = (
    (DOVECOT, "dovecot-imapd"),
    (DOVEADM, "dovecot-core"),
    ("/usr/lib/dovecot/imap", "dovecot-imapd"),
    ("/usr/lib/dovecot/lmtp", "dovecot-lmtpd"),
    ("/usr/lib/dovecot/modules/lib90_sieve_plugin.so", "dovecot-sieve"),
    (POSTFIX, "postfix"),
    ("/usr/lib/postfix/sbin/master", "postfix"),
)


def missing_reason() -> str | None:
    """Why the real mail servers cannot run here, or None when they can."""
    for path, package in NEEDED:
        if not os.path.exists(path):
            return (
                f"{path} missing: install the Debian package {package} "
                "(scripts/test does, through scripts/mailservers.sh)"
            )
    if os.geteuid() != 0:
        return "Postfix must start as root, and the tests run as an ordinary user"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """A short command with its output detached: inherited pipes make pytest hang."""
    return subprocess.run(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


@dataclass
class MailServers:
    root: Path
    imap_port: int
    lmtp_port: int
    smtp_port: int
    dead_port: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def imap_config(self, mailbox: str = "INBOX", **changes: object) -> ImapConfig:
        values: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.imap_port,
            "security": "none",
            "username": ORGANISER,
            "password": PASSWORD,
            "mailbox": mailbox,
            "poll_seconds": 0.2,
            "timeout": 10.0,
        }
        values.update(changes)
        return ImapConfig(**values)  # type: ignore[arg-type]

    def send(self, envelope_from: str, recipients: list[str], message: bytes) -> None:
        """Hand one message to Postfix over SMTP, as the organiser's mail server would get it."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10) as smtp:
            smtp.sendmail(envelope_from, recipients, message)

    @contextlib.contextmanager
    def imap(self, user: str = ORGANISER) -> Iterator[imaplib.IMAP4]:
        """A test-side IMAP session (stdlib, not the code under test), always logged out."""
        client = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=10)
        try:
            client.login(user, PASSWORD)
            yield client
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()

    def count(self, folder: str = "INBOX", user: str = ORGANISER) -> int:
        with self.imap(user) as client:
            typ, data = client.select(_quote(folder), readonly=True)
            return int(data[0] or 0) if typ == "OK" else 0

    def wait_for_messages(self, count: int, *, folder: str = "INBOX", timeout: float = 60) -> int:
        """Bounded polling until ``folder`` holds ``count`` messages: real delivery takes time."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.count(folder)
            if seen >= count or time.monotonic() > deadline:
                return seen
            time.sleep(0.2)

    def copy_folder(self, source: str, target: str) -> None:
        with self.imap() as client:
            client.create(_quote(target))
            client.select(_quote(source), readonly=True)
            typ, _ = client.uid("COPY", "1:*", _quote(target))
            assert typ == "OK"

    def append(self, folder: str, raw: bytes) -> None:
        with self.imap() as client:
            typ, _ = client.append(_quote(folder), "", None, raw)
            assert typ == "OK"

    def flags(self, folder: str) -> dict[int, set[str]]:
        """UID -> flags of every message in ``folder``."""
        with self.imap() as client:
            client.select(_quote(folder), readonly=True)
            typ, data = client.uid("FETCH", "1:*", "(FLAGS)")
        out: dict[int, set[str]] = {}
        for item in data if typ == "OK" else []:
            text = item.decode() if isinstance(item, bytes) else ""
            match = re.search(r"UID (\d+) FLAGS \(([^)]*)\)", text) or re.search(
                r"FLAGS \(([^)]*)\) UID (\d+)", text
            )
            if match is None:
                continue
            if match.re.pattern.startswith("UID"):
                out[int(match[1])] = set(match[2].split())
            else:
                out[int(match[2])] = set(match[1].split())
        return out

    def remove_flags(self, folder: str, uid: int, flags: str) -> None:
        with self.imap() as client:
            client.select(_quote(folder))
            typ, _ = client.uid("STORE", str(uid), "-FLAGS.SILENT", f"({flags})")
            assert typ == "OK"

    def doveadm(self, *args: str) -> None:
        result = _run([DOVEADM, "-c", str(self.root / "dovecot.conf"), *args])
        assert result.returncode == 0, f"doveadm {args} failed; {self.logs()}"

    def set_uidvalidity(self, folder: str, uidvalidity: int) -> None:
        """What a server restore or a recreated mailbox does to a watcher."""
        self.doveadm(
            "mailbox", "update", "-u", ORGANISER, "--uid-validity", str(uidvalidity), folder
        )

    def kick(self) -> None:
        """Drop the organiser's IMAP connections, as a server restart would."""
        self.doveadm("kick", ORGANISER)

    def logs(self) -> str:
        parts = []
        for name in ("dovecot.log", "postfix.log"):
            path = self.root / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _run([POSTFIX, "-c", str(self.root / "postfix"), "stop"])
        for process in reversed(self.processes):
            # Each master stops its own children; a SIGTERM to the whole group would have them
            # die mid-sentence and the master wait for them.
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            # Each server runs in its own session: the group holds whatever is left of it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        # Postfix's master runs in a session of its own; its pid file names it.
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.root / "postfix-queue" / "pid" / "master.pid").read_text().strip())
            os.killpg(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


def _quote(folder: str) -> str:
    return f'"{folder}"'


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def _dovecot_conf(servers: MailServers) -> str:
    root = servers.root
    return f"""
base_dir = {root}/dovecot-run
state_dir = {root}/dovecot-state
log_path = {root}/dovecot.log
instance_name = dondoc-test-{servers.imap_port}
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
# The wrong-password tests would otherwise slow every later login from 127.0.0.1: Dovecot waits
# after a failure (see "nodelay" in the users file) and penalises the address through anvil.
auth_failure_delay = 0
first_valid_uid = {MAIL_UID}
# IDLE learns of new mail through inotify; where a busy machine has no inotify instance left,
# Dovecot falls back to looking every mailbox_idle_check_interval (30 s by default).
mailbox_idle_check_interval = 1 secs
mail_location = maildir:~/Maildir
mail_plugins = quota
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
quota_full_tempfail = no
submission_host = 127.0.0.1:{servers.smtp_port}
postmaster_address = postmaster@{DOMAIN}
hostname = mail.{DOMAIN}

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Ln {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%Ln {root}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {servers.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {servers.lmtp_port}
  }}
}}
protocol lmtp {{
  mail_plugins = $mail_plugins sieve
}}
plugin {{
  quota = maildir:User quota
  sieve = file:~/sieve;active=~/.dovecot.sieve
  sieve_vacation_dont_check_recipient = yes
}}
"""


def _postfix_main(servers: MailServers) -> str:
    root = servers.root
    timers = "\n".join(f"{key} = {value}" for key, value in POSTFIX_TIMERS.items())
    return f"""
compatibility_level = 3.6
queue_directory = {root}/postfix-queue
data_directory = {root}/postfix-data
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
myhostname = mail.{DOMAIN}
mydomain = {DOMAIN}
myorigin = {DOMAIN}
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
# Unknown users must be accepted and bounced after LMTP refuses them: that is what makes a DSN.
smtpd_reject_unlisted_recipient = no
virtual_mailbox_domains = {DOMAIN}
virtual_transport = lmtp:inet:127.0.0.1:{servers.lmtp_port}
recipient_delimiter = +
transport_maps = texthash:{root}/postfix/transport
smtp_dns_support_level = disabled
biff = no
{timers}
"""


POSTFIX_MASTER = """
{smtp_port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def _wait_for_port(
    servers: MailServers, port: int, process: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open within {timeout}s\n{servers.logs()}")


def _start_dovecot(servers: MailServers) -> None:
    root = servers.root
    lines = []
    for user in USERS:
        home = root / "home" / user
        home.mkdir(parents=True)
        extra = "nodelay=y" + (f" userdb_quota_rule={FULL_QUOTA}" if user == FULL_USER else "")
        lines.append(f"{user}:{{PLAIN}}{PASSWORD}:{MAIL_UID}:{MAIL_UID}::{home}::{extra}")
        if user == VACATION_USER:
            _write(home / "sieve" / "vacation.sieve", VACATION_SIEVE)
            (home / ".dovecot.sieve").symlink_to(home / "sieve" / "vacation.sieve")
        for path in [home, *home.rglob("*")]:
            os.lchown(path, MAIL_UID, MAIL_UID)
    _write(root / "users", "\n".join(lines) + "\n", 0o640)
    shutil.chown(root / "users", "root", "dovecot")  # read by Dovecot's unprivileged auth
    _write(root / "dovecot.conf", _dovecot_conf(servers))
    with open(root / "dovecot.out", "wb") as out:
        process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    servers.processes.append(process)
    _wait_for_port(servers, servers.imap_port, process, 20)
    _wait_for_port(servers, servers.lmtp_port, process, 20)
    # The readiness probe logs in and out: a session dropped without LOGOUT keeps Dovecot's
    # shutdown waiting for seconds.
    with servers.imap():
        pass


def _start_postfix(servers: MailServers) -> None:
    root = servers.root
    conf = root / "postfix"
    _write(conf / "main.cf", _postfix_main(servers))
    _write(conf / "master.cf", POSTFIX_MASTER.format(smtp_port=servers.smtp_port))
    _write(conf / "transport", f"{UNREACHABLE_DOMAIN} smtp:[127.0.0.1]:{servers.dead_port}\n")
    # Postfix sleeps when main.cf changed in the last seconds; as far as it knows, it did not.
    past = time.time() - 3600
    for name in ("main.cf", "master.cf", "transport"):
        os.utime(conf / name, (past, past))
    (root / "postfix-queue").mkdir(mode=0o755)
    (root / "postfix-data").mkdir(mode=0o755)
    shutil.chown(root / "postfix-data", "postfix", "postfix")
    # Creates the queue directories with their owners, as the package's postinst would.
    _run([POSTFIX, "-c", str(conf), "set-permissions"])
    with open(root / "postfix.out", "wb") as out:
        process = subprocess.Popen(
            [POSTFIX, "-c", str(conf), "start-fg"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    servers.processes.append(process)
    _wait_for_port(servers, servers.smtp_port, process, 30)


@contextlib.contextmanager
def running_mail_servers() -> Iterator[MailServers]:
    """Start both servers in a fresh directory under /tmp; stop them and remove it on exit."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    # Not tmp_path: its parents are 0700, and Postfix's queue must be reachable by "postfix".
    root = Path(tempfile.mkdtemp(prefix="dondoc-mail-", dir="/tmp"))
    root.chmod(0o755)
    servers = MailServers(
        root=root,
        imap_port=free_port(),
        lmtp_port=free_port(),
        smtp_port=free_port(),
        dead_port=free_port(),
    )
    try:
        _start_dovecot(servers)
        _start_postfix(servers)
        yield servers
    finally:
        servers.stop()


_SERVERS = pytest.StashKey["MailServers | str"]()


def _stop_on_sigterm(pytestconfig: pytest.Config) -> None:
    """A SIGTERM (a CI time limit, ``timeout``) would end Python without any cleanup and leave
    the servers running; as an interruption, pytest unwinds and the cleanup stops them."""
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt("SIGTERM")

    def restore() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, interrupt)
    pytestconfig.add_cleanup(restore)


@pytest.fixture(scope="session")
def mail_servers(pytestconfig: pytest.Config) -> MailServers:
    """The session's servers: started by the first test that needs them, stopped at the end."""
    started = pytestconfig.stash.get(_SERVERS, None)
    if started is None:
        stack = contextlib.ExitStack()
        try:
            started = stack.enter_context(running_mail_servers())
        except pytest.skip.Exception as skip:
            started = str(skip.msg)
        except BaseException:
            stack.close()
            raise
        # Config cleanups run at the very end of the session, also after failures.
        pytestconfig.add_cleanup(stack.close)
        _stop_on_sigterm(pytestconfig)
        pytestconfig.stash[_SERVERS] = started
    if isinstance(started, str):
        pytest.skip(started)
    return started


# --- the scenario ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """What the scenario sent, and who each message is about (respondent ids in the tags)."""

    servers: MailServers
    folder: str
    count: int
    unknown_id: int = 9001
    full_id: int = 9002
    vacation_id: int = 9003
    unreachable_id: int = 9004
    replier_id: int = 9005
    completed_id: int = 9006
    completion_token: str = "Hq7cT2pLm9VxR4sKw8Yb3N"
    reply_delivery_id: int = 77
    reply_message_id: str = f"<dondoc.77.0a1b2c3d4e5f6a7b@{DOMAIN}>"

    @property
    def emails(self) -> dict[int, str]:
        return {
            self.unknown_id: f"ghost@{DOMAIN}",
            self.full_id: f"{FULL_USER}@{DOMAIN}",
            self.vacation_id: f"{VACATION_USER}@{DOMAIN}",
            self.unreachable_id: f"someone@{UNREACHABLE_DOMAIN}",
            self.replier_id: f"{HUMAN_USER}@{DOMAIN}",
            self.completed_id: f"done@{DOMAIN}",
        }


def organiser_address() -> str:
    return f"{ORGANISER}@{DOMAIN}"


def invitation(respondent_id: int, to: str, *, auto_submitted: bool = True) -> tuple[str, bytes]:
    """(envelope sender, bytes) of a message shaped like mail.compose's: signed tags in the
    envelope sender and Reply-To, a dondoc Message-ID."""
    message = EmailMessage()
    message["From"] = f"Sở Nội vụ tỉnh Thử nghiệm <{organiser_address()}>"
    message["To"] = to
    message["Subject"] = "Mời đồng chí trả lời phiếu khảo sát CCHC năm 2024"
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = f"<dondoc.{respondent_id}.{respondent_id:016x}@{DOMAIN}>"
    message["Reply-To"] = tagged_address(organiser_address(), make_tag(SECRET, "r", respondent_id))
    if auto_submitted:
        message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        "Kính gửi đồng chí,\n\nĐề nghị đồng chí trả lời phiếu khảo sát trước ngày 10/01/2025.\n"
        + "Trân trọng.\n" * 20
    )
    envelope = tagged_address(organiser_address(), make_tag(SECRET, "b", respondent_id))
    return envelope, message.as_bytes()


def human_reply(traffic: Traffic) -> bytes:
    message = EmailMessage()
    message["From"] = f"Nguyễn Thị Alice <{HUMAN_USER}@{DOMAIN}>"
    message["To"] = tagged_address(organiser_address(), make_tag(SECRET, "r", traffic.replier_id))
    message["Subject"] = "Re: Mời đồng chí trả lời phiếu khảo sát CCHC năm 2024"
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = f"<reply-1@{DOMAIN}>"
    message["In-Reply-To"] = traffic.reply_message_id
    message["References"] = traffic.reply_message_id
    message.set_content(
        "Tôi đã chuyển công tác sang Sở Tư pháp từ tháng 11, đề nghị cập nhật danh sách.\n\n"
        "Vào Thứ Hai, 6/1/2025 lúc 08:00, Sở Nội vụ đã viết:\n"
        "> Kính gửi đồng chí,\n> Đề nghị đồng chí trả lời phiếu khảo sát.\n"
    )
    return message.as_bytes()


def completion_notice(traffic: Traffic) -> bytes:
    message = EmailMessage()
    message["From"] = f"Hệ thống khảo sát <noreply@{SURVEY_DOMAIN}>"
    message["To"] = organiser_address()
    message["Subject"] = "Phiếu khảo sát đã hoàn thành"
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = f"<done-1@{SURVEY_DOMAIN}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(f"Một phiếu vừa được nộp.\nMã phiếu: {traffic.completion_token}\n")
    return message.as_bytes()


def unrelated_mail() -> bytes:
    message = EmailMessage()
    message["From"] = f"Bản tin <{HUMAN_USER}@{DOMAIN}>"
    message["To"] = organiser_address()
    message["Subject"] = "Lịch họp giao ban tuần"
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = f"<meeting-1@{DOMAIN}>"
    message.set_content("Kính mời các đồng chí dự họp giao ban sáng thứ Hai.")
    return message.as_bytes()


def _send_scenario(servers: MailServers, traffic: Traffic) -> int:
    emails = traffic.emails
    for rid in (traffic.unknown_id, traffic.full_id, traffic.unreachable_id):
        envelope, raw = invitation(rid, emails[rid])
        servers.send(envelope, [emails[rid]], raw)
    # Sieve's vacation, like every RFC 3834 responder, stays silent to a message marked
    # Auto-Submitted; this one is sent the way a person's own mail would be.
    envelope, raw = invitation(
        traffic.vacation_id, emails[traffic.vacation_id], auto_submitted=False
    )
    servers.send(envelope, [emails[traffic.vacation_id]], raw)
    servers.send(emails[traffic.replier_id], [organiser_address()], human_reply(traffic))
    servers.send(f"noreply@{SURVEY_DOMAIN}", [organiser_address()], completion_notice(traffic))
    servers.send(f"{HUMAN_USER}@{DOMAIN}", [organiser_address()], unrelated_mail())
    # 5.1.1, 5.2.2, vacation, delayed + failed for the unreachable domain, reply, completion,
    # the unrelated mail.
    return 8


@pytest.fixture(scope="session")
def real_traffic(mail_servers: MailServers) -> Traffic:
    """The scenario, sent once per session; what came back is in the organiser's ``Corpus``."""
    traffic = Traffic(servers=mail_servers, folder="Corpus", count=8)
    if mail_servers.count(traffic.folder) >= traffic.count:
        return traffic
    expected = _send_scenario(mail_servers, traffic)
    seen = mail_servers.wait_for_messages(expected, timeout=60)
    assert seen == expected, f"{seen} of {expected} messages arrived\n{mail_servers.logs()}"
    with mail_servers.imap() as client:
        client.create(_quote(traffic.folder))
        client.select("INBOX")
        typ, _ = client.uid("MOVE", "1:*", _quote(traffic.folder))
        assert typ == "OK"
    return traffic
