"""Serve the app with uvicorn inside our own event loop, until a ``stop`` event is set.

uvicorn's ``Server.serve`` installs its own signal handlers; in dondoc exactly one component owns
the signals (the command that sets ``stop``), so they are left out here. The socket is bound
and listening before serving, so a caller asking for port 0 (the tests, the benchmark) learns
the port at once and can connect at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import Generator
from typing import Final

import uvicorn
from starlette.types import ASGIApp

from storage.errors import ConfigurationError

log = logging.getLogger(__name__)

STOP_SECONDS: Final = 5.0


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class WebServer:
    def __init__(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it every response waits ~40 ms for the client's delayed ACK (Nagle).
        self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((host, port))
        except OSError as exc:
            self.socket.close()
            raise ConfigurationError(
                f"Không mở được cổng web {host}:{port} ({exc.strerror}). Cổng đang được dùng? "
                "Đổi bằng DONDOC_WEB_HOST / DONDOC_WEB_PORT.",
                f"cannot bind {host}:{port}: {exc.strerror}",
            ) from exc
        # Listening now: connections made before uvicorn starts wait in the backlog.
        self.socket.listen(2048)
        self.host = host
        self.port = int(self.socket.getsockname()[1])

    async def run(self, app: ASGIApp, stop: asyncio.Event) -> None:
        """Serve ``app`` until ``stop`` is set; requests in flight get STOP_SECONDS to finish."""
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            server_header=False,
            timeout_graceful_shutdown=int(STOP_SECONDS),
        )
        server = _Server(config)
        # What exists now (modules, the app, the ORM's caches) lives as long as the process:
        # moved out of the collector's view, a full collection walks only the requests' garbage
        # instead of pausing every request for tens of milliseconds.
        gc.freeze()
        serving = asyncio.create_task(server.serve(sockets=[self.socket]), name="dondoc-web")
        waiting = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            server.should_exit = True
            try:
                await asyncio.wait_for(serving, STOP_SECONDS + 2)
            finally:
                self.socket.close()
        log.info("web service stopped")
