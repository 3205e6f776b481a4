"""HTTP to a tracking server: one ``requests`` session, the core's retry policy, our errors.

Every request waits for the throttle (``max_requests_per_second``), then:
429 and 503 are resent after ``Retry-After`` (the server did nothing); 500/502/504, resets
and read timeouts are resent only for safe requests (see ``trackbridge.mlflow_rest.retry``),
and an unsafe one (a metric batch, a run creation) raises a ``BackendError`` saying it may be
partly applied: sync then compares the server with the source and sends what is missing.
Messages never hold a secret: the auth object's secrets and token-shaped text are masked.

Connections: up to :data:`POOL_SIZE` are kept alive per server (sync sends up to
``max_in_flight`` batches of a run at once, times ``--workers`` runs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import requests

from trackbridge.errors import BackendError, NotFoundError, TrackbridgeError
from trackbridge.mlflow_rest.errors import error_for, parse_error_body
from trackbridge.mlflow_rest.retry import (
    AMBIGUOUS,
    THROTTLED,
    AmbiguousWriteError,
    RetryPolicy,
    Throttle,
    classify_connection_error,
    retry_after_seconds,
    throttle_session,
)
from trackbridge.redaction import redact as redact_shapes

from .auth import MlflowAuth, Tls
from .version import __version__

#: basic-auth credentials (base64 of user:password), which the core's masking leaves to us
_BASIC = re.compile(r"(?i)\b(basic\s+)[A-Za-z0-9+/=]{8,}")
USER_AGENT = f"trackbridge-mlflow/{__version__}"
#: connections kept alive per server: the most batches one run has in flight (``max_in_flight``
#: is at most 64); more requests at once still go, on connections closed after use
POOL_SIZE = 64


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """The core's :func:`trackbridge.redaction.redact`, basic-auth values masked too."""
    return redact_shapes(_BASIC.sub(r"\1***", text), secrets)


class HttpError(Exception):
    """A non-2xx answer."""

    def __init__(self, status: int, body: bytes, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.retry_after = retry_after


def classify(exc: BaseException) -> tuple[str | None, float | None]:
    if isinstance(exc, HttpError):
        if exc.status in (429, 503):
            return THROTTLED, exc.retry_after
        if exc.status in (408, 500, 502, 504):
            return AMBIGUOUS, None
        return None, None
    return classify_connection_error(exc)


def check(response: requests.Response) -> requests.Response:
    if response.status_code >= 400:
        body = response.content[:4000]
        raise HttpError(response.status_code, body,
                        retry_after_seconds(response.headers.get("Retry-After")))
    return response


class Http:
    """Requests to one server (``base`` is its URL); ``describe`` names it in messages."""

    def __init__(self, base: str, auth: MlflowAuth, tls: Tls, *, describe: str,
                 timeout: float, retry_timeout: float, rate: float | None) -> None:
        self.base = base.rstrip("/")
        self.auth = auth
        self.where = describe
        self.timeout = timeout
        self.policy = RetryPolicy(retry_timeout, Throttle(rate), classify)
        self.session = self._session(auth, tls)
        #: presigned storage URLs (multipart parts): never carries the server's credentials
        self.storage = self._session(None, tls)

    def _session(self, auth: MlflowAuth | None, tls: Tls) -> requests.Session:
        session = requests.Session()
        session.auth = auth
        session.verify = tls.verify
        session.cert = tls.cert
        session.headers["User-Agent"] = USER_AGENT
        for prefix in ("https://", "http://"):
            session.mount(prefix, requests.adapters.HTTPAdapter(pool_maxsize=POOL_SIZE))
        throttle_session(session, lambda: self.policy.throttle)
        return session

    def secrets(self) -> list[str]:
        return self.auth.secrets()

    # -- one call ---------------------------------------------------------------------------
    def run(self, fn: Any, *, what: str, safe: bool,
            not_found: type[NotFoundError] = NotFoundError, read: bool = False) -> Any:
        """``fn()`` retried per policy; failures become trackbridge errors without secrets.

        MLflow's auth app answers 403 to a read of a run it cannot find (it cannot tell whose
        it is): for a ``read`` of one resource that is ``not_found``, saying both causes."""
        try:
            return self.policy.call(fn, safe=safe, what=what)
        except TrackbridgeError:
            raise
        except AmbiguousWriteError as exc:
            effect = ("the batch may be partly applied" if what.startswith("log_batch")
                      else "it may have been applied")
            raise BackendError(
                f"{what} on {self.where} failed in a way that leaves its effect unknown: "
                f"{effect}, so it was not resent automatically. Platform said: "
                f"{self._said(exc.cause)}") from None
        except HttpError as exc:
            code, message = parse_error_body(exc.body)
            if exc.status == 403 and read and not_found is not NotFoundError:
                raise not_found(f"{what} on {self.where} failed: HTTP 403 {message}: it does not "
                                f"exist, or the user ({self.auth.method}) may not read it") from None
            raise error_for(exc.status, code, redact(message, self.secrets()), what=what,
                            where=self.where, not_found=not_found,
                            auth_hint=self._auth_hint(exc.status)) from None
        except requests.RequestException as exc:
            raise BackendError(f"{what} on {self.where} failed: cannot reach the server: "
                               f"{self._said(exc)}") from None

    def _said(self, exc: BaseException) -> str:
        if isinstance(exc, HttpError):
            code, message = parse_error_body(exc.body)
            exc_text = f"HTTP {exc.status} {code} {message}".strip()
        else:
            exc_text = f"{type(exc).__name__}: {exc}"
        return redact(exc_text, self.secrets())[:600]

    def _auth_hint(self, status: int) -> str:
        if status == 401:
            return (f"The server refused the credentials: it was sent {self.auth.method}. Set "
                    f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or "
                    f"MLFLOW_TRACKING_TOKEN, to valid credentials")
        return (f"The user ({self.auth.method}) lacks a permission for this; ask an admin of "
                f"the server to grant it on the experiment (MLflow's auth: READ, EDIT, MANAGE)")

    def send(self, method: str, path: str, *, what: str, safe: bool,
             query: Mapping[str, Any] | None = None, body: Mapping[str, Any] | None = None,
             not_found: type[NotFoundError] = NotFoundError) -> dict[str, Any]:
        """One JSON request (the transport of the core's ``TrackingApi``)."""
        data = None if body is None else json.dumps(body, allow_nan=False, separators=(",", ":"))
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"

        def attempt() -> dict[str, Any]:
            r = check(self.session.request(method, self.base + path, params=query, data=data,
                                           headers=headers, timeout=self.timeout))
            if not r.content:
                return {}
            try:
                return r.json()
            except ValueError:
                raise BackendError(f"{what} on {self.where} failed: the answer is not JSON "
                                   f"({redact(r.text[:200], self.secrets())!r})") from None

        return self.run(attempt, what=what, safe=safe, not_found=not_found, read=method == "GET")

    def stream(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A raw request whose answer is streamed (the caller closes it); raises HttpError."""
        return check(self.session.request(method, self.base + path, timeout=self.timeout,
                                          stream=True, **kwargs))

    def close(self) -> None:
        self.session.close()
        self.storage.close()


def chunks(response: requests.Response, size: int = 1 << 20) -> Iterator[bytes]:
    yield from response.iter_content(size)
