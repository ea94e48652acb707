"""The reminder policy: which reminder a person who has not answered gets next, and when.

Pure functions over (campaign facts, person, history, now): no clock, no database. The planning
job asks ``ReminderPlanner.plan`` for each person and queues what it returns as a Delivery with
the dedupe key ``reminder:{n}:{respondent}:{channel}``; ``dondoc plan`` and the tests use
``ReminderPlanner.schedule``, the whole sequence for a person who never answers. Promise 4 of
DESIGN.md is kept here, and Promise 3 through ``scheduler.calendar.SendingCalendar``.

Decisions, in the order they apply:

1. **Moments.** Each offset of ``reminders_before_deadline`` names a moment ``deadline - offset``.
   A moment before ``opens_at`` is dropped (a reminder for a campaign not yet open means
   nothing; the campaign file already refuses offsets longer than the campaign). A moment
   outside the sending window moves forward to the window's next opening (past the night, the
   weekend, Tết, the lunch break). If that opening is at or after the deadline, the moment is
   dropped: a reminder never moves past the deadline, and never moves backwards either.
2. **Collapse.** Moments that move to the same opening become one (the larger offset names it).
3. **Gap.** A reminder is never closer than ``min_gap`` to the previous reminder or to the last
   contact (the invitation): a moment too close is *skipped*, not postponed, and the next moment
   takes over. Reminders therefore only go at moments the policy names (or the opening they move
   to), except when catching up (6). Earlier moments win: what was sent cannot be unsent, so the
   rule is applied forward in time, which is also how it works live.
4. **Count.** Never more than ``max_reminders`` reminders per person. ``n`` counts the reminders
   the person has actually been given (``len(sent_reminders) + 1``), not the offset's position,
   so "lần 2/4" in the message is true and the dedupe key ``reminder:{n}:...`` is the person's
   n-th reminder: planning twice with the same history yields the same ``n``, so the second
   insert is a no-op. Pass the reminders already sent (their ``sent_at``); a reminder that is
   queued but not sent yet needs no special care, since planning again gives its ``n`` again.
5. **The last day.** A reminder due on the campaign's last day (the local date of the last moment
   before the deadline, so a midnight deadline's last day is the day before) has reason
   ``"last_day"`` and its message says "today is the last day"; any other has ``"reminder"``.
   With the usual policy (whole days before a deadline at the window's end, e.g. "1d" before
   Fri 17:00) the moment falls the evening before, outside the window, so the final reminder goes
   at the window's opening on the last day, as the issue asks. A moment that is already inside
   the window on the last day (e.g. "3h" before 17:00 = 14:00) keeps its time: pulling it back
   to the morning would move a reminder backwards, which rule 1 never does.
6. **Catching up.** ``plan`` returns the next reminder even if it is due later (the outbox holds
   ``due_at``). If planning ran late (the daemon was down) and several moments have passed, only
   the latest of them is sent, once, at the next opening from ``now`` (``caught_up=True``) —
   never a burst — and only if that opening is before the deadline.
7. **Who and when.** Nothing for a person who has answered or been excluded, nor for one still
   ``pending``: a reminder presupposes the invitation (the organiser sends that explicitly).
   Nothing when the campaign is not ``active`` (draft or closed), nothing at or after the
   deadline, nothing before ``opens_at``. The dispatcher re-checks the person at send time
   (Promise 1); this module decides only what to queue.
8. **Time.** Aware datetimes only; every ``due_at`` is in UTC, inside the window (strictly
   before the window's end and before the deadline), and at or after ``opens_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from scheduler.calendar import HolidayCalendar, SendingCalendar
from storage.models import Campaign, CampaignState, RespondentState
from storage.policy import Policy

__all__ = [
    "LAST_DAY",
    "REMINDER",
    "Planned",
    "ReminderPlanner",
    "ReminderReason",
    "reminder_key",
]

ReminderReason = Literal["reminder", "last_day"]
REMINDER: Final = "reminder"
LAST_DAY: Final = "last_day"


def reminder_key(number: int, respondent_id: int, channel: str) -> str:
    """The outbox dedupe key of a person's ``number``-th reminder on ``channel``."""
    return f"reminder:{number}:{respondent_id}:{channel}"


@dataclass(frozen=True, slots=True)
class Planned:
    """One reminder to queue: the person's ``number``-th, due at ``due_at`` (UTC)."""

    number: int
    due_at: datetime
    reason: ReminderReason
    offset: timedelta  # the policy offset it stands for ("why" in ``dondoc plan``)
    nominal_at: datetime  # deadline - offset, before moving into the window (UTC)
    caught_up: bool = False  # sent at the next opening after a missed moment (decision 6)

    def dedupe_key(self, respondent_id: int, channel: str) -> str:
        return reminder_key(self.number, respondent_id, channel)


@dataclass(frozen=True, slots=True)
class _Moment:
    offset: timedelta
    nominal_at: datetime
    due_at: datetime


