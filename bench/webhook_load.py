"""Webhook load benchmark: signed completion calls at a fixed rate against the web service on the
embedded SQLite default, next to an empty endpoint of the same app measured in the same run.

Three processes: the app (the ``create_app`` that ``dondoc web`` serves, plus one empty route,
on uvicorn on 127.0.0.1), this script as the load generator, and a watcher that reads the
database every 10 ms and notes when each answer first shows. The
generator is open loop: call i leaves at t0 + i/rate whether or not earlier calls have answered,
and its latency runs from that planned moment, so a slow server cannot hide behind a slow client.
Each call marks a different person answered. At the end ``dondoc status --format json`` runs
against the same database and must count exactly the answers the webhook accepted.

    .venv/bin/python bench/webhook_load.py [--rate 500] [--seconds 10]

Targets (issue #6): 500 calls/s held, p99 under 100 ms, no error, every answer visible within
1 s of its call.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET_KEY = "bench-" + "0123456789abcdef" * 3
CODE = "bench-webhook"
KEEP_ALIVE = 4.0
CAMPAIGN = f"""
[campaign]
code = "{CODE}"
title = "Điều tra XHH xác định Chỉ số CCHC (đo hiệu năng webhook)"
survey_url = "https://survey.example.vn/s/{{token}}"
opens_at = 2024-12-20T08:00:00+07:00
deadline = 2030-01-10T17:00:00+07:00
groups = "bnv-cap-tinh"
"""


# ---- the database ------------------------------------------------------------------------


async def setup(url: str, work: Path, people: int) -> list[tuple[int, str]]:
    """A campaign of ``people`` in 100 units; their (id, token)."""
    from sqlalchemy import insert, select

    from storage import migrate
    from storage.campaign_file import load_campaign_file
    from storage.campaigns import save_campaign
    from storage.db import create_engine, session_factory
    from storage.models import Group, Respondent, Unit

    engine = create_engine(url)
    await migrate.upgrade(engine)
    path = work / "campaign.toml"
    path.write_text(CAMPAIGN, encoding="utf-8")
    async with session_factory(engine)() as session, session.begin():
        campaign, _ = await save_campaign(session, load_campaign_file(path), actor="bench")
        group = await session.scalar(select(Group.id).where(Group.campaign_id == campaign.id))
        await session.execute(
            insert(Unit),
            [
                {"campaign_id": campaign.id, "code": f"u{i}", "name": f"Đơn vị {i}"}
                | {"name_key": f"don vi {i}", "kind": None}
                for i in range(100)
            ],
        )
        units = (await session.scalars(select(Unit.id))).all()
        await session.execute(
            insert(Respondent),
            [
                {
                    "campaign_id": campaign.id,
                    "full_name": f"Người thứ {i}",
                    "name_key": f"nguoi thu {i}",
                    "unit_id": units[i % len(units)],
                    "group_id": group,
                    "email": f"nguoi{i}@bench.gov.vn",
                    "token": secrets.token_urlsafe(16),
                }
                for i in range(people)
            ],
        )
        rows = (await session.execute(select(Respondent.id, Respondent.token))).all()
    await engine.dispose()
    return [(int(rid), token) for rid, token in rows]


# ---- the app, in its own process -----------------------------------------------------------


async def serve(url: str, port_file: Path) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Mount, Route

    from storage.db import create_engine, session_factory
    from web.app import create_app
    from web.config import WebConfig
    from web.server import WebServer

    engine = create_engine(url)
    server = WebServer("127.0.0.1", 0)
    app = create_app(
        session_factory(engine), WebConfig(secret_key=SECRET_KEY.encode(), port=server.port)
    )

    async def empty(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    both = Starlette(routes=[Route("/bench/empty", empty), Mount("/", app)])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await asyncio.to_thread(port_file.write_text, str(server.port))
    await server.run(both, stop)
    await app.state.answer_writer.aclose()  # the mounted app's lifespan is not run
    await engine.dispose()
    recent = list(app.state.answer_writer.recent)
    await asyncio.to_thread(port_file.with_suffix(".batches").write_text, json.dumps(recent))


# ---- the watcher, in its own process -------------------------------------------------------


def watch(database: Path, out: Path, stop_file: Path) -> None:
    """Note when each answer first shows in the database (monotonic clock, which is system-wide
    on Linux, so the generator's times compare). It reads the "answered" events, written in the
    same transaction as the person's state that ``dondoc status`` counts, so both show at the
    same moment; reading only the rows after the last one seen keeps the watcher cheap."""
    seen: dict[int, float] = {}
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA busy_timeout=10000")
    last = 0
    deadline = time.monotonic() + 120
    while not stop_file.exists() and time.monotonic() < deadline:
        rows = connection.execute(
            "SELECT id, respondent_id FROM events WHERE id > ? AND kind = 'answered'", (last,)
        ).fetchall()
        now = time.monotonic()
        for event_id, rid in rows:
            last = max(last, int(event_id))
            seen.setdefault(int(rid), now)
        time.sleep(0.01)
    connection.close()
    out.write_text(json.dumps(seen))


# ---- the load generator --------------------------------------------------------------------


class Pool:
    """Keep-alive HTTP/1.1 connections to one server; one request at a time per connection.
    A few lines of asyncio instead of a client library, so the client costs little next to
    the server being measured."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.opened = 0

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        reader = writer = None
        while self.idle:
            reader, writer, used = self.idle.pop()
            # uvicorn closes a connection idle for 5 s; like any client, do not reuse those.
            if time.monotonic() - used < KEEP_ALIVE:
                break
            writer.close()
            reader = writer = None
        if reader is None or writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.opened += 1
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        self.idle.append((reader, writer, time.monotonic()))
        return status, body

    async def close(self) -> None:
        for _reader, writer, _used in self.idle:
            writer.close()
        self.idle = []


@dataclass
class Run:
    planned: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    started: dict[int, float] = field(default_factory=dict)
    bodies: dict[str, int] = field(default_factory=dict)
    by_second: dict[int, list[float]] = field(default_factory=dict)

    def worst_by_second(self) -> str:
        return " ".join(f"{max(v) * 1000:.0f}" for _k, v in sorted(self.by_second.items()))

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def paced(pool: Pool, rate: float, count: int, build: Callable[[int], bytes]) -> Run:
    """Open loop: call i leaves at t0 + i/rate; latency from that planned moment."""
    run = Run(planned=count)
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int, planned: float) -> None:
        run.started[i] = planned
        try:
            status, body = await asyncio.wait_for(pool.request(build(i)), 30)
        except Exception as exc:  # counted and shown, the run goes on
            run.errors.append(f"{type(exc).__name__}: {exc}")
            return
        run.latencies.append(time.monotonic() - planned)
        run.by_second.setdefault(int(i / rate), []).append(time.monotonic() - planned)
        run.statuses[status] = run.statuses.get(status, 0) + 1
        answer = json.loads(body).get("status", "?") if body else "?"
        run.bodies[answer] = run.bodies.get(answer, 0) + 1

    t0 = time.monotonic() + 0.05
    for i in range(count):
        planned = t0 + i / rate
        delay = planned - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, planned)))
    await asyncio.gather(*tasks)
    run.seconds = time.monotonic() - t0
    return run


