"""The data model of DESIGN.md as SQLAlchemy 2 declarative classes.

Times are aware datetimes, stored in UTC (``UTCDateTime``) on every backend. Progress is never a
counter: it is derived from ``Respondent.state`` and the append-only ``Event`` log.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Deterministic constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; naive values are refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: dondoc stores aware datetimes only")
        value = value.astimezone(UTC)
        # SQLite has no time zone type: store naive UTC text and re-attach UTC on the way out.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    # A planning pass writes and reads tens of thousands of rows whose times are mostly the
    # same few instants (one due time, one "now"): converting each distinct value once saves
    # a third of the pass. Both conversions are pure functions of immutable values.
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        process = super().bind_processor(dialect)
        return None if process is None else functools.lru_cache(maxsize=512)(process)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        process = super().result_processor(dialect, coltype)
        return None if process is None else functools.lru_cache(maxsize=512)(process)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class CampaignState(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    CLOSED = "closed"


class RespondentState(enum.StrEnum):
    PENDING = "pending"
    INVITED = "invited"
    ANSWERED = "answered"
    EXCLUDED = "excluded"


class EmailHealth(enum.StrEnum):
    OK = "ok"
    BOUNCED = "bounced"
    FULL = "full"


class ContactRole(enum.StrEnum):
    UNIT_FOCAL = "unit_focal"
    UNIT_HEAD = "unit_head"
    IT_FOCAL = "it_focal"
    ORGANISER = "organiser"


class DeliveryState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNCERTAIN = "uncertain"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Stored as plain strings (no native ENUM type) so adding a value needs no ALTER TYPE.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=20,
        values_callable=lambda e: [m.value for m in e],
    )


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    survey_url: Mapped[str] = mapped_column(String(1000))
    opens_at: Mapped[datetime]
    deadline: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    preset: Mapped[str | None] = mapped_column(String(64))
    # The validated [policy] table in canonical form (durations as seconds, times as HH:MM).
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Unit kinds known to the campaign: [{"code", "name", "match": [prefixes]}].
    unit_kinds: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    state: Mapped[CampaignState] = mapped_column(
        _enum(CampaignState, "campaign_state"), default=CampaignState.DRAFT
    )
    source_file: Mapped[str | None] = mapped_column(String(1000))
    # The campaign's own templates folder (absolute), when it overrides the built-in ones.
    templates_dir: Mapped[str | None] = mapped_column(String(1000))
    # Rules recognising the survey platform's completion emails (mail.triage.CompletionRule).
    completion_rules: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    # Where else "who has answered" comes from: {"limesurvey": {"url", "user", "survey_id"}}.
    sources: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    groups: Mapped[list[Group]] = relationship(
        back_populates="campaign", order_by="Group.priority", cascade="all, delete-orphan"
    )


class Unit(Base):
    __tablename__ = "units"
    __table_args__ = (
        UniqueConstraint("campaign_id", "code"),
        UniqueConstraint("campaign_id", "name_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    # Diacritics-free fold of the name: how roster cells are matched to units.
    name_key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str | None] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("campaign_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    # Lower wins when one person is listed in two groups (People's Council delegates first).
    priority: Mapped[int] = mapped_column(Integer)
    # Expected number of respondents per unit, by unit kind: {"so": 3, "huyen": 15}.
    quotas: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Other spellings accepted in the roster's group column.
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    survey_url: Mapped[str | None] = mapped_column(String(1000))

    campaign: Mapped[Campaign] = relationship(back_populates="groups")


class Respondent(Base):
    __tablename__ = "respondents"
    __table_args__ = (
        UniqueConstraint("campaign_id", "email"),
        UniqueConstraint("campaign_id", "phone"),
        Index("ix_respondents_campaign_state", "campaign_id", "state"),
        Index("ix_respondents_unit", "unit_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    full_name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    position: Mapped[str | None] = mapped_column(String(300))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    # >= 128 bits from secrets.token_urlsafe; a secret: never logged, never in reports.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[RespondentState] = mapped_column(
        _enum(RespondentState, "respondent_state"), default=RespondentState.PENDING
    )
    answered_at: Mapped[datetime | None]
    answer_source: Mapped[str | None] = mapped_column(String(32))
    email_health: Mapped[EmailHealth] = mapped_column(
        _enum(EmailHealth, "email_health"), default=EmailHealth.OK
    )
    # Where the person was last imported from ("file / sheet / row"), for error reports.
    source_ref: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()
    group: Mapped[Group] = relationship()


class Contact(Base):
    """A focal point, unit head, IT focal point or organiser, with the units they may see."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("campaign_id", "role", "person_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    role: Mapped[ContactRole] = mapped_column(_enum(ContactRole, "contact_role"))
    full_name: Mapped[str] = mapped_column(String(200))
    position: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    # Identity for re-imports: the email, else the phone, else the folded name.
    person_key: Mapped[str] = mapped_column(String(320))
    # Organisers and the IT focal point see every unit; others only their scope.
    all_units: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    units: Mapped[list[Unit]] = relationship(secondary="contact_units")


