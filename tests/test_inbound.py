"""What each kind of inbound message changes in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mail.inbound import (
    Applied,
    InboundRef,
    KnownMessages,
    apply_inbound,
    digest_of,
    load_known,
    read_cursor,
    reset_cursor,
)
from mail.signing import Tag
from mail.triage import AutoReply, Bounce, Completion, Delayed, Other, Reply, Result
from storage.models import (
    Campaign,
    CampaignState,
    Contact,
    Delivery,
    DeliveryState,
    EmailHealth,
    Event,
    InboundMessage,
    Respondent,
    RespondentState,
)
from storage.outbox import enqueue
from storage.roster import import_roster
from tests.sample import PEOPLE, roster_file

NOW = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hà Nội
MAILBOX = "INBOX"
UIDVALIDITY = 1700000000
OUR_ID = "<dondoc.41.0123456789abcdef@snv.sonla.gov.vn>"


@pytest.fixture
async def people(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> dict[str, Respondent]:
    await import_roster(session, province, roster_file(tmp_path, PEOPLE), actor="test")
    await session.commit()
    return {r.email or "": r for r in await session.scalars(select(Respondent))}


@pytest.fixture
async def contacts(session: AsyncSession, people: dict[str, Respondent]) -> dict[str, Contact]:
    return {c.full_name: c for c in await session.scalars(select(Contact))}


async def apply(
    session: AsyncSession,
    result: Result,
    uid: int,
    *,
    now: datetime = NOW,
    uidvalidity: int = UIDVALIDITY,
    **kwargs: Any,
) -> Applied:
    applied = await apply_inbound(
        session, InboundRef(MAILBOX, uidvalidity, uid), result, now=now, **kwargs
    )
    await session.commit()
    return applied


def hard_bounce(person: Respondent, **changes: Any) -> Bounce:
    values: dict[str, Any] = {
        "message_id": f"<bounce-{person.id}@mx.snv.gov.vn>",
        "sender": "mailer-daemon@mx.snv.gov.vn",
        "subject": "Undelivered Mail Returned to Sender",
        "tag": Tag("b", person.id),
        "addresses": (person.email or "",),
        "status": "5.1.1",
        "klass": "bad_address",
        "permanent": True,
        "diagnostic": f"smtp; 550 5.1.1 <{person.email}>: Recipient address rejected",
    }
    values.update(changes)
    return Bounce(**values)


async def health(session: AsyncSession, person: Respondent) -> EmailHealth:
    await session.refresh(person)
    return person.email_health


async def deliveries(session: AsyncSession, reason: str) -> list[Delivery]:
    return list(
        (
            await session.scalars(
                select(Delivery).where(Delivery.reason == reason).order_by(Delivery.id)
            )
        ).all()
    )


async def events(session: AsyncSession, kind: str) -> list[Event]:
    return list(
        (await session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id))).all()
    )


async def queue(session: AsyncSession, person: Respondent, channel: str, n: int) -> None:
    await enqueue(
        session,
        campaign_id=person.campaign_id,
        channel=channel,
        reason="reminder",
        dedupe_key=f"reminder:{n}:{person.id}:{channel}",
        due_at=NOW + timedelta(days=1),
        respondent_id=person.id,
    )


async def test_a_hard_bounce_marks_the_address_stops_email_and_alerts_the_focal_points(
    session: AsyncSession, people: dict[str, Respondent], contacts: dict[str, Contact]
) -> None:
    hoa = people["hoatt@snv.gov.vn"]
    await queue(session, hoa, "email", 1)
    await queue(session, hoa, "email", 2)
    await queue(session, hoa, "telegram", 1)
    await session.commit()

    applied = await apply(session, hard_bounce(hoa), uid=5)
    assert (applied.marked_bounced, applied.cancelled, applied.alerts) == (1, 2, 2)
    await session.refresh(hoa)
    assert hoa.email_health == EmailHealth.BOUNCED
    states = {d.dedupe_key: d.state for d in await deliveries(session, "reminder")}
    assert states == {
        f"reminder:1:{hoa.id}:email": DeliveryState.CANCELLED,
        f"reminder:2:{hoa.id}:email": DeliveryState.CANCELLED,
        f"reminder:1:{hoa.id}:telegram": DeliveryState.QUEUED,
    }
    alerts = await deliveries(session, "bounce_alert")
    # The unit's focal point and the IT focal point, by email, due now, with the person's name.
    assert {a.contact_id for a in alerts} == {
        contacts["Vũ Thị Lan"].id,
        contacts["Bùi Quang Huy"].id,
    }
    for alert in alerts:
        assert alert.channel == "email" and alert.due_at == NOW
        assert alert.dedupe_key.startswith(f"bounce_alert:{hoa.id}:")
        assert alert.payload["person"]["full_name"] == "Trần Thị Hoà"
        assert alert.payload["person"]["unit"] == "Sở Nội vụ"
        assert alert.payload["bounce_class"] == "bad_address"
        assert alert.payload["bounce_detail"].startswith("550 5.1.1 <hoatt@snv.gov.vn>")
    [event] = await events(session, "bounced")
    assert event.respondent_id == hoa.id and event.data["status"] == "5.1.1"
    assert event.data["alerts"] == 2 and event.at == NOW
    [row] = (await session.scalars(select(InboundMessage))).all()
    assert (row.kind, row.respondent_id, row.campaign_id) == ("bounce", hoa.id, hoa.campaign_id)
    assert row.data["matched_by"] == "tag"
    cursor = await read_cursor(session, MAILBOX)
    assert cursor is not None and (cursor.uidvalidity, cursor.last_uid) == (UIDVALIDITY, 5)

    # A second bounce for the same address alerts nobody again.
    again = await apply(session, hard_bounce(hoa, message_id="<bounce-2@x>"), uid=6)
    assert (again.marked_bounced, again.alerts) == (0, 0)
    assert len(await deliveries(session, "bounce_alert")) == 2


async def test_a_bounce_without_a_tag_is_matched_by_its_failed_address(
    session: AsyncSession, people: dict[str, Respondent], contacts: dict[str, Contact]
) -> None:
    tuan = people["tuanpm@mocchau.gov.vn"]
    applied = await apply(
        session, hard_bounce(tuan, tag=None, addresses=("tuanpm@mocchau.gov.vn",)), uid=1
    )
    assert applied.respondent_ids == [tuan.id] and applied.marked_bounced == 1
    alerts = await deliveries(session, "bounce_alert")
    # Mộc Châu's focal point is Đặng Văn Nam.
    assert {a.contact_id for a in alerts} == {
        contacts["Đặng Văn Nam"].id,
        contacts["Bùi Quang Huy"].id,
    }


async def test_a_bounce_of_an_address_the_person_no_longer_has_changes_nothing(
    session: AsyncSession, people: dict[str, Respondent]
) -> None:
    duc = people["duclv@snv.gov.vn"]
    await queue(session, duc, "email", 1)
    await session.commit()
    applied = await apply(session, hard_bounce(duc, addresses=("old.duclv@snv.gov.vn",)), uid=1)
    assert (applied.marked_bounced, applied.cancelled, applied.alerts) == (0, 0, 0)
    await session.refresh(duc)
    assert duc.email_health == EmailHealth.OK
    assert len(await events(session, "bounce_stale")) == 1


async def test_a_full_mailbox_is_marked_and_counted_and_nothing_is_cancelled(
    session: AsyncSession, people: dict[str, Respondent]
) -> None:
    hung = people["hungnv@sonv.gov.vn"]
    await queue(session, hung, "email", 1)
    await session.commit()
    full = hard_bounce(hung, status="5.2.2", klass="mailbox_full", diagnostic="552 5.2.2 full")
    applied = await apply(session, full, uid=1)
    assert (applied.marked_full, applied.cancelled, applied.alerts) == (1, 0, 0)
    assert await health(session, hung) == EmailHealth.FULL
    assert [d.state for d in await deliveries(session, "reminder")] == [DeliveryState.QUEUED]
    assert len(await events(session, "mailbox_full")) == 1
    # A full mailbox never hides a bad address already known.
    await apply(session, hard_bounce(hung), uid=2)
    await apply(session, hard_bounce(hung, klass="mailbox_full", status="5.2.2"), uid=3)
    assert await health(session, hung) == EmailHealth.BOUNCED


async def test_a_policy_block_alerts_the_organiser_and_it_once_a_day(
    session: AsyncSession, people: dict[str, Respondent], contacts: dict[str, Contact]
) -> None:
    blocked = {"status": "5.7.1", "klass": "policy", "diagnostic": "554 5.7.1 spam"}
    await apply(session, hard_bounce(people["hoatt@snv.gov.vn"], **blocked), uid=1)
    await apply(session, hard_bounce(people["duclv@snv.gov.vn"], **blocked), uid=2)
    alerts = await deliveries(session, "bounce_alert")
    assert {a.contact_id for a in alerts} == {
        contacts["Phạm Thị Mai"].id,
        contacts["Bùi Quang Huy"].id,
    }
    assert alerts[0].payload["bounce_class"] == "policy"
    assert len(await events(session, "bounce_policy")) == 2
    await apply(
        session, hard_bounce(people["duclv@snv.gov.vn"], **blocked), uid=3, now=NOW + timedelta(1)
    )
    assert len(await deliveries(session, "bounce_alert")) == 4
    # Nobody's address is marked bad for a policy refusal.
    health = set((await session.scalars(select(Respondent.email_health))).all())
    assert health == {EmailHealth.OK}


async def test_temporary_failures_and_delays_are_only_counted(
    session: AsyncSession, people: dict[str, Respondent]
) -> None:
    pang = people["pang.lv@sonla.gov.vn"]
    await queue(session, pang, "email", 1)
    await session.commit()
    delayed = Delayed(tag=Tag("b", pang.id), addresses=(pang.email or "",), status="4.4.1")
    expired = hard_bounce(pang, status="4.4.1", klass="other", permanent=False)
    await apply(session, delayed, uid=1)
    await apply(session, expired, uid=2)
    assert len(await events(session, "mail_delayed")) == 1
    assert len(await events(session, "bounce_transient")) == 1
    await session.refresh(pang)
    assert pang.email_health == EmailHealth.OK
    assert [d.state for d in await deliveries(session, "reminder")] == [DeliveryState.QUEUED]
    assert await deliveries(session, "bounce_alert") == []


async def test_an_auto_reply_is_an_event_and_nothing_else(
    session: AsyncSession, people: dict[str, Respondent]
) -> None:
    hoa = people["hoatt@snv.gov.vn"]
    await queue(session, hoa, "email", 1)
    await session.commit()
    auto = AutoReply(
        tag=Tag("b", hoa.id),
        sender="hoatt@snv.gov.vn",
        subject="Trả lời tự động: Vắng mặt",
        reason="auto-submitted: auto-replied",
    )
    applied = await apply(session, auto, uid=1)
    assert applied.respondent_ids == [hoa.id]
    [event] = await events(session, "auto_reply")
    assert event.respondent_id == hoa.id and event.data["subject"] == "Trả lời tự động: Vắng mặt"
    await session.refresh(hoa)
    assert hoa.email_health == EmailHealth.OK
    assert (await session.scalar(select(func.count()).select_from(Delivery))) == 1
    assert await events(session, "reply") == []


async def test_a_reply_is_recorded_and_forwarded_to_the_unit_focal_point(
    session: AsyncSession, people: dict[str, Respondent], contacts: dict[str, Contact]
) -> None:
    tuan = people["tuanpm@mocchau.gov.vn"]
    reply = Reply(
        message_id="<r1@mocchau.gov.vn>",
        tag=Tag("r", tuan.id),
        sender="tuanpm@mocchau.gov.vn",
        subject="Re: Mời đồng chí trả lời phiếu khảo sát",
        excerpt="Tôi đã chuyển công tác, đề nghị cập nhật.",
    )
    applied = await apply(session, reply, uid=1)
    assert applied.forwards == 1
    [event] = await events(session, "reply")
    assert event.respondent_id == tuan.id
    assert event.data["excerpt"] == "Tôi đã chuyển công tác, đề nghị cập nhật."
    [forward] = await deliveries(session, "reply_forward")
    assert forward.contact_id == contacts["Đặng Văn Nam"].id and forward.due_at == NOW
    assert forward.payload["reply_text"] == "Tôi đã chuyển công tác, đề nghị cập nhật."
    assert forward.payload["reply_subject"] == "Re: Mời đồng chí trả lời phiếu khảo sát"
    assert forward.payload["person"]["full_name"] == "Phạm Minh Tuấn"


async def test_a_reply_is_matched_through_the_message_it_answers(
    session: AsyncSession, people: dict[str, Respondent]
) -> None:
    duc = people["duclv@snv.gov.vn"]
    await enqueue(
        session,
        campaign_id=duc.campaign_id,
        channel="email",
        reason="invitation",
        dedupe_key=f"invitation:{duc.id}:email",
        due_at=NOW,
        respondent_id=duc.id,
    )
    invitation = (await deliveries(session, "invitation"))[0]
    invitation.state = DeliveryState.SENT
    invitation.provider_message_id = OUR_ID
    await session.commit()
    reply = Reply(
        sender="someone.else@gmail.com",
        our_message_ids=(OUR_ID,),
        in_reply_to=OUR_ID,
        subject="Re: Mời",
        excerpt="Link không mở được.",
    )
    applied = await apply(session, reply, uid=1)
    assert applied.respondent_ids == [duc.id]
    row = await session.scalar(select(InboundMessage))
    assert row is not None and row.data["matched_by"] == "message_id"


async def test_a_completion_notice_marks_answered_once_and_keeps_the_first_time(
    session: AsyncSession, people: dict[str, Respondent]
) -> None:
    hoa, duc = people["hoatt@snv.gov.vn"], people["duclv@snv.gov.vn"]
    finished = NOW - timedelta(hours=2)
    notice = Completion(token=hoa.token, date=finished, rule="limesurvey", subject="Hoàn thành")
    applied = await apply(session, notice, uid=1)
    assert (applied.answered, applied.respondent_ids) == (1, [hoa.id])
    await session.refresh(hoa)
    assert hoa.state == RespondentState.ANSWERED
    assert (hoa.answered_at, hoa.answer_source) == (finished, "email")
    [event] = await events(session, "answered")
    assert event.data["source"] == "email" and event.respondent_id == hoa.id
    # The same person again, later: nothing changes.
    later = Completion(token=hoa.token, date=NOW, rule="limesurvey")
    assert (await apply(session, later, uid=2)).answered == 0
    await session.refresh(hoa)
    assert hoa.answered_at == finished
    # Someone answered through an import keeps that source; a notice by email address works.
    duc.state = RespondentState.ANSWERED
    duc.answer_source = "import"
    await session.commit()
    assert (await apply(session, Completion(email="duclv@snv.gov.vn"), uid=3)).answered == 0
    await session.refresh(duc)
    assert duc.answer_source == "import"
    hung = people["hungnv@sonv.gov.vn"]
    assert (await apply(session, Completion(email="HungNV@sonv.gov.vn"), uid=4)).answered == 1
    # A notice from the future is recorded at the time it was read.
    pang = people["pang.lv@sonla.gov.vn"]
    future = Completion(token=pang.token, date=NOW + timedelta(days=3))
    await apply(session, future, uid=5)
    await session.refresh(pang)
    await session.refresh(hung)
    assert pang.answered_at == NOW and hung.answered_at == NOW


async def test_each_message_acts_exactly_once(
    session: AsyncSession, people: dict[str, Respondent]
) -> None:
    hoa = people["hoatt@snv.gov.vn"]
    first = await apply(session, hard_bounce(hoa), uid=9)
    second = await apply(session, hard_bounce(hoa), uid=9)
    assert first.inbound_id is not None and second.already_recorded
    assert len(await events(session, "bounced")) == 1
    assert (await session.scalar(select(func.count()).select_from(InboundMessage))) == 1
    # An older UID never moves the cursor back.
    await apply(session, Other(reason="x"), uid=3)
    cursor = await read_cursor(session, MAILBOX)
    assert cursor is not None and cursor.last_uid == 9


async def test_a_uidvalidity_change_restarts_the_cursor_without_acting_twice(
    session: AsyncSession, people: dict[str, Respondent], province: Campaign
) -> None:
    hoa = people["hoatt@snv.gov.vn"]
    no_id = Other(reason="x", subject="no Message-ID")
    raw_no_id = b"Subject: no Message-ID\n\nbody"
    await apply(session, hard_bounce(hoa), uid=1)
    await apply(session, no_id, uid=2, digest=digest_of(raw_no_id))
    assert await reset_cursor(session, MAILBOX, UIDVALIDITY + 1, now=NOW) == UIDVALIDITY
    await session.commit()
    cursor = await read_cursor(session, MAILBOX)
    assert cursor is not None and (cursor.uidvalidity, cursor.last_uid) == (UIDVALIDITY + 1, 0)
    [changed] = await events(session, "mail_uidvalidity_changed")
    assert changed.campaign_id == province.id
    assert changed.data == {"mailbox": MAILBOX, "old": UIDVALIDITY, "new": UIDVALIDITY + 1}

    known = await load_known(session, MAILBOX, except_uidvalidity=UIDVALIDITY + 1)
    assert isinstance(known, KnownMessages)
    again = await apply(session, hard_bounce(hoa), uid=1, uidvalidity=UIDVALIDITY + 1, known=known)
    same = await apply(
        session, no_id, uid=2, uidvalidity=UIDVALIDITY + 1, known=known, digest=digest_of(raw_no_id)
    )
    assert again.duplicate_of is not None and same.duplicate_of is not None
    assert (again.alerts, again.cancelled, again.marked_bounced) == (0, 0, 0)
    assert len(await events(session, "bounced")) == 1
    new = await apply(
        session,
        hard_bounce(people["duclv@snv.gov.vn"]),
        uid=3,
        uidvalidity=UIDVALIDITY + 1,
        known=known,
    )
    assert new.duplicate_of is None and new.marked_bounced == 1
    cursor = await read_cursor(session, MAILBOX)
    assert cursor is not None and cursor.last_uid == 3
    rows = (await session.scalars(select(InboundMessage).order_by(InboundMessage.id))).all()
    assert [(r.uidvalidity, r.uid) for r in rows] == [
        (UIDVALIDITY, 1),
        (UIDVALIDITY, 2),
        (UIDVALIDITY + 1, 1),
        (UIDVALIDITY + 1, 2),
        (UIDVALIDITY + 1, 3),
    ]


async def test_nobody_is_alerted_about_a_closed_campaign_or_an_answered_person(
    session: AsyncSession, people: dict[str, Respondent], province: Campaign
) -> None:
    hoa, duc = people["hoatt@snv.gov.vn"], people["duclv@snv.gov.vn"]
    hoa.state = RespondentState.ANSWERED
    await session.commit()
    answered = await apply(session, hard_bounce(hoa), uid=1)
    assert (answered.marked_bounced, answered.alerts) == (1, 0)
    province.state = CampaignState.CLOSED
    await session.commit()
    closed = await apply(session, hard_bounce(duc), uid=2)
    assert (closed.marked_bounced, closed.alerts) == (1, 0)
    reply = Reply(tag=Tag("r", duc.id), excerpt="Cảm ơn", subject="Re")
    assert (await apply(session, reply, uid=3)).forwards == 0
    assert await deliveries(session, "bounce_alert") == []
    assert await deliveries(session, "reply_forward") == []


async def test_a_focal_points_own_bounce_goes_to_the_organiser(
    session: AsyncSession, people: dict[str, Respondent], contacts: dict[str, Contact]
) -> None:
    lan = contacts["Vũ Thị Lan"]
    await enqueue(
        session,
        campaign_id=lan.campaign_id,
        channel="email",
        reason="digest",
        dedupe_key=f"digest:2025-01-07:{lan.id}:email",
        due_at=NOW + timedelta(days=1),
        contact_id=lan.id,
    )
    await session.commit()
    bounce = Bounce(
        tag=Tag("c", lan.id), addresses=(lan.email or "",), status="5.1.1", klass="bad_address"
    )
    applied = await apply(session, bounce, uid=1)
    assert applied.contact_ids == [lan.id] and applied.cancelled == 1
    alerts = await deliveries(session, "bounce_alert")
    assert {a.contact_id for a in alerts} == {
        contacts["Phạm Thị Mai"].id,
        contacts["Bùi Quang Huy"].id,
    }
    assert alerts[0].payload["person"]["full_name"] == "Vũ Thị Lan"
    assert len(await events(session, "contact_bounced")) == 1


async def test_messages_about_nobody_are_still_recorded(
    session: AsyncSession, people: dict[str, Respondent]
) -> None:
    stranger = Bounce(addresses=("nobody@nowhere.vn",), status="5.1.1", klass="bad_address")
    applied = await apply(session, stranger, uid=1)
    assert applied.inbound_id is not None and applied.respondent_ids == []
    await apply(session, Completion(token="not-a-token-of-anyone"), uid=2)
    await apply(session, Other(reason="not addressed to dondoc", subject="Lịch họp"), uid=3)
    rows = (await session.scalars(select(InboundMessage).order_by(InboundMessage.uid))).all()
    assert [(r.kind, r.respondent_id) for r in rows] == [
        ("bounce", None),
        ("completion", None),
        ("other", None),
    ]
    assert rows[2].data["subject"] == "Lịch họp"
    kinds = set((await session.scalars(select(Event.kind))).all())
    assert not kinds & {"bounced", "answered", "reply", "auto_reply"}


async def test_an_invitation_refused_by_a_full_mailbox_is_tried_again_a_few_times(
    session: AsyncSession, people: dict[str, Respondent]
) -> None:
    hung = people["hungnv@sonv.gov.vn"]
    await enqueue(
        session,
        campaign_id=hung.campaign_id,
        channel="email",
        reason="invitation",
        dedupe_key=f"invitation:{hung.id}:email",
        due_at=NOW,
        respondent_id=hung.id,
    )
    await session.commit()
    for uid in range(1, 6):
        # The latest try was sent and came back full again.
        latest = (await deliveries(session, "invitation"))[-1]
        latest.state = DeliveryState.SENT
        latest.provider_message_id = f"<dondoc.{latest.id}.00000000000000{uid:02d}@snv.gov.vn>"
        await session.commit()
        full = hard_bounce(
            hung,
            status="5.2.2",
            klass="mailbox_full",
            our_message_ids=(latest.provider_message_id,),
            message_id=f"<full-{uid}@mx>",
        )
        await apply(session, full, uid=uid, now=NOW + timedelta(days=uid))
    tries = await deliveries(session, "invitation")
    base = f"invitation:{hung.id}:email"
    assert [d.dedupe_key for d in tries] == [base] + [f"{base}:retry{n}" for n in (1, 2, 3)]
    assert tries[1].due_at == NOW + timedelta(days=2)  # a day after the bounce
    assert tries[3].payload == {"retry_of": base, "retry": 3}
    retries = [e.data["retry"] for e in await events(session, "mailbox_full")]
    assert retries == [f"{base}:retry1", f"{base}:retry2", f"{base}:retry3", None, None]
