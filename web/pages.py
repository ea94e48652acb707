"""Rendering dashboard pages: the Jinja2 environment, the CSRF cookie and the safety headers.

Every HTML answer goes through ``Renderer.page``: it makes sure the browser holds a CSRF cookie,
gives the template the matching form token, and sets headers that keep the page self-contained
(no script, nothing from elsewhere) and keep sign-in links out of Referer headers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from storage.vnformat import FILTERS
from web.auth import CSRF_COOKIE, csrf_token, new_secret

PAGES_DIR: Final = Path(__file__).parent / "pages"
STATIC_DIR: Final = Path(__file__).parent / "static"

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PAGES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(FILTERS)
    return env


class Renderer:
    def __init__(self, secret_key: bytes, *, secure_cookies: bool) -> None:
        self.secret_key = secret_key
        self.secure = secure_cookies
        self.env = make_environment()

    def csrf_cookie(self, request: Request) -> tuple[str, bool]:
        """The browser's CSRF cookie, or a new one (True when it must be set)."""
        cookie = request.cookies.get(CSRF_COOKIE)
        if cookie and len(cookie) >= 32:
            return cookie, False
        return new_secret(), True

    def page(
        self,
        request: Request,
        template: str,
        status: int = 200,
        *,
        viewer: Any = None,
        **context: Any,
    ) -> Response:
        cookie, fresh = self.csrf_cookie(request)
        html = self.env.get_template(template).render(
            viewer=viewer, csrf=csrf_token(self.secret_key, cookie), **context
        )
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        if fresh:
            self.set_cookie(response, CSRF_COOKIE, cookie, max_age=None)
        return response

    def message(
        self,
        request: Request,
        status: int,
        heading: str,
        text: str,
        *,
        viewer: Any = None,
        back: str | None = None,
    ) -> Response:
        tone = "error" if status >= 400 else "info"
        return self.page(
            request,
            "message.html.j2",
            status,
            viewer=viewer,
            heading=heading,
            text=text,
            tone=tone,
            back=back,
        )

    def set_cookie(self, response: Response, name: str, value: str, *, max_age: int | None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )
