"""Spacing sends to stay inside a messenger's rate limits: overall and per chat.

Telegram allows about 30 messages a second overall and about one a second to one chat; dondoc
keeps to 25/s and 1/s by default, with a small margin so a burst never crosses the line as the
server measures it. Zalo publishes no request rates for its Bot Platform and only quotas for the
OA, so its channels go at a configured, gentle pace (``SendPacer.per_minute``).

Each send reserves the next free slot (overall, and for that chat) under a lock and sleeps until
it (a message waiting for its chat does not hold up the others); a ``retry_after`` from the
server pushes every slot back. The clock and the sleep are injected, so tests measure pacing
without waiting for it.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

MARGIN = 1.05
"""Slots are this much further apart than the nominal rate: network jitter must not make two
messages arrive closer together than the limit allows."""


class SendPacer:
    def __init__(
        self,
        overall_per_second: float,
        per_chat_per_second: float | None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """``per_chat_per_second`` None: no limit per chat (ZNS messages to phone numbers)."""
        if overall_per_second <= 0 or (
            per_chat_per_second is not None and per_chat_per_second <= 0
        ):
            raise ValueError("rates must be positive")
        self._overall_gap = MARGIN / overall_per_second
        self._chat_gap = 0.0 if per_chat_per_second is None else MARGIN / per_chat_per_second
        self._clock = clock
        self._sleep = sleep
        self._taken: list[float] = []
        self._paused_until = 0.0
        self._next_chat: dict[str, float] = {}
        self._lock = asyncio.Lock()

    @classmethod
    def per_minute(
        cls,
        per_minute: int,
        *,
        per_chat_gap: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> SendPacer:
        """At most ``per_minute`` sends a minute, and ``per_chat_gap`` seconds between two to
        one chat (0: no gap)."""
        if per_minute < 1:
            raise ValueError(f"per_minute must be >= 1, not {per_minute}")
        per_chat = 1.0 / per_chat_gap if per_chat_gap > 0 else None
        return cls(per_minute / 60.0, per_chat, clock=clock, sleep=sleep)

    async def wait(self, chat_id: str | None = None, *, per_chat: bool = True) -> None:
        """Sleep until this chat's message may go. ``per_chat=False`` for answers to a person
        who just wrote (they count overall, but do not wait for the chat's own slot); no
        ``chat_id``, for sends that have no chat, counts overall only."""
        if chat_id is None or not self._chat_gap:
            per_chat = False
        async with self._lock:
            now = self._clock()
            at = max(now, self._paused_until)
            if per_chat and chat_id is not None:
                at = max(at, self._next_chat.get(chat_id, 0.0))
            # The earliest moment at least one overall gap away from every slot already taken:
            # a message held back for its chat must not hold back the others behind it.
            self._taken = [t for t in self._taken if t > now - self._overall_gap]
            for taken in self._taken:
                if taken + self._overall_gap <= at:
                    continue
                if taken >= at + self._overall_gap:
                    break
                at = taken + self._overall_gap
            bisect.insort(self._taken, at)
            if per_chat and chat_id is not None:
                self._next_chat[chat_id] = at + self._chat_gap
            if len(self._next_chat) > 10_000:
                self._next_chat = {k: v for k, v in self._next_chat.items() if v > now}
        if at > now:
            await self._sleep(at - now)

    def back_off(self, seconds: float, chat_id: str | None = None) -> None:
        """The server said ``retry_after``: nothing (to that chat, or at all) before then."""
        until = self._clock() + seconds
        if chat_id is None:
            self._paused_until = max(self._paused_until, until)
        else:
            self._next_chat[chat_id] = max(self._next_chat.get(chat_id, 0.0), until)
