"""The LimeSurvey poller: reads who has completed a campaign's survey and marks them answered.

Participants are matched to respondents by their token, else by email. Answering follows
``storage.answered``'s rules: a conditional UPDATE that never un-answers and keeps the first
recorded time and source, and one ``answered`` Event per person newly marked. A pass reads the
whole list of completed participants, so running it twice changes nothing the second time.
``run`` polls every ``poll_seconds`` and backs off (exponential, with jitter) while the server is
down or the database is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.answered import Answer, mark_answered
from storage.backoff import Backoff, sleep_or_stop
from storage.errors import ConfigurationError
from storage.models import Campaign, CampaignState, Event, Respondent, RespondentState, utcnow
from survey.limesurvey import (
    LimeSurveyClient,
    LimeSurveyConfig,
    LimeSurveyError,
    Participant,
)

log = logging.getLogger(__name__)

SOURCE = "limesurvey"
ACTOR = "limesurvey"


LIMESURVEY_BACKOFF = Backoff(initial=30.0, maximum=1800.0, jitter=0.2)
"""From 30 s to 30 min: LimeSurvey servers are small, and a refused login counts against the
account (it is locked after repeated failures)."""


@dataclass(frozen=True, slots=True)
class Unknown:
    """A completed participant matching nobody in the campaign: named by LimeSurvey's
    participant id and email, never by token."""

    tid: int
    email: str


@dataclass(slots=True)
class PollReport:
    """What one pass found. ``completed`` counts participants LimeSurvey reports as done."""

    completed: int = 0
    newly_answered: int = 0
    already_answered: int = 0
    unknown: list[Unknown] = field(default_factory=list)
    pages: int = 0
    renewals: int = 0

    @property
    def matched(self) -> int:
        return self.newly_answered + self.already_answered


def _addresses(email: str) -> list[str]:
    """LimeSurvey allows several addresses in one row, separated by ',' or ';'."""
    return [a.strip().lower() for a in email.replace(";", ",").split(",") if a.strip()]


class LimeSurveyPoller:
    """Polls one campaign's LimeSurvey survey. Build with ``from_campaign``."""

    def __init__(
        self,
        campaign_id: int,
        campaign_code: str,
        config: LimeSurveyConfig,
        sessions: async_sessionmaker[AsyncSession],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        backoff: Backoff | None = None,
        page_size: int = 500,
        timeout: float = 30.0,
    ) -> None:
        self.campaign_id = campaign_id
        self.campaign_code = campaign_code
        self.config = config
        self._sessions = sessions
        self._client = LimeSurveyClient(config, transport=transport, timeout=timeout)
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._backoff = backoff or LIMESURVEY_BACKOFF
        self._page_size = page_size
        self.failures = 0
        # The unknown participants last reported, so a pass every few minutes logs them once.
        self._unknown_seen: frozenset[int] = frozenset()

    def __repr__(self) -> str:
        return f"LimeSurveyPoller(campaign={self.campaign_code!r}, client={self._client!r})"

    @classmethod
    def from_campaign(
        cls,
        campaign: Campaign,
        sessions: async_sessionmaker[AsyncSession],
        *,
        env: Mapping[str, str] | None = None,
        **options: Any,
    ) -> LimeSurveyPoller:
        """The poller of ``campaign``'s ``[limesurvey]`` section; the password is read from
        ``env`` (default ``os.environ``). ConfigurationError when the campaign has none;
        LimeSurveyRefused when the password variable is not set."""
        source = (campaign.sources or {}).get("limesurvey")
        if not source:
            raise ConfigurationError(
                f"Đợt {campaign.code} chưa cấu hình LimeSurvey. Vui lòng thêm bảng [limesurvey] "
                "(url, user, survey_id) vào tệp cấu hình đợt rồi chạy: "
                f"dondoc campaign create TỆP --update",
                f"campaign {campaign.code!r} has no [limesurvey] section",
            )
        config = LimeSurveyConfig.from_source(
            source,
            os.environ if env is None else env,
            timezone=campaign.timezone,
            campaign=campaign.code,
        )
        return cls(campaign.id, campaign.code, config, sessions, **options)

    async def __aenter__(self) -> LimeSurveyPoller:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- one pass ----------------------------------------------------------------------------

    async def poll_once(self) -> PollReport:
        """Read every completed participant and mark the matching respondents answered.

        Each page is applied in its own transaction, so a server dropping mid-way keeps what was
        read; LimeSurveyError or SQLAlchemyError propagate to the caller (``run`` backs off).
        """
        report = PollReport()
        renewals_before = self._client.renewals
        pages = self._client.completed_participants(page_size=self._page_size)
        # aclosing: a database error mid-way must not leave the generator for the GC to finish.
        async with contextlib.aclosing(pages):
            async for page in pages:
                report.pages += 1
                report.completed += len(page)
                async with self._sessions() as session, session.begin():
                    await self._apply(session, page, report)
        report.renewals = self._client.renewals - renewals_before
        unknown = frozenset(u.tid for u in report.unknown)
        if report.newly_answered or unknown - self._unknown_seen:
            async with self._sessions() as session, session.begin():
                session.add(
                    Event(
                        campaign_id=self.campaign_id,
                        kind="limesurvey_polled",
                        actor=ACTOR,
                        at=self._clock(),
                        data={
                            "survey_id": self.config.survey_id,
                            "completed": report.completed,
                            "new": report.newly_answered,
                            "already": report.already_answered,
                            "unknown": len(report.unknown),
                            "unknown_tids": [u.tid for u in report.unknown[:50]],
                        },
                    )
                )
        self._unknown_seen = unknown
        log.info(
            "LimeSurvey %s: %d completed, %d newly answered, %d already, %d unknown",
            self.campaign_code,
            report.completed,
            report.newly_answered,
            report.already_answered,
            len(report.unknown),
        )
        return report

    async def _apply(
        self, session: AsyncSession, page: list[Participant], report: PollReport
    ) -> None:
        now = self._clock()
        tokens = [p.token for p in page if p.token]
        emails = [a for p in page for a in _addresses(p.email)]
        rows = (
            await session.execute(
                select(Respondent.id, Respondent.token, Respondent.email, Respondent.state).where(
                    Respondent.campaign_id == self.campaign_id,
                    or_(Respondent.token.in_(tokens), Respondent.email.in_(emails)),
                )
            )
        ).all()
        by_token = {r.token: r for r in rows}
        by_email = {r.email: r for r in rows if r.email}
        marks: dict[int, tuple[Participant, datetime]] = {}
        for participant in page:
            match = by_token.get(participant.token) if participant.token else None
            if match is None:
                match = next(
                    (by_email[a] for a in _addresses(participant.email) if a in by_email), None
                )
            if match is None:
                report.unknown.append(Unknown(participant.tid, participant.email))
                continue
            if match.state == RespondentState.ANSWERED or match.id in marks:
                report.already_answered += 1
                continue
            # A stamp in the future (a server clock ahead of ours) is capped at now.
            when = min(participant.completed_at or now, now)
            marks[match.id] = (participant, when.astimezone(UTC))
        marked = await mark_answered(
            session,
            self.campaign_id,
            {
                rid: Answer(
                    when,
                    {
                        "survey_id": self.config.survey_id,
                        "tid": participant.tid,
                        "completed": participant.completed,
                    },
                )
                for rid, (participant, when) in marks.items()
            },
            source=SOURCE,
            actor=ACTOR,
            now=now,
        )
        report.already_answered += len(marks) - len(marked)
        report.newly_answered += len(marked)

    # --- the loop ----------------------------------------------------------------------------

    async def _campaign_open(self) -> bool:
        async with self._sessions() as session:
            state = await session.scalar(
                select(Campaign.state).where(Campaign.id == self.campaign_id)
            )
        return state is not None and state != CampaignState.CLOSED

    async def _poll_unless_stopped(self, stop: asyncio.Event) -> PollReport | None:
        """One pass, abandoned (None) when ``stop`` is set meanwhile: each page is its own
        transaction, so a cancelled pass leaves only whole pages behind."""
        poll = asyncio.ensure_future(self.poll_once())
        waiter = asyncio.ensure_future(stop.wait())
        done, _pending = await asyncio.wait({poll, waiter}, return_when=asyncio.FIRST_COMPLETED)
        loser = waiter if poll in done else poll
        loser.cancel()
        await asyncio.gather(loser, return_exceptions=True)
        return poll.result() if poll in done else None

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every ``poll_seconds`` until ``stop`` is set or the campaign is closed (or
        deleted), backing off while the server or the database fails. Closes the client."""
        try:
            while not stop.is_set():
                try:
                    if not await self._campaign_open():
                        log.info("LimeSurvey %s: campaign closed; poller stops", self.campaign_code)
                        return
                    if await self._poll_unless_stopped(stop) is None:
                        return
                    self.failures = 0
                    delay = float(self.config.poll_seconds)
                except (LimeSurveyError, SQLAlchemyError, OSError) as exc:
                    self.failures += 1
                    # Only the type of a database error: its text may quote SQL parameters (tokens).
                    detail = (
                        exc.message_en if isinstance(exc, LimeSurveyError) else type(exc).__name__
                    )
                    delay = self._backoff.delay(self.failures, self._rand())
                    if isinstance(exc, LimeSurveyError) and not exc.transient:
                        # Wrong credentials lock the account after a few tries (the lockout is
                        # shared with the web login): wait the longest, whatever the count.
                        delay = max(delay, self._backoff.maximum)
                        log.error(  # noqa: TRY400 - an expected refusal, the text says it all
                            "LimeSurvey %s: %s; trying again in %.0f s",
                            self.campaign_code,
                            detail,
                            delay,
                        )
                    else:
                        log.warning(
                            "LimeSurvey %s: %s; trying again in %.1f s (failure %d)",
                            self.campaign_code,
                            detail,
                            delay,
                            self.failures,
                        )
                await sleep_or_stop(delay, stop, sleep=self._sleep)
        finally:
            await self.aclose()


async def campaign_pollers(
    sessions: async_sessionmaker[AsyncSession],
    *,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> list[LimeSurveyPoller]:
    """A poller for every campaign not closed that has a ``[limesurvey]`` section. A campaign
    whose password is missing is logged and skipped, so one bad setting stops nobody else."""
    async with sessions() as session:
        campaigns = (
            await session.scalars(
                select(Campaign)
                .where(Campaign.state != CampaignState.CLOSED)
                .order_by(Campaign.code)
            )
        ).all()
    pollers: list[LimeSurveyPoller] = []
    for campaign in campaigns:
        if not (campaign.sources or {}).get("limesurvey"):
            continue
        try:
            pollers.append(LimeSurveyPoller.from_campaign(campaign, sessions, env=env, **options))
        except LimeSurveyError as exc:
            log.error("LimeSurvey %s: not polled: %s", campaign.code, exc.message_en)  # noqa: TRY400
    return pollers
