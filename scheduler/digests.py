"""Daily digests to unit focal points and escalations to unit heads and organisers.

Two planning jobs, run by the scheduler's tick inside the caller's transaction (the caller
commits). Each writes Delivery rows with dedupe keys, so planning twice, later the same day, or
from two daemons at once adds each message once (Promise 2); the outbox and its dispatcher do
the sending, and send digests and escalations only inside the sending window (Promise 3).

``plan_digests``
    Every working day, from the campaign's ``digest_at`` time on, each unit focal point gets one
    ``digest`` mail with the units in their scope (Promise 7: theirs only): answered / total, the
    rate and the names still missing, plus the days left. Key ``digest:{contact}:{local date}``,
    so one per person per day.

``plan_escalations``
    At each ``escalate_at`` offset before the deadline, every unit whose answer rate is below
    ``escalate_below`` is reported to its head(s) and to every organiser, one ``escalation`` mail
    per unit and person. Key ``escalation:{offset seconds}:{unit}:{contact}``, so one per offset.

Decisions:

1. **When.** Nothing unless the campaign is ``active`` and ``opens_at <= now < deadline``. The
   digest time is ``digest_at`` in the campaign's zone on a working day of the calendar, moved
   to the window's next opening *the same day* (a ``digest_at`` after the window's end means no
   digest). A digest is queued only while the window is still open or opens again today: a tick
   that first runs after the window closed (the daemon was down all day) queues nothing, rather
   than sending yesterday's numbers next to today's digest.
2. **Escalation moments** follow the reminders' rules (``scheduler.reminders`` 1, 2 and 6): each
   offset names ``deadline - offset``; a moment before ``opens_at``, or whose window opening is
   at or after the deadline, is dropped; moments moving to the same opening are one (the larger
   offset names it); and when several have passed, only the latest counts — a daemon that was
   down sends one alert, not a burst of identical ones for every missed offset.
3. **Who.** Digests: contacts with role ``unit_focal`` (one with ``all_units`` sees every unit);
   organisers and the IT focal point get none (they have ``dondoc status``). Escalations: the
   ``unit_head`` contacts with the unit in scope, then every ``organiser``; a person listed
   twice (a head who is also an organiser, by contact or by address) gets one mail. Units with
   nobody to count (no respondents, or all excluded) are in no digest and never escalated. A
   contact without an email address is skipped and recorded once per dedupe key as a
   ``contact_unreachable`` Event, so the organiser can see who is not being told.
4. **What.** The payload holds exactly the template variables the campaign does not already
   give: ``units`` and ``days_left``, plus ``threshold`` for escalations.
   ``scheduler.context.campaign_context`` gives ``deadline``, ``timezone`` and ``now`` as real
   datetimes; a JSON payload cannot hold a datetime, and one written as text would break the
   ``vn_datetime`` filter. People appear by name, position and group only: no address, phone or
   token is copied into the outbox. ``days_left`` counts local dates from the day the mail is
   due to the last day (the local date of the last moment before the deadline), so it is 0 on
   the last day, as the templates expect. The numbers are those of planning time; a digest is
   due at once, so they match the "as of" time (``now`` when the mail is built) within a tick.
5. **Cost.** A constant number of queries per campaign, whatever its size: the progress once
   (``storage.progress.campaign_progress``, never re-counted here), the units once, the contacts
   with their scopes once, then one bulk insert; scopes are split in memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.calendar import SendingCalendar
from storage.models import (
    Campaign,
    CampaignState,
    Contact,
    ContactRole,
    ContactUnit,
    Delivery,
    Event,
    Unit,
)
from storage.outbox import enqueue_many
from storage.policy import Policy
from storage.progress import campaign_progress

__all__ = [
    "CHANNEL",
    "DIGEST",
    "ESCALATION",
    "UNREACHABLE",
    "PendingEntry",
    "UnitEntry",
    "days_left",
    "digest_key",
    "digest_time",
    "escalation_key",
    "escalation_offset",
    "plan_digests",
    "plan_escalations",
]

DIGEST: Final = "digest"
ESCALATION: Final = "escalation"
CHANNEL: Final = "email"
UNREACHABLE: Final = "contact_unreachable"
"""The Event kind recording a contact who would have been written to but has no address."""
ACTOR: Final = "scheduler"


class PendingEntry(TypedDict):
    """One person who has not answered, as the templates show them (no address, no phone)."""

    full_name: str
    position: str | None
    group: str


class UnitEntry(TypedDict):
    """One unit of a digest or an escalation, in the templates' ``units`` shape."""

    name: str
    answered: int
    total: int
    rate: float
    pending: list[PendingEntry]


