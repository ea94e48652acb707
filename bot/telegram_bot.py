"""The Telegram bot: updates in (long polling, or a webhook), conversations, answers out.

An unmodified python-telegram-bot ``Application`` receives updates; each private-chat text or
button press becomes a ``bot.incoming.Incoming`` for the conversations, whose replies are sent
back with inline keyboards. Long polling is the default; with a webhook URL configured, a small
Starlette app (uvicorn) takes Telegram's POSTs, refuses any without the secret token header,
and hands the update to the same Application. A "kicked" ``my_chat_member`` update (the person
blocked the bot) marks the chat gone at once. The same ``Bot`` serves ``TelegramChannel``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.config import ChatRules, TelegramConfig
from bot.gone import mark_chat_gone
from bot.incoming import Conversations, Incoming, Reply
from bot.pacer import SendPacer
from bot.telegram_channel import MAX_TEXT, NAME, TelegramChannel
from storage.channel import Channel

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
Clock = Callable[[], datetime]


_START_CODE = re.compile(r"(/start(?:@\w+)?\s+)[A-Za-z0-9_-]+")


class HideSecrets(logging.Filter):
    """httpx logs each request's URL at INFO, and a Bot API URL holds the token; PTB logs whole
    updates at DEBUG, and ``/start <code>`` holds a link code: both are cut out."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = _START_CODE.sub(r"\1***", message.replace(self._token, "***"))
        if hidden != message:
            record.msg = hidden
            record.args = ()
        return True


TOKEN_LOGGERS = (
    "httpx",
    "httpcore",
    "telegram.Bot",
    "telegram.ext.ExtBot",
    "telegram.ext.Updater",
    "telegram.ext.Application",
)
"""Loggers whose records may carry a secret (request URLs; PTB's base URL and updates at
DEBUG). A logger's filter sees only its own records, so each is named."""


def reply_markup(reply: Reply) -> InlineKeyboardMarkup | None:
    rows = [
        [
            InlineKeyboardButton(button.label, callback_data=button.choice)
            for button in row
            # Telegram's limit; a longer choice still works typed (every choice is a command).
            if len(button.choice.encode()) <= 64
        ]
        for row in reply.buttons
    ]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None


def chunks(text: str, limit: int = MAX_TEXT) -> list[str]:
    """``text`` cut at line ends into messages Telegram accepts."""
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            parts.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current.strip() or not parts:
        parts.append(current)
    return parts


