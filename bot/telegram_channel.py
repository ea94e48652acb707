"""The Telegram channel: one ``Outgoing`` as one chat message, through python-telegram-bot.

What the dispatcher holds under the name "telegram" (``storage.channel``'s contract). Messages
to respondents carry the survey link as a URL button and the two answers ("Tôi đã trả lời",
"Không phải tôi") as callback buttons. The API's errors become the contract's outcomes:
blocked by the user or chat not found -> ``RecipientGone`` (the chat is marked gone and email
takes over), ``RetryAfter`` -> ``RateLimited`` (and the pacer backs off), time-outs and network
failures -> ``TransientError``. Reminders are paced at the configured overall and per-chat rates.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.config import ChatRules
from bot.pacer import SendPacer
from bot.render import CHAT_REASONS, render_reason
from storage.channel import (
    Outgoing,
    PermanentError,
    RateLimited,
    Receipt,
    RecipientGone,
    TransientError,
)

log = logging.getLogger(__name__)

# PTB's documented opt-in: durations (RetryAfter.retry_after) as timedelta, which this module
# expects, instead of ints with a deprecation warning on every flood answer.
os.environ.setdefault("PTB_TIMEDELTA", "1")

NAME = "telegram"
MAX_TEXT = 4096
RESPONDENT_REASONS = frozenset({"invitation", "reminder", "last_day"})
_GONE = ("blocked", "deactivated", "chat not found", "user not found", "initiate conversation")


def keyboard(reason: str, context: Any) -> InlineKeyboardMarkup | None:
    if reason not in RESPONDENT_REASONS:
        return None
    rows: list[list[InlineKeyboardButton]] = []
    link = context.get("survey_link")
    if link:
        rows.append([InlineKeyboardButton("Mở phiếu khảo sát", url=link)])
    rows.append(
        [
            InlineKeyboardButton("Tôi đã trả lời", callback_data="datraloi"),
            InlineKeyboardButton("Không phải tôi", callback_data="khongphaitoi"),
        ]
    )
    return InlineKeyboardMarkup(rows)


def translate(exc: TelegramError) -> TransientError | PermanentError:
    """The contract's outcome for a Bot API error (no token in any detail)."""
    text = str(exc.message)
    folded = text.casefold()
    if isinstance(exc, RetryAfter):
        seconds = exc.retry_after
        retry = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
        return RateLimited(f"telegram: flood control, retry after {retry:g} s", retry_after=retry)
    if isinstance(exc, Forbidden):
        return RecipientGone(f"telegram: {text}")
    if isinstance(exc, BadRequest):
        if any(word in folded for word in _GONE):
            return RecipientGone(f"telegram: {text}")
        return PermanentError(f"telegram: bad request: {text}")
    if isinstance(exc, ChatMigrated):
        return PermanentError(f"telegram: chat migrated to {exc.new_chat_id}")
    if isinstance(exc, InvalidToken):
        # Fixing the token fixes every message: retried later, never dropped.
        return TransientError("telegram: the bot token was refused (check DONDOC_TELEGRAM_TOKEN)")
    if isinstance(exc, NetworkError):  # TimedOut included
        return TransientError(f"telegram: {type(exc).__name__}: {text}")
    return TransientError(f"telegram: {type(exc).__name__}: {text}")


class TelegramChannel:
    """A ``storage.channel.Channel`` over a python-telegram-bot ``Bot``."""

    name = NAME

    def __init__(self, bot: Bot, pacer: SendPacer, rules: ChatRules) -> None:
        self.bot = bot
        self.pacer = pacer
        self.rules = rules

    async def send(self, message: Outgoing) -> Receipt:
        chat_id = message.recipient.chats.get(NAME)
        if not chat_id:
            raise RecipientGone("telegram: the person has no live linked Telegram chat")
        if message.reason not in CHAT_REASONS:
            raise PermanentError(f"telegram: reason {message.reason!r} is not sent by chat")
        context = {
            "sender_name": self.rules.sender_name,
            "names_allowed": self.rules.names_allowed,
            "dashboard_hint": self.rules.dashboard_hint,
            **message.context,
        }
        text = render_reason(message.reason, context, link_button=True)[:MAX_TEXT]
        await self.pacer.wait(chat_id)
        try:
            sent = await self.bot.send_message(
                chat_id=int(chat_id),
                text=text,
                reply_markup=keyboard(message.reason, context),
                link_preview_options=None,
            )
        except TelegramError as exc:
            outcome = translate(exc)
            if isinstance(outcome, RateLimited) and outcome.retry_after:
                self.pacer.back_off(outcome.retry_after)
            raise outcome from exc
        return Receipt(provider_id=f"{chat_id}:{sent.message_id}")

    async def aclose(self) -> None:
        """The Bot's HTTP pool belongs to whoever built it (the bot runner)."""
