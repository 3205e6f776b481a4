"""The scoring server's ASGI app (Starlette): MLflow's scoring protocol on one screen.

* ``GET /ping``, ``GET /health``: 200, body ``"\\n"`` (the app exists only once its model is
  loaded); ``GET /version``: the trackbridge version.
* ``POST /invocations``: JSON, CSV or parquet in (:mod:`.parsing`), ``{"predictions": ...}``
  out (:mod:`.encoding`).
* Errors: 400 ``{"error_code": "BAD_REQUEST" | "INVALID_PARAMETER_VALUE", "message"}`` for bad
  bodies, schema failures and a ``predict`` that raises; 413 ``RESOURCE_LIMIT_EXCEEDED`` for a
  body over the limit; 415 (plain text, as MLflow) for another content type; 504 past the
  timeout. An exception never kills the worker, and bad input never gets a 500.

Scoring runs on a thread pool of its own (``run_in_executor``), so the event loop answers
``/ping`` and the 504 while a prediction runs.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..models.errors import SchemaEnforcementError
from ..version import __version__
from .encoding import error_body, predictions_body
from .layout import ColumnLayout
from .parsing import INVALID_PARAMETER_VALUE, RequestError, check_content_type, parse_request

if TYPE_CHECKING:
    from ..models.loading import LoadedModel

JSON_TYPE = "application/json"
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


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> RequestError:
    return RequestError(413, f"the request body ({size} bytes or more) is larger than the "
                             f"server's limit of {limit} bytes (trackbridge models serve "
                             f"--max-body-mb)", "RESOURCE_LIMIT_EXCEEDED")


def error_response(exc: RequestError) -> Response:
    if exc.error_code is None:
        return Response(exc.message, status_code=exc.status, media_type="text/plain")
    return Response(error_body(exc.error_code, exc.message), status_code=exc.status,
                    media_type=JSON_TYPE)


def create_app(model: LoadedModel, *, max_body_bytes: int = 50 << 20,
               timeout: float = 60.0) -> Starlette:
    """The app serving ``model`` (already loaded: one model per worker process)."""
    layout = ColumnLayout.of(model.input_schema)
    pool = ThreadPoolExecutor(SCORING_THREADS, thread_name_prefix="trackbridge-score")

    async def ping(request: Request) -> Response:
        return Response("\n", media_type=JSON_TYPE)

    async def version(request: Request) -> Response:
        return Response(__version__, media_type=JSON_TYPE)

    async def invocations(request: Request) -> Response:
        try:
            mime = check_content_type(request.headers.get("content-type"))
            body = await _read_body(request, max_body_bytes)
            work = asyncio.get_running_loop().run_in_executor(pool, score, model, body, mime, layout)
            answer = await asyncio.wait_for(work, timeout)
        except RequestError as exc:
            return error_response(exc)
        except asyncio.TimeoutError:
            return Response(error_body("DEADLINE_EXCEEDED", f"Request processing time exceeded "
                                                            f"the limit of {timeout:g} s"),
                            status_code=504, media_type=JSON_TYPE)
        return Response(answer, media_type=JSON_TYPE)

    routes: list[Any] = [Route("/ping", ping), Route("/health", ping), Route("/version", version),
                         Route("/invocations", invocations, methods=["POST"])]
    return Starlette(routes=routes)