def digest_key(contact_id: int, day: date) -> str:
    """The dedupe key of a focal point's digest of the local date ``day``."""
    return f"{DIGEST}:{contact_id}:{day.isoformat()}"


def escalation_key(offset: timedelta, unit_id: int, contact_id: int) -> str:
    """The dedupe key of the escalation about ``unit_id`` to ``contact_id`` at ``offset``."""
    return f"{ESCALATION}:{_seconds(offset)}:{unit_id}:{contact_id}"


# --- pure decisions ---------------------------------------------------------------------------


def digest_time(calendar: SendingCalendar, day: date, digest_at: time) -> datetime | None:
    """When the digest of local date ``day`` may go (UTC): ``digest_at``, moved to the window's
    next opening that same day; None on a day off or when the window has closed by then."""
    nominal = datetime.combine(day, digest_at, tzinfo=calendar.zone).astimezone(UTC)
    for start, end in calendar.openings(day):
        if nominal < end:
            return max(start, nominal)
    return None


def escalation_offset(
    calendar: SendingCalendar,
    offsets: Iterable[timedelta],
    *,
    opens_at: datetime,
    deadline: datetime,
    now: datetime,
) -> timedelta | None:
    """The offset whose escalation is current at ``now``: the latest moment that has passed,
    after the reminders' rules (dropped before ``opens_at`` or past the deadline, collapsed
    when two move to the same opening); None before the first one."""
    current: timedelta | None = None
    last_due: datetime | None = None
    for offset in sorted(set(offsets), reverse=True):
        nominal = (deadline - offset).astimezone(UTC)
        if nominal < opens_at:
            continue
        due = calendar.next_open(nominal)
        if due >= deadline or due == last_due:
            # Past the deadline it is useless; at the same opening as a larger offset it would
            # be the same alert twice, so the larger offset keeps naming it.
            continue
        last_due = due
        if nominal <= now:
            current = offset
    return current


def days_left(deadline: datetime, moment: datetime, calendar: SendingCalendar) -> int:
    """Whole local days from ``moment`` to the deadline's last day (0 on that day)."""
    # A deadline at 00:00 makes the day before the last day, as for the reminders.
    last_day = (deadline - timedelta(microseconds=1)).astimezone(calendar.zone).date()
    return max((last_day - moment.astimezone(calendar.zone).date()).days, 0)


# --- planning ---------------------------------------------------------------------------------


async def plan_digests(
    session: AsyncSession, campaign: Campaign, *, now: datetime, calendar: SendingCalendar
) -> int:
    """Queue today's digest for every unit focal point who has not got it; how many were added.

    ``calendar`` is the campaign's sending calendar (its policy's window, in its time zone).
    """
    zone = _check(campaign, now, calendar)
    if not _running(campaign, now):
        return 0
    policy = Policy.from_json(campaign.policy)
    today = now.astimezone(zone).date()
    moment = digest_time(calendar, today, policy.digest_at)
    if moment is None or now < moment:
        return 0
    due = calendar.next_open(now)
    if due.astimezone(zone).date() != today or due >= campaign.deadline:
        return 0

    contacts = await _contacts(session, campaign.id, (ContactRole.UNIT_FOCAL,))
    if not contacts:
        return 0
    # Every pass after the digest time lands here: once today's digests are queued, the
    # numbers of a national campaign are not counted again just to be thrown away.
    if await _all_queued(session, {digest_key(c.id, today) for c in contacts if c.email}):
        return 0
    units = await _unit_entries(session, campaign, now)
    order = {unit_id: i for i, unit_id in enumerate(units)}
    left = days_left(campaign.deadline, due, calendar)
    rows: list[dict[str, Any]] = []
    missed: list[tuple[int, str]] = []
    for contact in contacts:
        scope = (
            list(units)
            if contact.all_units
            else sorted(contact.unit_ids.intersection(units), key=order.__getitem__)
        )
        if not scope:
            continue  # nobody to count in their units: nothing to report
        key = digest_key(contact.id, today)
        if not contact.email:
            missed.append((contact.id, key))
            continue
        rows.append(
            _row(
                campaign,
                contact,
                DIGEST,
                key,
                due,
                {"units": [units[u] for u in scope], "days_left": left},
            )
        )
    await _note_unreachable(session, campaign.id, DIGEST, missed, now)
    return await enqueue_many(session, rows)


