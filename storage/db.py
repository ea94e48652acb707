"""Engines and sessions: one place that knows how to open SQLite (WAL) or PostgreSQL (asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.errors import ConfigurationError

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    # Several processes (daemon, CLI) share the file: wait for a writer instead of failing.
    "PRAGMA busy_timeout=10000",
)


def normalise_url(url: str) -> str:
    """Accept the URLs people type (sqlite:///x.db, postgresql://...) and pick the async driver."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigurationError(
            f"Địa chỉ cơ sở dữ liệu không hợp lệ: {url!r}. "
            "Ví dụ đúng: sqlite:///dondoc.db hoặc postgresql://user@127.0.0.1:5432/dondoc",
            f"invalid database URL {url!r}",
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ConfigurationError(
            f"Chỉ hỗ trợ SQLite và PostgreSQL, không hỗ trợ {backend!r}.",
            f"unsupported database backend {backend!r}",
        )
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    engine = create_async_engine(normalise_url(url), **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def open_engine(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