async def flat_out(pool: Pool, seconds: float, raw: bytes, concurrency: int = 32) -> float:
    """Closed loop, as fast as the server answers: calls a second."""
    done = 0
    end = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < end:
            await pool.request(raw)
            done += 1

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.monotonic() - start)


def empty_request() -> bytes:
    return b"GET /bench/empty HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def hook_request(secret: str, token: str) -> bytes:
    body = json.dumps({"token": token}).encode()
    stamp = str(int(time.time()))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    head = (
        f"POST /hooks/{CODE}/answered HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-Dondoc-Timestamp: {stamp}\r\nX-Dondoc-Signature: sha256={mac}\r\n\r\n"
    )
    return head.encode() + body


def line(name: str, run: Run, rate: float) -> str:
    ok = run.statuses.get(200, 0)
    errors = len(run.errors) + sum(n for s, n in run.statuses.items() if s != 200)
    return (
        f"  {name:<18} {run.planned:>6} {rate:>6.0f}/s {run.rate:>8.1f}/s {ok:>6} "
        f"{errors:>6} {run.percentile(50):>8.1f} {run.percentile(99):>8.1f} "
        f"{max(run.latencies, default=0) * 1000:>8.1f}"
    )


@dataclass
class Measured:
    empty: Run
    ceiling: float
    hooks: Run
    connections: int


async def load(
    port: int, rate: float, targets: list[tuple[int, str]], spare: list[tuple[int, str]]
) -> Measured:
    from web.hooks import webhook_secret

    pool = Pool(port)
    secret = webhook_secret(SECRET_KEY.encode(), CODE)
    for _ in range(200):  # warm up connections and the app's code paths
        await pool.request(empty_request())
    # The webhook's first calls compile its SQL statements: spare people, not measured.
    await asyncio.gather(*(pool.request(hook_request(secret, t)) for _r, t in spare))
    count = len(targets)
    empty = await paced(pool, rate, count, lambda i: empty_request())
    ceiling = await flat_out(pool, 3.0, empty_request())
    hooks = await paced(pool, rate, count, lambda i: hook_request(secret, targets[i][1]))
    await pool.close()
    return Measured(empty, ceiling, hooks, pool.opened)


