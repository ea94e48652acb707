"""The web service as one ASGI app: health check, completion webhook, dashboard, static files.

``create_app`` takes everything from outside (sessions, settings, the sign-in mailer, clocks), so
a test builds the same app the daemon serves, on a database of its own and a clock it moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from storage.errors import ConfigurationError
from storage.models import utcnow
from web.answers import AnswerWriter
from web.chat_hooks import ZaloWebhooks, zalo_routes
from web.config import WebConfig
from web.dashboard import Dashboard
from web.hooks import HookHandler
from web.pages import STATIC_DIR, Renderer
from web.ratelimit import RateLimiter
from web.signin_mail import SignInMailer

log = logging.getLogger(__name__)

HEALTH_TIMEOUT: Final = 3.0
HOOK_RATE: Final = 1000.0
"""Webhook calls a second per campaign, on average; a platform replaying a backlog fits."""
HOOK_BURST: Final = 2000


def create_app(
    sessions: async_sessionmaker[AsyncSession],
    config: WebConfig,
    *,
    mailer: SignInMailer | None = None,
    zalo: ZaloWebhooks | None = None,
    clock: Callable[[], datetime] = utcnow,
    monotonic: Callable[[], float] = time.monotonic,
    hook_rate: float = HOOK_RATE,
    hook_burst: int = HOOK_BURST,
) -> Starlette:
    if config.secret_key is None or len(config.secret_key) < 32:
        raise ConfigurationError(
            "Cần đặt DONDOC_SECRET_KEY (ít nhất 32 ký tự ngẫu nhiên, ví dụ tạo bằng lệnh "
            "«openssl rand -hex 32») để ký webhook và biểu mẫu của trang theo dõi.",
            "DONDOC_SECRET_KEY must be set to at least 32 characters for the web service",
        )
    hooks = HookHandler(
        sessions,
        secret_key=config.secret_key,
        limiter=RateLimiter(hook_rate, hook_burst, clock=monotonic),
        writer=AnswerWriter(sessions.kw["bind"]),
        clock=clock,
        monotonic=monotonic,
    )
    renderer = Renderer(config.secret_key, secure_cookies=config.secure_cookies)
    pages = Dashboard(sessions, renderer, public_url=config.public_url, mailer=mailer, clock=clock)

    async def healthz(request: Request) -> Response:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT), sessions() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means "not healthy", said to the monitor
            log.warning("health check: database unreachable (%s)", type(exc).__name__)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/hooks/{campaign}/answered", hooks.handle, methods=["POST"]),
        Route("/", pages.home, methods=["GET"]),
        Route("/dang-nhap", pages.request_link, methods=["POST"]),
        Route("/dang-nhap/xac-nhan", pages.confirm, methods=["POST"]),
        Route("/dang-nhap/{token}", pages.confirm_page, methods=["GET"]),
        Route("/dang-xuat", pages.sign_out, methods=["POST"]),
        Route("/c/{campaign}/", pages.overview, methods=["GET"]),
        Route("/c/{campaign}/don-vi", pages.units, methods=["GET"]),
        Route("/c/{campaign}/don-vi/{unit}", pages.unit, methods=["GET"]),
        Route("/c/{campaign}/nhom", pages.groups, methods=["GET"]),
        Route("/c/{campaign}/gui-thu", pages.deliveries, methods=["GET"]),
        Route("/c/{campaign}/dia-chi-loi", pages.bad_addresses, methods=["GET"]),
        Route("/c/{campaign}/bao-cao.xlsx", pages.report, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    if zalo is not None:
        routes += zalo_routes(zalo)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await hooks.writer.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.answer_writer = hooks.writer
    return app
