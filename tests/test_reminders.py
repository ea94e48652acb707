"""Tests for scheduler.reminders: the reminder policy (Promise 4) inside the window (Promise 3).

Exact examples are worked out by hand in local time (Asia/Ho_Chi_Minh) in the comments; the
properties run random policies, deadlines, histories and clocks through ``plan`` and a small
simulated daemon, and check the invariants: never outside the window, never more than
max_reminders, never closer than min_gap, never after answering, never at or after the deadline.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.calendar import HolidayCalendar, HolidayOverrides, SendingCalendar
from scheduler.reminders import Planned, ReminderPlanner, reminder_key
from storage.models import Campaign, CampaignState, RespondentState
from storage.policy import DEFAULT_POLICY, Policy, Window, parse_duration

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
VN_HOLIDAYS = HolidayCalendar("VN", years=range(2024, 2027))
SONLA_WINDOW = Window(
    days=frozenset(range(5)),
    start=time(7, 30),
    end=time(17, 0),
    breaks=((time(11, 30), time(13, 30)),),
    skip_holidays="VN",
)
ACTIVE = CampaignState.ACTIVE
INVITED = RespondentState.INVITED


def vn(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def policy(
    offsets: list[str],
    *,
    min_gap: str = "20h",
    max_reminders: int = 4,
    window: Window = SONLA_WINDOW,
) -> Policy:
    return replace(
        DEFAULT_POLICY,
        reminders_before_deadline=tuple(sorted((parse_duration(o) for o in offsets), reverse=True)),
        min_gap=parse_duration(min_gap),
        max_reminders=max_reminders,
        window=window,
    )


def planner(
    pol: Policy,
    opens_at: datetime,
    deadline: datetime,
    *,
    holidays: HolidayCalendar = VN_HOLIDAYS,
    state: CampaignState = ACTIVE,
) -> ReminderPlanner:
    cal = SendingCalendar(pol.window, "Asia/Ho_Chi_Minh", holidays=holidays)
    return ReminderPlanner(pol, cal, opens_at, deadline, campaign_state=state)


def local(planned: list[Planned]) -> list[tuple[datetime, str]]:
    return [(p.due_at.astimezone(TZ), p.reason) for p in planned]


# The Sơn La campaign of examples/cchc-2024-sonla.toml, with the deadline of DESIGN.md.
SONLA = policy(["7d", "3d", "1d", "3h"])
SONLA_OPENS = vn(2024, 12, 20, 8)
SONLA_DEADLINE = vn(2025, 1, 10, 17)  # Friday


# --- the Sơn La example, by hand ------------------------------------------------------------------


def test_sonla_schedule() -> None:
    # 7d before Fri 10/01 17:00 = Fri 03/01 17:00: the window's end (closed) -> Sat, Sun closed
    #    -> Mon 06/01 07:30.                                                           n=1
    # 3d before = Tue 07/01 17:00: closed -> Wed 08/01 07:30 (48h after n=1 >= 20h).     n=2
    # 1d before = Thu 09/01 17:00: closed -> Fri 10/01 07:30, the last day's opening (48h
    #    after n=2): reason last_day.                                                    n=3
    # 3h before = Fri 10/01 14:00: open (after the 11:30-13:30 lunch break), but only 6h30
    #    after n=3 < min_gap 20h: skipped. No later moment: 3 reminders, not 4.
    found = planner(SONLA, SONLA_OPENS, SONLA_DEADLINE).schedule()
    assert local(found) == [
        (vn(2025, 1, 6, 7, 30), "reminder"),
        (vn(2025, 1, 8, 7, 30), "reminder"),
        (vn(2025, 1, 10, 7, 30), "last_day"),
    ]
    assert [p.number for p in found] == [1, 2, 3]
    assert [p.offset for p in found] == [timedelta(days=7), timedelta(days=3), timedelta(days=1)]
    assert [p.nominal_at for p in found] == [
        vn(2025, 1, 3, 17),
        vn(2025, 1, 7, 17),
        vn(2025, 1, 9, 17),
    ]
    assert all(p.due_at.tzinfo is UTC and p.nominal_at.tzinfo is UTC for p in found)
    assert not any(p.caught_up for p in found)


def test_sonla_with_a_short_gap_keeps_the_3h_reminder() -> None:
    # Same moments; min_gap 3h lets 14:00 follow 07:30 (6h30 apart): 4 reminders, the last
    # two on the last day.
    found = planner(policy(["7d", "3d", "1d", "3h"], min_gap="3h"), SONLA_OPENS, SONLA_DEADLINE)
    assert local(found.schedule()) == [
        (vn(2025, 1, 6, 7, 30), "reminder"),
        (vn(2025, 1, 8, 7, 30), "reminder"),
        (vn(2025, 1, 10, 7, 30), "last_day"),
        (vn(2025, 1, 10, 14, 0), "last_day"),
    ]


def test_sonla_max_reminders() -> None:
    found = planner(replace(SONLA, max_reminders=2), SONLA_OPENS, SONLA_DEADLINE).schedule()
    assert local(found) == [
        (vn(2025, 1, 6, 7, 30), "reminder"),
        (vn(2025, 1, 8, 7, 30), "reminder"),
    ]
    assert planner(replace(SONLA, max_reminders=0), SONLA_OPENS, SONLA_DEADLINE).schedule() == []


def test_sonla_gap_after_the_invitation() -> None:
    p = planner(SONLA, SONLA_OPENS, SONLA_DEADLINE)
    # Invited Mon 06/01 09:00: the 07:30 moment that day is before the invitation; Wed 07:30
    # is 46h30 later: n=1; Fri 07:30: n=2.
    assert local(p.schedule(vn(2025, 1, 6, 9))) == [
        (vn(2025, 1, 8, 7, 30), "reminder"),
        (vn(2025, 1, 10, 7, 30), "last_day"),
    ]
    # Invited Tue 07/01 14:00: Wed 07:30 is 17h30 later < 20h: skipped, not postponed;
    # Fri 07:30 (41h30 later) is n=1; Fri 14:00 is 6h30 after it: skipped.
    assert local(p.schedule(vn(2025, 1, 7, 14))) == [(vn(2025, 1, 10, 7, 30), "last_day")]
    # Invited on the last afternoon: nothing fits before the deadline.
    assert p.schedule(vn(2025, 1, 10, 15)) == []


# --- Tết, weekends, swaps, overrides, lunch -------------------------------------------------------


def test_tet_2025_sends_nothing_during_the_break_and_resumes_monday_morning() -> None:
    # Deadline Fri 07/02/2025 17:00; moments every day at 15:00 (Nd2h), from Wed 22/01 to Thu
    # 06/02, plus "2h" = Fri 07/02 15:00. The break Sat 25/01 - Sun 02/02 (holidays 27/01 -
    # 01/02 plus the weekends) gathers nine moments into one at Mon 03/02 07:30.
    offsets = [f"{n}d2h" for n in range(1, 17)] + ["2h"]
    p = planner(
        policy(offsets, min_gap="1h", max_reminders=20), vn(2025, 1, 20, 8), vn(2025, 2, 7, 17)
    )
    found = local(p.schedule())
    assert found == [
        (vn(2025, 1, 22, 15), "reminder"),
        (vn(2025, 1, 23, 15), "reminder"),
        (vn(2025, 1, 24, 15), "reminder"),
        (vn(2025, 2, 3, 7, 30), "reminder"),
        (vn(2025, 2, 3, 15), "reminder"),
        (vn(2025, 2, 4, 15), "reminder"),
        (vn(2025, 2, 5, 15), "reminder"),
        (vn(2025, 2, 6, 15), "reminder"),
        (vn(2025, 2, 7, 15), "last_day"),
    ]
    assert not [due for due, _ in found if date(2025, 1, 25) <= due.date() <= date(2025, 2, 2)]


def test_tet_2025_walked_by_a_daemon_that_wakes_every_15_minutes() -> None:
    # The live path: plan at every tick and "send" what is due; the same reminders go out.
    offsets = [f"{n}d2h" for n in range(1, 17)] + ["2h"]
    p = planner(
        policy(offsets, min_gap="1h", max_reminders=20), vn(2025, 1, 20, 8), vn(2025, 2, 7, 17)
    )
    invited = vn(2025, 1, 20, 9)
    sent: list[datetime] = []
    now = invited
    while now < vn(2025, 2, 8):
        planned = p.plan(INVITED, sent, invited, now)
        if planned is not None and planned.due_at <= now:
            assert planned.number == len(sent) + 1
            sent.append(now)
        now += timedelta(minutes=15)
    assert sent == [x.due_at for x in p.schedule(invited)]
    assert not [s for s in sent if vn(2025, 1, 25) <= s < vn(2025, 2, 3)]
    assert vn(2025, 2, 3, 7, 30) in sent


def test_a_weekend_inside_the_campaign_sends_nothing() -> None:
    # Deadline Wed 15/01/2025 17:00. 5d2h = Fri 10/01 15:00 (open); 4d2h = Sat 11/01 15:00 and
    # 3d2h = Sun 12/01 15:00 both move to Mon 13/01 07:30 and collapse into one; 2d2h = Mon
    # 15:00 (7h30 later, gap 1h); 1d2h = Tue 15:00; 2h = Wed 15:00 (last day).
    p = planner(
        policy(["5d2h", "4d2h", "3d2h", "2d2h", "1d2h", "2h"], min_gap="1h", max_reminders=9),
        vn(2025, 1, 6, 8),
        vn(2025, 1, 15, 17),
    )
    found = local(p.schedule())
    assert found == [
        (vn(2025, 1, 10, 15), "reminder"),
        (vn(2025, 1, 13, 7, 30), "reminder"),
        (vn(2025, 1, 13, 15), "reminder"),
        (vn(2025, 1, 14, 15), "reminder"),
        (vn(2025, 1, 15, 15), "last_day"),
    ]
    assert all(due.weekday() < 5 for due, _ in found)


def test_make_up_saturday_26_04_2025_is_used_and_the_swapped_friday_is_not() -> None:
    # Deadline Tue 29/04/2025 17:00. 4d = Fri 25/04 17:00 -> Sat 26/04 07:30 (make-up day);
    # 3d2h = Sat 26/04 15:00 (open, 7h30 later).
    p = planner(policy(["4d", "3d2h"], min_gap="1h"), vn(2025, 4, 14, 8), vn(2025, 4, 29, 17))
    assert local(p.schedule()) == [
        (vn(2025, 4, 26, 7, 30), "reminder"),
        (vn(2025, 4, 26, 15), "reminder"),
    ]
    # Deadline Tue 06/05/2025 17:00. 4d2h = Fri 02/05 15:00: the day off swapped with Sat 26/04,
    # then the weekend -> Mon 05/05 07:30.
    p = planner(policy(["4d2h"]), vn(2025, 4, 14, 8), vn(2025, 5, 6, 17))
    assert local(p.schedule()) == [(vn(2025, 5, 5, 7, 30), "reminder")]


def test_an_override_day_off_is_respected() -> None:
    # Wed 08/01/2025 declared a day off by the province: the 3d moment (Tue 17:00) moves to
    # Thu 09/01 07:30; the 1d moment (Thu 17:00) -> Fri 07:30, 24h later: kept.
    holidays = HolidayCalendar(
        "VN", overrides=HolidayOverrides(days_off={date(2025, 1, 8): "Nghỉ theo tỉnh"})
    )
    p = planner(SONLA, SONLA_OPENS, SONLA_DEADLINE, holidays=holidays)
    assert local(p.schedule()) == [
        (vn(2025, 1, 6, 7, 30), "reminder"),
        (vn(2025, 1, 9, 7, 30), "reminder"),
        (vn(2025, 1, 10, 7, 30), "last_day"),
    ]


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [
        # 3h before 14:30 = 11:30, the break's start (closed) -> its end, 13:30.
        (vn(2025, 1, 8, 14, 30), vn(2025, 1, 8, 13, 30)),
        # 3h before 15:00 = 12:00, inside the break -> 13:30.
        (vn(2025, 1, 8, 15), vn(2025, 1, 8, 13, 30)),
        # 3h before 16:30 = 13:30, the break's end: open as it is.
        (vn(2025, 1, 8, 16, 30), vn(2025, 1, 8, 13, 30)),
        # 3h before 14:29 = 11:29: still open before the break.
        (vn(2025, 1, 8, 14, 29), vn(2025, 1, 8, 11, 29)),
    ],
)
def test_3h_offset_in_the_lunch_break_moves_to_its_end(
    deadline: datetime, expected: datetime
) -> None:
    p = planner(policy(["3h"]), vn(2025, 1, 6, 8), deadline)
    assert local(p.schedule()) == [(expected, "last_day")]


def test_a_moment_whose_next_opening_is_past_the_deadline_is_dropped() -> None:
    # Deadline Fri 10/01 07:00, before the window opens. 3h = 04:00 -> 07:30, after the
    # deadline: dropped. 1d = Thu 07:00 -> Thu 07:30: kept; Friday is the last day, so it is a
    # plain reminder.
    p = planner(policy(["1d", "3h"]), vn(2025, 1, 6, 8), vn(2025, 1, 10, 7))
    assert local(p.schedule()) == [(vn(2025, 1, 9, 7, 30), "reminder")]
    assert planner(policy(["3h"]), vn(2025, 1, 6, 8), vn(2025, 1, 10, 7)).schedule() == []


def test_a_midnight_deadline_makes_the_day_before_the_last_day() -> None:
    # Deadline Sat 11/01 00:00 ("end of Friday"): 1d = Fri 00:00 -> Fri 07:30, the last day.
    p = planner(policy(["2d", "1d"]), vn(2025, 1, 6, 8), vn(2025, 1, 11))
    assert local(p.schedule()) == [
        (vn(2025, 1, 9, 7, 30), "reminder"),
        (vn(2025, 1, 10, 7, 30), "last_day"),
    ]


def test_moments_before_the_campaign_opens_are_dropped() -> None:
    # Opens Wed 08/01 08:00: 7d (03/01) and 3d (07/01) are before it; 1d and 3h remain.
    p = planner(policy(["7d", "3d", "1d", "3h"], min_gap="3h"), vn(2025, 1, 8, 8), SONLA_DEADLINE)
    assert local(p.schedule()) == [
        (vn(2025, 1, 10, 7, 30), "last_day"),
        (vn(2025, 1, 10, 14), "last_day"),
    ]


# --- plan: who, when, history, catching up --------------------------------------------------------


SONLA_PLANNER = planner(SONLA, SONLA_OPENS, SONLA_DEADLINE)
INVITATION = vn(2024, 12, 20, 9)


def test_plan_returns_the_next_reminder_even_if_due_later() -> None:
    found = SONLA_PLANNER.plan(INVITED, [], INVITATION, vn(2024, 12, 25, 10))
    assert found is not None
    assert (found.number, found.due_at, found.reason) == (1, vn(2025, 1, 6, 7, 30), "reminder")
    assert found.dedupe_key(42, "email") == "reminder:1:42:email" == reminder_key(1, 42, "email")
    after = SONLA_PLANNER.plan(INVITED, [vn(2025, 1, 6, 7, 31)], INVITATION, vn(2025, 1, 6, 8))
    assert after is not None
    assert (after.number, after.due_at) == (2, vn(2025, 1, 8, 7, 30))


def test_planning_twice_gives_the_same_reminder() -> None:
    # Same history -> same number, so the second insert hits the same dedupe key.
    history = [vn(2025, 1, 6, 7, 30)]
    first = SONLA_PLANNER.plan(INVITED, history, INVITATION, vn(2025, 1, 6, 9))
    again = SONLA_PLANNER.plan(INVITED, history, INVITATION, vn(2025, 1, 7, 16))
    assert first == SONLA_PLANNER.plan(INVITED, history, INVITATION, vn(2025, 1, 6, 9))
    assert first is not None and again is not None
    assert first.number == again.number == 2
    assert first.due_at == again.due_at


@pytest.mark.parametrize(
    "person", [RespondentState.ANSWERED, RespondentState.EXCLUDED, RespondentState.PENDING]
)
def test_nothing_for_answered_excluded_or_not_yet_invited_people(person: RespondentState) -> None:
    assert SONLA_PLANNER.plan(person, [], INVITATION, vn(2025, 1, 6, 7, 30)) is None


@pytest.mark.parametrize("state", [CampaignState.CLOSED, CampaignState.DRAFT])
def test_nothing_when_the_campaign_is_not_active(state: CampaignState) -> None:
    p = planner(SONLA, SONLA_OPENS, SONLA_DEADLINE, state=state)
    assert p.plan(INVITED, [], INVITATION, vn(2025, 1, 6, 7, 30)) is None
    assert len(p.schedule()) == 3  # the preview ignores the state


def test_nothing_at_or_after_the_deadline_nor_before_the_opening() -> None:
    assert SONLA_PLANNER.plan(INVITED, [], INVITATION, SONLA_DEADLINE) is None
    assert SONLA_PLANNER.plan(INVITED, [], INVITATION, vn(2025, 2, 1)) is None
    assert SONLA_PLANNER.plan(INVITED, [], None, vn(2024, 12, 20, 7, 59)) is None


def test_nothing_once_max_reminders_are_sent() -> None:
    sent = [vn(2024, 12, 23, 8), vn(2024, 12, 26, 8), vn(2024, 12, 30, 8), vn(2025, 1, 2, 8)]
    assert SONLA_PLANNER.plan(INVITED, sent, INVITATION, vn(2025, 1, 3, 9)) is None
    assert SONLA_PLANNER.plan(INVITED, sent[:3], INVITATION, vn(2025, 1, 3, 9)) is not None


def test_nothing_left_after_the_last_moment() -> None:
    sent = [vn(2025, 1, 6, 7, 30), vn(2025, 1, 8, 7, 30), vn(2025, 1, 10, 7, 30)]
    assert SONLA_PLANNER.plan(INVITED, sent, INVITATION, vn(2025, 1, 10, 8)) is None


def test_an_extra_reminder_counts_for_the_gap_and_the_count() -> None:
    # A focal point's /nhacnho sent Tue 07/01 16:00: Wed 07:30 is 15h30 later: skipped; the
    # next is Fri 07:30, numbered 3 (after the Monday one and the extra one).
    sent = [vn(2025, 1, 6, 7, 30), vn(2025, 1, 7, 16)]
    found = SONLA_PLANNER.plan(INVITED, sent, INVITATION, vn(2025, 1, 7, 16, 5))
    assert found is not None
    assert (found.number, found.due_at, found.reason) == (3, vn(2025, 1, 10, 7, 30), "last_day")


def test_catching_up_sends_one_reminder_at_the_next_opening() -> None:
    # The daemon was down from Sun 05/01 to Thu 09/01 10:00; the Monday and Wednesday moments
    # passed. One reminder now (the latest missed moment, 3d), not two.
    found = SONLA_PLANNER.plan(INVITED, [], INVITATION, vn(2025, 1, 9, 10))
    assert found is not None
    assert (found.number, found.due_at, found.offset, found.caught_up) == (
        1,
        vn(2025, 1, 9, 10),
        timedelta(days=3),
        True,
    )
    # Sent at 10:00; Fri 07:30 is 21h30 later: kept.
    nxt = SONLA_PLANNER.plan(INVITED, [vn(2025, 1, 9, 10)], INVITATION, vn(2025, 1, 9, 10, 1))
    assert nxt is not None
    assert (nxt.number, nxt.due_at, nxt.caught_up) == (2, vn(2025, 1, 10, 7, 30), False)


def test_catching_up_in_the_lunch_break_waits_for_its_end() -> None:
    # Back at Thu 12:00: the catch-up goes at 13:30. Fri 07:30 is then only 18h later: skipped;
    # Fri 14:00 (3h moment, 24h30 later) is the second, on the last day.
    found = SONLA_PLANNER.plan(INVITED, [], INVITATION, vn(2025, 1, 9, 12))
    assert found is not None and found.due_at == vn(2025, 1, 9, 13, 30)
    nxt = SONLA_PLANNER.plan(INVITED, [found.due_at], INVITATION, vn(2025, 1, 9, 13, 31))
    assert nxt is not None
    assert (nxt.number, nxt.due_at, nxt.reason) == (2, vn(2025, 1, 10, 14), "last_day")


def test_catching_up_never_goes_past_the_deadline() -> None:
    # Back at Fri 10/01 16:59 with the 14:00 moment missed: 16:59 is still open.
    sent = [vn(2025, 1, 6, 7, 30), vn(2025, 1, 8, 7, 30)]
    found = planner(policy(["7d", "3d", "3h"]), SONLA_OPENS, SONLA_DEADLINE).plan(
        INVITED, sent, INVITATION, vn(2025, 1, 10, 16, 59)
    )
    assert found is not None and found.due_at == vn(2025, 1, 10, 16, 59)
    # A deadline at 18:00: back at 17:30, the next opening is Monday, after it: nothing.
    late = planner(policy(["7d", "3d", "3h"]), SONLA_OPENS, vn(2025, 1, 10, 18))
    assert late.plan(INVITED, sent, INVITATION, vn(2025, 1, 10, 17, 30)) is None


def test_naive_datetimes_and_backwards_campaigns_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        SONLA_PLANNER.plan(INVITED, [], None, datetime(2025, 1, 6, 9))
    with pytest.raises(ValueError, match="naive"):
        SONLA_PLANNER.plan(INVITED, [datetime(2025, 1, 6, 9)], None, vn(2025, 1, 6, 9))
    with pytest.raises(ValueError, match="naive"):
        SONLA_PLANNER.schedule(datetime(2025, 1, 6, 9))
    with pytest.raises(ValueError, match="not after"):
        planner(SONLA, SONLA_DEADLINE, SONLA_OPENS)


def test_for_campaign_reads_the_stored_policy() -> None:
    campaign = Campaign(
        code="cchc-2024-sonla",
        title="Sơn La",
        survey_url="https://example.vn/{token}",
        opens_at=SONLA_OPENS.astimezone(UTC),
        deadline=SONLA_DEADLINE.astimezone(UTC),
        timezone="Asia/Ho_Chi_Minh",
        policy=SONLA.to_json(),
        state=CampaignState.ACTIVE,
    )
    p = ReminderPlanner.for_campaign(campaign, VN_HOLIDAYS)
    assert p.schedule() == SONLA_PLANNER.schedule()
    assert p.plan(INVITED, [], INVITATION, vn(2025, 1, 6, 7, 30)) is not None
    campaign.state = CampaignState.CLOSED
    closed = ReminderPlanner.for_campaign(campaign, VN_HOLIDAYS)
    assert closed.plan(INVITED, [], INVITATION, vn(2025, 1, 6, 7, 30)) is None


# --- properties -----------------------------------------------------------------------------------

_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


def _clock(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start = draw(st.integers(0, 20 * 60))
    end = draw(st.integers(start + 30, 23 * 60 + 59))
    breaks: tuple[tuple[time, time], ...] = ()
    if draw(st.booleans()):
        a = draw(st.integers(start + 1, end - 2))
        b = draw(st.integers(a + 1, end - 1))
        breaks = ((_clock(a), _clock(b)),)
    return Window(
        days=draw(st.frozensets(st.integers(0, 6), min_size=1)),
        start=_clock(start),
        end=_clock(end),
        breaks=breaks,
        skip_holidays=draw(st.sampled_from(["VN", None])),
    )


@st.composite
def campaigns(draw: st.DrawFn) -> tuple[ReminderPlanner, Policy, datetime, datetime]:
    span = draw(st.integers(1, 45)) * _DAY + draw(st.integers(0, 24 * 60)) * _MINUTE
    # Realistic offsets (whole days, a few hours) and arbitrary ones, a few beyond the campaign
    # (the campaign file refuses those; the planner drops them).
    offset = (
        st.integers(1, span // _DAY).map(lambda d: d * _DAY)
        | st.integers(1, 12).map(lambda h: h * _HOUR)
        | st.integers(1, span // _MINUTE + 24 * 60).map(lambda m: m * _MINUTE)
    )
    offsets = draw(st.lists(offset, min_size=1, max_size=8, unique=True))
    min_gap = st.sampled_from([0, 1, 3, 20, 24, 48]).map(lambda h: h * _HOUR) | st.integers(
        0, 4 * 24 * 60
    ).map(lambda m: m * _MINUTE)
    pol = replace(
        DEFAULT_POLICY,
        reminders_before_deadline=tuple(sorted(offsets, reverse=True)),
        min_gap=draw(min_gap),
        max_reminders=draw(st.sampled_from([4, 1, 2, 3, 5, 8, 0])),
        window=draw(st.sampled_from([SONLA_WINDOW, DEFAULT_POLICY.window]) | windows()),
    )
    day = draw(st.dates(min_value=date(2024, 1, 15), max_value=date(2026, 12, 31)))
    # Deadlines at the usual hours (the window's end, before lunch, midnight) or any minute.
    clock = draw(
        st.sampled_from([time(17), time(16, 30), time(11), time(0)])
        | st.integers(0, 24 * 60 - 1).map(lambda m: time(m // 60, m % 60))
    )
    deadline = datetime.combine(day, clock, tzinfo=TZ)
    opens_at = deadline - span
    return planner(pol, opens_at, deadline), pol, opens_at, deadline


def check_planned(
    p: ReminderPlanner,
    pol: Policy,
    opens_at: datetime,
    deadline: datetime,
    found: Planned,
    previous: list[datetime],
) -> None:
    assert found.due_at.tzinfo is UTC
    assert p.calendar.is_open(found.due_at), "outside the window"
    assert opens_at <= found.due_at < deadline
    assert 1 <= found.number <= pol.max_reminders
    for earlier in previous:
        assert found.due_at > earlier
        assert found.due_at - earlier >= pol.min_gap, "closer than min_gap"
    last_day = (deadline - timedelta(microseconds=1)).astimezone(TZ).date()
    on_last_day = found.due_at.astimezone(TZ).date() == last_day
    assert found.reason == ("last_day" if on_last_day else "reminder")


@settings(max_examples=300, deadline=None)
@given(campaigns(), st.data())
def test_plan_invariants_over_random_histories(
    campaign: tuple[ReminderPlanner, Policy, datetime, datetime], data: st.DataObject
) -> None:
    p, pol, opens_at, deadline = campaign
    span = deadline - opens_at
    now = opens_at + data.draw(
        st.integers(-2 * 24 * 60, (span + timedelta(days=2)) // _MINUTE).map(lambda m: m * _MINUTE)
    )
    before_now = st.integers(0, max(0, (now - opens_at) // _MINUTE)).map(
        lambda m: opens_at + m * _MINUTE
    )
    sent = sorted(data.draw(st.lists(before_now, max_size=3)))
    last_contact = data.draw(st.none() | before_now)
    person = data.draw(st.sampled_from([INVITED, INVITED, INVITED, *RespondentState]))
    found = p.plan(person, sent, last_contact, now)
    if (
        person != RespondentState.INVITED
        or now < opens_at
        or now >= deadline
        or len(sent) >= pol.max_reminders
    ):
        assert found is None
        return
    assert found == p.plan(person, sent, last_contact, now), "not deterministic"
    if found is None:
        return
    previous = [*sent, *([last_contact] if last_contact else [])]
    check_planned(p, pol, opens_at, deadline, found, previous)
    assert found.number == len(sent) + 1
    assert found.due_at >= now


@settings(max_examples=300, deadline=None)
@given(campaigns(), st.data())
def test_schedule_invariants(
    campaign: tuple[ReminderPlanner, Policy, datetime, datetime], data: st.DataObject
) -> None:
    p, pol, opens_at, deadline = campaign
    invited = data.draw(
        st.none()
        | st.integers(0, (deadline - opens_at) // _MINUTE).map(lambda m: opens_at + m * _MINUTE)
    )
    found = p.schedule(invited)
    assert len(found) <= pol.max_reminders
    assert [x.number for x in found] == list(range(1, len(found) + 1))
    previous: list[datetime] = [invited] if invited else []
    for x in found:
        check_planned(p, pol, opens_at, deadline, x, previous)
        assert not x.caught_up
        previous.append(x.due_at)
    # Each reminder stands for a distinct offset, and every due time is where that offset's
    # moment moved to.
    assert len({x.offset for x in found}) == len(found)
    for x in found:
        assert x.nominal_at == deadline - x.offset
        assert x.due_at == p.calendar.next_open(x.nominal_at)


@settings(max_examples=300, deadline=None)
@given(campaigns(), st.data())
def test_a_simulated_daemon_keeps_every_promise(
    campaign: tuple[ReminderPlanner, Policy, datetime, datetime], data: st.DataObject
) -> None:
    # The daemon wakes at random times and, unless it is down, at each planned due time;
    # it sends what is due at once. The person may answer at any moment.
    p, pol, opens_at, deadline = campaign
    span_minutes = (deadline - opens_at) // _MINUTE
    # Usually invited early in the campaign, as the organiser does.
    invited = (
        opens_at
        + data.draw(st.integers(0, span_minutes // 5) | st.integers(0, span_minutes)) * _MINUTE
    )
    # Answers anywhere from the invitation to past the deadline (percent of what is left).
    answered_at = data.draw(
        st.none() | st.integers(0, 120).map(lambda pct: invited + (deadline - invited) * pct / 100)
    )
    # Extra wakes at random times; and the steps at which the daemon is down and sleeps
    # through a due time until the next extra wake.
    extra = data.draw(
        st.lists(st.integers(0, span_minutes + 2 * 24 * 60), max_size=20, unique=True)
    )
    wakes = sorted(opens_at + m * _MINUTE for m in extra)
    down = data.draw(st.sets(st.integers(0, 30), max_size=4))
    sent: list[datetime] = []
    now = invited
    for step in range(100):
        person = (
            RespondentState.ANSWERED
            if answered_at is not None and now >= answered_at
            else RespondentState.INVITED
        )
        found = p.plan(person, sent, invited, now)
        if found is not None and found.due_at == now:
            check_planned(p, pol, opens_at, deadline, found, [invited, *sent])
            sent.append(now)
            found = p.plan(person, sent, invited, now)
        if found is None:
            # With the history unchanged, None stays None: nothing more will ever be planned.
            for later in (now + _MINUTE, now + _HOUR, now + _DAY):
                assert p.plan(person, sent, invited, later) is None
            break
        assert found.due_at > now
        upcoming = [w for w in wakes if w > now][:1]
        now = upcoming[0] if step in down and upcoming else min([found.due_at, *upcoming])
    else:
        pytest.fail("the walk did not end")
    assert len(sent) <= pol.max_reminders
    for at in sent:
        assert p.calendar.is_open(at)
        assert opens_at <= at < deadline
        assert answered_at is None or at < answered_at, "reminded after answering"
    gaps = [b - a for a, b in zip([invited, *sent], sent, strict=False)]
    assert all(g >= pol.min_gap and g > timedelta() for g in gaps)
    if answered_at is None and not down:
        # Never down, never answering: exactly the planned sequence, as far as the walk got.
        expected = [x.due_at for x in p.schedule(invited)]
        assert sent == expected[: len(sent)]
