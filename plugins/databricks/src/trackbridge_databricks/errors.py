"""SDK and HTTP failures -> trackbridge errors that say what, where and why, minus secrets."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

from trackbridge.errors import (
    ArtifactNotFoundError,
    BackendError,
    LimitExceededError,
    NotFoundError,
    ParamConflictError,
    TrackbridgeError,
)
from trackbridge.redaction import redact  # noqa: F401 - one redaction for every plugin

from .retry import AmbiguousWriteError, HttpStatusError

_PARAM_CHANGED = re.compile(r"(?i)changing param value|already logged with value|param.*cannot be changed")
_LIMIT_WORDS = re.compile(r"(?i)\bexceed|too long|too large|too many|max(imum)? (length|size)")

def platform_message(exc: BaseException) -> str:
    """The platform's own words for a failure (error code first when there is one)."""
    if isinstance(exc, AmbiguousWriteError):
        exc = exc.cause
    code = getattr(exc, "error_code", None)
    text = str(exc) or type(exc).__name__
    if isinstance(exc, HttpStatusError):
        return f"HTTP {exc.status}: {text}"
    if code and code not in text:
        return f"{code}: {text}"
    if isinstance(exc, TimeoutError) and exc.__cause__ is not None:  # the SDK gave up retrying
        return f"{text} (last error: {platform_message(exc.__cause__)})"
    return text


def translate(
    exc: BaseException,
    what: str,
    where: str,
    *,
    not_found: type[NotFoundError] | None = None,
    secrets: Iterable[str] = (),
) -> TrackbridgeError:
    """The trackbridge error for ``exc`` raised while doing ``what`` (e.g. "log_batch to run
    abc") against ``where`` (the backend's description)."""
    if isinstance(exc, TrackbridgeError):
        return exc
    from databricks.sdk import errors

    message = redact(platform_message(exc), secrets)
    text = f"{what} on {where} failed: {message}"
    if isinstance(exc, AmbiguousWriteError):
        effect, risk = (("the batch may be partly applied", "duplicate metric points")
                        if what.startswith("log_batch") else
                        ("it may have been applied", "create a duplicate"))
        return BackendError(
            f"{what} on {where} failed in a way that leaves its effect unknown: {effect}, so it "
            f"was not resent automatically (a blind resend could {risk}). Platform said: {message}"
        )
    if isinstance(exc, HttpStatusError) and exc.status == 404 and not_found is not None:
        return not_found(text)
    if isinstance(exc, errors.NotFound) and not_found is not None:
        return not_found(text)
    if isinstance(exc, errors.BadRequest):
        if _PARAM_CHANGED.search(str(exc)):
            return ParamConflictError(text)
        if _LIMIT_WORDS.search(str(exc)):
            return LimitExceededError(text)
    if isinstance(exc, (errors.Unauthenticated, errors.PermissionDenied)):
        return BackendError(f"{text}. Check the credentials the SDK resolved with "
                            f"`trackbridge doctor` (DATABRICKS_TOKEN, the profile, or OAuth)")
    if isinstance(exc, errors.NotFound) and "ENDPOINT_NOT_FOUND" in message:
        return BackendError(f"{text}. This host does not offer that API")
    return BackendError(text)


def artifact_not_found(what: str, where: str, path: str) -> ArtifactNotFoundError:
    return ArtifactNotFoundError(f"{what} on {where} failed: no artifact at {path!r}")


class RedactingFilter(logging.Filter):
    """Masks secrets in log records: the SDK's DEBUG request logs echo response bodies."""

    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__("trackbridge-redact")
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        clean = redact(text, self._secrets())
        if clean != text:
            record.msg, record.args = clean, ()
        return True


#: Loggers that may carry request or response text: the SDK's and ours.
_LOGGERS = ("databricks.sdk", "databricks.sdk.config", "databricks.sdk.credentials_provider",
            "databricks.sdk.oauth", "databricks.sdk.retries", "databricks.sdk.mixins.files",
            "trackbridge.databricks")


def install_log_redaction(secrets: Callable[[], Iterable[str]]) -> RedactingFilter:
    """Attach a :class:`RedactingFilter` for ``secrets`` to every logger that may need it."""
    flt = RedactingFilter(secrets)
    for name in _LOGGERS:
        logging.getLogger(name).addFilter(flt)
    return flt


def remove_log_redaction(flt: RedactingFilter) -> None:
    for name in _LOGGERS:
        logging.getLogger(name).removeFilter(flt)