async def plan_escalations(
    session: AsyncSession, campaign: Campaign, *, now: datetime, calendar: SendingCalendar
) -> int:
    """Queue the current offset's alerts about lagging units; how many were added.

    ``calendar`` is the campaign's sending calendar (its policy's window, in its time zone).
    """
    _check(campaign, now, calendar)
    if not _running(campaign, now):
        return 0
    policy = Policy.from_json(campaign.policy)
    offset = escalation_offset(
        calendar,
        policy.escalate_at,
        opens_at=campaign.opens_at,
        deadline=campaign.deadline,
        now=now,
    )
    if offset is None:
        return 0
    due = calendar.next_open(now)
    if due >= campaign.deadline:
        return 0
    # An escalation is one alert per offset: once this offset's are queued, later passes do
    # not count the units again (a unit whose people are imported later is caught at the
    # next offset).
    queued = await session.scalar(
        select(Delivery.id)
        .where(
            Delivery.campaign_id == campaign.id,
            Delivery.dedupe_key.startswith(f"{ESCALATION}:{_seconds(offset)}:"),
        )
        .limit(1)
    )
    if queued is not None:
        return 0

    units = await _unit_entries(session, campaign, now)
    lagging = [u for u, entry in units.items() if entry["rate"] < policy.escalate_below]
    if not lagging:
        return 0
    contacts = await _contacts(session, campaign.id, (ContactRole.UNIT_HEAD, ContactRole.ORGANISER))
    heads: dict[int, list[_Contact]] = defaultdict(list)
    heads_of_all: list[_Contact] = []
    organisers: list[_Contact] = []
    for contact in contacts:
        if contact.role == ContactRole.ORGANISER:
            organisers.append(contact)
        elif contact.all_units:
            heads_of_all.append(contact)
        else:
            for unit_id in contact.unit_ids:
                heads[unit_id].append(contact)

    left = days_left(campaign.deadline, due, calendar)
    rows: list[dict[str, Any]] = []
    missed: list[tuple[int, str]] = []
    for unit_id in lagging:
        payload = {
            "units": [units[unit_id]],
            "days_left": left,
            "threshold": policy.escalate_below,
        }
        for contact in _once_each([*heads[unit_id], *heads_of_all, *organisers]):
            key = escalation_key(offset, unit_id, contact.id)
            if not contact.email:
                missed.append((contact.id, key))
                continue
            rows.append(_row(campaign, contact, ESCALATION, key, due, payload))
    await _note_unreachable(session, campaign.id, ESCALATION, missed, now)
    return await enqueue_many(session, rows)


# --- helpers ----------------------------------------------------------------------------------


async def _all_queued(session: AsyncSession, keys: set[str]) -> bool:
    """Whether every one of ``keys`` is already in the outbox (False for no keys)."""
    if not keys:
        return False
    found = await session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.dedupe_key.in_(keys))
    )
    return found == len(keys)


@dataclass(frozen=True, slots=True)
class _Contact:
    id: int
    role: ContactRole
    email: str | None
    all_units: bool
    unit_ids: frozenset[int]


def _check(campaign: Campaign, now: datetime, calendar: SendingCalendar) -> ZoneInfo:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now is a naive datetime ({now!r}): aware datetimes only")
    # Local dates decide the dedupe keys: a calendar in another zone would shift them.
    if calendar.zone.key != campaign.timezone:
        raise ValueError(
            f"the calendar is in {calendar.zone.key}, campaign {campaign.code} in "
            f"{campaign.timezone}: build the calendar from the campaign"
        )
    return calendar.zone


def _running(campaign: Campaign, now: datetime) -> bool:
    return campaign.state == CampaignState.ACTIVE and campaign.opens_at <= now < campaign.deadline


