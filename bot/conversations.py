"""The conversations behind every chat channel: ``ChatConversations.handle(Incoming)``.

One set of handlers for Telegram and Zalo. Each update is handled in one transaction: it is
recorded in ``chat_updates`` first (the same update delivered twice is answered once), the chat
is resolved to the person it is linked to (``bot.access``), and the command runs within that
person's scope. Every status query writes a ``status_queried`` Event naming the chat: the audit
log of who looked at what. Anything that must reach other people (an extra reminder, an alert
to the focal point) is queued in the outbox, never sent from here.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.access import Refusal, Speaker, speaker_for, units_for
from bot.commands import Command, parse
from bot.config import ChatRules
from bot.incoming import Button, Incoming, Reply
from bot.linking import redeem
from bot.render import render_reason, render_reply
from bot.routing import pick_channel
from storage.models import (
    Campaign,
    CampaignState,
    ChatIdentity,
    ChatUpdate,
    Contact,
    ContactRole,
    ContactUnit,
    Delivery,
    DeliveryState,
    EmailHealth,
    Event,
    LinkAttempt,
    Respondent,
    RespondentState,
    Unit,
)
from storage.outbox import CHASING, cancel_pending, enqueue, enqueue_many
from storage.policy import Policy
from storage.progress import campaign_progress

Clock = Callable[[], datetime]
NextOpen = Callable[[Campaign, datetime], datetime]
"""When the campaign's sending window next opens at or after a moment (``now`` if open)."""

SELF_REPORTED = "self_reported"
UNIT_LIMIT = 12

FOCAL_BUTTONS: tuple[tuple[Button, ...], ...] = (
    (Button("Tiến độ", "tiendo"), Button("Chưa trả lời", "chuatraloi")),
    (Button("Nhắc nhở", "nhacnho"), Button("Báo cáo", "baocao")),
)
RESPONDENT_BUTTONS: tuple[tuple[Button, ...], ...] = (
    (Button("Tôi đã trả lời", "datraloi"), Button("Không phải tôi", "khongphaitoi")),
    (Button("Lấy lại link", "link"), Button("Báo vướng mắc", "hotro")),
)
FOCAL_COMMANDS = frozenset({"tiendo", "chuatraloi", "nhacnho", "baocao"})
RESPONDENT_COMMANDS = frozenset({"link", "datraloi", "hotro", "khongphaitoi"})


def survey_link(campaign: Campaign, person: Respondent) -> str:
    return (person.group.survey_url or campaign.survey_url).replace("{token}", person.token)


@dataclass(frozen=True, slots=True)
class _Turn:
    """One update being answered: the session, the message and who sent it."""

    session: AsyncSession
    message: Incoming
    speaker: Speaker
    now: datetime

    @property
    def actor(self) -> str:
        return f"{self.message.channel}:{self.message.chat_id}"

    @property
    def base(self) -> dict[str, Any]:
        campaign = self.speaker.campaign
        return {
            "campaign_title": campaign.title,
            "deadline": campaign.deadline,
            "timezone": campaign.timezone,
            "now": self.now,
            "role": self.speaker.role,
            "name": self.speaker.name,
        }


