"""Who has answered, from a list: the survey platform's export or the Ministry software's progress
view, matched to people by token, email or phone.

Answering is a one-way fact: an import never un-answers anyone, and a person already answered
keeps the time and source first recorded. Every new answer is an Event naming the file and row.
``mark_answered`` is that rule for every bulk source (this import, the LimeSurvey poller).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.cells import normalise_email
from storage.models import Campaign, Event, Respondent, RespondentState, utcnow
from storage.phones import PhoneError, normalize_phone
from storage.problems import InputError, Problem
from storage.tables import FieldSpec, read_table

ANSWERED_FIELDS = (
    FieldSpec("token", "Mã (token)", ("Token", "Mã token", "Mã khảo sát", "Mã phiếu", "Mã")),
    FieldSpec("email", "Email", ("Email", "E-mail", "Thư điện tử", "Địa chỉ email")),
    FieldSpec("phone", "Số điện thoại", ("Số điện thoại", "SĐT", "Điện thoại", "Phone")),
    FieldSpec(
        "answered_at",
        "Thời gian trả lời",
        ("Thời gian trả lời", "Thời gian hoàn thành", "Ngày trả lời", "Submitdate", "Completed"),
    ),
)

SOURCE = "import"


@dataclass(slots=True)
class AnsweredReport:
    file: str
    rows_read: int = 0
    newly_answered: int = 0
    already_answered: int = 0
    unmatched: list[Problem] = field(default_factory=list)


def mask(token: str) -> str:
    """Enough of a token to find the line in the file, never enough to use the link."""
    return f"{token[:4]}…" if len(token) > 4 else "…"


def _parse_time(text: str, tz: ZoneInfo) -> datetime | None:
    if not text:
        return None
    for candidate in (text, text.replace(" ", "T", 1)):
        try:
            moment = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment
    for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    return None


@dataclass(frozen=True, slots=True)
class Answer:
    """One person's answer as a source learned it: when, and what to keep in its Event."""

    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


async def mark_answered(
    session: AsyncSession,
    campaign_id: int,
    answers: Mapping[int, Answer],
    *,
    source: str,
    actor: str,
    now: datetime,
) -> set[int]:
    """Mark people (by respondent id) answered, in the caller's transaction; the ids marked.

    One conditional UPDATE per person, sent as executemany: a person already answered — by any
    source, even by a webhook or a second poller a moment ago — keeps the first time and source.
    Who was marked is read back in the same transaction, and each gets an ``answered`` Event.
    """
    if not answers:
        return set()
    table = cast(Table, Respondent.__table__)
    mark = (
        update(table)
        .where(table.c.id == bindparam("rid"), table.c.state != RespondentState.ANSWERED.value)
        .values(
            state=RespondentState.ANSWERED.value,
            answered_at=bindparam("when"),
            answer_source=source,
            updated_at=now,
        )
    )
    connection = await session.connection()
    ids = list(answers)
    marked: set[int] = set()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        await connection.execute(mark, [{"rid": rid, "when": answers[rid].at} for rid in chunk])
        for rid, got_source, got_at in await connection.execute(
            select(table.c.id, table.c.answer_source, table.c.answered_at).where(
                table.c.id.in_(chunk)
            )
        ):
            if got_source == source and got_at == answers[rid].at:
                marked.add(rid)
    events = [
        {
            "campaign_id": campaign_id,
            "respondent_id": rid,
            "kind": "answered",
            "actor": actor,
            "at": now,
            "data": {
                "source": source,
                **answers[rid].data,
                "answered_at": answers[rid].at.isoformat(),
            },
        }
        for rid in ids
        if rid in marked
    ]
    for start in range(0, len(events), 5000):
        await session.execute(insert(Event), events[start : start + 5000])
    return marked


async def import_answered(
    session: AsyncSession,
    campaign: Campaign,
    path: Path,
    *,
    actor: str,
    now: datetime | None = None,
) -> AnsweredReport:
    """Mark the people listed in ``path`` answered. The caller commits."""
    table = await asyncio.to_thread(read_table, path, ANSWERED_FIELDS)
    if not {"token", "email", "phone"} & set(table.columns):
        # read_table accepts the sheet because no single column is required; one of three is.
        raise_missing(table.file)
    now = now or utcnow()
    tz = ZoneInfo(campaign.timezone)
    report = AnsweredReport(file=table.file, rows_read=len(table.rows))
    people = (
        await session.execute(
            select(
                Respondent.id,
                Respondent.token,
                Respondent.email,
                Respondent.phone,
                Respondent.state,
            ).where(Respondent.campaign_id == campaign.id)
        )
    ).all()
    by_token = {p.token: p for p in people}
    by_email = {p.email: p for p in people if p.email}
    by_phone = {p.phone: p for p in people if p.phone}

    answered: dict[int, tuple[int, datetime]] = {}
    for src in table.rows:
        token = src.values.get("token", "")
        email = src.values.get("email", "")
        phone = src.values.get("phone", "")
        match = by_token.get(token) if token else None
        if match is None and email:
            try:
                match = by_email.get(normalise_email(email))
            except ValueError:
                match = None
        if match is None and phone:
            try:
                match = by_phone.get(normalize_phone(phone))
            except PhoneError:
                match = None
        if match is None:
            shown = ", ".join(v for v in (mask(token) if token else "", email, phone) if v)
            report.unmatched.append(
                Problem(
                    file=table.file,
                    sheet=table.sheet,
                    row=src.row,
                    value=shown,
                    message_vi="Không khớp với người nào trong danh sách của đợt này. "
                    "Hãy kiểm tra mã, email hoặc số điện thoại (có thể người này chưa có trong "
                    "danh sách đối tượng).",
                    message_en="matches nobody in this campaign",
                )
            )
            continue
        if match.state == RespondentState.ANSWERED or match.id in answered:
            report.already_answered += 1
            continue
        when = _parse_time(src.values.get("answered_at", ""), tz) or now
        answered[match.id] = (src.row, min(when.astimezone(UTC), now))

    marked = await mark_answered(
        session,
        campaign.id,
        {
            rid: Answer(when, {"file": table.file, "row": row})
            for rid, (row, when) in answered.items()
        },
        source=SOURCE,
        actor=actor,
        now=now,
    )
    report.newly_answered = len(marked)
    # Marked by someone else between our read and our write: already answered after all.
    report.already_answered += len(answered) - len(marked)
    session.add(
        Event(
            campaign_id=campaign.id,
            kind="answered_imported",
            actor=actor,
            at=now,
            data={
                "file": table.file,
                "rows": report.rows_read,
                "new": report.newly_answered,
                "already": report.already_answered,
                "unmatched": len(report.unmatched),
            },
        )
    )
    await session.flush()
    return report


def raise_missing(file: str) -> None:
    problem = Problem(
        file=file,
        message_vi="Không tìm thấy cột nào để nhận ra người đã trả lời. Tệp cần có ít nhất một "
        "trong các cột: «Token» (mã khảo sát), «Email», «Số điện thoại».",
        message_en="no token, email or phone column",
    )
    raise InputError([problem], problem.render_vi(), problem.message_en)
