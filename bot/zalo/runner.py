"""Answering people on Zalo: poll the Bot Platform, hand each new message to the conversations,
send their replies back.

``ZaloBotRunner.run(stop)`` long-polls ``getUpdates`` until ``stop`` is set; a poll in flight is
cut off when it is, so the runner stops at once. Updates come back on later polls (the API has
no offset), so each one is claimed in ``chat_updates`` first and answered only the first time;
after a repeat the runner pauses, since the API answers at once while anything is queued. When
the API is down it backs off exponentially (1 s to 60 s). Webhook deliveries (both Zalo
products) go through ``handle`` the same way, from a web route, after ``bot.zalo.webhook``
checked them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Final, Literal, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.incoming import Conversations, Incoming, Reply
from bot.zalo.bot_platform import ZaloBotClient
from bot.zalo.messages import render_reply
from bot.zalo.updates import claim
from bot.zalo.webhook import bot_incoming
from storage.backoff import sleep_or_stop
from storage.channel import ChannelError, PermanentError
from storage.models import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]
Poll = Literal["new", "repeat", "empty"]

SORRY: Final = (
    "Xin lỗi anh/chị, hệ thống đang gặp sự cố nên chưa trả lời được. "
    "Anh/chị vui lòng thử lại sau ít phút."
)
"""Sent when the conversations fail: a person never gets silence."""


class TextSender(Protocol):
    """What a runner needs of a channel to answer a chat."""

    async def send_text(self, chat_id: str, text: str) -> list[str]: ...


class Responder:
    """Claims an incoming update, asks the conversations, sends their replies to the chat."""

    def __init__(
        self,
        sender: TextSender,
        conversations: Conversations,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.sender = sender
        self.conversations = conversations
        self.sessions = sessions
        self.clock = clock
        self.answered = 0
        self.repeats = 0

    async def handle(self, incoming: Incoming) -> bool:
        """Answer ``incoming`` unless it was answered before; whether it was new."""
        if not await claim(self.sessions, incoming, self.clock()):
            self.repeats += 1
            return False
        replies: Sequence[Reply]
        try:
            replies = await self.conversations.handle(incoming)
        except Exception:
            log.exception(
                "%s: conversations failed on update %s", incoming.channel, incoming.update_key
            )
            replies = [Reply(SORRY)]
        if not replies:
            # The conversations answer nothing only to an update they saw before.
            log.info("%s: nothing to answer to %s", incoming.channel, incoming.update_key)
        for reply in replies:
            try:
                await self.sender.send_text(incoming.chat_id, render_reply(reply))
            except ChannelError as exc:
                # A chat answer gets no retry queue: a late answer to a question is worse
                # than none, and the person can simply ask again.
                log.warning("%s: answer not sent: %s", incoming.channel, exc.detail)
                break
        self.answered += 1
        return True


class ZaloBotRunner(Responder):
    """Long-polls the Zalo Bot Platform and answers every new message."""

    def __init__(
        self,
        client: ZaloBotClient,
        sender: TextSender,
        conversations: Conversations,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock = utcnow,
        poll_timeout: int = 30,
        repeat_pause: float = 1.0,
        backoff_first: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        super().__init__(sender, conversations, sessions, clock=clock)
        self.client = client
        self.poll_timeout = poll_timeout
        self.repeat_pause = repeat_pause
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.failures = 0
        """Polls that failed in a row (0 when the API answers)."""

    async def poll_once(self, stop: asyncio.Event | None = None) -> Poll:
        """One long poll and the handling of what it brought. ``stop`` cuts the poll short;
        an update already received is still answered."""
        poll = self.client.get_update(wait=self.poll_timeout)
        update = await (poll if stop is None else _until(stop, poll))
        if update is None:
            return "empty"
        incoming = bot_incoming(update, now=self.clock())
        if incoming is None:
            return "repeat"
        return "new" if await self.handle(incoming) else "repeat"

    def backoff(self) -> float:
        """Seconds to wait after ``failures`` failed polls in a row."""
        return float(min(self.backoff_max, self.backoff_first * 2 ** (self.failures - 1)))

    async def run(self, stop: asyncio.Event) -> None:
        """Poll and answer until ``stop`` is set."""
        log.info("Zalo bot: polling for messages")
        while not stop.is_set():
            try:
                outcome = await self.poll_once(stop)
            except PermanentError as exc:
                # A bad token stays bad until someone fixes it; keep checking slowly.
                self.failures = max(self.failures + 1, 7)
                log.warning("Zalo bot: polling refused (check the bot token): %s", exc.detail)
                await sleep_or_stop(self.backoff(), stop)
                continue
            except ChannelError as exc:
                self.failures += 1
                delay = self.backoff()
                log.warning("Zalo bot: polling failed (%s); again in %.1f s", exc.detail, delay)
                await sleep_or_stop(delay, stop)
                continue
            except Exception:
                self.failures += 1
                log.exception("Zalo bot: polling crashed")
                await sleep_or_stop(self.backoff(), stop)
                continue
            self.failures = 0
            if outcome == "repeat":
                await sleep_or_stop(self.repeat_pause, stop)
        log.info("Zalo bot: stopped polling")


async def _until(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """``work``'s result, or ``None`` as soon as ``stop`` is set (``work`` is cancelled)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return None
    return task.result()
