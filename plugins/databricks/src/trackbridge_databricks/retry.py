"""Client-side throttle and the retry policy around every platform call.

What the SDK already does inside one call: it retries 429 and 503 (sleeping ``Retry-After``)
and connection errors / timeouts, for up to ``retry_timeout_seconds``. What it does not:
500, 502 and 504. This module adds those, with exponential backoff and jitter, under
one deadline per operation, and only where a resend cannot duplicate data:

* ``safe=True`` (reads, get/update run, create experiment, params/tags-only batches,
  artifact PUTs): retried on throttling, server failures and connection errors.
* ``safe=False`` (a log-batch with metrics, create run): retried only when the service
  certainly did not apply the request: a 429/503 answer, or a connection that was never
  established. Anything ambiguous (500/502/504, a reset or read timeout after the body was
  sent) raises :class:`AmbiguousWriteError`; the caller says what may be partly applied.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("trackbridge.databricks")

THROTTLED = "throttled"  # the service refused before doing anything: always safe to resend
UNSENT = "unsent"  # the request never reached the service: always safe to resend
AMBIGUOUS = "ambiguous"  # the service may have applied it: resend only idempotent requests


class HttpStatusError(Exception):
    """A non-2xx answer from a URL outside the SDK (a signed storage URL)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class AmbiguousWriteError(Exception):
    """A non-idempotent request failed in a way that leaves its effect unknown."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def classify(exc: BaseException) -> tuple[str | None, float | None]:
    """(kind, server-requested wait) of a failure; kind None means "do not retry"."""
    import requests
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
    if isinstance(exc, requests.ConnectTimeout):
        return UNSENT, None
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        from urllib3.exceptions import NewConnectionError

        if isinstance(reason, NewConnectionError) or "Connection refused" in str(exc):
            return UNSENT, None
        return AMBIGUOUS, None
    if isinstance(exc, requests.Timeout):  # a read timeout: the request was sent
        return AMBIGUOUS, None
    return None, None


class Throttle:
    """Spaces request starts at least ``1/rate`` seconds apart (shared by all threads)."""

    def __init__(self, rate: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)


class RetryPolicy:
    """Runs a call with throttling and retries, all inside ``timeout`` seconds."""

    def __init__(self, timeout: float, throttle: Throttle, *, base_delay: float = 0.5,
                 max_delay: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.timeout = timeout
        self.throttle = throttle
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._clock = clock
        self._sleep = sleep

    def call(self, fn: Callable[[], T], *, safe: bool, what: str) -> T:
        """``fn()``, retried per the module docstring. Raises the last error when giving up
        (wrapped in :class:`AmbiguousWriteError` when an unsafe call failed ambiguously)."""
        deadline = self._clock() + self.timeout
        attempt = 0
        while True:
            self.throttle.wait()
            try:
                return fn()
            except Exception as exc:
                kind, asked = classify(exc)
                if kind == AMBIGUOUS and not safe:
                    raise AmbiguousWriteError(exc) from exc
                if kind is None:
                    raise
                attempt += 1
                backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
                delay = asked if asked is not None else backoff / 2 + random.uniform(0, backoff / 2)
                if self._clock() + delay >= deadline:
                    raise
                log.info("%s: %s failure (%s); retry %d in %.1f s", what, kind,
                         type(exc).__name__, attempt, delay)
                self._sleep(delay)
