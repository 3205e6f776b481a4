"""Client-side throttle and the retry policy around platform calls, for any HTTP client.

A plugin gives :class:`RetryPolicy` a ``classify(exc) -> (kind, wait)`` for its client's
failures. Only where a resend cannot duplicate data is anything resent:

* ``safe=True`` (reads, updates, params/tags-only batches, artifact PUTs): retried on
  throttling, server failures and connection errors;
* ``safe=False`` (a log-batch with metrics, create run): retried only when the service
  certainly did not apply it (``THROTTLED``: a 429/503 answer; ``UNSENT``: no connection).
  Anything ``AMBIGUOUS`` raises :class:`AmbiguousWriteError`; sync's doubt handling settles it.

The throttle spaces *HTTP requests*, not calls: :func:`throttle_session` puts it under a
``requests`` session, so retries made inside an SDK are counted too.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("trackbridge.http")

THROTTLED = "throttled"  # the service refused before doing anything: always safe to resend
UNSENT = "unsent"  # the request never reached the service: always safe to resend
AMBIGUOUS = "ambiguous"  # the service may have applied it: resend only idempotent requests


class AmbiguousWriteError(Exception):
    """A non-idempotent request failed in a way that leaves its effect unknown."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) as seconds to wait, or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def classify_connection_error(exc: BaseException) -> tuple[str | None, float | None]:
    """(kind, None) of a ``requests`` connection failure; (None, None) for anything else.

    A connection never made (refused, connect timeout) is ``UNSENT``; a reset or a read
    timeout after the request went out is ``AMBIGUOUS``.
    """
    import requests

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


def throttle_session(session: Any, throttle_of: Callable[[], Throttle]) -> None:
    """Make every request ``session`` sends (retries included) wait for ``throttle_of()``.

    Wraps each mounted transport adapter of a ``requests.Session``; needs ``requests``,
    which every plugin calling this depends on.
    """
    import requests

    class ThrottledAdapter(requests.adapters.BaseAdapter):
        throttled = True

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            throttle_of().wait()
            return self.inner.send(request, *args, **kwargs)

        def close(self) -> None:
            self.inner.close()

    for prefix in ("https://", "http://"):
        adapter = session.get_adapter(prefix)
        if not getattr(adapter, "throttled", False):
            session.mount(prefix, ThrottledAdapter(adapter))


class RetryPolicy:
    """Runs a call with retries, all inside ``timeout`` seconds (see the module docstring)."""

    def __init__(self, timeout: float, throttle: Throttle,
                 classify: Callable[[BaseException], tuple[str | None, float | None]], *,
                 base_delay: float = 0.5, max_delay: float = 30.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.timeout = timeout
        #: the throttle of this policy's requests (applied by the transport, per request)
        self.throttle = throttle
        self.classify = classify
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
            try:
                return fn()
            except Exception as exc:
                kind, asked = self.classify(exc)
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
