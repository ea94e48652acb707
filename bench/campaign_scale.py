"""Scheduler benchmark on a national-scale campaign (50,000 people, SQLite).

Measures one reminder-planning pass over the whole campaign: wall time and the number of SQL
statements it issued (which must not grow with the number of people), next to the same pass on
a campaign ten times smaller in the same run. The invitation wave is measured by
bench/send_wave.py.

    .venv/bin/python bench/campaign_scale.py [--people 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def measure(work: Path, people: int) -> dict[str, Any]:
    from sqlalchemy import event, insert, select

    from bench.send_wave import prepare
    from scheduler.calendar import HolidayCalendar
    from scheduler.planning import plan_reminders
    from storage.campaigns import get_campaign
    from storage.db import create_engine, session_factory
    from storage.models import CampaignState, Delivery, DeliveryState, Respondent, RespondentState

    url = await prepare(work, people)
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        campaign = await get_campaign(session, "bench-wave")
        campaign.state = CampaignState.ACTIVE
        invited_at = campaign.opens_at + timedelta(hours=1)
        ids = (await session.scalars(select(Respondent.id))).all()
        # Everyone was invited at the opening; the planner decides each person's next reminder.
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
                        "due_at": invited_at,
                        "sent_at": invited_at,
                        "state": DeliveryState.SENT,
                    }
                    for rid in ids[start : start + 5000]
                ],
            )
        await session.execute(
            Respondent.__table__.update().values(state=RespondentState.INVITED.value)
        )
    statements = 0

    def count(*_args: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    holidays = HolidayCalendar()
    now = campaign.deadline - timedelta(days=6)
    async with sessions() as session, session.begin():
        campaign = await get_campaign(session, "bench-wave")
        statements = 0
        start = time.perf_counter()
        report = await plan_reminders(session, campaign, now=now, holidays=holidays)
        elapsed = time.perf_counter() - start
    await engine.dispose()
    return {"seconds": elapsed, "statements": statements, "queued": report.queued}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000)
    args = parser.parse_args()
    results = []
    for people in (args.people // 10, args.people):
        with tempfile.TemporaryDirectory(prefix="dondoc-plan-") as tmp:
            results.append((people, asyncio.run(measure(Path(tmp), people))))
    print("one reminder-planning pass (SQLite, WAL):")
    for people, r in results:
        print(
            f"  {people:>7,} people: {r['seconds']:.2f} s, {r['statements']} SQL statements, "
            f"{r['queued']:,} reminders queued"
        )


if __name__ == "__main__":
    main()
