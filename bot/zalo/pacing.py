"""Spacing sends out: at most so many a minute overall, and a gap between two to one chat.

Zalo publishes no request-rate limits for the Bot Platform and only quotas for the OA, so the
channels go at a configured, gentle pace rather than discovering the limit by being refused.
``clock`` and ``sleep`` are injectable so tests move time instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Final

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

MAX_CHATS: Final = 10_000
"""Chats whose last send time is remembered; older ones have long passed their gap."""


class Pacer:
    """Evenly spaced sends: one every ``60 / per_minute`` s, and ``per_chat_gap`` s per chat.

    A caller reserves its slot before sleeping, so concurrent callers queue in order.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        per_chat_gap: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if per_minute < 1:
            raise ValueError(f"per_minute must be >= 1, not {per_minute}")
        self.interval = 60.0 / per_minute
        self.per_chat_gap = per_chat_gap
        self._clock = clock
        self._sleep = sleep
        self._next = clock()
        self._chats: OrderedDict[str, float] = OrderedDict()

    def reserve(self, chat: str | None = None) -> float:
        """Take the next slot for ``chat``; the number of seconds to wait before sending."""
        now = self._clock()
        at = max(now, self._next)
        if chat is not None:
            at = max(at, self._chats.get(chat, at))
            self._chats[chat] = at + self.per_chat_gap
            self._chats.move_to_end(chat)
            while len(self._chats) > MAX_CHATS:
                self._chats.popitem(last=False)
        self._next = at + self.interval
        return at - now

    async def wait(self, chat: str | None = None) -> None:
        delay = self.reserve(chat)
        if delay > 0:
            await self._sleep(delay)