class ChatConversations:
    """``bot.incoming.Conversations`` over the database; one instance serves every channel."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rules: ChatRules,
        *,
        clock: Clock,
        next_open: NextOpen,
    ) -> None:
        self.sessions = sessions
        self.rules = rules
        self.clock = clock
        self.next_open = next_open

    async def handle(self, message: Incoming) -> Sequence[Reply]:
        now = self.clock()
        async with self.sessions() as session, session.begin():
            if not await _first_time(session, message, now):
                return ()  # answered when it first came
            text = message.choice or message.text or ""
            command = parse(text)
            if command is not None and command.name == "start" and command.args:
                return [await self._link(session, message, command.args[0], now)]
            speaker = await speaker_for(session, message.channel, message.chat_id, now)
            if speaker is None:
                if command is None and _looks_like_code(text):
                    return [await self._link(session, message, text, now)]
                return [Reply(render_reply("not_linked", {"display_name": message.display_name}))]
            turn = _Turn(session, message, speaker, now)
            return [await self._answer(turn, command)]

    # --- linking -------------------------------------------------------------------------------

    async def _link(
        self, session: AsyncSession, message: Incoming, code: str, now: datetime
    ) -> Reply:
        result = await redeem(
            session,
            self.rules,
            channel=message.channel,
            chat_id=message.chat_id,
            text=code,
            now=now,
            display_name=message.display_name,
        )
        if result.outcome == "wrong":
            left = await _attempts_left(session, self.rules, message, now)
            return Reply(render_reply("link_wrong", {"left": left}))
        if result.outcome != "linked":
            return Reply(render_reply(f"link_{result.outcome}", {}))
        speaker = await speaker_for(session, message.channel, message.chat_id, now)
        if speaker is None:
            raise RuntimeError("a chat just linked resolves to nobody")
        turn = _Turn(session, message, speaker, now)
        return Reply(render_reply("linked", turn.base), _buttons(speaker))

    # --- commands ------------------------------------------------------------------------------

    async def _answer(self, turn: _Turn, command: Command | None) -> Reply:
        speaker = turn.speaker
        if command is None or command.name == "start":
            name = "free_text" if command is None else "help"
            return Reply(render_reply(name, turn.base), _buttons(speaker))
        if command.name == "help":
            return Reply(render_reply("help", turn.base), _buttons(speaker))
        if speaker.role == "respondent":
            if command.name == "tiendo":
                return await self._own_status(turn)
            if command.name in FOCAL_COMMANDS:
                return _not_for_role(turn, "focal")
            handlers = {
                "link": self._my_link,
                "datraloi": self._answered,
                "hotro": self._problem,
                "khongphaitoi": self._not_me,
            }
            return await handlers[command.name](turn, command)
        if command.name in RESPONDENT_COMMANDS:
            return _not_for_role(turn, "respondent")
        focal = {
            "tiendo": self._progress,
            "chuatraloi": self._pending,
            "nhacnho": self._remind,
            "baocao": self._report,
        }
        return await focal[command.name](turn, command)

    async def _scope(
        self, turn: _Turn, command: str, asked: str | None
    ) -> tuple[list[int] | None, str | None] | Reply:
        """The units a query covers and their display name, or the refusal (audited too)."""
        units = await units_for(turn.session, turn.speaker, asked)
        if isinstance(units, Refusal):
            self._audit(turn, command, None, refused=True, asked=units.asked)
            return Reply(render_reply("refused", {"asked": units.asked}), _buttons(turn.speaker))
        scope_name = None
        if asked and units:
            names = await turn.session.scalars(select(Unit.name).where(Unit.id.in_(units)))
            scope_name = ", ".join(sorted(names))
        return units, scope_name

    def _audit(
        self,
        turn: _Turn,
        command: str,
        units: list[int] | None,
        *,
        refused: bool = False,
        asked: str | None = None,
    ) -> None:
        turn.session.add(
            Event(
                campaign_id=turn.speaker.campaign.id,
                respondent_id=turn.speaker.respondent.id if turn.speaker.respondent else None,
                contact_id=turn.speaker.contact.id if turn.speaker.contact else None,
                kind="status_queried",
                actor=turn.actor,
                at=turn.now,
                data={
                    "command": command,
                    "units": "all" if units is None else units,
                    "refused": refused,
                    **({"asked": asked} if asked else {}),
                },
            )
        )

    async def _progress(self, turn: _Turn, command: Command) -> Reply:
        scope = await self._scope(turn, "tiendo", command.raw_args or None)
        if isinstance(scope, Reply):
            return scope
        units, scope_name = scope
        campaign = turn.speaker.campaign
        progress = await campaign_progress(turn.session, campaign, unit_ids=units, now=turn.now)
        conditions = [
            Respondent.campaign_id == campaign.id,
            Respondent.state == RespondentState.ANSWERED,
            Respondent.answer_source == SELF_REPORTED,
        ]
        if units is not None:
            conditions.append(Respondent.unit_id.in_(units))
        self_reported = await turn.session.scalar(select(func.count()).where(*conditions))
        self._audit(turn, "tiendo", units)
        return Reply(
            render_reply(
                "progress",
                turn.base
                | {
                    "scope_name": scope_name,
                    "overall": progress.overall,
                    "by_group": progress.by_group,
                    "by_unit": progress.by_unit,
                    "unit_limit": UNIT_LIMIT,
                    "self_reported": self_reported or 0,
                },
            ),
            _buttons(turn.speaker),
        )

    async def _pending(self, turn: _Turn, command: Command) -> Reply:
        words = list(command.raw_args.split())
        page = 1
        if words and words[-1].isdigit():
            page = max(1, int(words.pop()))
        asked = " ".join(words) or None
        scope = await self._scope(turn, "chuatraloi", asked)
        if isinstance(scope, Reply):
            return scope
        units, scope_name = scope
        progress = await campaign_progress(
            turn.session, turn.speaker.campaign, unit_ids=units, with_pending=True, now=turn.now
        )
        pending = progress.pending or []
        size = self.rules.page_size
        pages = max(1, math.ceil(len(pending) / size))
        page = min(page, pages)
        first = (page - 1) * size
        self._audit(turn, "chuatraloi", units)
        buttons = _buttons(turn.speaker)
        if self.rules.names_allowed and page < pages:
            following = f"chuatraloi {asked} {page + 1}" if asked else f"chuatraloi {page + 1}"
            buttons = ((Button(f"Trang {page + 1}/{pages}", following),), *buttons)
        return Reply(
            render_reply(
                "pending",
                turn.base
                | {
                    "scope_name": scope_name,
                    "asked": asked,
                    "total": len(pending),
                    "names_allowed": self.rules.names_allowed,
                    "dashboard_hint": self.rules.dashboard_hint,
                    "people": pending[first : first + size],
                    "first": first + 1,
                    "page": page,
                    "pages": pages,
                    "units": [u for u in progress.by_unit if u.pending],
                },
            ),
            buttons,
        )

    async def _report(self, turn: _Turn, command: Command) -> Reply:
        scope = await self._scope(turn, "baocao", command.raw_args or None)
        if isinstance(scope, Reply):
            return scope
        units, _scope_name = scope
        campaign = turn.speaker.campaign
        progress = await campaign_progress(
            turn.session, campaign, unit_ids=units, with_pending=True, now=turn.now
        )
        pending_by_unit: dict[str, list[dict[str, Any]]] = {}
        for person in progress.pending or []:
            pending_by_unit.setdefault(person.unit, []).append(
                {"full_name": person.full_name, "position": person.position, "group": person.group}
            )
        entries = [
            {
                "name": u.name,
                "answered": u.answered,
                "total": u.total,
                "rate": u.rate,
                "pending": pending_by_unit.get(u.name, []),
            }
            for u in progress.by_unit
        ]
        zone = ZoneInfo(campaign.timezone)
        last_day = (campaign.deadline - timedelta(microseconds=1)).astimezone(zone).date()
        days_left = max(0, (last_day - turn.now.astimezone(zone).date()).days)
        self._audit(turn, "baocao", units)
        return Reply(
            render_reason(
                "digest",
                turn.base
                | {
                    "units": entries,
                    "days_left": days_left,
                    "names_allowed": self.rules.names_allowed,
                    "dashboard_hint": self.rules.dashboard_hint,
                },
            ),
            _buttons(turn.speaker),
        )

    async def _remind(self, turn: _Turn, command: Command) -> Reply:
        """An extra reminder now to the scope's non-responders, within the policy's limits."""
        campaign = turn.speaker.campaign
        if campaign.state != CampaignState.ACTIVE or campaign.deadline <= turn.now:
            return Reply(render_reply("campaign_over", turn.base), _buttons(turn.speaker))
        scope = await self._scope(turn, "nhacnho", command.raw_args or None)
        if isinstance(scope, Reply):
            return scope
        units, scope_name = scope
        session = turn.session
        policy = Policy.from_json(campaign.policy)
        conditions = [
            Respondent.campaign_id == campaign.id,
            Respondent.state == RespondentState.INVITED,
        ]
        if units is not None:
            conditions.append(Respondent.unit_id.in_(units))
        people = (
            await session.execute(
                select(Respondent.id, Respondent.email, Respondent.email_health).where(*conditions)
            )
        ).all()
        ids = [rid for rid, _e, _h in people]
        history: dict[int, list[tuple[str, DeliveryState, datetime | None, datetime]]] = {}
        for owner, reason, state, sent_at, due_at in await session.execute(
            select(
                Delivery.respondent_id,
                Delivery.reason,
                Delivery.state,
                Delivery.sent_at,
                Delivery.due_at,
            ).where(Delivery.respondent_id.in_(ids), Delivery.reason.in_(CHASING))
        ):
            if owner is not None:
                history.setdefault(owner, []).append((reason, state, sent_at, due_at))
        chats = await _live_chats(session, respondent_ids=ids)
        at = max(self.next_open(campaign, turn.now), turn.now)
        day = turn.now.astimezone(ZoneInfo(campaign.timezone)).date().isoformat()
        rows: list[dict[str, Any]] = []
        limited = 0
        for rid, email, health in people:
            past = history.get(rid, [])
            sent = [t for r, s, t, _d in past if s == DeliveryState.SENT and t]
            reminders = [t for r, s, t, _d in past if r != "invitation" and s == DeliveryState.SENT]
            queued_soon = any(
                s in (DeliveryState.QUEUED, DeliveryState.SENDING)
                and r != "invitation"
                and d <= at + policy.min_gap
                for r, s, _t, d in past
            )
            if (
                len(reminders) >= policy.max_reminders
                or queued_soon
                or (sent and at - max(sent) < policy.min_gap)
            ):
                limited += 1
                continue
            channel = pick_channel(
                policy.channels,
                chats.get(rid, set()),
                email_usable=bool(email) and health != EmailHealth.BOUNCED,
            )
            if channel is None:
                limited += 1
                continue
            rows.append(
                {
                    "campaign_id": campaign.id,
                    "channel": channel,
                    "reason": "reminder",
                    "dedupe_key": f"reminder:extra:{day}:{rid}:{channel}",
                    "due_at": at,
                    "respondent_id": rid,
                    "payload": {
                        "reminder_number": len(reminders) + 1,
                        "requested_by": turn.actor,
                    },
                }
            )
        queued = await enqueue_many(session, rows)
        session.add(
            Event(
                campaign_id=campaign.id,
                contact_id=turn.speaker.contact.id if turn.speaker.contact else None,
                kind="reminder_requested",
                actor=turn.actor,
                at=turn.now,
                data={
                    "units": "all" if units is None else units,
                    "queued": queued,
                    "limited": limited,
                    "due_at": at.isoformat(),
                },
            )
        )
        return Reply(
            render_reply(
                "remind_done",
                turn.base
                | {
                    "scope_name": scope_name,
                    "queued": queued,
                    "already": len(rows) - queued,
                    "limited": limited,
                    "at": at,
                    "reminders_max": policy.max_reminders,
                    "min_gap": policy.min_gap,
                },
            ),
            _buttons(turn.speaker),
        )

    # --- respondents ---------------------------------------------------------------------------

    async def _own_status(self, turn: _Turn) -> Reply:
        person = _respondent(turn)
        self._audit(turn, "tiendo", [person.unit_id])
        if person.state == RespondentState.ANSWERED:
            return Reply(
                render_reply("answered_already", turn.base | {"answered_at": person.answered_at}),
                _buttons(turn.speaker),
            )
        return await self._my_link(turn, Command("link"), email=False)

    async def _my_link(self, turn: _Turn, command: Command, *, email: bool = True) -> Reply:
        person = _respondent(turn)
        campaign = turn.speaker.campaign
        emailed = False
        if email and person.email and person.email_health != EmailHealth.BOUNCED:
            day = turn.now.astimezone(ZoneInfo(campaign.timezone)).date().isoformat()
            # One resend by mail a day, however often the button is pressed.
            await enqueue(
                turn.session,
                campaign_id=campaign.id,
                channel="email",
                reason="invitation",
                dedupe_key=f"invitation:resend:{day}:{person.id}:email",
                due_at=turn.now,
                respondent_id=person.id,
                payload={"requested_by": turn.actor},
            )
            emailed = True
        turn.session.add(
            Event(
                campaign_id=campaign.id,
                respondent_id=person.id,
                kind="link_requested",
                actor=turn.actor,
                at=turn.now,
                data={"emailed": emailed},
            )
        )
        return Reply(
            render_reply(
                "my_link",
                turn.base
                | {
                    "survey_link": survey_link(campaign, person),
                    "emailed": emailed,
                    "email": person.email or "",
                },
            ),
            _buttons(turn.speaker),
        )

    async def _answered(self, turn: _Turn, command: Command) -> Reply:
        person = _respondent(turn)
        if person.state == RespondentState.ANSWERED:
            return Reply(
                render_reply("answered_already", turn.base | {"answered_at": person.answered_at}),
                _buttons(turn.speaker),
            )
        if not command.confirmed:
            return Reply(
                render_reply("answered_confirm", turn.base),
                ((Button("Đúng, tôi đã trả lời", "datraloi xacnhan"),),),
            )
        changed = await turn.session.execute(
            update(Respondent)
            .where(Respondent.id == person.id, Respondent.state != RespondentState.ANSWERED)
            .values(
                state=RespondentState.ANSWERED,
                answered_at=turn.now,
                answer_source=SELF_REPORTED,
                updated_at=turn.now,
            )
            .execution_options(synchronize_session=False)
        )
        if int(getattr(changed, "rowcount", 0) or 0) == 1:
            await cancel_pending(turn.session, respondent_id=person.id, reason="self-reported")
            turn.session.add(
                Event(
                    campaign_id=person.campaign_id,
                    respondent_id=person.id,
                    kind="answered",
                    actor=turn.actor,
                    at=turn.now,
                    data={"source": SELF_REPORTED, "answered_at": turn.now.isoformat()},
                )
            )
        return Reply(render_reply("answered_done", turn.base), ())

    async def _problem(self, turn: _Turn, command: Command) -> Reply:
        if not command.raw_args.strip():
            return Reply(render_reply("help_ask", turn.base), ())
        return await self._alert(turn, command.raw_args.strip()[:2000], "problem_reported")

    async def _not_me(self, turn: _Turn, command: Command) -> Reply:
        person = _respondent(turn)
        if not command.confirmed:
            return Reply(
                render_reply("not_me_confirm", turn.base | {"unit_name": person.unit.name}),
                ((Button("Đúng, không phải tôi", "khongphaitoi xacnhan"),),),
            )
        text = (
            "Không phải tôi / tôi đã chuyển đơn vị: người nhận báo tin nhắn về phiếu khảo sát "
            "không dành cho mình hoặc đã chuyển khỏi đơn vị; đề nghị cập nhật danh sách."
        )
        return await self._alert(turn, text, "not_me_reported")

    async def _alert(self, turn: _Turn, text: str, kind: str) -> Reply:
        """problem_report deliveries to the unit's focal points and the IT focal points."""
        person = _respondent(turn)
        session = turn.session
        campaign = turn.speaker.campaign
        scoped = select(ContactUnit.contact_id).where(ContactUnit.unit_id == person.unit_id)
        contacts = list(
            await session.scalars(
                select(Contact)
                .where(
                    Contact.campaign_id == campaign.id,
                    (
                        (Contact.role == ContactRole.IT_FOCAL)
                        | (
                            (Contact.role == ContactRole.UNIT_FOCAL)
                            & (Contact.all_units.is_(True) | Contact.id.in_(scoped))
                        )
                    ),
                )
                .order_by(Contact.id)
            )
        )
        policy = Policy.from_json(campaign.policy)
        chats = await _live_chats(session, contact_ids=[c.id for c in contacts])
        digest = hashlib.sha256(turn.message.update_key.encode()).hexdigest()[:16]
        rows = []
        told: list[Contact] = []
        for contact in contacts:
            channel = pick_channel(
                policy.channels, chats.get(contact.id, set()), email_usable=bool(contact.email)
            )
            if channel is None:
                continue
            told.append(contact)
            rows.append(
                {
                    "campaign_id": campaign.id,
                    "channel": channel,
                    "reason": "problem_report",
                    "dedupe_key": f"problem_report:{turn.message.channel}:{digest}:{contact.id}",
                    "due_at": turn.now,
                    "contact_id": contact.id,
                    "payload": {
                        "person": {
                            "full_name": person.full_name,
                            "email": person.email,
                            "unit": person.unit.name,
                        },
                        "problem_text": text,
                        # The mail names the messenger ("zalo"), not its API ("zalo_bot").
                        "channel": turn.message.channel.split("_")[0],
                    },
                }
            )
        await enqueue_many(session, rows)
        session.add(
            Event(
                campaign_id=campaign.id,
                respondent_id=person.id,
                kind=kind,
                actor=turn.actor,
                at=turn.now,
                data={"told": [c.id for c in told], "text": text},
            )
        )
        if not told:
            organiser = await session.scalar(
                select(Contact)
                .where(Contact.campaign_id == campaign.id, Contact.role == ContactRole.ORGANISER)
                .order_by(Contact.id)
                .limit(1)
            )
            return Reply(
                render_reply(
                    "nobody_to_tell",
                    {
                        "organiser_name": organiser.full_name if organiser else "",
                        "organiser_phone": (organiser.phone or "") if organiser else "",
                    },
                ),
                (),
            )
        roles = sorted({_role_vi(c.role) for c in told})
        return Reply(render_reply("help_sent", {"told": len(told), "whom": ", ".join(roles)}), ())