class TelegramBot:
    """``async with TelegramBot(...) as bot: await bot.run(stop)``; ``bot.channel`` sends."""

    def __init__(
        self,
        config: TelegramConfig,
        rules: ChatRules,
        conversations: Conversations,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock,
        pacer: SendPacer | None = None,
    ) -> None:
        self.config = config
        for name in TOKEN_LOGGERS:
            logging.getLogger(name).addFilter(HideSecrets(config.token))
        self.conversations = conversations
        self.sessions = sessions
        self.clock = clock
        self.pacer = pacer or SendPacer(config.overall_per_second, config.per_chat_per_second)
        builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = ApplicationBuilder().token(
            config.token
        )
        if config.base_url:
            root = config.base_url.rstrip("/")
            builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
        if config.webhook_url:
            builder = builder.updater(None)
        self.app: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        # Any message in a private chat (a photo, a sticker too) gets an answer, never silence.
        private = filters.ChatType.PRIVATE & ~filters.StatusUpdate.ALL
        self.app.add_handler(MessageHandler(private, self._on_text))
        self.app.add_handler(CallbackQueryHandler(self._on_button))
        self.app.add_handler(ChatMemberHandler(self._on_member, ChatMemberHandler.MY_CHAT_MEMBER))
        self.app.add_error_handler(self._on_error)
        self.channel = TelegramChannel(self.app.bot, self.pacer, rules)
        self._server: uvicorn.Server | None = None
        self._ready = False

    @property
    def channels(self) -> Mapping[str, Channel]:
        """What the dispatcher sends through: this bot's channel."""
        return {self.channel.name: self.channel}

    async def __aenter__(self) -> TelegramBot:
        await self._initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ready:
            await self.app.shutdown()
        else:
            await self.app.bot.shutdown()

    async def _initialize(self) -> bool:
        """getMe and the HTTP pools; a Telegram that is away now is tried again by ``run``."""
        try:
            await self.app.initialize()
        except TelegramError as exc:
            log.warning("telegram: not reachable at start (%s); trying again", type(exc).__name__)
            return False
        self._ready = True
        return True

    # --- receiving -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Receive and answer updates until ``stop`` is set."""
        delay = 1.0
        while not self._ready:
            if await self._initialize():
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await stop.wait()
            if stop.is_set():
                return
            delay = min(delay * 2, 60.0)
        await self.app.start()
        try:
            if self.config.webhook_url:
                await self._run_webhook(stop)
            else:
                updater = self.app.updater
                if updater is None:
                    raise RuntimeError("polling needs the Application's updater")
                await updater.start_polling(
                    timeout=int(self.config.poll_timeout),
                    allowed_updates=ALLOWED_UPDATES,
                    error_callback=_polling_error,
                )
                try:
                    await stop.wait()
                finally:
                    await updater.stop()
        finally:
            await self.app.stop()

    async def _run_webhook(self, stop: asyncio.Event) -> None:
        url = self.config.webhook_url or ""
        secret = self.config.webhook_secret
        if not secret:
            raise ValueError("a Telegram webhook needs DONDOC_TELEGRAM_WEBHOOK_SECRET")
        await self.app.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        app = Starlette(routes=[Route("/telegram", self._webhook, methods=["POST"])])
        config = uvicorn.Config(
            app,
            host=self.config.webhook_listen,
            port=self.config.webhook_port,
            log_level="warning",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        self._server = server
        task = asyncio.create_task(server.serve(), name="dondoc-telegram-webhook")
        try:
            await stop.wait()
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(task, timeout=5.0)

    async def _webhook(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        secret = self.config.webhook_secret or ""
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            log.warning("telegram webhook: a POST without the right secret token was refused")
            return Response(status_code=403)
        try:
            update = Update.de_json(await request.json(), self.app.bot)
        except (ValueError, KeyError, TypeError):
            log.warning("telegram webhook: a body that is not an Update was refused")
            return Response(status_code=400)
        await self.app.update_queue.put(update)
        return Response(status_code=200)

    # --- handlers ------------------------------------------------------------------------------

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        chat = update.effective_chat
        if message is None or chat is None:
            return
        user = update.effective_user
        incoming = Incoming(
            channel=NAME,
            chat_id=str(chat.id),
            update_key=str(update.update_id),
            at=message.date,
            text=message.text or message.caption or "",
            display_name=user.full_name if user else None,
        )
        await self._answer(chat.id, await self.conversations.handle(incoming))

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        chat = update.effective_chat
        if query is None:
            return
        # Stops the button's spinner whatever happens next.
        with contextlib.suppress(TelegramError):
            await query.answer()
        if chat is None:
            return
        incoming = Incoming(
            channel=NAME,
            chat_id=str(chat.id),
            update_key=str(update.update_id),
            at=self.clock(),
            choice=query.data,
            display_name=query.from_user.full_name,
        )
        await self._answer(chat.id, await self.conversations.handle(incoming))

    async def _on_member(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        member = update.my_chat_member
        if member is None or member.new_chat_member.status != "kicked":
            return
        async with self.sessions() as session, session.begin():
            await mark_chat_gone(
                session, NAME, str(member.chat.id), self.clock(), why="the person blocked the bot"
            )

    async def _answer(self, chat_id: int, replies: Sequence[Reply]) -> None:
        for reply in replies:
            parts = chunks(reply.text)
            for index, part in enumerate(parts):
                await self.pacer.wait(str(chat_id), per_chat=False)
                await self.app.bot.send_message(
                    chat_id=chat_id,
                    text=part,
                    reply_markup=reply_markup(reply) if index == len(parts) - 1 else None,
                )

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram: handling an update failed", exc_info=context.error)


def _polling_error(error: TelegramError) -> None:
    log.warning("telegram: getUpdates failed (%s); polling goes on", type(error).__name__)
