"""The Awareness web app: subscribe, unsubscribe, read the archive, give
feedback (readers); tune profiles (librarians); watch sources and runs (admins).

    create_app(settings)   a Starlette ASGI app; `awareness web` serves it alone,
                           `awareness serve` beside the scheduler

Server-rendered with the bulletins' Jinja environment (templates/web/), no
JavaScript; every response carries a Content-Security-Policy that allows no
script at all, so anything a feed smuggles into a title stays inert.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..deliver.bulletin import Composer
from ..config.settings import Settings
from ..store.store import Store
from ..deliver.tokens import Signer
from . import public, staff, topics_page, users_page
from .core import Web

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"

SECURITY_HEADERS = {
    "content-security-policy": ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # Links from emails carry tokens in their path: never hand them to another site.
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """Adds the headers above to every response (pages, errors, downloads, static files)."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.extra = dict(SECURITY_HEADERS)
        if https:
            self.extra["strict-transport-security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode("latin-1").lower() not in self.extra]
                headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.extra.items()]
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(settings: Settings) -> Starlette:
    store = Store(settings.database_url)
    web = Web(settings=settings, store=store, composer=Composer(), signer=Signer(settings.ensure_secret_key()))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (301, 302, 303, 307) and exc.headers and "Location" in exc.headers:
            return RedirectResponse(exc.headers["Location"], status_code=303)
        titles = {400: "Something was wrong with that request", 401: "Please log in",
                  403: "You do not have access to this page", 404: "Page not found",
                  405: "That cannot be done here", 410: "This link has expired",
                  429: "Too many attempts"}
        title = titles.get(exc.status_code, "Sorry, there is a problem")
        text = exc.detail if exc.detail and exc.detail != title else ""
        response = web.message(request, title, str(text), status=exc.status_code)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def server_error(request: Request, exc: Exception) -> Response:
        logger.exception("error on %s %s", request.method, request.url.path, exc_info=exc)
        return web.message(request, "Sorry, there is a problem with the service",
                           "Try again later. Nothing you sent has been lost.", status=500)

    routes = (public.routes(web) + staff.routes(web) + topics_page.routes(web) + users_page.routes(web)
              + [Mount("/static", StaticFiles(directory=STATIC), name="static")])
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, 500: server_error},
                    lifespan=lifespan, max_body_size=1_000_000)
    app.state.web = web
    app.add_middleware(SecurityHeaders, https=web.secure_cookies)
    return app


__all__ = ["create_app"]