def wait_for_port(port_file: Path, server: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    return int(port_file.read_text())


def generate(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="dondoc-webhook-bench-"))
    database = work / "dondoc.db"
    url = f"sqlite:///{database}"
    count = int(args.rate * args.seconds)
    people = asyncio.run(setup(url, work, count + 100))
    targets = people[:count]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONDOC_")}
    env |= {"DONDOC_DATABASE_URL": url, "DONDOC_SECRET_KEY": SECRET_KEY}
    me = [sys.executable, str(Path(__file__).resolve())]
    port_file, seen_file, stop_file = work / "port", work / "seen.json", work / "stop"
    server = subprocess.Popen([*me, "--serve", url, str(port_file)], env=env)
    watcher = None
    try:
        port = wait_for_port(port_file, server)
        watcher = subprocess.Popen([*me, "--watch", str(database), str(seen_file), str(stop_file)])
        measured = asyncio.run(load(port, args.rate, targets, people[count:]))
        time.sleep(1.5)  # the watcher's last reads
        stop_file.touch()
        watcher.wait(timeout=30)
        seen = {int(k): v for k, v in json.loads(seen_file.read_text()).items()}
        status = subprocess.run(
            [str(Path(sys.executable).parent / "dondoc"), "status", CODE, "--format", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        answered = json.loads(status.stdout)["overall"]["answered"]
    finally:
        if watcher is not None and watcher.poll() is None:
            stop_file.touch()
            watcher.wait(timeout=30)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    hooks, empty = measured.hooks, measured.empty
    lags = sorted(
        seen[rid] - hooks.started[i] for i, (rid, _token) in enumerate(targets) if rid in seen
    )
    missing = count - len(lags)
    busy = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"webhook load, SQLite, {count:,} calls per phase; {os.cpu_count()} CPUs, "
        f"load average {busy} (other work on the machine)"
    )
    print(
        f"  {'endpoint':<18} {'calls':>6} {'target':>8} {'achieved':>10} {'200':>6} "
        f"{'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    print(line("empty GET", empty, args.rate))
    print(line("signed webhook", hooks, args.rate))
    print(f"  empty endpoint flat out (32 connections, 3 s): {measured.ceiling:,.0f} calls/s")
    print(f"  webhook answers: {hooks.bodies}; connections opened: {measured.connections}")
    if lags:
        print(
            f"  visible in the database: {len(lags):,}/{count:,}; lag from the call: "
            f"p50 {lags[len(lags) // 2] * 1000:.0f} ms, "
            f"p99 {lags[int(0.99 * len(lags))] * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms; "
            f"`dondoc status` counts {answered:,} answered "
            f"(with the {len(people) - count} warm-up calls)"
        )
    print(f"  webhook worst latency in each second of the run (ms): {hooks.worst_by_second()}")
    batches = json.loads((work / "port.batches").read_text())[-count:]
    if batches:
        sizes = [size for size, _s in batches]
        times = sorted(seconds for _n, seconds in batches)
        print(
            f"  group commit: {len(batches):,} transactions, {sum(sizes) / len(sizes):.1f} calls "
            f"each on average (max {max(sizes)}); transaction "
            f"p50 {times[len(times) // 2] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms"
        )
    for error in hooks.errors[:5]:
        print(f"  error: {error}")
    hook_errors = len(hooks.errors) + sum(n for s, n in hooks.statuses.items() if s != 200)
    ok = (
        hooks.rate >= args.rate * 0.98
        and hooks.percentile(99) < 100
        and hook_errors == 0
        and missing == 0
        and bool(lags)
        and lags[-1] < 1.0
        and hooks.bodies.get("answered", 0) == count
        and answered == count + len(people) - count  # the spare people answered in warm-up
    )
    print("  targets (500/s, p99 < 100 ms, no error, visible < 1 s):", "met" if ok else "NOT met")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT_FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--watch", nargs=3, metavar=("DB", "OUT", "STOP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        if profile := os.environ.get("BENCH_PROFILE"):  # where the app's time goes
            import cProfile

            cProfile.runctx(
                "asyncio.run(serve(url, port_file))",
                globals(),
                {"url": args.serve[0], "port_file": Path(args.serve[1])},
                profile,
            )
            return 0
        asyncio.run(serve(args.serve[0], Path(args.serve[1])))
        return 0
    if args.watch:
        watch(Path(args.watch[0]), Path(args.watch[1]), Path(args.watch[2]))
        return 0
    return generate(args)


if __name__ == "__main__":
    sys.exit(main())
