"""Spacing sends to stay inside a messenger's rate limits: overall and per chat.

Telegram allows about 30 messages a second overall and about one a second to one chat; dondoc
keeps to 25/s and 1/s by default, with a small margin so a burst never crosses the line as the
server measures it. Each send reserves the next free slot (overall, and for that chat) under a
lock and sleeps until it (a message waiting for its chat does not hold up the others); a
``retry_after`` from the server pushes every slot back. The clock and the sleep are injected,
so tests measure pacing without waiting for it.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Awaitable, Callable

MARGIN = 1.05
"""Slots are this much further apart than the nominal rate: network jitter must not make two
messages arrive closer together than the limit allows."""


class SendPacer:
    def __init__(
        self,
        overall_per_second: float,
        per_chat_per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if overall_per_second <= 0 or per_chat_per_second <= 0:
            raise ValueError("rates must be positive")
        self._overall_gap = MARGIN / overall_per_second
        self._chat_gap = MARGIN / per_chat_per_second
        self._clock = clock
        self._sleep = sleep
        self._taken: list[float] = []
        self._paused_until = 0.0
        self._next_chat: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def wait(self, chat_id: str, *, per_chat: bool = True) -> None:
        """Sleep until this chat's message may go. ``per_chat=False`` for answers to a person
        who just wrote (they count overall, but do not wait for the chat's own slot)."""
        async with self._lock:
            now = self._clock()
            at = max(now, self._paused_until)
            if per_chat:
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
            if per_chat:
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
