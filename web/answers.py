"""Recording the webhook's answers: many calls, one transaction (group commit).

A platform replaying a backlog sends hundreds of calls a second; a transaction each would make
the database, not the web server, the limit (SQLite has one writer). Calls arriving while a batch
is being written wait for the next batch, so under load each transaction carries many answers and
at rest it carries one: latency stays a few milliseconds either way.

A batch reads the people it names with their state under the write lock (SQLite) or FOR UPDATE
(PostgreSQL), so a person answered by another source in the meantime (an import, the LimeSurvey
poller, another process) is reported as a duplicate: never answered twice, never un-answered;
the first time and source recorded stay.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    create_engine,
    event,
    false,
    insert,
    select,
    update,
)
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import SQLITE_PRAGMAS
from storage.models import Event, Respondent, RespondentState

SOURCE: Final = "webhook"
MAX_BATCH: Final = 500

_RESPONDENTS: Table = Respondent.__table__  # type: ignore[assignment]
_EVENTS: Table = Event.__table__  # type: ignore[assignment]
_LOCK = update(_RESPONDENTS).where(false()).values(state=_RESPONDENTS.c.state)
_MARK = (
    update(_RESPONDENTS)
    .where(
        _RESPONDENTS.c.id == bindparam("rid"),
        _RESPONDENTS.c.state != RespondentState.ANSWERED.value,
    )
    .values(
        state=RespondentState.ANSWERED.value,
        answered_at=bindparam("when"),
        answer_source=SOURCE,
        updated_at=bindparam("now"),
    )
)


class Outcome(enum.Enum):
    ANSWERED = "answered"
    ALREADY = "already_answered"
    UNKNOWN = "unknown_person"


@dataclass(frozen=True, slots=True)
class Answer:
    """One call's facts: who (any of token, email, phone, normalised) and when."""

    campaign_id: int
    token: str | None
    email: str | None
    phone: str | None
    answered_at: datetime
    received_at: datetime
    # How the call names the person in the organiser's event list (token masked).
    shown: str


@dataclass(slots=True)
class _Job:
    answer: Answer
    future: asyncio.Future[Outcome] = field(repr=False)


class AnswerWriter:
    """Group-commits answers. ``record`` is safe to call from many requests at once.

    On SQLite a batch is written by one call into a thread of the writer's own, on a plain
    ``sqlite3`` connection: the async driver would hop between the event loop and its thread
    for every cursor operation (about thirty a batch), and on a busy machine each hop waits
    for the CPU. On PostgreSQL asyncpg needs no thread and the batch runs on the app's engine.
    """

    def __init__(self, engine: AsyncEngine, *, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._pending: list[_Job] = []
        self._drainer: asyncio.Task[None] | None = None
        self._sqlite: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sqlite = _sqlite_engine(engine.url)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="dondoc-webhook-sqlite")
        self.batches = 0
        # The last batches' (size, seconds): how group commit behaves, for the benchmark.
        self.recent: deque[tuple[int, float]] = deque(maxlen=20_000)

    async def record(self, answer: Answer) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(answer, future))
        if self._drainer is None or self._drainer.done():
            # A task, not the caller: a request that goes away must not strand the others.
            self._drainer = asyncio.create_task(self._drain(), name="dondoc-webhook-writer")
        return await future

    async def aclose(self) -> None:
        if self._drainer is not None:
            await asyncio.wait([self._drainer], timeout=10)
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        if self._sqlite is not None:
            self._sqlite.dispose()

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            started = time.perf_counter()
            try:
                outcomes = await self._write([job.answer for job in batch])
            except Exception as exc:  # every caller of the batch gets the error (a 500)
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            self.recent.append((len(batch), time.perf_counter() - started))
            for job, outcome in zip(batch, outcomes, strict=True):
                if not job.future.done():
                    job.future.set_result(outcome)

    async def _write(self, answers: list[Answer]) -> list[Outcome]:
        self.batches += 1
        if self._sqlite is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, _write_sqlite, self._sqlite, answers)
        async with self.engine.begin() as conn:
            return await conn.run_sync(_write, answers)


