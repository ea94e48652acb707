"""Waiting in loops that talk to a server which may be away (the IMAP watcher, the LimeSurvey
poller, the Zalo bot): how long after repeated failures (exponential backoff with jitter), and a
wait that a stop cuts short."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``initial * factor**(n-1)`` seconds after the n-th failure, capped at ``maximum``, then
    spread by +-``jitter`` so that many clients do not return at the same moment."""

    initial: float = 1.0
    maximum: float = 300.0
    factor: float = 2.0
    jitter: float = 0.25

    def delay(self, failures: int, rand: float) -> float:
        """Seconds to wait after ``failures`` failures in a row; ``rand`` uniform in [0, 1)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, failures - 1))
        return max(0.0, min(self.maximum, base * (1 + self.jitter * (2 * rand - 1))))


async def sleep_or_stop(
    seconds: float,
    stop: asyncio.Event,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Wait ``seconds`` (with ``sleep``, which tests replace) or until ``stop`` is set."""
    if stop.is_set():
        return
    sleeper = asyncio.ensure_future(sleep(seconds))
    waiter = asyncio.ensure_future(stop.wait())
    _done, pending = await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