def _row(
    campaign: Campaign,
    contact: _Contact,
    reason: str,
    key: str,
    due: datetime,
    payload: dict[str, Any],
) -> dict[str, Any]:
    return {
        "campaign_id": campaign.id,
        "channel": CHANNEL,
        "reason": reason,
        "dedupe_key": key,
        "due_at": due,
        "contact_id": contact.id,
        "payload": payload,
    }


def _once_each(contacts: Sequence[_Contact]) -> list[_Contact]:
    """Each person once, the first listing winning: by contact and by address."""
    seen_ids: set[int] = set()
    seen_emails: set[str] = set()
    found = []
    for contact in contacts:
        email = (contact.email or "").lower()
        if contact.id in seen_ids or (email and email in seen_emails):
            continue
        seen_ids.add(contact.id)
        if email:
            seen_emails.add(email)
        found.append(contact)
    return found


async def _contacts(
    session: AsyncSession, campaign_id: int, roles: Sequence[ContactRole]
) -> list[_Contact]:
    """The campaign's contacts with these roles and their scopes, in one query, by id."""
    rows = await session.execute(
        select(Contact.id, Contact.role, Contact.email, Contact.all_units, ContactUnit.unit_id)
        .outerjoin(ContactUnit, ContactUnit.contact_id == Contact.id)
        .where(Contact.campaign_id == campaign_id, Contact.role.in_(list(roles)))
        .order_by(Contact.id)
    )
    facts: dict[int, tuple[ContactRole, str | None, bool]] = {}
    scopes: dict[int, set[int]] = defaultdict(set)
    for contact_id, role, email, all_units, unit_id in rows:
        facts[contact_id] = (role, email, bool(all_units))
        if unit_id is not None:
            scopes[contact_id].add(unit_id)
    return [
        _Contact(cid, role, email, all_units, frozenset(scopes[cid]))
        for cid, (role, email, all_units) in facts.items()
    ]


async def _unit_entries(
    session: AsyncSession, campaign: Campaign, now: datetime
) -> dict[int, UnitEntry]:
    """Every unit with people to count, by id, in ``campaign_progress``'s display order (the
    lowest rate first), each with its pending people in its Vietnamese name order."""
    progress = await campaign_progress(session, campaign, with_pending=True, now=now)
    ids_by_code: dict[str, int] = {}
    ids_by_name: dict[str, int] = {}
    for unit_id, code, name in await session.execute(
        select(Unit.id, Unit.code, Unit.name).where(Unit.campaign_id == campaign.id)
    ):
        ids_by_code[code] = unit_id
        # Names are unique in a campaign (their folded key is), so a name names one unit.
        ids_by_name[name] = unit_id
    entries: dict[int, UnitEntry] = {
        ids_by_code[tally.code]: {
            "name": tally.name,
            "answered": tally.answered,
            "total": tally.total,
            "rate": tally.rate,
            "pending": [],
        }
        for tally in progress.by_unit
    }
    # Already sorted by unit, then the Vietnamese way by name: splitting keeps that order.
    for person in progress.pending or ():
        entries[ids_by_name[person.unit]]["pending"].append(
            {"full_name": person.full_name, "position": person.position, "group": person.group}
        )
    return entries


async def _note_unreachable(
    session: AsyncSession,
    campaign_id: int,
    reason: str,
    missed: Sequence[tuple[int, str]],
    now: datetime,
) -> None:
    """One Event per contact and dedupe key that could not be queued for want of an address.

    Planning runs every few minutes; logging the same miss each time would bury the log.
    """
    if not missed:
        return
    seen = {
        str(data.get("dedupe_key"))
        for data in await session.scalars(
            select(Event.data).where(Event.campaign_id == campaign_id, Event.kind == UNREACHABLE)
        )
    }
    for contact_id, key in missed:
        if key in seen:
            continue
        session.add(
            Event(
                campaign_id=campaign_id,
                contact_id=contact_id,
                kind=UNREACHABLE,
                actor=ACTOR,
                at=now,
                data={"reason": reason, "dedupe_key": key, "why": "no email address"},
            )
        )


def _seconds(duration: timedelta) -> int:
    return duration.days * 86_400 + duration.seconds
