"""The signed completion webhook: every answer it gives, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.answered import import_answered
from storage.models import Event, Respondent, RespondentState
from tests.sheets import write_csv
from tests.test_web_fixtures import (  # noqa: F401 - fixtures
    SECRET_KEY,
    Monotonic,
    Site,
    clock_fixture,
    monotonic_fixture,
    roster_campaign_fixture,
    site_fixture,
)
from web.hooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
    signed_headers,
    webhook_secret,
)

HOA = "hoatt@snv.gov.vn"


def url(site: Site) -> str:
    return f"/hooks/{site.campaign.code}/answered"


async def call(
    site: Site,
    body: bytes | dict[str, object],
    *,
    secret: str | None = None,
    at: datetime | None = None,
    code: str | None = None,
) -> tuple[int, dict[str, object]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    campaign = code or site.campaign.code
    headers = signed_headers(
        secret or webhook_secret(SECRET_KEY, campaign), raw, at or site.clock()
    )
    headers["Content-Type"] = "application/json"
    answer = await site.client.post(f"/hooks/{campaign}/answered", content=raw, headers=headers)
    return answer.status_code, answer.json()


async def state_of(session: AsyncSession, email: str) -> Respondent:
    """The person as the database has them now (a fresh session: no stale identity map)."""
    bind = session.bind
    async with AsyncSession(bind) as fresh:
        found = await fresh.scalar(select(Respondent).where(Respondent.email == email))
    assert found is not None
    return found


async def test_a_signed_call_marks_the_person_answered_once(
    site: Site, session: AsyncSession
) -> None:
    token = site.people[HOA].token
    status, body = await call(site, {"token": token, "answered_at": "2025-01-06T09:12:00+07:00"})
    assert (status, body) == (200, {"status": "answered"})
    person = await state_of(session, HOA)
    assert person.state == RespondentState.ANSWERED
    assert person.answer_source == "webhook"
    assert person.answered_at == datetime(2025, 1, 6, 2, 12, tzinfo=UTC)

    # The same call again, or a later one with another time: 200, and the first facts stay.
    site.clock.advance(timedelta(minutes=3))
    status, body = await call(site, {"token": token, "answered_at": "2025-01-06T09:14:00+07:00"})
    assert (status, body) == (200, {"status": "already_answered"})
    person = await state_of(session, HOA)
    assert person.answered_at == datetime(2025, 1, 6, 2, 12, tzinfo=UTC)
    events = (
        await session.scalars(
            select(Event).where(Event.respondent_id == person.id, Event.kind == "answered")
        )
    ).all()
    assert len(events) == 1
    assert events[0].actor == "webhook" and events[0].data["source"] == "webhook"


async def test_people_are_found_by_email_or_phone_and_times_default_to_now(
    site: Site, session: AsyncSession
) -> None:
    assert (await call(site, {"email": "  TuanPM@MocChau.gov.vn "}))[0] == 200
    tuan = await state_of(session, "tuanpm@mocchau.gov.vn")
    assert tuan.state == RespondentState.ANSWERED and tuan.answered_at == site.clock()
    # A local time without an offset is the campaign's (Hà Nội) time; a future one is clamped.
    status, _ = await call(site, {"phone": "0982.627.828", "answered_at": "2025-01-06 08:30"})
    assert status == 200
    hoa = await state_of(session, HOA)
    assert hoa.answered_at == datetime(2025, 1, 6, 1, 30, tzinfo=UTC)
    status, _ = await call(site, {"email": "duclv@snv.gov.vn", "answered_at": "2030-01-01"})
    assert status == 200
    assert (await state_of(session, "duclv@snv.gov.vn")).answered_at == site.clock()


async def test_an_answer_from_another_source_is_kept(
    site: Site, session: AsyncSession, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "da-tra-loi.csv", [["Email"], [HOA]])
    await import_answered(session, site.campaign, path, actor="test", now=site.clock())
    await session.commit()
    status, body = await call(site, {"email": HOA})
    assert (status, body) == (200, {"status": "already_answered"})
    assert (await state_of(session, HOA)).answer_source == "import"


async def test_bad_signatures_are_refused_with_401(site: Site, session: AsyncSession) -> None:
    body = {"email": HOA}
    # Signed with another campaign's secret, or with a made-up one.
    assert (await call(site, body, secret=webhook_secret(SECRET_KEY, "other")))[0] == 401
    status, answer = await call(site, body, secret="0" * 64)
    assert (status, answer["error"]) == (401, "bad_signature")
    # A body changed after signing.
    raw = json.dumps(body).encode()
    headers = signed_headers(webhook_secret(SECRET_KEY, site.campaign.code), raw, site.clock())
    tampered = raw.replace(b"hoatt", b"duclv")
    answer_ = await site.client.post(url(site), content=tampered, headers=headers)
    assert answer_.status_code == 401
    # No headers at all.
    answer_ = await site.client.post(url(site), content=raw)
    assert (answer_.status_code, answer_.json()["error"]) == (401, "unsigned")
    assert (await state_of(session, HOA)).state != RespondentState.ANSWERED


async def test_a_stale_or_future_timestamp_is_refused(site: Site, session: AsyncSession) -> None:
    body = {"email": HOA}
    for skew in (timedelta(minutes=-6), timedelta(minutes=6)):
        status, answer = await call(site, body, at=site.clock() + skew)
        assert (status, answer["error"]) == (401, "stale_timestamp")
        assert "5 phút" in str(answer["message_vi"])
    # A replay of a valid call after five minutes: refused, although the signature is right.
    raw = json.dumps(body).encode()
    headers = signed_headers(webhook_secret(SECRET_KEY, site.campaign.code), raw, site.clock())
    site.clock.advance(timedelta(minutes=5, seconds=1))
    answer_ = await site.client.post(url(site), content=raw, headers=headers)
    assert answer_.status_code == 401
    # Not a number at all.
    headers[TIMESTAMP_HEADER] = "yesterday"
    headers[SIGNATURE_HEADER] = signature(
        webhook_secret(SECRET_KEY, site.campaign.code), "yesterday", raw
    )
    assert (await site.client.post(url(site), content=raw, headers=headers)).status_code in (401,)
    assert (await state_of(session, HOA)).state != RespondentState.ANSWERED


@pytest.mark.parametrize(
    ("raw", "field", "value", "words"),
    [
        (b'{"token": "abc",', "body", "dòng 1, cột 17", "JSON hợp lệ"),
        (b'["hoatt@snv.gov.vn"]', "body", '["hoatt@snv.gov.vn"]', "đối tượng JSON"),
        (b'{"answered_at": "2025-01-06T09:00:00+07:00"}', "token", "", "«token»"),
        (b'{"email": "hoatt@snv"}', "email", "hoatt@snv", "email hợp lệ"),
        (b'{"phone": "12345"}', "phone", "12345", "điện thoại"),
        (b'{"email": ["a@b.vn"]}', "email", '["a@b.vn"]', "chuỗi ký tự"),
        (
            '{"email": "hoatt@snv.gov.vn", "answered_at": "8h sáng"}'.encode(),
            "answered_at",
            '"8h sáng"',
            "ISO 8601",
        ),
        (b'{"email": "ho\xe0@snv.gov.vn"}', "body", "byte 13", "UTF-8"),
    ],
)
async def test_a_malformed_body_gets_a_precise_400(
    site: Site, session: AsyncSession, raw: bytes, field: str, value: str, words: str
) -> None:
    status, answer = await call(site, raw)
    assert status == 400
    assert (answer["field"], answer["value"]) == (field, value)
    assert words in str(answer["message_vi"])
    assert answer["message_en"]
    assert (await state_of(session, HOA)).state != RespondentState.ANSWERED


async def test_an_unknown_person_is_404_and_logged_for_the_organiser(
    site: Site, session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="web")
    token = "Zq9vXw3kLm5nPp7rTt2uYy8a"
    status, answer = await call(site, {"token": token, "email": "ai.do@khong.vn"})
    assert (status, answer["error"]) == (404, "unknown_person")
    event = await session.scalar(select(Event).where(Event.kind == "answer_unmatched"))
    assert event is not None and event.campaign_id == site.campaign.id
    assert event.data["who"] == "Zq9v…, ai.do@khong.vn"
    # Tokens and secrets never reach the log or the event.
    secret = webhook_secret(SECRET_KEY, site.campaign.code)
    assert "unknown_person" in caplog.text
    assert token not in caplog.text and secret not in caplog.text
    assert token not in json.dumps(event.data)
    # An unknown campaign, even properly signed, is 404 too.
    status, answer = await call(site, {"email": HOA}, code="khong-co")
    assert (status, answer["error"]) == (404, "unknown_campaign")


async def test_calls_over_the_campaign_rate_get_429_with_retry_after(site: Site) -> None:
    statuses = []
    for _ in range(52):
        status, _ = await call(site, {"email": "ai.do@khong.vn"})
        statuses.append(status)
    assert statuses[:50] == [404] * 50
    raw = json.dumps({"email": HOA}).encode()
    headers = signed_headers(webhook_secret(SECRET_KEY, site.campaign.code), raw, site.clock())
    answer = await site.client.post(url(site), content=raw, headers=headers)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "1"
    assert statuses[50:] == [429, 429]


async def test_rate_limit_buckets_refill_with_time(site: Site, monotonic: Monotonic) -> None:
    for _ in range(50):
        await call(site, {"email": "ai.do@khong.vn"})
    assert (await call(site, {"email": HOA}))[0] == 429
    monotonic.now += 0.5  # hook_rate is 2 a second
    assert (await call(site, {"email": HOA}))[0] == 200
    assert (await call(site, {"email": HOA}))[0] == 429


async def test_a_huge_body_is_refused_before_it_is_read(site: Site) -> None:
    raw = b'{"email": "' + b"a" * 70_000 + b'"}'
    status, answer = await call(site, raw)
    assert (status, answer["error"]) == (413, "too_large")


def test_the_secret_is_derived_from_the_key_and_the_campaign() -> None:
    one = webhook_secret(SECRET_KEY, "cchc-2024-tinh")
    assert len(one) == 64 and int(one, 16) >= 0
    assert one != webhook_secret(SECRET_KEY, "cchc-2024-sonla")
    assert one != webhook_secret(b"x" * 40, "cchc-2024-tinh")
    now = datetime(2025, 1, 6, tzinfo=UTC)
    headers = signed_headers(one, b"{}", now)
    assert headers[TIMESTAMP_HEADER] == str(int(now.timestamp()))
    assert headers[SIGNATURE_HEADER] == signature(one, headers[TIMESTAMP_HEADER], b"{}")


async def test_concurrent_calls_share_transactions_and_answer_each_person_once(
    site: Site, session: AsyncSession
) -> None:
    emails = ["hoatt@snv.gov.vn", "duclv@snv.gov.vn", "tuanpm@mocchau.gov.vn"]
    bodies: list[dict[str, object]] = [{"email": e} for e in emails * 4]
    bodies += [{"email": f"nguoi{i}@khong.vn"} for i in range(3)]
    writer = site.app.state.answer_writer
    before = writer.batches
    answers = await asyncio.gather(*(call(site, body) for body in bodies))
    statuses = [(status, body.get("status", body.get("error"))) for status, body in answers]
    assert statuses.count((200, "answered")) == 3
    assert statuses.count((200, "already_answered")) == 9
    assert statuses.count((404, "unknown_person")) == 3
    # Fewer transactions than calls: the calls that arrived together were written together.
    assert writer.batches - before < len(bodies)
    events = (
        await session.scalars(select(Event.respondent_id).where(Event.kind == "answered"))
    ).all()
    assert len(events) == len(set(events)) == 3
