"""The scoring server's ASGI app: MLflow's scoring protocol on one screen.

* ``GET /ping``, ``GET /health``: 200, body ``"\\n"`` (the app exists only once its model is
  loaded); ``GET /version``: the trackbridge version.
* ``POST /invocations``: JSON, CSV or parquet in (:mod:`.parsing`), ``{"predictions": ...}``
  out (:mod:`.encoding`).
* Errors: 400 ``{"error_code": "BAD_REQUEST" | "INVALID_PARAMETER_VALUE", "message"}`` for bad
  bodies, schema failures and a ``predict`` that raises; 413 ``RESOURCE_LIMIT_EXCEEDED`` for a
  body over the limit; 415 (plain text, as MLflow) for another content type; 504 past the
  timeout. An exception never kills the worker, and bad input never gets a 500.

Plain ASGI (:mod:`.asgi`), no framework: four routes, and each layer would cost every request.
Scoring runs in a thread pool, so the event loop answers ``/ping`` and the 504 while a
prediction runs.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..models.errors import SchemaEnforcementError
from ..version import __version__
from .asgi import (
    TEXT_TYPE,
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    header,
    lifespan,
    not_routed,
    read_body,
    respond,
)
from .encoding import error_body, predictions_body
from .layout import ColumnLayout
from .parsing import INVALID_PARAMETER_VALUE, RequestError, check_content_type, parse_request

if TYPE_CHECKING:
    from ..models.loading import LoadedModel

#: threads scoring at once (as Starlette's default thread limiter)
SCORING_THREADS = 40

PREDICT_FAILED = ("Encountered an unexpected error while evaluating the model. Verify that the "
                  "serialized input Dataframe is compatible with the model for inference.")


def score(model: LoadedModel, body: bytes, mime: str, layout: ColumnLayout | None = None) -> bytes:
    """The JSON answer for one request body: parse, enforce the signature, predict, encode.

    ``layout`` (``ColumnLayout.of(model.input_schema)``, prepared once) enables the fast
    path of a ``dataframe_split`` body already in the signature's layout."""
    try:
        parsed = parse_request(body, mime, model.input_schema, layout)
    except RequestError:
        raise
    except Exception as exc:  # pandas / numpy refusing a shape nobody anticipated: still input
        raise RequestError(400, f"Invalid input. {type(exc).__name__}: {exc}") from None
    try:
        if parsed.conforming:
            predictions = model.predict_conforming(parsed.data, params=parsed.params)
        else:
            predictions = model.predict(parsed.data, params=parsed.params)
    except SchemaEnforcementError as exc:
        raise RequestError(400, str(exc), INVALID_PARAMETER_VALUE) from None
    except Exception as exc:  # the model's own failure on this input
        raise RequestError(400, f"{PREDICT_FAILED} Error: {type(exc).__name__}: {exc}") from None
    try:
        return predictions_body(predictions)
    except (TypeError, ValueError) as exc:  # the model answered something JSON cannot hold
        raise RequestError(500, f"the model's predictions cannot be written as JSON: {exc}",
                           "INTERNAL_ERROR") from None


def _too_large(size: int, limit: int) -> RequestError:
    return RequestError(413, f"the request body ({size} bytes or more) is larger than the "
                             f"server's limit of {limit} bytes (trackbridge models serve "
                             f"--max-body-mb)", "RESOURCE_LIMIT_EXCEEDED")


async def send_error(send: Send, exc: RequestError) -> None:
    if exc.error_code is None:
        await respond(send, exc.status, exc.message.encode(), TEXT_TYPE)
    else:
        await respond(send, exc.status, error_body(exc.error_code, exc.message))


class ScoringApp:
    """The ASGI app serving one loaded model (one model per worker process)."""

    def __init__(self, model: LoadedModel, *, max_body_bytes: int = 50 << 20,
                 timeout: float = 60.0) -> None:
        self.model = model
        self.layout = ColumnLayout.of(model.input_schema)
        self.max_body_bytes = max_body_bytes
        self.timeout = timeout
        self._pool: ThreadPoolExecutor | None = None
        self._version = __version__.encode()
        #: path -> allowed methods (GET routes take HEAD too, as Starlette's)
        self.methods = {"/ping": "GET, HEAD", "/health": "GET, HEAD", "/version": "GET, HEAD",
                        "/invocations": "POST"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/invocations" and method == "POST":
            await self.invocations(scope, receive, send)
        elif path in ("/ping", "/health") and method in ("GET", "HEAD"):
            await respond(send, 200, b"\n")
        elif path == "/version" and method in ("GET", "HEAD"):
            await respond(send, 200, self._version)
        else:
            await not_routed(scope, send, self.methods)

    async def invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body_bytes
        try:
            mime = check_content_type(header(scope, b"content-type"))
            declared = header(scope, b"content-length") or ""
            if declared.isdigit() and int(declared) > limit:
                raise _too_large(int(declared), limit)
            try:
                body = await read_body(receive, limit)
            except BodyTooLarge as exc:
                raise _too_large(exc.size, limit) from None
            work = asyncio.get_running_loop().run_in_executor(
                self._executor(), score, self.model, body, mime, self.layout)
            answer = await asyncio.wait_for(work, self.timeout)
        except RequestError as exc:
            await send_error(send, exc)
            return
        except ClientGone:
            return
        except asyncio.TimeoutError:
            await respond(send, 504, error_body("DEADLINE_EXCEEDED", f"Request processing time "
                                                f"exceeded the limit of {self.timeout:g} s"))
            return
        await respond(send, 200, answer)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(SCORING_THREADS, thread_name_prefix="trackbridge-score")
        return self._pool


def create_app(model: LoadedModel, *, max_body_bytes: int = 50 << 20,
               timeout: float = 60.0) -> ScoringApp:
    """The app serving ``model`` (already loaded)."""
    return ScoringApp(model, max_body_bytes=max_body_bytes, timeout=timeout)
