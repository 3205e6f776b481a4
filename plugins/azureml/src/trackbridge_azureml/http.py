"""The HTTP pipeline: azure-core with bearer tokens, timeouts and retries that never duplicate.

Retries: a request marked idempotent (reads, run updates, tag/param-only batches, artifact
metadata) is retried on connection failures, lost answers, 408/429/5xx, honouring
Retry-After. A request that is *not* idempotent (runs/create, a log-batch carrying metrics)
is retried only when it certainly was not applied: a connection that never opened, or a 429
(throttled before processing). After a lost answer or a 5xx it raises instead, saying the
write may be partly applied.
"""

from __future__ import annotations

import json
from typing import Any

from azure.core import PipelineClient
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import (
    BearerTokenCredentialPolicy,
    HeadersPolicy,
    HttpLoggingPolicy,
    RetryPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest

from trackbridge.errors import BackendError

from .credentials import SCOPE, credential_name
from .errors import Call, from_status, partly_applied, redact
from .version import __version__

USER_AGENT = f"trackbridge-azureml/{__version__}"
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_IDEMPOTENT = "trackbridge_idempotent"


class SafeRetryPolicy(RetryPolicy):
    """azure-core's RetryPolicy, told per request whether a resend could duplicate data."""

    def send(self, request):
        options = request.context.options
        request.context[_IDEMPOTENT] = bool(options.pop("idempotent", True))
        return super().send(request)

    @staticmethod
    def _idempotent(pipeline_obj: Any) -> bool:
        context = getattr(pipeline_obj, "context", None)
        return True if context is None else bool(context.get(_IDEMPOTENT, True))

    def _is_method_retryable(self, settings, request, response=None):
        return True  # decided per request in is_retry / increment instead of by method

    def is_retry(self, settings, response) -> bool:
        status = response.http_response.status_code
        if status not in _RETRY_STATUSES or not settings["total"]:
            return False
        return status == 429 or self._idempotent(response)

    def increment(self, settings, response=None, error=None) -> bool:
        if error is not None and not isinstance(error, ServiceRequestError) \
                and not self._idempotent(response):
            return False  # the request went out and its answer was lost: maybe applied
        return super().increment(settings, response=response, error=error)


class Http:
    """JSON requests to Azure ML through one azure-core pipeline."""

    def __init__(self, credential: Any, *, timeout: float, max_retries: int,
                 retry_backoff: float, allow_http: bool, secrets: tuple[str | None, ...] = ()):
        self.credential = credential
        self.allow_http = allow_http
        self.secrets = secrets
        self.max_retries = max_retries
        self.retry = SafeRetryPolicy(retry_total=max_retries, retry_connect=max_retries,
                                     retry_read=max_retries, retry_status=max_retries,
                                     retry_backoff_factor=retry_backoff)
        policies = [
            HeadersPolicy({"Accept": "application/json"}),
            UserAgentPolicy(user_agent=USER_AGENT),
            self.retry,
            BearerTokenCredentialPolicy(credential, SCOPE),
            HttpLoggingPolicy(),  # logs headers with Authorization redacted, never bodies
        ]
        transport = RequestsTransport(connection_timeout=min(timeout, 30.0), read_timeout=timeout)
        self.client = PipelineClient(base_url="", policies=policies, transport=transport)

    def call(self, call: Call, method: str, url: str, *, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None, idempotent: bool = True) -> dict[str, Any]:
        """Send one request; return the JSON answer (``{}`` when empty) or raise."""
        content = None if body is None else json.dumps(body, allow_nan=False)
        headers = {"Content-Type": "application/json"} if content is not None else None
        request = HttpRequest(method, url, params=params, content=content, headers=headers)
        response = self._send(call, request, idempotent)
        status = response.status_code
        if status >= 400:
            if status >= 500 and not idempotent:
                raise partly_applied(call, f"the service answered HTTP {status}", self.secrets)
            raise from_status(call, status, response.content, self.secrets,
                              retried=self.max_retries)
        if not response.content:
            return {}
        try:
            return json.loads(response.content)
        except ValueError:
            raise BackendError(f"{call.prefix()}: the answer is not JSON "
                               f"({redact(response.text()[:200], self.secrets)!r})") from None

    def _send(self, call: Call, request: HttpRequest, idempotent: bool):
        try:
            return self.client.send_request(
                request, idempotent=idempotent, enforce_https=not self.allow_http
            )
        except ClientAuthenticationError as exc:
            raise BackendError(
                f"{call.prefix()}: no Azure token from {credential_name(self.credential)}: "
                f"{redact(str(exc), self.secrets)[:600]}. Log in (`az login`), set the "
                f"AZURE_* environment variables, or choose another `credential` in [azureml]"
            ) from None
        except ServiceRequestError as exc:
            raise BackendError(f"{call.prefix()}: cannot reach the service: "
                               f"{redact(str(exc), self.secrets)[:400]}") from None
        except ServiceResponseError as exc:
            if not idempotent:
                raise partly_applied(call, f"the answer was lost ({exc})", self.secrets) from None
            raise BackendError(f"{call.prefix()}: no answer from the service: "
                               f"{redact(str(exc), self.secrets)[:400]}") from None
        except AzureError as exc:
            raise BackendError(f"{call.prefix()}: {redact(str(exc), self.secrets)[:400]}") from None
        except Exception as exc:  # a custom credential's own error type, raised by the policy
            raise BackendError(
                f"{call.prefix()}: no Azure token from {credential_name(self.credential)}: "
                f"{type(exc).__name__}: {redact(str(exc), self.secrets)[:400]}"
            ) from None

    def close(self) -> None:
        self.client.close()
