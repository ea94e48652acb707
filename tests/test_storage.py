"""Schema, migrations and the column types every other part relies on, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage import migrate
from storage.db import create_engine, normalise_url, session_factory
from storage.errors import ConfigurationError
from storage.models import Base, Campaign, Delivery, Event


def make_campaign(code: str = "c1") -> Campaign:
    return Campaign(
        code=code,
        title="Khảo sát",
        survey_url="https://s.example.vn/{token}",
        opens_at=datetime(2024, 12, 20, 1, 0, tzinfo=UTC),
        deadline=datetime(2025, 1, 10, 10, 0, tzinfo=UTC),
    )


async def test_init_twice_is_a_no_op(engine: AsyncEngine) -> None:
    head = migrate.head_revision()
    assert await migrate.current_revision(engine) == head
    assert await migrate.upgrade(engine) == (head, head)


async def test_old_schema_is_upgraded_and_keeps_data(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    session.add(make_campaign())
    await session.commit()
    await session.close()
    # Walk every revision back and forward again: each downgrade/upgrade pair must hold.
    await migrate.downgrade(engine, "base")
    assert await migrate.current_revision(engine) is None
    before, after = await migrate.upgrade(engine)
    assert (before, after) == (None, migrate.head_revision())


async def test_a_populated_first_schema_upgrades_in_place(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine, "0001")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO campaigns (code, title, survey_url, opens_at, deadline, timezone,"
                    " policy, unit_kinds, state, created_at, updated_at) VALUES ('c1', 't',"
                    " 'https://s.vn/{token}', :t, :t, 'Asia/Ho_Chi_Minh', '{}', '[]', 'draft',"
                    " :t, :t)"
                ),
                {"t": datetime(2025, 1, 1, tzinfo=UTC)},
            )
            await conn.execute(
                text(
                    "INSERT INTO deliveries (campaign_id, channel, reason, dedupe_key, due_at,"
                    " state, attempts, created_at, updated_at) SELECT id, 'email', 'invitation',"
                    " 'invitation:1:email', :t, 'sent', 1, :t, :t FROM campaigns"
                ),
                {"t": datetime(2025, 1, 1, tzinfo=UTC)},
            )
        assert await migrate.upgrade(engine) == ("0001", migrate.head_revision())
        async with session_factory(engine)() as session:
            delivery = await session.scalar(select(Delivery))
            # Rebuilding tables on SQLite must not cascade-delete what refers to them.
            assert delivery is not None and delivery.payload == {}
            assert delivery.dedupe_key == "invitation:1:email"
            campaign = await session.scalar(select(Campaign))
            assert campaign is not None
            assert (campaign.completion_rules, campaign.templates_dir) == ([], None)
    finally:
        await engine.dispose()


async def test_migrations_match_the_models(engine: AsyncEngine) -> None:
    def diff(conn: object) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})  # type: ignore[arg-type]
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_datetimes_come_back_aware_in_utc(session: AsyncSession) -> None:
    hanoi = timezone(timedelta(hours=7))
    campaign = make_campaign()
    campaign.deadline = datetime(2025, 1, 10, 17, 0, tzinfo=hanoi)
    session.add(campaign)
    await session.commit()
    session.expunge_all()
    loaded = await session.scalar(select(Campaign))
    assert loaded is not None
    assert loaded.deadline == datetime(2025, 1, 10, 10, 0, tzinfo=UTC)
    assert loaded.deadline.tzinfo is not None and loaded.deadline.utcoffset() == timedelta(0)


async def test_naive_datetimes_are_refused(session: AsyncSession) -> None:
    campaign = make_campaign()
    campaign.deadline = datetime(2025, 1, 10, 17, 0)
    session.add(campaign)
    with pytest.raises(StatementError, match="naive datetime"):
        await session.flush()
    await session.rollback()


async def test_dedupe_key_is_unique(session: AsyncSession) -> None:
    campaign = make_campaign()
    session.add(campaign)
    await session.flush()
    due = datetime(2025, 1, 3, 1, 0, tzinfo=UTC)
    for _ in range(2):
        session.add(
            Delivery(
                campaign_id=campaign.id,
                channel="email",
                reason="invitation",
                dedupe_key="invitation:1:email",
                due_at=due,
            )
        )
    with pytest.raises(IntegrityError):
        await session.flush()
    await session.rollback()


async def test_events_keep_structured_data(session: AsyncSession) -> None:
    campaign = make_campaign()
    session.add(campaign)
    await session.flush()
    session.add(
        Event(campaign_id=campaign.id, kind="answered", actor="cli", data={"row": 12, "tên": "Hoà"})
    )
    await session.commit()
    session.expunge_all()
    event = await session.scalar(select(Event))
    assert event is not None and event.data == {"row": 12, "tên": "Hoà"}


async def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/wal.db")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await engine.dispose()


def test_database_urls_pick_the_async_driver() -> None:
    assert normalise_url("sqlite:///dondoc.db") == "sqlite+aiosqlite:///dondoc.db"
    assert normalise_url("postgresql://u@127.0.0.1/d") == "postgresql+asyncpg://u@127.0.0.1/d"
    with pytest.raises(ConfigurationError, match="mysql"):
        normalise_url("mysql://root@localhost/x")
