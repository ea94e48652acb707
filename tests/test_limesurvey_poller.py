"""The LimeSurvey poller against the emulator over 127.0.0.1, on SQLite and PostgreSQL:
matching by token then email, never un-answering, idempotence, backoff while the server fails."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.answered import import_answered
from storage.backoff import Backoff
from storage.campaigns import close_campaign
from storage.db import session_factory
from storage.errors import ConfigurationError
from storage.models import Campaign, Event, Respondent, RespondentState
from storage.roster import import_roster
from survey.limesurvey import LimeSurveyRefused
from survey.poller import LimeSurveyPoller, campaign_pollers
from survey.service import LimeSurveyService
from tests.limesurvey_emulator import LimeSurveyEmulator
from tests.sample import PEOPLE, roster_file
from tests.sheets import write_csv

SID = 482913
PASSWORD = "mật-khẩu-bí-mật"
ENV = {"DONDOC_LIMESURVEY_PASSWORD": PASSWORD}
NOW = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server_clock() -> Clock:
    return Clock()


@pytest.fixture
async def emulator(server_clock: Clock) -> AsyncIterator[LimeSurveyEmulator]:
    server = LimeSurveyEmulator(users={"dondoc": PASSWORD}, clock=server_clock)
    server.add_survey(SID)
    async with server:
        yield server


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def people(
    session: AsyncSession, province: Campaign, tmp_path: Path, emulator: LimeSurveyEmulator
) -> dict[str, Respondent]:
    await import_roster(session, province, roster_file(tmp_path, PEOPLE), actor="test")
    province.sources = {
        "limesurvey": {
            "url": emulator.url,
            "user": "dondoc",
            "survey_id": SID,
            "password_env": "DONDOC_LIMESURVEY_PASSWORD",
            "poll_seconds": 300,
        }
    }
    await session.commit()
    return {r.email or "": r for r in await session.scalars(select(Respondent))}


def poller(
    campaign: Campaign, sessions: async_sessionmaker[AsyncSession], **options: object
) -> LimeSurveyPoller:
    return LimeSurveyPoller.from_campaign(
        campaign, sessions, env=ENV, clock=lambda: NOW, page_size=2, **options
    )


async def answered(session: AsyncSession) -> dict[str, tuple[str, datetime | None, str | None]]:
    session.expunge_all()
    return {
        r.email or "": (r.state.value, r.answered_at, r.answer_source)
        for r in await session.scalars(select(Respondent))
    }


async def test_poll_marks_by_token_then_email_and_is_idempotent(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    province: Campaign,
    people: dict[str, Respondent],
    emulator: LimeSurveyEmulator,
    tmp_path: Path,
) -> None:
    hoa, tuan, pang = (
        people[e]
        for e in (
            "hoatt@snv.gov.vn",
            "tuanpm@mocchau.gov.vn",
            "pang.lv@sonla.gov.vn",
        )
    )
    # By token (the email in LimeSurvey is an old one); by email when the token is LimeSurvey's
    # own, with case and a second address; unknown to the campaign; not completed; anonymised.
    t_hoa = emulator.add_participant(SID, hoa.token, "hoa.cu@gmail.com")
    t_duc = emulator.add_participant(
        SID, "LSownToken12345", "VanPhong@snv.gov.vn; DucLV@snv.gov.vn"
    )
    t_stranger = emulator.add_participant(SID, "zzzzzzzzzzzzzzz", "ai.do@khong.vn", gap=5)
    emulator.add_participant(SID, tuan.token, tuan.email or "")
    t_pang = emulator.add_participant(SID, pang.token, "")
    emulator.complete(SID, t_hoa, "2025-01-05 20:15")
    emulator.complete(SID, t_duc, "2025-01-06 10:30")  # after NOW: capped
    emulator.complete(SID, t_stranger, "2025-01-06 09:31")
    emulator.complete(SID, t_pang, "Y")
    # Someone already answered through an imported list keeps that record.
    hung = people["hungnv@sonv.gov.vn"]
    t_hung = emulator.add_participant(SID, hung.token, hung.email or "")
    emulator.complete(SID, t_hung, "2025-01-06 07:00")
    listed = write_csv(tmp_path / "da-tra-loi.csv", [["Email"], ["hungnv@sonv.gov.vn"]])
    await import_answered(session, province, listed, actor="test", now=NOW - timedelta(days=2))
    await session.commit()

    async with poller(province, sessions) as first:
        report = await first.poll_once()
    assert (report.completed, report.newly_answered, report.already_answered) == (5, 3, 1)
    assert report.matched == 4 and report.pages == 3
    assert [(u.tid, u.email) for u in report.unknown] == [(t_stranger, "ai.do@khong.vn")]

    state = await answered(session)
    assert state["hoatt@snv.gov.vn"] == (
        "answered",
        datetime(2025, 1, 5, 13, 15, tzinfo=UTC),
        "limesurvey",
    )
    assert state["duclv@snv.gov.vn"] == (
        "answered",
        NOW,
        "limesurvey",
    )  # 10:30 in Hà Nội is after NOW
    assert state["pang.lv@sonla.gov.vn"] == ("answered", NOW, "limesurvey")  # "Y": no time
    assert state["tuanpm@mocchau.gov.vn"][0] == "pending"
    assert state["hungnv@sonv.gov.vn"] == ("answered", NOW - timedelta(days=2), "import")
    events = (await session.scalars(select(Event).where(Event.kind == "answered"))).all()
    mine = sorted((e.data["tid"], e.actor) for e in events if e.data["source"] == "limesurvey")
    assert mine == [(t_hoa, "limesurvey"), (t_duc, "limesurvey"), (t_pang, "limesurvey")]
    polled = (await session.scalars(select(Event).where(Event.kind == "limesurvey_polled"))).all()
    assert [(e.data["new"], e.data["unknown_tids"]) for e in polled] == [(3, [t_stranger])]

    async with poller(province, sessions) as second:
        again = await second.poll_once()
        assert (again.newly_answered, again.already_answered, len(again.unknown)) == (0, 4, 1)
        assert await answered(session) == state
        after = (await session.scalars(select(Event).where(Event.kind == "answered"))).all()
        assert len(after) == len(events)
        # A new pass of the same poller reports the same stranger only once.
        kinds = select(Event.kind).where(Event.kind == "limesurvey_polled")
        assert len((await session.scalars(kinds)).all()) == 2
        await second.poll_once()
        assert len((await session.scalars(kinds)).all()) == 2


async def test_expired_session_key_between_polls_is_renewed(
    sessions: async_sessionmaker[AsyncSession],
    province: Campaign,
    people: dict[str, Respondent],
    emulator: LimeSurveyEmulator,
    server_clock: Clock,
) -> None:
    tid = emulator.add_participant(SID, people["hoatt@snv.gov.vn"].token, "")
    emulator.complete(SID, tid, "2025-01-05 20:15")
    async with poller(province, sessions) as p:
        assert (await p.poll_once()).newly_answered == 1
        server_clock.now += 7201
        emulator.complete(
            SID, emulator.add_participant(SID, people["duclv@snv.gov.vn"].token, ""), "Y"
        )
        report = await p.poll_once()
    assert (report.newly_answered, report.renewals) == (1, 1)
    assert emulator.logins == 2 and emulator.live_keys == 0


async def test_run_backs_off_while_the_server_fails_then_catches_up(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    province: Campaign,
    people: dict[str, Respondent],
    emulator: LimeSurveyEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tid = emulator.add_participant(SID, people["hoatt@snv.gov.vn"].token, "")
    emulator.complete(SID, tid, "2025-01-05 20:15")
    emulator.faults.extend(["http500", "drop", "http500"])
    stop = asyncio.Event()
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 5:
            stop.set()

    # Our own loggers and the HTTP stack's (the database driver's DEBUG lines echo SQL parameters).
    for name in ("survey", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    p = poller(province, sessions, sleep=sleep, rand=lambda: 0.5, backoff=Backoff(initial=10))
    await asyncio.wait_for(p.run(stop), timeout=30)
    # Three failures back off 10, 20, 40 s; then the normal interval between good polls.
    assert delays == [10.0, 20.0, 40.0, 300.0, 300.0]
    assert p.failures == 0
    assert (await answered(session))["hoatt@snv.gov.vn"][2] == "limesurvey"
    assert "HTTP 500" in caplog.text and "RemoteProtocolError" in caplog.text
    for secret in [PASSWORD, people["hoatt@snv.gov.vn"].token, *emulator.issued]:
        assert secret not in caplog.text
    assert emulator.live_keys == 0  # run() released its key on the way out


async def test_stop_interrupts_a_pass_waiting_on_the_server(
    sessions: async_sessionmaker[AsyncSession],
    province: Campaign,
    people: dict[str, Respondent],
    emulator: LimeSurveyEmulator,
) -> None:
    emulator.faults.extend(["ok", "stall"])  # the login answers; the first page never does
    stop = asyncio.Event()
    task = asyncio.create_task(poller(province, sessions).run(stop))
    await asyncio.wait_for(emulator.stalled.wait(), timeout=10)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert task.done() and task.exception() is None


async def test_run_waits_longest_after_a_refusal_and_stops_when_closed(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    province: Campaign,
    people: dict[str, Respondent],
    emulator: LimeSurveyEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 2:
            await close_campaign(session, province, actor="test")
            await session.commit()

    wrong = {"DONDOC_LIMESURVEY_PASSWORD": "sai-mat-khau"}
    p = LimeSurveyPoller.from_campaign(province, sessions, env=wrong, sleep=sleep, rand=lambda: 0.5)
    await asyncio.wait_for(p.run(stop), timeout=30)
    # A wrong password is not retried quickly: LimeSurvey locks the account after a few tries.
    assert delays == [1800.0, 1800.0]
    assert emulator.logins == 0 and "sai-mat-khau" not in caplog.text
    assert not stop.is_set()  # it returned because the campaign was closed


async def test_building_pollers_from_campaigns(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    province: Campaign,
    people: dict[str, Respondent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(LimeSurveyRefused) as caught:
        LimeSurveyPoller.from_campaign(province, sessions, env={})
    assert "DONDOC_LIMESURVEY_PASSWORD" in caught.value.message_vi
    built = await campaign_pollers(sessions, env=ENV)
    assert [(p.campaign_code, p.config.survey_id, p.config.poll_seconds) for p in built] == [
        (province.code, SID, 300)
    ]
    assert PASSWORD not in repr(built[0]) and PASSWORD not in repr(built[0].config)
    for p in built:
        await p.aclose()
    assert await campaign_pollers(sessions, env={}) == []
    assert "DONDOC_LIMESURVEY_PASSWORD" in caplog.text

    province.sources = {}
    await session.commit()
    with pytest.raises(ConfigurationError):
        LimeSurveyPoller.from_campaign(province, sessions, env=ENV)
    assert await campaign_pollers(sessions, env=ENV) == []


async def test_password_from_a_file(
    sessions: async_sessionmaker[AsyncSession],
    province: Campaign,
    people: dict[str, Respondent],
    tmp_path: Path,
) -> None:
    secret = tmp_path / "ls-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    env = {"DONDOC_LIMESURVEY_PASSWORD_FILE": str(secret)}
    async with LimeSurveyPoller.from_campaign(province, sessions, env=env) as p:
        assert p.config.password == PASSWORD
        assert (await p.poll_once()).completed == 0
    missing = {"DONDOC_LIMESURVEY_PASSWORD_FILE": str(tmp_path / "none")}
    with pytest.raises(LimeSurveyRefused):
        LimeSurveyPoller.from_campaign(province, sessions, env=missing)


# --- inside the daemon -------------------------------------------------------------------------


async def until_answered(
    sessions: async_sessionmaker[AsyncSession], emails: set[str], seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while True:
        async with sessions() as session:
            done = set(
                (
                    await session.scalars(
                        select(Respondent.email).where(Respondent.state == RespondentState.ANSWERED)
                    )
                ).all()
            )
        if emails <= done:
            return
        assert time.monotonic() < deadline, f"not answered in {seconds} s: {emails - done}"
        await asyncio.sleep(0.05)  # polling a condition, not waiting for time to pass


async def test_the_service_polls_every_campaign_and_picks_up_new_ones(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    province: Campaign,
    emulator: LimeSurveyEmulator,
    tmp_path: Path,
) -> None:
    await import_roster(session, province, roster_file(tmp_path, PEOPLE), actor="test")
    await session.commit()
    people = {r.email or "": r for r in await session.scalars(select(Respondent))}
    hoa, duc = people["hoatt@snv.gov.vn"], people["duclv@snv.gov.vn"]
    emulator.complete(SID, emulator.add_participant(SID, hoa.token, ""), "2025-01-05 20:15")
    emulator.complete(SID, emulator.add_participant(SID, duc.token, ""), "2025-01-05 21:00")

    service = LimeSurveyService(sessions, env=ENV, rescan_seconds=0.2)
    stop = asyncio.Event()
    async with service:
        running = asyncio.create_task(service.run(stop))
        await asyncio.sleep(0.5)  # a few looks at the campaigns: none has [limesurvey] yet
        assert service.running == {}

        # The organiser adds a [limesurvey] table while the daemon runs.
        province.sources = {
            "limesurvey": {
                "url": emulator.url,
                "user": "dondoc",
                "survey_id": SID,
                "password_env": "DONDOC_LIMESURVEY_PASSWORD",
                "poll_seconds": 300,
            }
        }
        await session.commit()
        await until_answered(sessions, {"hoatt@snv.gov.vn", "duclv@snv.gov.vn"}, 20)
        assert list(service.running) == [province.id]

        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(running, 10)
    assert time.monotonic() - started < 7
    assert all(task.done() for task in service.running.values())
    assert PASSWORD not in repr(service.running)
