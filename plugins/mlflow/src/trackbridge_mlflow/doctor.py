"""``trackbridge doctor`` for the mlflow backend: reachability, auth, permissions, each with a fix.

The permission check writes one harmless experiment tag (``trackbridge.doctor``) to the
configured experiment when it exists: the only sure way to learn whether this user may
write there (the server's default permission is not visible to clients).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from trackbridge.doctor import Check
from trackbridge.errors import TrackbridgeError
from trackbridge.mlflow_rest.limits import API

if TYPE_CHECKING:
    from .backend import MlflowBackend

REACH_FIX = ("check tracking_uri in [mlflow], that the server runs (`mlflow server --host ... "
             "--port ...`) and, for https, MLFLOW_TRACKING_SERVER_CERT_PATH (a CA bundle) or "
             "MLFLOW_TRACKING_INSECURE_TLS=true")
AUTH_FIX = ("set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (basic auth) or "
            "MLFLOW_TRACKING_TOKEN (bearer) to valid credentials in the environment")


def checks(backend: Any, experiment: str | None = None) -> list[Check]:
    """Reachability, then auth, then write permission on ``experiment``."""
    if not hasattr(backend, "http"):  # a file or SQL store read in place
        return [Check("mlflow store", True, f"{backend.describe()} (read-only: a sync source)")]
    try:
        http = backend.http
    except TrackbridgeError as exc:
        return [Check("mlflow auth", False, str(exc), AUTH_FIX)]
    out = [_reachable(backend, http)]
    if not out[0].ok:
        return out
    out.append(_authenticated(backend, http))
    if out[-1].ok and experiment:
        out.append(_permission(backend, http, experiment))
    return out


def _reachable(backend: MlflowBackend, http: Any) -> Check:
    started = time.perf_counter()
    try:
        http.run(lambda: http.stream("GET", "/health").close(), what="GET /health", safe=True)
    except TrackbridgeError as exc:
        return Check("mlflow server", False, str(exc), REACH_FIX)
    ms = (time.perf_counter() - started) * 1000
    return Check("mlflow server", True, f"{backend.settings.tracking_uri} answered /health in "
                                        f"{ms:.0f} ms")


def _authenticated(backend: MlflowBackend, http: Any) -> Check:
    try:
        http.send("POST", f"{API}/experiments/search", what="search experiments", safe=True,
                  body={"max_results": 1})
    except TrackbridgeError as exc:
        if getattr(exc, "status", None) in (401, 403):
            return Check("mlflow auth", False, str(exc), AUTH_FIX)
        return Check("mlflow auth", False, str(exc), "check that tracking_uri is the tracking "
                                                      "server's URL (not the UI behind a proxy)")
    return Check("mlflow auth", True, f"the tracking API answered; requests send "
                                      f"{http.auth.method}")


def _permission(backend: MlflowBackend, http: Any, experiment: str) -> Check:
    try:
        found = backend.api.experiment_by_name(experiment)
        if found is None:
            return Check("mlflow permissions", True, f"experiment {experiment!r} does not exist "
                         f"yet; it is created on the first run (as {http.auth.method})")
        http.send("POST", f"{API}/experiments/set-experiment-tag", safe=True,
                  what=f"write a tag to experiment {experiment!r}",
                  body={"experiment_id": found["experiment_id"], "key": "trackbridge.doctor",
                        "value": "write access checked"})
    except TrackbridgeError as exc:
        return Check("mlflow permissions", False, str(exc),
                     f"ask an admin of the server to give this user EDIT (or MANAGE) on "
                     f"experiment {experiment!r}, or log to an experiment of your own")
    return Check("mlflow permissions", True, f"may write to experiment {experiment!r}")