class ReminderPlanner:
    """The reminder policy of one campaign, applied to one person at a time."""

    __slots__ = (
        "_calendar",
        "_campaign_state",
        "_deadline",
        "_last_day",
        "_moments",
        "_opens_at",
        "_policy",
    )

    def __init__(
        self,
        policy: Policy,
        calendar: SendingCalendar,
        opens_at: datetime,
        deadline: datetime,
        *,
        campaign_state: CampaignState,
    ) -> None:
        _require_aware(opens_at, "opens_at")
        _require_aware(deadline, "deadline")
        if deadline <= opens_at:
            raise ValueError(f"deadline {deadline} is not after opens_at {opens_at}")
        self._policy = policy
        self._calendar = calendar
        self._opens_at = opens_at
        self._deadline = deadline
        self._campaign_state = campaign_state
        # The last moment anything can go out is just before the deadline; its local date is
        # the last day (a deadline at 00:00 makes the day before the last day).
        self._last_day = (deadline - timedelta(microseconds=1)).astimezone(calendar.zone).date()
        self._moments = self._plan_moments()

    @classmethod
    def for_campaign(cls, campaign: Campaign, holidays: HolidayCalendar) -> ReminderPlanner:
        """The planner of a stored campaign (its canonical policy, zone, dates and state)."""
        policy = Policy.from_json(campaign.policy)
        calendar = SendingCalendar(policy.window, campaign.timezone, holidays=holidays)
        return cls(
            policy,
            calendar,
            campaign.opens_at,
            campaign.deadline,
            campaign_state=campaign.state,
        )

    @property
    def calendar(self) -> SendingCalendar:
        return self._calendar

    def plan(
        self,
        person_state: RespondentState,
        sent_reminders: Sequence[datetime],
        last_contact: datetime | None,
        now: datetime,
    ) -> Planned | None:
        """The next reminder to queue for this person, or None if they get no more.

        ``sent_reminders``: when each reminder already given to the person was sent.
        ``last_contact``: when the invitation (or the last other message that counts for the
        gap) was sent, None if unknown. ``due_at`` may be later than ``now``.
        """
        _require_aware(now, "now")
        if last_contact is not None:
            _require_aware(last_contact, "last_contact")
        for moment in sent_reminders:
            _require_aware(moment, "sent_reminders")
        if self._campaign_state != CampaignState.ACTIVE:
            return None
        if person_state != RespondentState.INVITED:
            return None
        if now < self._opens_at or now >= self._deadline:
            return None
        return self._next(sent_reminders, last_contact, now)

    def schedule(self, last_contact: datetime | None = None) -> list[Planned]:
        """Every reminder a person invited at ``last_contact`` gets if they never answer.

        The same rules as ``plan``, each reminder sent exactly when due; the campaign's state
        is not consulted, so a draft campaign can be previewed.
        """
        if last_contact is not None:
            _require_aware(last_contact, "last_contact")
        sent: list[datetime] = []
        planned: list[Planned] = []
        now = self._opens_at if last_contact is None else max(self._opens_at, last_contact)
        for _ in range(self._policy.max_reminders):
            found = self._next(sent, last_contact, now)
            if found is None:
                break
            planned.append(found)
            sent.append(found.due_at)
            now = found.due_at
        return planned

    # --- the rules ---------------------------------------------------------------------------

    def _plan_moments(self) -> tuple[_Moment, ...]:
        """Rules 1 and 2: the policy's moments, moved into the window, in time order."""
        moments: list[_Moment] = []
        for offset in sorted(set(self._policy.reminders_before_deadline), reverse=True):
            nominal = (self._deadline - offset).astimezone(UTC)
            if nominal < self._opens_at:
                continue
            due = self._calendar.next_open(nominal)
            if due >= self._deadline:
                continue
            if moments and moments[-1].due_at == due:
                continue  # collapsed into the same opening as a larger offset
            moments.append(_Moment(offset=offset, nominal_at=nominal, due_at=due))
        return tuple(moments)

    def _next(
        self, sent: Sequence[datetime], last_contact: datetime | None, now: datetime
    ) -> Planned | None:
        """Rules 3, 4 and 6: the next moment this person's history allows."""
        if len(sent) >= self._policy.max_reminders:
            return None
        previous = max([*sent, *([last_contact] if last_contact is not None else [])], default=None)
        eligible = [
            m
            for m in self._moments
            if previous is None
            or (m.due_at > previous and m.due_at - previous >= self._policy.min_gap)
        ]
        if not eligible:
            return None
        passed = [m for m in eligible if m.due_at <= now]
        if passed:
            moment = passed[-1]
            due = moment.due_at if moment.due_at == now else self._calendar.next_open(now)
            if due >= self._deadline:
                return None
        else:
            moment = eligible[0]
            due = moment.due_at
        return Planned(
            number=len(sent) + 1,
            due_at=due,
            reason=self._reason(due),
            offset=moment.offset,
            nominal_at=moment.nominal_at,
            caught_up=due != moment.due_at,
        )

    def _reason(self, due: datetime) -> ReminderReason:
        if due.astimezone(self._calendar.zone).date() == self._last_day:
            return "last_day"
        return "reminder"


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime ({moment!r}): aware datetimes only")
