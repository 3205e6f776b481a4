"""Azure ML answers and azure-core exceptions as trackbridge errors.

Every message names the operation, the run or experiment, the workspace and what the
service said, and never a secret: bearer tokens and SAS signatures are masked wherever
they could appear (service messages, exception texts, URLs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import NamedTuple

from trackbridge.errors import (
    ArtifactNotFoundError,
    BackendError,
    LimitExceededError,
    NotFoundError,
    ParamConflictError,
    RunNotFoundError,
    TrackbridgeError,
)
from trackbridge.redaction import redact


def strip_query(url: str) -> str:
    """A URL without its query (a SAS URL without its signature) for messages."""
    return url.split("?", 1)[0]


class Call(NamedTuple):
    """What a request was for, so an error can say it."""

    what: str  # e.g. "log-batch"
    where: str  # the backend's describe()
    run_id: str | None = None
    experiment: str | None = None
    artifact: str | None = None

    def subject(self) -> str:
        parts = []
        if self.run_id:
            parts.append(f"run {self.run_id}")
        if self.experiment:
            parts.append(f"experiment {self.experiment!r}")
        if self.artifact:
            parts.append(f"artifact {self.artifact!r}")
        return f" ({', '.join(parts)})" if parts else ""

    def prefix(self) -> str:
        return f"azureml {self.what}{self.subject()} on {self.where} failed"


def service_message(body: bytes | str | None) -> tuple[str, str]:
    """(error code, message) from an MLflow-style or Azure-style error body."""
    if not body:
        return "", ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return "", text.strip()[:500]
    if isinstance(data, dict):
        if "error_code" in data or "message" in data:
            return str(data.get("error_code", "")), str(data.get("message", ""))
        err = data.get("error")
        if isinstance(err, dict):
            return str(err.get("code", "")), str(err.get("message", ""))
    return "", text.strip()[:500]


def from_status(call: Call, status: int, body: bytes | str | None,
                secrets: Iterable[str | None] = (), *, retried: int = 0) -> TrackbridgeError:
    """The trackbridge error for an HTTP error answer to ``call``.

    The error carries ``status`` and ``error_code`` attributes for callers that handle a
    specific answer (e.g. RESOURCE_ALREADY_EXISTS on a create race).
    """
    code, message = service_message(body)
    error = _classify(call, status, code, message, secrets, retried)
    error.status = status  # type: ignore[attr-defined]
    error.error_code = code  # type: ignore[attr-defined]
    return error


def _classify(call: Call, status: int, code: str, message: str, secrets: Iterable[str | None],
              retried: int) -> TrackbridgeError:
    said = redact(f"HTTP {status}{' ' + code if code else ''}: {message or '(no message)'}", secrets)
    text = f"{call.prefix()}: {said}"
    lowered = message.lower()
    if status == 404 or code == "RESOURCE_DOES_NOT_EXIST":
        if call.artifact is not None:
            return ArtifactNotFoundError(text)
        if call.run_id is not None:
            return RunNotFoundError(text)
        return NotFoundError(text)
    if status == 400 and "param" in lowered and ("chang" in lowered or "already logged" in lowered):
        return ParamConflictError(text)
    if status == 400 and "limit" in lowered:
        return LimitExceededError(
            f"{text}. Azure ML changed or enforces a limit trackbridge did not know; set it in "
            f"[azureml.limits] (see the trackbridge-azureml README)"
        )
    if status in (401, 403):
        return BackendError(
            f"{text}. Check that the credential is for the workspace's tenant and has a role "
            f"on the workspace (e.g. AzureML Data Scientist), and that a configured access_token "
            f"has not expired; `trackbridge doctor` shows which credential answered"
        )
    if status == 429:
        return BackendError(f"{text}. Azure ML throttled the request and still did after "
                            f"{retried} retries; try again later or log less often")
    return BackendError(text)


def partly_applied(call: Call, cause: str, secrets: Iterable[str | None] = ()) -> BackendError:
    """The error for a write that may have reached the service but whose answer was lost."""
    return BackendError(
        f"{call.prefix()}: {redact(cause, secrets)}. The request may have been partly applied, "
        f"so it was not resent (resending metrics could duplicate them); the data is still in "
        f"the local journal"
    )