class ContactUnit(Base):
    __tablename__ = "contact_units"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), primary_key=True
    )


class Delivery(Base):
    """The outbox: one message to one person on one channel for one reason."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    respondent_id: Mapped[int | None] = mapped_column(
        ForeignKey("respondents.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(40))
    # e.g. "reminder:2:<respondent>:email": adding the same key twice cannot send twice.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    due_at: Mapped[datetime]
    state: Mapped[DeliveryState] = mapped_column(
        _enum(DeliveryState, "delivery_state"), default=DeliveryState.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(300))
    # Reason-specific facts fixed at planning time (which reminder, which bounce...).
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Event(Base):
    """Append-only log of everything that happened, with actor and time."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_campaign_at", "campaign_id", "at"),
        Index("ix_events_respondent", "respondent_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    respondent_id: Mapped[int | None] = mapped_column(
        ForeignKey("respondents.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    # Who did it: "import:<file>", "cli", "telegram:<chat>", "limesurvey"...
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class MailCursor(Base):
    """How far the IMAP watcher has read a mailbox; UIDs mean nothing across UIDVALIDITY."""

    __tablename__ = "mail_cursors"

    mailbox: Mapped[str] = mapped_column(String(300), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InboundMessage(Base):
    """A message the IMAP watcher has processed: each one exactly once, kept for the audit."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("mailbox", "uidvalidity", "uid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(300))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(998))
    # bounce, delayed, auto_reply, reply, completion, other
    kind: Mapped[str] = mapped_column(String(20))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    respondent_id: Mapped[int | None] = mapped_column(
        ForeignKey("respondents.id", ondelete="SET NULL")
    )
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- chat (bot/) ---------------------------------------------------------------------------


class ChatIdentity(Base):
    """A chat on one messenger linked to a respondent and/or a contact of one campaign.

    Linking needs a one-time code (``LinkCode``); ``gone_at`` is set when the messenger says the
    chat no longer reaches the person (bot blocked, chat not found), and email takes over.
    """

    __tablename__ = "chat_identities"
    __table_args__ = (
        UniqueConstraint("campaign_id", "channel", "chat_id"),
        Index("ix_chat_identities_chat", "channel", "chat_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    # "telegram", "zalo_bot", "zalo_oa": the channel names of the campaign's channel list.
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(100))
    respondent_id: Mapped[int | None] = mapped_column(
        ForeignKey("respondents.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    display_name: Mapped[str | None] = mapped_column(String(200))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    gone_at: Mapped[datetime | None]


class LinkCode(Base):
    """A one-time code that links a chat to a person; only its hash is stored."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    respondent_id: Mapped[int | None] = mapped_column(
        ForeignKey("respondents.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(128), unique=True)
    # Who issued it: "invitation", "cli:<user>"...
    issued_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # "telegram:<chat id>" of the chat that used it.
    used_by: Mapped[str | None] = mapped_column(String(200))


class LinkAttempt(Base):
    """Each code typed into a chat, right or wrong: what limits guessing per chat."""

    __tablename__ = "link_attempts"
    __table_args__ = (Index("ix_link_attempts_chat_at", "channel", "chat_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)


class ChatUpdate(Base):
    """An incoming chat update already handled: polling without offsets and webhook retries
    deliver the same update again, and each must be answered once."""

    __tablename__ = "chat_updates"
    __table_args__ = (UniqueConstraint("channel", "update_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    update_key: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProviderToken(Base):
    """An access token a provider rotates (Zalo OA): replaced in one transaction, never logged."""

    __tablename__ = "provider_tokens"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- web (web/) ----------------------------------------------------------------------------


class WebLoginToken(Base):
    """A one-time sign-in link sent to a contact's official email; only its hash is stored."""

    __tablename__ = "web_login_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser; the cookie holds the secret, the table only its hash."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    session_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
