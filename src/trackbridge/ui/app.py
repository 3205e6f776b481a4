"""Build the ASGI app: the routes, the guard (Host check, headers) and error pages."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

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


def warm_up() -> None:
    """Load what a first chart or page needs that the server does not import to start
    (numpy, and the parts numpy itself imports on first use: ~150 ms in all), by sampling
    a tiny series and loading the templates. Runs in a background thread once the server
    runs; a request needing a module still being imported waits for that import only."""
    from ..entities import Metric
    from ..metric_arrays import from_metrics
    from ..sampling import sample

    sample(from_metrics("warm-up", [Metric("warm-up", float(i % 7), i, i) for i in range(64)]), 8)
    rendering.environment()


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    threading.Thread(target=warm_up, name="trackbridge-ui-warm-up", daemon=True).start()
    yield


def create_app(backend: Backend, *, host: str = "127.0.0.1", port: int = 5005,
               allow_hosts: Iterable[str] = ()) -> Starlette:
    """The UI of ``backend``, accepting the Host headers of a server on ``host:port``."""
    app = Starlette(
        routes=ROUTES, lifespan=_lifespan,
        middleware=[Middleware(GuardMiddleware, hosts=allowed_hosts(host, port, allow_hosts))],
        exception_handlers={NotFoundError: _not_found, ValidationError: _bad_request,
                            TrackbridgeError: _backend_error, HTTPException: _http_error},
    )
    app.state.ui = UIState(backend)
    return app
