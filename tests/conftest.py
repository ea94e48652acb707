"""Shared fixtures: a migrated database on SQLite and, when reachable, PostgreSQL.

Every storage test runs on both backends (parametrised ``engine``). PostgreSQL comes from
DONDOC_TEST_POSTGRES_URL, which scripts/test sets after making sure the server runs; without it
the PostgreSQL half is skipped with the reason shown in the summary, never silently.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage import migrate
from storage.db import create_engine, session_factory
from storage.models import Campaign
from tests.sample import PROVINCE_TOML, make_campaign

POSTGRES_URL = os.environ.get("DONDOC_TEST_POSTGRES_URL")
POSTGRES_MISSING = (
    "PostgreSQL not configured: set DONDOC_TEST_POSTGRES_URL (scripts/test does) to run the "
    "PostgreSQL half of the storage tests"
)


async def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A database of this test session's own, so two runs on one machine never collide."""
    if not POSTGRES_URL:
        yield None
        return
    base = make_url(POSTGRES_URL)
    name = f"{base.database}_{os.getpid()}"
    asyncio.run(_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(backend: str, tmp_path: Path, postgres_url: str | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    if postgres_url is None:
        pytest.skip(POSTGRES_MISSING)
    return postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def db_url(backend: str, database_url: str) -> str:
    url = database_url
    if backend == "postgres":
        await reset_postgres(url)
    return url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(db_url)
    await migrate.upgrade(eng)
    yield eng
    # A test that leaves a connection checked out would starve a long-running daemon.
    leaked = eng.pool.checkedout()  # type: ignore[attr-defined]
    await eng.dispose()
    assert leaked == 0, f"{leaked} pooled connection(s) leaked"


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with session_factory(engine)() as s:
        yield s


@pytest.fixture
async def province(session: AsyncSession, tmp_path: Path) -> Campaign:
    return await make_campaign(session, tmp_path, PROVINCE_TOML)
