"""Invitation wave benchmark: 50,000 personalised invitations to an SMTP sink on loopback.

Three figures from the same run, against the same sink (aiosmtpd, in its own process):
- ceiling: a minimal client that pipelines raw SMTP over a few sockets; the sink's own limit;
- naive: stdlib smtplib, one connection per message, an EmailMessage built per message;
- dondoc: the real path: plan the invitations, then the dispatcher claims them from SQLite,
  renders the Jinja2 templates, composes, sends through the aiosmtplib pool and records each
  outcome in the database.
The sink counts messages and Message-IDs, so duplicates would show.

    .venv/bin/python bench/send_wave.py [--people 50000] [--connections 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CAMPAIGN = """
[campaign]
code = "bench-wave"
title = "Điều tra XHH xác định Chỉ số CCHC năm 2024"
survey_url = "https://survey.example.vn/s/{token}"
opens_at = 2024-12-20T08:00:00+07:00
deadline = 2025-01-10T17:00:00+07:00
groups = "bnv-cap-tinh"
"""


# ---- the sink ------------------------------------------------------------------------------


def run_sink(port_file: Path) -> None:
    """An aiosmtpd server that counts messages and distinct Message-IDs until stdin closes."""
    from aiosmtpd.smtp import SMTP

    class Counter:
        def __init__(self) -> None:
            self.messages = 0
            self.ids: set[bytes] = set()

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages += 1
            content: bytes = envelope.content
            start = content.find(b"Message-ID:")
            if start < 0:
                start = content.find(b"Message-Id:")
            if start >= 0:
                self.ids.add(content[start : content.find(b"\r\n", start)])
            return "250 2.0.0 Ok: queued"

    async def serve() -> None:
        counter = Counter()
        loop = asyncio.get_running_loop()
        # aiosmtpd's Controller cannot take port 0, so the sink runs its own asyncio server.
        server = await loop.create_server(
            lambda: SMTP(counter, data_size_limit=10_000_000), "127.0.0.1", 0
        )
        port = str(server.sockets[0].getsockname()[1])
        await asyncio.to_thread(port_file.write_text, port)
        await loop.run_in_executor(None, sys.stdin.read)
        server.close()
        await server.wait_closed()
        print(json.dumps({"messages": counter.messages, "distinct_ids": len(counter.ids)}))

    asyncio.run(serve())


class Sink:
    def __init__(self, work: Path) -> None:
        port_file = work / "sink.port"
        port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--sink", str(port_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise SystemExit("the SMTP sink did not start")
            time.sleep(0.05)
        self.port = int(port_file.read_text())

    def close(self) -> dict[str, int]:
        out, _ = self.proc.communicate(b"", timeout=60)
        result: dict[str, int] = json.loads(out)
        return result


# ---- references ----------------------------------------------------------------------------


def sample_message(i: int) -> bytes:
    """About the size of a dondoc invitation (8 KB), in lines of 76 characters as MIME has."""
    line = b"S2luaCBn4butaSDEkeG7k25nIGNow60gTmd1eeG7hW4gVsSDbiBIw7luZywgbeG7nWkgxJHhu5NuZyBjaMOtIH"
    body = b"\r\n".join([line[:76]] * 105)
    return (
        f"From: cchc@snv.example.vn\r\nTo: p{i}@example.vn\r\nSubject: test\r\n"
        f"Message-ID: <ceiling.{i}@bench>\r\n\r\n".encode()
        + body
        + b"\r\n"
    )


async def ceiling(port: int, count: int, sockets: int) -> float:
    """Pipelined raw SMTP (RFC 2920) over ``sockets`` connections; seconds for ``count``."""

    async def one(share: range) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        writer.write(b"EHLO bench\r\n")
        while not (await reader.readline()).startswith(b"250 "):
            pass
        for i in share:
            writer.write(b"MAIL FROM:<b@bench>\r\nRCPT TO:<p@example.vn>\r\nDATA\r\n")
            replies = [await reader.readline() for _ in range(3)]
            writer.write(sample_message(i) + b".\r\n")
            replies.append(await reader.readline())
            # A refused message must not count as throughput.
            if [r[:3] for r in replies] != [b"250", b"250", b"354", b"250"]:
                raise SystemExit(f"the sink refused a message: {replies!r}")
        writer.write(b"QUIT\r\n")
        await writer.drain()
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(one(range(k, count, sockets)) for k in range(sockets)))
    return time.perf_counter() - start


def naive(port: int, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        msg = EmailMessage()
        msg["From"] = "Sở Nội vụ <cchc@snv.example.vn>"
        msg["To"] = f"Nguyễn Văn Hùng <p{i}@example.vn>"
        msg["Subject"] = "Mời tham gia khảo sát Chỉ số CCHC"
        msg.set_content("Kính gửi đồng chí Nguyễn Văn Hùng, " * 40)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.send_message(msg)
    return time.perf_counter() - start


# ---- the real path -------------------------------------------------------------------------


async def prepare(work: Path, people: int, *, contacts: bool = False) -> str:
    from dondoc.sample_roster import national_layout, write_sample_roster
    from storage import migrate
    from storage.campaign_file import load_campaign_file
    from storage.campaigns import save_campaign
    from storage.db import create_engine, session_factory
    from storage.roster import import_roster

    roster = await asyncio.to_thread(
        write_sample_roster,
        work / "roster.xlsx",
        national_layout(units=max(people // 17, 10), people=people),
        seed=2024,
        contacts=contacts,
    )
    url = f"sqlite:///{work / 'wave.db'}"
    engine = create_engine(url)
    await migrate.upgrade(engine)
    (work / "c.toml").write_text(CAMPAIGN, encoding="utf-8")
    async with session_factory(engine)() as session, session.begin():
        campaign, _ = await save_campaign(session, load_campaign_file(work / "c.toml"), actor="b")
        await import_roster(session, campaign, roster.path, actor="bench")
    await engine.dispose()
    return url


async def wave(url: str, port: int, connections: int) -> dict[str, Any]:
    from mail.channel import EmailChannel
    from mail.config import MailIdentity, SmtpConfig
    from mail.smtp import SmtpSender
    from scheduler.dispatch import Dispatcher
    from scheduler.invitations import plan_invitations
    from storage.campaigns import get_campaign
    from storage.db import create_engine, session_factory
    from storage.models import utcnow

    engine = create_engine(url)
    sessions = session_factory(engine)
    config = SmtpConfig(
        host="127.0.0.1",
        port=port,
        security="none",
        per_minute=10_000_000,
        connections=connections,
    )
    identity = MailIdentity(
        from_address="cchc@snv.example.vn", from_name="Sở Nội vụ", secret=b"b" * 32
    )
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    async with sessions() as session, session.begin():
        campaign = await get_campaign(session, "bench-wave")
        plan = await plan_invitations(session, campaign, now=utcnow())
    planned = time.perf_counter() - start
    async with SmtpSender(config) as sender:
        channel = EmailChannel(sender, identity)
        dispatcher = Dispatcher(
            sessions, {"email": channel}, clock=utcnow, batch=500, concurrency=connections * 2
        )
        stats = await dispatcher.run_once()
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    await engine.dispose()
    return {
        "queued": plan.queued,
        "plan_seconds": planned,
        "seconds": elapsed,
        "sent": stats.sent,
        "failed": stats.failed + stats.retried + stats.uncertain,
        "cpu_seconds": (usage.ru_utime + usage.ru_stime)
        - (usage_before.ru_utime + usage_before.ru_stime),
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def child(*arguments: str) -> str:
    return subprocess.run(
        [sys.executable, __file__, *arguments], check=True, capture_output=True, text=True
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--naive", type=int, default=2_000, help="messages for the naive client")
    parser.add_argument("--sink", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--contacts", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--wave", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink)
        return
    if args.prepare:
        print(asyncio.run(prepare(args.prepare, args.people, contacts=args.contacts)))
        return
    if args.wave:
        url, port = args.wave
        print(json.dumps(asyncio.run(wave(url, int(port), args.connections))))
        return

    with tempfile.TemporaryDirectory(prefix="dondoc-wave-") as tmp:
        work = Path(tmp)
        # Each heavy step in its own process, so the wave's peak RSS is its own.
        url = child("--prepare", str(work), "--people", str(args.people)).strip()
        print(f"campaign: {args.people:,} people with an email address (SQLite, WAL)")

        sink = Sink(work)
        ceiling_s = asyncio.run(ceiling(sink.port, args.people, args.connections))
        ceiling_counts = sink.close()
        sink = Sink(work)
        naive_s = naive(sink.port, args.naive)
        sink.close()
        sink = Sink(work)
        result = json.loads(
            child("--wave", url, str(sink.port), "--connections", str(args.connections))
        )
        received = sink.close()

    ceiling_rate = args.people / ceiling_s
    rate = result["sent"] / result["seconds"]
    print(
        f"ceiling  (pipelined raw socket, {args.connections} conns): {ceiling_rate:8.0f} msg/s"
        f"  ({ceiling_counts['messages']:,} received)"
    )
    print(f"naive    (smtplib, a connection per message):      {args.naive / naive_s:8.0f} msg/s")
    print(
        f"dondoc   (plan + dispatcher + SQLite + templates):  {rate:8.0f} msg/s"
        f"  = {rate / ceiling_rate:.2f} of the ceiling"
    )
    print(
        f"  sent {result['sent']:,}, not sent {result['failed']:,}; sink received "
        f"{received['messages']:,} with {received['distinct_ids']:,} distinct Message-IDs"
    )
    print(
        f"  wall {result['seconds']:.1f} s (planning {result['plan_seconds']:.1f} s), "
        f"CPU {result['cpu_seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