def _role_vi(role: ContactRole) -> str:
    return {
        ContactRole.UNIT_FOCAL: "cán bộ đầu mối đơn vị",
        ContactRole.IT_FOCAL: "cán bộ CNTT",
        ContactRole.UNIT_HEAD: "lãnh đạo đơn vị",
        ContactRole.ORGANISER: "cơ quan tổ chức",
    }[role]


def _respondent(turn: _Turn) -> Respondent:
    if turn.speaker.respondent is None:
        raise RuntimeError("a respondent command reached a contact")
    return turn.speaker.respondent


def _buttons(speaker: Speaker) -> tuple[tuple[Button, ...], ...]:
    return RESPONDENT_BUTTONS if speaker.role == "respondent" else FOCAL_BUTTONS


def _not_for_role(turn: _Turn, wanted: str) -> Reply:
    return Reply(
        render_reply("not_for_role", turn.base | {"wanted": wanted}), _buttons(turn.speaker)
    )


def _looks_like_code(text: str) -> bool:
    word = text.strip()
    return 8 <= len(word) <= 64 and " " not in word


async def _attempts_left(
    session: AsyncSession, rules: ChatRules, message: Incoming, now: datetime
) -> int:
    wrong = await session.scalar(
        select(func.count()).where(
            LinkAttempt.channel == message.channel,
            LinkAttempt.chat_id == message.chat_id,
            LinkAttempt.ok.is_(False),
            LinkAttempt.at > now - timedelta(hours=1),
        )
    )
    return max(0, rules.attempts_per_hour - (wrong or 0))


async def _live_chats(
    session: AsyncSession,
    *,
    respondent_ids: Sequence[int] = (),
    contact_ids: Sequence[int] = (),
) -> dict[int, set[str]]:
    """Owner id -> the channels of their linked chats that still reach them."""
    owner = ChatIdentity.respondent_id if respondent_ids else ChatIdentity.contact_id
    ids = list(respondent_ids or contact_ids)
    if not ids:
        return {}
    found: dict[int, set[str]] = {}
    for who, channel in await session.execute(
        select(owner, ChatIdentity.channel).where(owner.in_(ids), ChatIdentity.gone_at.is_(None))
    ):
        if who is not None:
            found.setdefault(int(who), set()).add(channel)
    return found


async def _first_time(session: AsyncSession, message: Incoming, now: datetime) -> bool:
    """Record the update; False when it was recorded before (a redelivery)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, ChatUpdate.__table__)
    statement = (
        insert(table)
        .values(channel=message.channel, update_key=message.update_key, received_at=now)
        .on_conflict_do_nothing(index_elements=["channel", "update_key"])
        .returning(table.c.id)
    )
    return (await session.scalar(statement)) is not None
