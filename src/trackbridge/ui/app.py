"""Build the ASGI app: the routes, the guard (Host check, headers) and error pages."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from ..backend import Backend
from ..errors import NotFoundError, TrackbridgeError, ValidationError
from . import rendering
from .routes import ROUTES
from .security import GuardMiddleware, allowed_hosts
from .state import UIState


def _error(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return rendering.json({"error": message, "status": status}, status)
    return rendering.html("error.html", {"status": status, "message": message}, status)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(request, 404, str(exc))


async def _bad_request(request: Request, exc: Exception) -> Response:
    return _error(request, 400, str(exc))


async def _backend_error(request: Request, exc: Exception) -> Response:
    return _error(request, 502, str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = f"no page at {request.url.path}" if exc.status_code == 404 else str(exc.detail)
    return _error(request, exc.status_code, message)


def create_app(backend: Backend, *, host: str = "127.0.0.1", port: int = 5005,
               allow_hosts: Iterable[str] = ()) -> Starlette:
    """The UI of ``backend``, accepting the Host headers of a server on ``host:port``."""
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(GuardMiddleware, hosts=allowed_hosts(host, port, allow_hosts))],
        exception_handlers={NotFoundError: _not_found, ValidationError: _bad_request,
                            TrackbridgeError: _backend_error, HTTPException: _http_error},
    )
    app.state.ui = UIState(backend)
    return app
