"""Daily digests and escalations (scheduler.digests) on both backends.

The sample province (tests/sample.py): Sở Nội vụ has Hùng, Hoà and Đức; UBND huyện Mộc Châu has
Tuấn; HĐND tỉnh Sơn La has Pấng. Vũ Thị Lan is the focal point of Sở Nội vụ, Đặng Văn Nam of
Mộc Châu and HĐND; Phạm Thị Mai is the organiser. This file adds the unit heads (Hùng for Sở Nội
vụ, Tuấn for Mộc Châu, a head of HĐND with no email address) and a second focal point of HĐND
with no email address.

The deadline is Fri 10/01/2025 17:00 (Asia/Ho_Chi_Minh); the default policy sends the digest at
08:00 in the Mon–Fri 07:30–17:00 window and escalates below 60% at 3 days (Tue 07/01 17:00) and
1 day (Thu 09/01 17:00) before it. Times in comments are local.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mail.templates import Rendered, render
from scheduler.calendar import HolidayCalendar, SendingCalendar
from scheduler.context import build_outgoing
from scheduler.digests import (
    UNREACHABLE,
    days_left,
    digest_key,
    digest_time,
    escalation_key,
    escalation_offset,
    plan_digests,
    plan_escalations,
)
from storage.models import (
    Campaign,
    CampaignState,
    Contact,
    Delivery,
    DeliveryState,
    Event,
    Respondent,
    RespondentState,
    Unit,
)
from storage.policy import DEFAULT_WINDOW, Policy, Window
from storage.roster import import_roster
from tests.sample import PEOPLE, roster_file
from tests.sheets import CONTACT_HEADER, write_csv

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HOLIDAYS = HolidayCalendar("VN", years=range(2024, 2026))
SENDER = "Sở Nội vụ tỉnh Sơn La"
DEADLINE = datetime(2025, 1, 10, 17, 0, tzinfo=TZ)
OPENS_AT = datetime(2024, 12, 20, 8, 0, tzinfo=TZ)
THREE_DAYS = timedelta(days=3)
ONE_DAY = timedelta(days=1)

EXTRA_CONTACTS: list[list[object]] = [
    [1, "Nguyễn Văn Hùng", "Giám đốc", "Thủ trưởng đơn vị", "Sở Nội vụ", "hungnv@sonv.gov.vn", ""],
    [
        2,
        "Phạm Minh Tuấn",
        "Chủ tịch UBND huyện",
        "Thủ trưởng đơn vị",
        "UBND huyện Mộc Châu",
        "tuanpm@mocchau.gov.vn",
        "",
    ],
    [
        3,
        "Hoàng Văn Sơn",
        "Chủ tịch HĐND tỉnh",
        "Thủ trưởng đơn vị",
        "HĐND tỉnh Sơn La",
        "",
        "0912 345 678",
    ],
    [4, "Lường Thị Thu", "Chuyên viên", "Đầu mối", "HĐND tỉnh Sơn La", "", "0915 026 836"],
]

# What the templates show of each person: name, position, group; never an address or a phone.
DUC = {
    "full_name": "Lê Văn Đức",
    "position": "Trưởng phòng",
    "group": "Lãnh đạo phòng chuyên môn thuộc sở",
}
HOA = {"full_name": "Trần Thị Hoà", "position": "Phó Giám đốc", "group": "Lãnh đạo cấp sở"}
TUAN = {
    "full_name": "Phạm Minh Tuấn",
    "position": "Chủ tịch UBND huyện",
    "group": "Lãnh đạo UBND cấp huyện",
}
PANG = {
    "full_name": "Lò Văn Pấng",
    "position": "Đại biểu HĐND tỉnh",
    "group": "Đại biểu HĐND cấp tỉnh",
}


def vn(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def calendar_of(campaign: Campaign) -> SendingCalendar:
    return SendingCalendar(
        Policy.from_json(campaign.policy).window, campaign.timezone, holidays=HOLIDAYS
    )


@pytest.fixture
async def campaign(session: AsyncSession, province: Campaign, tmp_path: Path) -> Campaign:
    roster = roster_file(tmp_path, PEOPLE)
    await import_roster(session, province, roster, actor="test")
    # The sample's workbook has no unit head: they come from a second contacts file.
    extra = write_csv(tmp_path / "lanh-dao.csv", [CONTACT_HEADER, *EXTRA_CONTACTS])
    await import_roster(session, province, roster, actor="test", contacts_path=extra)
    province.state = CampaignState.ACTIVE
    await session.commit()
    return province


async def contact_ids(session: AsyncSession) -> dict[tuple[str, str], int]:
    """(name, role) -> contact id."""
    return {
        (name, role.value): cid
        for cid, name, role in await session.execute(
            select(Contact.id, Contact.full_name, Contact.role)
        )
    }


async def unit_ids(session: AsyncSession) -> dict[str, int]:
    return {name: uid for uid, name in await session.execute(select(Unit.id, Unit.name))}


async def answer(session: AsyncSession, *emails: str) -> None:
    await session.execute(
        update(Respondent)
        .where(Respondent.email.in_(emails))
        .values(state=RespondentState.ANSWERED, answered_at=vn(2025, 1, 6, 9))
    )
    await session.commit()


async def digests(session: AsyncSession, campaign: Campaign, now: datetime) -> int:
    added = await plan_digests(session, campaign, now=now, calendar=calendar_of(campaign))
    await session.commit()
    return added


async def escalations(session: AsyncSession, campaign: Campaign, now: datetime) -> int:
    added = await plan_escalations(session, campaign, now=now, calendar=calendar_of(campaign))
    await session.commit()
    return added


async def queued(session: AsyncSession, reason: str) -> list[Delivery]:
    session.expunge_all()
    return list(
        (
            await session.scalars(
                select(Delivery).where(Delivery.reason == reason).order_by(Delivery.dedupe_key)
            )
        ).all()
    )


async def rendered(
    session: AsyncSession, deliveries: Sequence[Delivery], now: datetime
) -> dict[int | None, Rendered]:
    """Each delivery rendered as the dispatcher and the email channel would, by contact id.

    ``build_outgoing`` merges the campaign context, the payload and the recipient's fields; the
    channel adds its sender name. StrictUndefined turns any missing variable into an error.
    """
    messages = await build_outgoing(session, deliveries, now=now)
    return {
        d.contact_id: render(m.reason, {"sender_name": SENDER, **m.context})
        for d, m in zip(deliveries, messages, strict=True)
    }


async def unreachable_keys(session: AsyncSession) -> list[str]:
    return sorted(
        str(data["dedupe_key"])
        for data in await session.scalars(select(Event.data).where(Event.kind == UNREACHABLE))
    )


# --- pure decisions -----------------------------------------------------------------------------


def test_digest_time_is_moved_into_the_window_the_same_day_only() -> None:
    lunch = Window(
        days=frozenset(range(5)),
        start=time(7, 30),
        end=time(17, 0),
        breaks=((time(11, 30), time(13, 30)),),
    )
    calendar = SendingCalendar(lunch, "Asia/Ho_Chi_Minh", holidays=HOLIDAYS)
    tuesday = date(2025, 1, 7)
    assert digest_time(calendar, tuesday, time(8, 0)) == vn(2025, 1, 7, 8, 0)
    assert digest_time(calendar, tuesday, time(6, 0)) == vn(2025, 1, 7, 7, 30)
    assert digest_time(calendar, tuesday, time(12, 0)) == vn(2025, 1, 7, 13, 30)
    # After the window there is no digest that day; it never slides to the next morning.
    assert digest_time(calendar, tuesday, time(17, 0)) is None
    assert digest_time(calendar, date(2025, 1, 4), time(8, 0)) is None  # a Saturday
    assert digest_time(calendar, date(2025, 1, 1), time(8, 0)) is None  # New Year's Day
    assert digest_time(calendar, date(2025, 1, 29), time(8, 0)) is None  # Tết


def test_escalation_offset_is_the_latest_moment_passed() -> None:
    calendar = SendingCalendar(DEFAULT_WINDOW, "Asia/Ho_Chi_Minh", holidays=HOLIDAYS)

    def offset(now: datetime, *offsets: str) -> timedelta | None:
        parsed = [timedelta(hours=int(o[:-1]) * (24 if o.endswith("d") else 1)) for o in offsets]
        return escalation_offset(calendar, parsed, opens_at=OPENS_AT, deadline=DEADLINE, now=now)

    assert offset(vn(2025, 1, 7, 16, 59), "3d", "1d") is None
    assert offset(vn(2025, 1, 7, 17, 0), "3d", "1d") == THREE_DAYS
    assert offset(vn(2025, 1, 9, 16, 59), "3d", "1d") == THREE_DAYS
    assert offset(vn(2025, 1, 9, 17, 0), "3d", "1d") == ONE_DAY
    # Down since Monday: only the latest moment counts, not every missed one.
    assert offset(vn(2025, 1, 10, 9, 0), "3d", "1d") == ONE_DAY
    # 20h before (Thu 21:00) moves to the same opening as 1d (Fri 07:30): one alert, named 1d.
    assert offset(vn(2025, 1, 9, 22, 0), "1d", "20h") == ONE_DAY
    # 30d before is before the campaign opens: dropped.
    assert offset(vn(2025, 1, 6, 9, 0), "30d") is None


def test_days_left_counts_local_dates_to_the_last_day() -> None:
    calendar = SendingCalendar(DEFAULT_WINDOW, "Asia/Ho_Chi_Minh", holidays=HOLIDAYS)
    assert days_left(DEADLINE, vn(2025, 1, 7, 8, 0), calendar) == 3
    assert days_left(DEADLINE, vn(2025, 1, 7, 23, 59), calendar) == 3
    assert days_left(DEADLINE, vn(2025, 1, 10, 7, 30), calendar) == 0
    # A deadline at midnight makes the day before the last day.
    assert days_left(vn(2025, 1, 11), vn(2025, 1, 10, 8, 0), calendar) == 0
    assert days_left(vn(2025, 1, 11), vn(2025, 1, 9, 8, 0), calendar) == 1


# --- digests ------------------------------------------------------------------------------------


async def test_each_focal_point_gets_their_own_units_exactly(
    session: AsyncSession, campaign: Campaign
) -> None:
    await answer(session, "hungnv@sonv.gov.vn", "tuanpm@mocchau.gov.vn")
    now = vn(2025, 1, 7, 8, 0)
    assert await digests(session, campaign, now) == 2

    contacts = await contact_ids(session)
    lan = contacts[("Vũ Thị Lan", "unit_focal")]
    nam = contacts[("Đặng Văn Nam", "unit_focal")]
    sent = await queued(session, "digest")
    assert [(d.contact_id, d.dedupe_key) for d in sent] == sorted(
        [(lan, f"digest:{lan}:2025-01-07"), (nam, f"digest:{nam}:2025-01-07")],
        key=lambda pair: pair[1],
    )
    assert {(d.channel, d.state, d.due_at, d.respondent_id) for d in sent} == {
        ("email", DeliveryState.QUEUED, now.astimezone(UTC), None)
    }
    payloads = {d.contact_id: d.payload for d in sent}
    # Lan sees Sở Nội vụ only; its missing people in Vietnamese name order (Đức before Hoà).
    assert payloads[lan] == {
        "units": [
            {"name": "Sở Nội vụ", "answered": 1, "total": 3, "rate": 1 / 3, "pending": [DUC, HOA]}
        ],
        "days_left": 3,
    }
    # Nam sees his two units, the lowest rate first.
    assert payloads[nam] == {
        "units": [
            {"name": "HĐND tỉnh Sơn La", "answered": 0, "total": 1, "rate": 0.0, "pending": [PANG]},
            {"name": "UBND huyện Mộc Châu", "answered": 1, "total": 1, "rate": 1.0, "pending": []},
        ],
        "days_left": 3,
    }

    mails = await rendered(session, sent, now)
    assert mails[lan].subject == (
        "Tiến độ khảo sát Điều tra XHH xác định Chỉ số CCHC năm 2024 đến 08:00 Thứ Ba, "
        "07/01/2025 – còn 3 ngày"
    )
    assert "1. Sở Nội vụ: đã trả lời 1/3 (33,3%)." in mails[lan].text
    assert "   - Lê Văn Đức, Trưởng phòng (nhóm Lãnh đạo phòng chuyên môn thuộc sở)" in (
        mails[lan].text
    )
    assert "Pấng" not in mails[lan].text and "Pấng" not in mails[lan].html
    assert "1. HĐND tỉnh Sơn La: đã trả lời 0/1 (0%)." in mails[nam].text
    assert "2. UBND huyện Mộc Châu: đã trả lời 1/1 (100%)." in mails[nam].text
    assert "Đức" not in mails[nam].text
    for mail in mails.values():
        # No respondent's address or phone reaches a focal point through the digest.
        for secret in ("hoatt@snv.gov.vn", "duclv@snv.gov.vn", "pang.lv@sonla.gov.vn", "0982"):
            assert secret not in mail.text and secret not in mail.html
        assert "Hạn chót: 17:00 Thứ Sáu, 10/01/2025 (còn 3 ngày)." in mail.text


async def test_one_digest_per_person_per_working_day(
    session: AsyncSession, campaign: Campaign
) -> None:
    contacts = await contact_ids(session)
    thu = contacts[("Lường Thị Thu", "unit_focal")]
    assert await digests(session, campaign, vn(2025, 1, 7, 8, 0)) == 2
    assert await digests(session, campaign, vn(2025, 1, 7, 8, 0)) == 0
    assert await digests(session, campaign, vn(2025, 1, 7, 15, 0)) == 0
    assert len(await queued(session, "digest")) == 2
    # The focal point without an address is recorded once for the day, not at every tick.
    assert await unreachable_keys(session) == [digest_key(thu, date(2025, 1, 7))]

    assert await digests(session, campaign, vn(2025, 1, 8, 8, 0)) == 2
    sent = await queued(session, "digest")
    assert sorted(d.dedupe_key.rsplit(":", 1)[1] for d in sent) == [
        "2025-01-07",
        "2025-01-07",
        "2025-01-08",
        "2025-01-08",
    ]
    assert await unreachable_keys(session) == [
        digest_key(thu, date(2025, 1, 7)),
        digest_key(thu, date(2025, 1, 8)),
    ]
    # On the last day: "hôm nay là ngày cuối".
    assert await digests(session, campaign, vn(2025, 1, 10, 8, 0)) == 2
    last = [d for d in await queued(session, "digest") if d.dedupe_key.endswith("2025-01-10")]
    assert {d.payload["days_left"] for d in last} == {0}
    for mail in (await rendered(session, last, vn(2025, 1, 10, 8, 0))).values():
        assert "(hôm nay là ngày cuối)" in mail.text
        assert mail.subject.endswith("– hôm nay là hạn chót")


@pytest.mark.parametrize(
    "now",
    [
        pytest.param(vn(2025, 1, 4, 9, 0), id="saturday"),
        pytest.param(vn(2025, 1, 1, 9, 0), id="new-year-holiday"),
        pytest.param(vn(2025, 1, 7, 7, 59), id="before-digest-time"),
        pytest.param(vn(2025, 1, 7, 17, 30), id="after-the-window-closed"),
        pytest.param(vn(2025, 1, 10, 17, 0), id="at-the-deadline"),
        pytest.param(vn(2025, 1, 13, 9, 0), id="after-the-deadline"),
        pytest.param(vn(2024, 12, 19, 9, 0), id="before-the-campaign-opens"),
    ],
)
async def test_no_digest_outside_its_time(
    session: AsyncSession, campaign: Campaign, now: datetime
) -> None:
    assert await digests(session, campaign, now) == 0
    assert await queued(session, "digest") == []
    assert await unreachable_keys(session) == []


@pytest.mark.parametrize("state", [CampaignState.DRAFT, CampaignState.CLOSED])
async def test_no_digest_nor_escalation_unless_the_campaign_is_active(
    session: AsyncSession, campaign: Campaign, state: CampaignState
) -> None:
    campaign.state = state
    await session.commit()
    assert await digests(session, campaign, vn(2025, 1, 7, 8, 0)) == 0
    assert await escalations(session, campaign, vn(2025, 1, 8, 9, 0)) == 0
    assert await queued(session, "digest") == await queued(session, "escalation") == []


async def test_a_digest_time_before_the_window_waits_for_its_opening(
    session: AsyncSession, campaign: Campaign
) -> None:
    campaign.policy = {**campaign.policy, "digest_at": "06:00"}
    await session.commit()
    assert await digests(session, campaign, vn(2025, 1, 7, 7, 0)) == 0
    assert await digests(session, campaign, vn(2025, 1, 7, 7, 30)) == 2
    sent = await queued(session, "digest")
    assert {d.due_at for d in sent} == {vn(2025, 1, 7, 7, 30).astimezone(UTC)}


async def test_a_digest_time_after_the_window_sends_nothing(
    session: AsyncSession, campaign: Campaign
) -> None:
    campaign.policy = {**campaign.policy, "digest_at": "18:00"}
    await session.commit()
    for now in (vn(2025, 1, 7, 16, 0), vn(2025, 1, 7, 18, 0), vn(2025, 1, 8, 8, 0)):
        assert await digests(session, campaign, now) == 0


async def test_a_calendar_in_another_zone_is_refused(
    session: AsyncSession, campaign: Campaign
) -> None:
    other = SendingCalendar(DEFAULT_WINDOW, "Asia/Bangkok", holidays=HOLIDAYS)
    with pytest.raises(ValueError, match="Asia/Bangkok"):
        await plan_digests(session, campaign, now=vn(2025, 1, 7, 8, 0), calendar=other)


# --- escalations --------------------------------------------------------------------------------


async def test_lagging_units_reach_their_head_and_the_organiser_once_per_offset(
    session: AsyncSession, campaign: Campaign
) -> None:
    # Sở Nội vụ 1/3 (33%) and HĐND 0/1 lag; Mộc Châu 1/1 does not.
    await answer(session, "hungnv@sonv.gov.vn", "tuanpm@mocchau.gov.vn")
    contacts = await contact_ids(session)
    units = await unit_ids(session)
    hung = contacts[("Nguyễn Văn Hùng", "unit_head")]
    son = contacts[("Hoàng Văn Sơn", "unit_head")]
    mai = contacts[("Phạm Thị Mai", "organiser")]
    snv, hdnd = units["Sở Nội vụ"], units["HĐND tỉnh Sơn La"]

    assert await escalations(session, campaign, vn(2025, 1, 7, 16, 59)) == 0  # before 3d
    # 3 days before: Tue 17:00, the window's end; the alerts go at Wed's opening.
    assert await escalations(session, campaign, vn(2025, 1, 7, 17, 0)) == 3
    sent = await queued(session, "escalation")
    assert sorted((d.dedupe_key, d.contact_id) for d in sent) == sorted(
        [
            (escalation_key(THREE_DAYS, snv, hung), hung),
            (escalation_key(THREE_DAYS, snv, mai), mai),
            (escalation_key(THREE_DAYS, hdnd, mai), mai),
        ]
    )
    assert escalation_key(THREE_DAYS, snv, hung) == f"escalation:259200:{snv}:{hung}"
    assert {d.due_at for d in sent} == {vn(2025, 1, 8, 7, 30).astimezone(UTC)}
    by_key = {d.dedupe_key: d.payload for d in sent}
    assert by_key[escalation_key(THREE_DAYS, snv, hung)] == {
        "units": [
            {"name": "Sở Nội vụ", "answered": 1, "total": 3, "rate": 1 / 3, "pending": [DUC, HOA]}
        ],
        "days_left": 2,  # counted from Wednesday, when the alert goes
        "threshold": 0.6,
    }
    assert by_key[escalation_key(THREE_DAYS, hdnd, mai)] == {
        "units": [
            {"name": "HĐND tỉnh Sơn La", "answered": 0, "total": 1, "rate": 0.0, "pending": [PANG]}
        ],
        "days_left": 2,
        "threshold": 0.6,
    }
    # The head of HĐND has no address: recorded, once.
    assert await unreachable_keys(session) == [escalation_key(THREE_DAYS, hdnd, son)]

    # Later ticks of the same offset add nothing.
    for now in (vn(2025, 1, 8, 7, 30), vn(2025, 1, 8, 10, 0), vn(2025, 1, 9, 16, 59)):
        assert await escalations(session, campaign, now) == 0
    # 1 day before (Thu 17:00): the same people again, under the new offset, due Fri 07:30.
    assert await escalations(session, campaign, vn(2025, 1, 9, 17, 0)) == 3
    assert await escalations(session, campaign, vn(2025, 1, 10, 9, 0)) == 0
    assert await escalations(session, campaign, vn(2025, 1, 10, 17, 0)) == 0  # the deadline
    sent = await queued(session, "escalation")
    assert len(sent) == 6
    assert sorted(d.dedupe_key for d in sent if d.due_at == vn(2025, 1, 10, 7, 30)) == sorted(
        [
            escalation_key(ONE_DAY, snv, hung),
            escalation_key(ONE_DAY, snv, mai),
            escalation_key(ONE_DAY, hdnd, mai),
        ]
    )
    assert await unreachable_keys(session) == sorted(
        [escalation_key(THREE_DAYS, hdnd, son), escalation_key(ONE_DAY, hdnd, son)]
    )

    mails = await rendered(
        session, [d for d in sent if d.dedupe_key.startswith("escalation:86400:")], DEADLINE
    )
    assert set(mails) == {hung, mai}
    for mail in mails.values():
        assert mail.subject == (
            "Cảnh báo tiến độ: tỉ lệ trả lời dưới 60% – Điều tra XHH xác định Chỉ số CCHC năm 2024"
        )
    assert "1. Sở Nội vụ: đã trả lời 1/3 (33,3%)." in mails[hung].text
    assert "   - Trần Thị Hoà, Phó Giám đốc (nhóm Lãnh đạo cấp sở)" in mails[hung].text
    assert "(hôm nay là ngày cuối)" in mails[hung].text


async def test_units_at_or_above_the_threshold_are_not_escalated(
    session: AsyncSession, campaign: Campaign
) -> None:
    # Sở Nội vụ 2/3 (67%), Mộc Châu 1/1, HĐND 1/1.
    await answer(
        session,
        "hungnv@sonv.gov.vn",
        "hoatt@snv.gov.vn",
        "tuanpm@mocchau.gov.vn",
        "pang.lv@sonla.gov.vn",
    )
    for now in (vn(2025, 1, 7, 17, 0), vn(2025, 1, 9, 17, 0)):
        assert await escalations(session, campaign, now) == 0
    assert await queued(session, "escalation") == []


async def test_a_planner_that_was_down_sends_only_the_latest_offset(
    session: AsyncSession, campaign: Campaign
) -> None:
    assert await escalations(session, campaign, vn(2025, 1, 10, 8, 0)) == 5
    sent = await queued(session, "escalation")
    # Every unit lags (nobody answered): Sở Nội vụ -> Hùng + Mai, Mộc Châu -> Tuấn + Mai,
    # HĐND -> Mai (its head has no address); all under the 1-day offset, none under 3 days.
    contacts = await contact_ids(session)
    units = await unit_ids(session)
    hung = contacts[("Nguyễn Văn Hùng", "unit_head")]
    tuan = contacts[("Phạm Minh Tuấn", "unit_head")]
    mai = contacts[("Phạm Thị Mai", "organiser")]
    snv, moc, hdnd = units["Sở Nội vụ"], units["UBND huyện Mộc Châu"], units["HĐND tỉnh Sơn La"]
    assert sorted(d.dedupe_key for d in sent) == sorted(
        [
            escalation_key(ONE_DAY, snv, hung),
            escalation_key(ONE_DAY, snv, mai),
            escalation_key(ONE_DAY, moc, tuan),
            escalation_key(ONE_DAY, moc, mai),
            escalation_key(ONE_DAY, hdnd, mai),
        ]
    )


async def test_a_head_who_is_also_the_organiser_gets_one_alert(
    session: AsyncSession, campaign: Campaign, tmp_path: Path
) -> None:
    # Phạm Thị Mai is also listed as the head of HĐND (another contact, the same address).
    both = write_csv(
        tmp_path / "kiem-nhiem.csv",
        [
            CONTACT_HEADER,
            [
                1,
                "Phạm Thị Mai",
                "Trưởng phòng CCHC",
                "Thủ trưởng đơn vị",
                "HĐND tỉnh Sơn La",
                "maipt@snv.gov.vn",
                "",
            ],
        ],
    )
    await import_roster(
        session, campaign, roster_file(tmp_path, PEOPLE), actor="test", contacts_path=both
    )
    await session.commit()
    await answer(session, "hungnv@sonv.gov.vn", "hoatt@snv.gov.vn", "tuanpm@mocchau.gov.vn")
    assert await escalations(session, campaign, vn(2025, 1, 8, 9, 0)) == 1
    contacts = await contact_ids(session)
    sent = await queued(session, "escalation")
    assert [d.contact_id for d in sent] == [contacts[("Phạm Thị Mai", "unit_head")]]


# --- cost ---------------------------------------------------------------------------------------


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def more_people(units: int, per_unit: int) -> list[list[object]]:
    return [
        [
            f"Nguyễn Văn Thêm {u}{p}",
            "Phó Giám đốc",
            f"Sở Thêm Số {u}",
            "Lãnh đạo cấp sở",
            f"them{u}x{p}@sonla.gov.vn",
            None,
        ]
        for u in range(units)
        for p in range(per_unit)
    ]


async def test_queries_do_not_grow_with_units_people_or_contacts(
    engine: AsyncEngine, session: AsyncSession, campaign: Campaign, tmp_path: Path
) -> None:
    with counting(engine) as small:
        assert await plan_digests(
            session, campaign, now=vn(2025, 1, 7, 8, 0), calendar=calendar_of(campaign)
        )
        assert await plan_escalations(
            session, campaign, now=vn(2025, 1, 7, 17, 0), calendar=calendar_of(campaign)
        )
    await session.commit()

    # Six more units of four people each, each unit with a focal point and a head.
    extra_units = 6
    contacts: list[Sequence[object]] = [CONTACT_HEADER]
    for u in range(extra_units):
        for role, who in (("Đầu mối", "dm"), ("Thủ trưởng đơn vị", "tt")):
            contacts.append(
                [
                    len(contacts),
                    f"Cán bộ {who} {u}",
                    "Chuyên viên",
                    role,
                    f"Sở Thêm Số {u}",
                    f"{who}{u}@sonla.gov.vn",
                    "",
                ]
            )
    await import_roster(
        session,
        campaign,
        roster_file(tmp_path, PEOPLE + more_people(extra_units, 4), contacts=False),
        actor="test",
        contacts_path=write_csv(tmp_path / "them.csv", contacts),
    )
    await session.commit()
    session.expunge_all()
    campaign = await session.get_one(Campaign, campaign.id)

    with counting(engine) as large:
        added = await plan_digests(
            session, campaign, now=vn(2025, 1, 8, 8, 0), calendar=calendar_of(campaign)
        )
        assert added == 2 + extra_units
        added = await plan_escalations(
            session, campaign, now=vn(2025, 1, 9, 17, 0), calendar=calendar_of(campaign)
        )
        assert added == 5 + 2 * extra_units
    await session.commit()
    assert len(large) == len(small), "\n".join(large)
    # Per job: contacts, the already-queued check, progress (5), units, known misses, the
    # miss's Event, the insert.
    assert len(small) <= 2 * 11, "\n".join(small)
