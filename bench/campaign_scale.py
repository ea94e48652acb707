"""Scheduler benchmark on a national-scale campaign (50,000 people, 3,000 units, SQLite).

Three figures, each from the same run:
1. planning: one reminder-planning pass over everyone invited (wall time and SQL statements,
   which must not grow with the number of people: shown next to a campaign ten times smaller),
   then the same pass again with nothing to add, and the daemon's fingerprint check that lets
   it skip such a pass;
2. the invitation wave: the real path (plan, claim from SQLite, render, compose, send through
   the aiosmtplib pool, record) to an aiosmtpd sink in another process, next to the sink's own
   ceiling (a pipelined raw client) measured in the same run; peak RSS of the wave's process;
3. the idle daemon: a real ``dondoc run`` on that campaign once its wave has gone out and its
   reminders are planned — CPU time over 60 s of wall time.

    .venv/bin/python bench/campaign_scale.py [--people 50000] [--idle-seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.send_wave import Sink, ceiling  # noqa: E402 - after the path is set

WAVE = ROOT / "bench" / "send_wave.py"
MAIL_FROM = "cchc@snv.example.vn"


def child(*arguments: str) -> str:
    return subprocess.run(
        [sys.executable, str(WAVE), *arguments], check=True, capture_output=True, text=True
    ).stdout.strip()


async def invite_everyone(url: str, *, at: datetime) -> None:
    """Record everyone as invited at ``at`` (as the wave would), without sending."""
    from sqlalchemy import insert, select

    from storage.campaigns import get_campaign
    from storage.db import create_engine, session_factory
    from storage.models import CampaignState, Delivery, DeliveryState, Respondent, RespondentState

    engine = create_engine(url)
    async with session_factory(engine)() as session, session.begin():
        campaign = await get_campaign(session, "bench-wave")
        campaign.state = CampaignState.ACTIVE
        ids = (await session.scalars(select(Respondent.id))).all()
        for start in range(0, len(ids), 5000):
            await session.execute(
                insert(Delivery),
                [
                    {
                        "campaign_id": campaign.id,
                        "respondent_id": rid,
                        "channel": "email",
                        "reason": "invitation",
                        "dedupe_key": f"invitation:{rid}:email",
                        "due_at": at,
                        "sent_at": at,
                        "state": DeliveryState.SENT,
                    }
                    for rid in ids[start : start + 5000]
                ],
            )
        await session.execute(
            Respondent.__table__.update().values(state=RespondentState.INVITED.value)
        )
    await engine.dispose()


async def running_now(url: str) -> None:
    """Move the campaign's dates around the present, so a daemon started now finds it running:
    opened yesterday, deadline in ten days (its first reminder is three days away)."""
    from sqlalchemy import update

    from storage.db import create_engine, session_factory
    from storage.models import Campaign, CampaignState

    now = datetime.now(UTC)
    engine = create_engine(url)
    async with session_factory(engine)() as session, session.begin():
        await session.execute(
            update(Campaign).values(
                opens_at=now - timedelta(days=1),
                deadline=now + timedelta(days=10),
                state=CampaignState.ACTIVE,
            )
        )
    await engine.dispose()


async def planning(url: str) -> dict[str, Any]:
    """One full pass, the same pass again, and the memo's check, with statements counted."""
    from sqlalchemy import event

    from scheduler.calendar import HolidayCalendar
    from scheduler.planning import PlanningMemo, fingerprint, plan_reminders
    from storage.campaigns import get_campaign
    from storage.db import create_engine, session_factory

    engine = create_engine(url)
    sessions = session_factory(engine)
    statements = 0

    def count(*_args: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    holidays = HolidayCalendar()
    figures: dict[str, Any] = {}
    memo = PlanningMemo()
    for label in ("first", "again"):
        async with sessions() as session, session.begin():
            campaign = await get_campaign(session, "bench-wave")
            now = campaign.deadline - timedelta(days=6)
            statements = 0
            start = time.perf_counter()
            # The memo remembers the first pass; the second is a full pass without it.
            report = await plan_reminders(
                session,
                campaign,
                now=now,
                holidays=holidays,
                memo=memo if label == "first" else None,
            )
            figures[label] = {
                "seconds": time.perf_counter() - start,
                "statements": statements,
                "queued": report.queued,
            }
    async with sessions() as session:
        campaign = await get_campaign(session, "bench-wave")
        now = campaign.deadline - timedelta(days=6)
        statements = 0
        start = time.perf_counter()
        seen = await fingerprint(session, campaign, now)
        figures["check"] = {"seconds": time.perf_counter() - start, "statements": statements}
        figures["check"]["unchanged"] = memo.unchanged(campaign.id, seen)
    await engine.dispose()
    return figures


def idle_daemon(url: str, work: Path, seconds: float) -> dict[str, Any]:
    """Start ``dondoc run`` (a pass a minute, as deployed), let its first pass catch up, then
    read its CPU time over ``seconds`` of wall time."""
    import psutil

    sink = Sink(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONDOC_")}
    env.update(
        DONDOC_DATABASE_URL=url,
        DONDOC_SMTP_HOST="127.0.0.1",
        DONDOC_SMTP_PORT=str(sink.port),
        DONDOC_SMTP_SECURITY="none",
        DONDOC_MAIL_FROM=MAIL_FROM,
        DONDOC_SECRET_KEY="b" * 40,
    )
    dondoc = shutil.which("dondoc") or str(Path(sys.executable).parent / "dondoc")
    log_path = work / "daemon.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([dondoc, "-v", "run"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 600
        while "pass 1 in" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the daemon's first pass did not finish:\n{log_path.read_text()}")
            time.sleep(0.2)
        process = psutil.Process(proc.pid)
        before = process.cpu_times()
        start = time.monotonic()
        time.sleep(seconds)  # the quantity measured is wall time itself
        after = process.cpu_times()
        wall = time.monotonic() - start
        rss = process.memory_info().rss
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        sink.close()
    cpu = (after.user + after.system) - (before.user + before.system)
    passes = re.findall(r"pass (\d+) in ([\d.]+) s: ([^;]*);", log_path.read_text())
    return {
        "cpu_seconds": cpu,
        "wall": wall,
        "rss_mb": rss / 2**20,
        "first_pass": passes[0] if passes else None,
        "later_passes": passes[1:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args = parser.parse_args()
    small = args.people // 10

    with tempfile.TemporaryDirectory(prefix="dondoc-scale-") as tmp:
        work = Path(tmp)
        (work / "small").mkdir()
        (work / "large").mkdir()
        small_url = child("--prepare", str(work / "small"), "--people", str(small))
        large_url = child(
            "--prepare", str(work / "large"), "--people", str(args.people), "--contacts"
        )
        shutil.copy(work / "large" / "wave.db", work / "plan.db")
        plan_url = f"sqlite:///{work / 'plan.db'}"
        invited_at = datetime(2024, 12, 20, 2, 0, tzinfo=UTC)
        plans = {}
        for people, url in ((small, small_url), (args.people, plan_url)):
            asyncio.run(invite_everyone(url, at=invited_at))
            plans[people] = asyncio.run(planning(url))

        sink = Sink(work)
        ceiling_s = asyncio.run(ceiling(sink.port, args.people, args.connections))
        sink.close()
        sink = Sink(work)
        wave = json.loads(
            child("--wave", large_url, str(sink.port), "--connections", str(args.connections))
        )
        received = sink.close()
        asyncio.run(running_now(large_url))
        idle = idle_daemon(large_url, work, args.idle_seconds)

    print(f"campaign: {args.people:,} people, SQLite (WAL)")
    print("1. reminder planning, one pass over everyone invited:")
    for people, r in plans.items():
        first, again, check = r["first"], r["again"], r["check"]
        print(
            f"   {people:>7,} people: {first['seconds']:.2f} s, {first['statements']} statements, "
            f"{first['queued']:,} reminders queued; again with nothing new: "
            f"{again['seconds']:.2f} s, {again['statements']} statements; the daemon's "
            f"unchanged-check: {check['seconds'] * 1000:.0f} ms, {check['statements']} statements"
            f"{'' if check['unchanged'] else ' (saw a change!)'}"
        )
    ceiling_rate = args.people / ceiling_s
    rate = wave["sent"] / wave["seconds"]
    print(f"2. invitation wave, {args.connections} SMTP connections:")
    print(f"   sink ceiling (pipelined raw client): {ceiling_rate:7.0f} msg/s")
    print(
        f"   dondoc (plan + claim + render + send + record): {rate:7.0f} msg/s "
        f"= {rate / ceiling_rate:.2f} of the ceiling; sent {wave['sent']:,}, not sent "
        f"{wave['failed']:,}; sink got {received['messages']:,} messages, "
        f"{received['distinct_ids']:,} distinct Message-IDs; peak RSS {wave['peak_rss_mb']:.0f} MB"
    )
    print("3. idle daemon (dondoc run, a pass a minute), after its start-up pass:")
    if idle["first_pass"]:
        _, seconds, what = idle["first_pass"]
        print(f"   start-up pass: {float(seconds):.2f} s ({what})")
    print(
        f"   CPU {idle['cpu_seconds']:.2f} s over {idle['wall']:.0f} s = "
        f"{100 * idle['cpu_seconds'] / idle['wall']:.2f}%; RSS {idle['rss_mb']:.0f} MB; "
        f"passes in that time: "
        + (
            ", ".join(f"{float(s):.2f} s ({w})" for _, s, w in idle["later_passes"])
            or "none logged"
        )
    )


if __name__ == "__main__":
    main()