def _write_sqlite(engine: Engine, answers: list[Answer]) -> list[Outcome]:
    with engine.begin() as conn:
        # Take SQLite's write lock before reading (a no-op UPDATE does): no other writer can
        # answer these people between our read and our write.
        conn.execute(_LOCK)
        return _write(conn, answers)


def _sqlite_engine(url: URL) -> Engine:
    """A synchronous engine on the same SQLite file, set up as storage.db sets up the app's."""
    engine = create_engine(url.set(drivername="sqlite+pysqlite"), pool_size=1, max_overflow=0)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    return engine


def _write(conn: Connection, answers: list[Answer]) -> list[Outcome]:
    """One batch, in the caller's transaction."""
    people = _match(conn, answers)
    # The first call for a person not yet answered carries the time; every other call for
    # them is a duplicate, as it would be in a transaction of its own.
    first: dict[int, Answer] = {}
    for answer, person in zip(answers, people, strict=True):
        if person is not None and not person[1] and person[0] not in first:
            first[person[0]] = answer
    if first:
        # The state condition is a second guard (PostgreSQL rows are locked FOR UPDATE).
        conn.execute(
            _MARK,
            [{"rid": rid, "when": a.answered_at, "now": a.received_at} for rid, a in first.items()],
        )
    outcomes: list[Outcome] = []
    events: list[dict[str, Any]] = []
    for answer, person in zip(answers, people, strict=True):
        if person is None:
            outcomes.append(Outcome.UNKNOWN)
            events.append(_event(answer, None, "answer_unmatched", {"who": answer.shown}))
        elif first.get(person[0]) is answer:
            outcomes.append(Outcome.ANSWERED)
            when = answer.answered_at.astimezone(UTC).isoformat()
            events.append(_event(answer, person[0], "answered", {"answered_at": when}))
        else:
            outcomes.append(Outcome.ALREADY)
    if events:
        conn.execute(insert(_EVENTS), events)
    return outcomes


def _event(
    answer: Answer, respondent_id: int | None, kind: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "campaign_id": answer.campaign_id,
        "respondent_id": respondent_id,
        "contact_id": None,
        "kind": kind,
        "actor": SOURCE,
        "at": answer.received_at,
        "data": {"source": SOURCE, **data},
    }


def _match(conn: Connection, answers: list[Answer]) -> list[tuple[int, bool] | None]:
    """Each answer's respondent and whether they had answered: by token, else email, else phone
    (the import's order)."""
    found: dict[tuple[int, str, str], tuple[int, bool]] = {}
    columns = (_RESPONDENTS.c.token, _RESPONDENTS.c.email, _RESPONDENTS.c.phone)
    for column in columns:
        wanted = {
            (a.campaign_id, getattr(a, column.key)) for a in answers if getattr(a, column.key)
        }
        for campaign_id in {c for c, _ in wanted}:
            values = sorted(v for c, v in wanted if c == campaign_id)
            # One query per kind of key, each on its own index (a token is unique on its own;
            # email and phone within a campaign): an OR of them would scan the campaign.
            condition: ColumnElement[bool] = column.in_(values)
            if column is not _RESPONDENTS.c.token:
                condition = and_(_RESPONDENTS.c.campaign_id == campaign_id, condition)
            rows = conn.execute(
                select(
                    _RESPONDENTS.c.id,
                    _RESPONDENTS.c.campaign_id,
                    column,
                    _RESPONDENTS.c.state,
                )
                .where(condition)
                .with_for_update()
            )
            for rid, campaign, value, state in rows:
                if campaign == campaign_id:
                    row = (int(rid), state == RespondentState.ANSWERED.value)
                    found[(campaign_id, column.key, value)] = row
    matched: list[tuple[int, bool] | None] = []
    for a in answers:
        person: tuple[int, bool] | None = None
        for kind, value in (("token", a.token), ("email", a.email), ("phone", a.phone)):
            if value and person is None:
                person = found.get((a.campaign_id, kind, value))
        matched.append(person)
    return matched
