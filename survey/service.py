"""The LimeSurvey pollers inside ``dondoc run``: one per campaign with a ``[limesurvey]`` table.

The daemon runs this beside its mail and chat services. Campaigns are looked up again every few
minutes, so a campaign created (or given a ``[limesurvey]`` table) while the daemon runs starts
being polled without a restart; a poller ends by itself when its campaign closes. A database
that is away when campaigns are looked up is logged and tried again at the next look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.channel import Channel
from survey.poller import LimeSurveyPoller, campaign_pollers

log = logging.getLogger(__name__)

RESCAN_SECONDS: Final = 300.0
STOP_SECONDS: Final = 6.0
"""How long the pollers get to release their LimeSurvey sessions once the daemon stops."""


class LimeSurveyService:
    """Runs a ``LimeSurveyPoller`` for every campaign that has one, until ``stop``."""

    channels: Mapping[str, Channel] = {}
    """No outgoing channel: LimeSurvey only tells who has answered."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        env: Mapping[str, str] | None = None,
        rescan_seconds: float = RESCAN_SECONDS,
        **options: Any,
    ) -> None:
        if rescan_seconds <= 0:
            raise ValueError(f"rescan_seconds must be positive, not {rescan_seconds}")
        self.sessions = sessions
        self.env = env
        self.rescan_seconds = rescan_seconds
        self.options = options
        self.running: dict[int, asyncio.Task[None]] = {}

    async def __aenter__(self) -> LimeSurveyService:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._finish()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._start_new(stop)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rescan_seconds)
        await self._finish()

    async def _start_new(self, stop: asyncio.Event) -> None:
        try:
            pollers = await campaign_pollers(self.sessions, env=self.env, **self.options)
        except Exception:
            # Database away: the pollers already running go on; look again later (Promise 9).
            log.exception("LimeSurvey: could not look up the campaigns to poll; trying later")
            return
        for poller in pollers:
            task = self.running.get(poller.campaign_id)
            if task is not None and not task.done():
                await poller.aclose()  # already polled by its own poller
                continue
            log.info("LimeSurvey %s: polling starts", poller.campaign_code)
            self.running[poller.campaign_id] = asyncio.create_task(
                self._poll(poller, stop), name=f"dondoc-limesurvey-{poller.campaign_code}"
            )

    @staticmethod
    async def _poll(poller: LimeSurveyPoller, stop: asyncio.Event) -> None:
        try:
            await poller.run(stop)
        except Exception:
            log.exception("LimeSurvey %s: the poller failed", poller.campaign_code)

    async def _finish(self) -> None:
        tasks = [t for t in self.running.values() if not t.done()]
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=STOP_SECONDS)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
