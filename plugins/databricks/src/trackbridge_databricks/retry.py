"""The retry policy of the core (:mod:`trackbridge.mlflow_rest.retry`) with this plugin's
reading of failures.

What the SDK already does inside one call: it retries 429 and 503 (sleeping ``Retry-After``)
and connection errors / timeouts, for up to ``retry_timeout_seconds``. What it does not:
500, 502 and 504. The policy adds those, with exponential backoff and jitter, under
one deadline per operation, and only where a resend cannot duplicate data:

* ``safe=True`` (reads, get/update run, create experiment, params/tags-only batches,
  artifact PUTs): retried on throttling, server failures and connection errors.
* ``safe=False`` (a log-batch with metrics, create run): retried only when the service
  certainly did not apply the request: a 429/503 answer, or a connection that was never
  established. Anything ambiguous (500/502/504, a reset or read timeout after the body was
  sent) raises :class:`AmbiguousWriteError`; the caller says what may be partly applied.

The throttle is applied per HTTP request under the SDK's session and the storage session
(``throttle_session``), so the SDK's own resends are counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from trackbridge.mlflow_rest import retry as core
from trackbridge.mlflow_rest.retry import AMBIGUOUS, THROTTLED, AmbiguousWriteError, Throttle

__all__ = ["AmbiguousWriteError", "HttpStatusError", "RetryPolicy", "Throttle", "classify"]


class HttpStatusError(Exception):
    """A non-2xx answer from a URL outside the SDK (a signed storage URL)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def classify(exc: BaseException) -> tuple[str | None, float | None]:
    """(kind, server-requested wait) of a failure; kind None means "do not retry"."""
    from databricks.sdk import errors

    if isinstance(exc, HttpStatusError):
        if exc.status in (429, 503):
            return THROTTLED, exc.retry_after
        if exc.status in (500, 502, 504):
            return AMBIGUOUS, None
        return None, None
    if isinstance(exc, errors.DatabricksError):
        if isinstance(exc, (errors.TooManyRequests, errors.TemporarilyUnavailable)):
            return THROTTLED, exc.retry_after_secs
        if isinstance(exc, errors.DataLoss):
            return None, None
        if isinstance(exc, (errors.InternalError, errors.DeadlineExceeded)):
            return AMBIGUOUS, None
        # 502 has no class of its own in the SDK: it arrives as the base class
        if type(exc) is errors.DatabricksError and "bad gateway" in str(exc).lower():
            return AMBIGUOUS, None
        return None, None
    return core.classify_connection_error(exc)


class RetryPolicy(core.RetryPolicy):
    """The core's policy, reading failures with :func:`classify`."""

    def __init__(self, timeout: float, throttle: Throttle, *, base_delay: float = 0.5,
                 max_delay: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(timeout, throttle, classify, base_delay=base_delay,
                         max_delay=max_delay, clock=clock, sleep=sleep)
