"""National-scale roster benchmark: 50,000 people in ~3,000 units, as one .xlsx workbook.

Generates the workbook, then on SQLite (and PostgreSQL when reachable) runs each step in its
own process, so that each step's peak RSS is its own: import the roster, import 25,000 answered,
compute the status. Each step is shown next to a baseline measured in the same run on the same
data (reading the workbook alone; reading the answered list alone; one COUNT(*)), so the figures
can be compared across machines as ratios.

    .venv/bin/python bench/roster_scale.py [--people 50000] [--units 3000] [--postgres URL]

PostgreSQL: --postgres, else DONDOC_TEST_POSTGRES_URL (set by scripts/test); its schema is
dropped and recreated, so point it at a scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CAMPAIGN = """
[campaign]
code = "bench-national"
title = "Điều tra XHH xác định Chỉ số CCHC (đo hiệu năng)"
survey_url = "https://survey.example.vn/s/{token}"
opens_at = 2024-12-20T08:00:00+07:00
deadline = 2025-01-10T17:00:00+07:00
groups = "bnv-cap-tinh"
"""


# ---- steps, each run in a child process --------------------------------------------------


async def step_setup(url: str, work: Path) -> dict[str, Any]:
    from sqlalchemy import text

    from storage import migrate
    from storage.campaign_file import load_campaign_file
    from storage.campaigns import save_campaign
    from storage.db import create_engine, session_factory

    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await migrate.upgrade(engine)
    path = work / "campaign.toml"
    path.write_text(CAMPAIGN, encoding="utf-8")
    async with session_factory(engine)() as session, session.begin():
        await save_campaign(session, load_campaign_file(path), actor="bench")
    await engine.dispose()
    return {}


async def step_import(url: str, work: Path) -> dict[str, Any]:
    from storage.campaigns import get_campaign
    from storage.db import create_engine, session_factory
    from storage.roster import import_roster

    engine = create_engine(url)
    async with session_factory(engine)() as session, session.begin():
        campaign = await get_campaign(session, "bench-national")
        start = time.perf_counter()
        report = await import_roster(session, campaign, work / "roster.xlsx", actor="bench")
    elapsed = time.perf_counter() - start
    await engine.dispose()
    return {"seconds": elapsed, "added": report.added, "merges": len(report.merges)}


async def step_answered(url: str, work: Path) -> dict[str, Any]:
    from storage.answered import import_answered
    from storage.campaigns import get_campaign
    from storage.db import create_engine, session_factory

    engine = create_engine(url)
    async with session_factory(engine)() as session, session.begin():
        campaign = await get_campaign(session, "bench-national")
        start = time.perf_counter()
        report = await import_answered(session, campaign, work / "answered.csv", actor="bench")
    elapsed = time.perf_counter() - start
    await engine.dispose()
    return {"seconds": elapsed, "answered": report.newly_answered}


async def step_status(url: str, work: Path) -> dict[str, Any]:
    from storage.campaigns import get_campaign
    from storage.db import create_engine, session_factory
    from storage.progress import campaign_progress

    engine = create_engine(url)
    async with session_factory(engine)() as session:
        campaign = await get_campaign(session, "bench-national")
        await campaign_progress(session, campaign)  # warm the connection and caches once
        start = time.perf_counter()
        progress = await campaign_progress(session, campaign)
        elapsed = time.perf_counter() - start
    await engine.dispose()
    return {
        "seconds": elapsed,
        "answered": progress.overall.answered,
        "total": progress.overall.total,
        "units": len(progress.by_unit),
    }


async def baseline_read_roster(url: str, work: Path) -> dict[str, Any]:
    from storage.roster import ROSTER_FIELDS
    from storage.tables import read_table

    start = time.perf_counter()
    table = read_table(work / "roster.xlsx", ROSTER_FIELDS)
    return {"seconds": time.perf_counter() - start, "rows": len(table.rows)}


async def baseline_read_answered(url: str, work: Path) -> dict[str, Any]:
    from storage.answered import ANSWERED_FIELDS
    from storage.tables import read_table

    start = time.perf_counter()
    table = read_table(work / "answered.csv", ANSWERED_FIELDS)
    return {"seconds": time.perf_counter() - start, "rows": len(table.rows)}


async def baseline_count(url: str, work: Path) -> dict[str, Any]:
    from sqlalchemy import text

    from storage.db import create_engine

    engine = create_engine(url)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        start = time.perf_counter()
        await conn.execute(text("SELECT count(*) FROM respondents"))
        elapsed = time.perf_counter() - start
    await engine.dispose()
    return {"seconds": elapsed}


STEPS = {
    "setup": step_setup,
    "import": step_import,
    "answered": step_answered,
    "status": step_status,
    "read-roster": baseline_read_roster,
    "read-answered": baseline_read_answered,
    "count": baseline_count,
}


def run_child(step: str, url: str, work: Path) -> dict[str, Any]:
    """Run one step in a fresh interpreter; its peak RSS comes from wait4, for that child only."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", step, "--url", url, "--work", str(work)],
        stdout=subprocess.PIPE,
    )
    output = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"step {step} failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(output)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


