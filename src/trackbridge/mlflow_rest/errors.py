"""Error answers of the MLflow REST API -> trackbridge errors.

An error answer is an HTTP status with ``{"error_code": "...", "message": "..."}``. Every
error built here names the operation and the backend (``what`` ... ``on`` ``where``), holds
the platform's own words, and carries ``status`` and ``error_code`` attributes for callers
that handle one answer specially (``RESOURCE_ALREADY_EXISTS`` on a create race).
Callers pass text that is already free of secrets.
"""

from __future__ import annotations

import json
import re

from ..errors import (
    BackendError,
    LimitExceededError,
    NotFoundError,
    ParamConflictError,
    TrackbridgeError,
)

RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
#: MLflow's words when a param is logged again with another value.
PARAM_CHANGED = re.compile(
    r"(?i)changing param value|already logged with value|param.*cannot be changed")
#: Words of a refusal because something is too long, too large or too many.
LIMIT_WORDS = re.compile(r"(?i)\bexceed|too long|too large|too many|max(imum)? (length|size)")


def parse_error_body(body: bytes | str | None) -> tuple[str, str]:
    """(error code, message) of an error answer; ("", the text) when it is not MLflow's JSON
    (the first 500 characters of text that is not JSON at all)."""
    if not body:
        return "", ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return "", text.strip()[:500]
    if isinstance(data, dict) and ("error_code" in data or "message" in data):
        return str(data.get("error_code", "")), str(data.get("message", ""))
    return "", text.strip()  # other JSON, whole: a caller may know its shape


def refusal_error(message: str, text: str) -> TrackbridgeError | None:
    """The error for a 400 whose ``message`` says a param changed or a limit was passed."""
    if PARAM_CHANGED.search(message):
        return ParamConflictError(text)
    if LIMIT_WORDS.search(message):
        return LimitExceededError(text)
    return None


def error_for(status: int, code: str, message: str, *, what: str, where: str,
              not_found: type[NotFoundError] = NotFoundError,
              auth_hint: str = "") -> TrackbridgeError:
    """The trackbridge error for an error answer to ``what`` sent to ``where``."""
    said = f"HTTP {status}{' ' + code if code else ''}: {message or '(no message)'}"
    text = f"{what} on {where} failed: {said}"
    error: TrackbridgeError
    if code == ENDPOINT_NOT_FOUND or (status == 404 and not code):
        error = BackendError(f"{text}. This server does not offer that API (is the URL the "
                             f"tracking server's, and is it recent enough?)")
    elif status == 404 or code == RESOURCE_DOES_NOT_EXIST:
        error = not_found(text)
    elif status in (401, 403):
        error = BackendError(f"{text}{'. ' + auth_hint if auth_hint else ''}")
    elif status == 400:
        error = refusal_error(message, text) or BackendError(text)
    else:
        error = BackendError(text)
    error.status = status  # type: ignore[attr-defined]
    error.error_code = code  # type: ignore[attr-defined]
    return error
