"""The province sample as a running campaign with chat: people invited, codes, a clock.

Shared by the chat tests (conversations, Telegram): the sample roster imported, the campaign
active, everyone invited a week before ``NOW`` (a Monday morning inside the sending window).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ChatRules
from bot.conversations import ChatConversations
from bot.incoming import Incoming, Reply
from bot.linking import issue_code
from scheduler.calendar import HolidayCalendar, SendingCalendar
from storage.models import (
    Campaign,
    CampaignState,
    Contact,
    Delivery,
    DeliveryState,
    Respondent,
    RespondentState,
)
from storage.outbox import enqueue_many
from storage.policy import Policy
from storage.roster import import_roster
from tests.sample import PEOPLE, roster_file

VN = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2025, 1, 6, 9, 0, tzinfo=VN)  # Monday, inside the window, deadline Fri 10th
INVITED_AT = datetime(2024, 12, 30, 9, 0, tzinfo=VN)
SECRET = b"k" * 32
RULES = ChatRules(secret=SECRET, sender_name="Sở Nội vụ tỉnh Sơn La")


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def next_open(campaign: Campaign, moment: datetime) -> datetime:
    window = Policy.from_json(campaign.policy).window
    calendar = SendingCalendar(window, campaign.timezone, holidays=HolidayCalendar())
    return calendar.next_open(moment)


async def running_campaign(session: AsyncSession, province: Campaign, tmp_path: Path) -> Campaign:
    """The sample roster, active, everyone invited (a sent invitation each) on INVITED_AT."""
    await import_roster(session, province, roster_file(tmp_path, PEOPLE), actor="test")
    province.state = CampaignState.ACTIVE
    await session.execute(
        update(Respondent)
        .where(Respondent.campaign_id == province.id)
        .values(state=RespondentState.INVITED)
    )
    ids = list(await session.scalars(select(Respondent.id).order_by(Respondent.id)))
    await enqueue_many(
        session,
        [
            {
                "campaign_id": province.id,
                "channel": "email",
                "reason": "invitation",
                "dedupe_key": f"invitation:{rid}:email",
                "due_at": INVITED_AT,
                "respondent_id": rid,
            }
            for rid in ids
        ],
    )
    await session.execute(
        update(Delivery)
        .where(Delivery.reason == "invitation")
        .values(state=DeliveryState.SENT, sent_at=INVITED_AT)
    )
    await session.commit()
    return province


async def contact(session: AsyncSession, name: str) -> Contact:
    found = await session.scalar(select(Contact).where(Contact.full_name == name))
    assert found is not None, name
    return found


async def respondent(session: AsyncSession, email: str) -> Respondent:
    found = await session.scalar(select(Respondent).where(Respondent.email == email))
    assert found is not None, email
    return found


async def code_for_contact(
    session: AsyncSession, campaign: Campaign, name: str, now: datetime = NOW
) -> str:
    person = await contact(session, name)
    code = await issue_code(
        session, RULES, campaign, contact_id=person.id, issued_by="test", now=now
    )
    await session.commit()
    return code


class Chat:
    """One person's chat with the conversations, as a channel would drive it."""

    counter = 0

    def __init__(self, conversations: ChatConversations, chat_id: str, channel: str = "telegram"):
        self.conversations = conversations
        self.chat_id = chat_id
        self.channel = channel

    async def say(self, text: str | None = None, *, choice: str | None = None) -> Reply:
        replies = await self.send(text, choice=choice)
        assert len(replies) == 1, replies
        return replies[0]

    async def send(self, text: str | None = None, *, choice: str | None = None) -> list[Reply]:
        Chat.counter += 1
        message = Incoming(
            channel=self.channel,
            chat_id=self.chat_id,
            update_key=f"u{Chat.counter}",
            at=datetime.now(UTC),
            text=text,
            choice=choice,
            display_name="Người thử",
        )
        return list(await self.conversations.handle(message))


def conversations(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, rules: ChatRules = RULES
) -> ChatConversations:
    return ChatConversations(sessions, rules, clock=clock, next_open=next_open)