# ---- the parent ----------------------------------------------------------------------------


def generate(work: Path, people: int, units: int) -> tuple[float, int]:
    from dondoc.sample_roster import national_layout, write_sample_roster

    start = time.perf_counter()
    roster = write_sample_roster(
        work / "roster.xlsx", national_layout(units=units, people=people), seed=50155
    )
    elapsed = time.perf_counter() - start
    rng = random.Random(25000)
    answered = rng.sample(list(roster.people), k=len(roster.people) // 2)
    with (work / "answered.csv").open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["STT", "Email", "Thời gian hoàn thành"])
        for i, person in enumerate(answered, start=1):
            writer.writerow([i, person.email, "2025-01-05 20:15:00"])
    return elapsed, len(answered)


def postgres_url(arg: str | None) -> str | None:
    url = arg or os.environ.get("DONDOC_TEST_POSTGRES_URL")
    if not url:
        return None
    from storage.db import create_engine

    async def ping() -> bool:
        engine = create_engine(url)
        try:
            async with engine.connect():
                return True
        except OSError:
            return False
        finally:
            await engine.dispose()

    return url if asyncio.run(ping()) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--units", type=int, default=3_000)
    parser.add_argument("--postgres")
    parser.add_argument("--child", choices=sorted(STEPS))
    parser.add_argument("--url")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(asyncio.run(STEPS[args.child](args.url, args.work))))
        return

    with tempfile.TemporaryDirectory(prefix="dondoc-bench-") as tmp:
        work = Path(tmp)
        gen_seconds, n_answered = generate(work, args.people, args.units)
        size_mb = (work / "roster.xlsx").stat().st_size / 1e6
        print(
            f"roster: {args.people:,} people, {args.units:,} units, {size_mb:.1f} MB .xlsx "
            f"(generated in {gen_seconds:.1f} s); answered list: {n_answered:,} lines"
        )
        backends = [("SQLite", f"sqlite:///{work / 'bench.db'}")]
        pg = postgres_url(args.postgres)
        if pg:
            backends.append(("PostgreSQL", pg))
        else:
            print("PostgreSQL: not reachable (set DONDOC_TEST_POSTGRES_URL or --postgres), skipped")
        read_roster = run_child("read-roster", "", work)
        read_answered = run_child("read-answered", "", work)
        for name, url in backends:
            run_child("setup", url, work)
            imported = run_child("import", url, work)
            answered = run_child("answered", url, work)
            status = run_child("status", url, work)
            count = run_child("count", url, work)
            steps = [
                ("roster import", imported, read_roster, "read .xlsx"),
                ("answered import", answered, read_answered, "read .csv"),
                ("status", status, count, "COUNT(*)"),
            ]
            print(f"\n{name}")
            print(f"  {'step':<16}{'wall s':>8}{'peak RSS MB':>13}   baseline (same run)")
            for label, result, base, base_label in steps:
                ratio = result["seconds"] / base["seconds"] if base["seconds"] else float("inf")
                print(
                    f"  {label:<16}{result['seconds']:>8.3f}{result['peak_rss_mb']:>13.0f}   "
                    f"{base_label}: {base['seconds']:.3f} s ({ratio:.1f}x), "
                    f"{base['peak_rss_mb']:.0f} MB"
                )
            print(
                f"  check: {status['answered']:,}/{status['total']:,} answered "
                f"over {status['units']:,} units"
            )


if __name__ == "__main__":
    main()
