"""``trackbridge doctor`` for the databricks backend: auth, host, user, latency."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from trackbridge.doctor import Check
from trackbridge.errors import TrackbridgeError

from .errors import translate

if TYPE_CHECKING:
    from .backend import DatabricksBackend

AUTH_FIX = ("set DATABRICKS_HOST and DATABRICKS_TOKEN, or `profile = ...` naming a section of "
            "~/.databrickscfg, or run `databricks auth login --host <workspace-url>`")


def checks(backend: DatabricksBackend) -> list[Check]:
    """Each check says what the SDK resolved; a failing one says how to fix it."""
    from databricks.sdk.errors import NotFound

    try:
        cfg = backend.client.config
        auth = cfg.auth_type  # resolved while the client was built
    except TrackbridgeError as exc:
        return [Check("databricks auth", False, str(exc), AUTH_FIX)]
    out = [
        Check("databricks auth", True, f"the SDK resolved auth method {auth!r}"
              + (f" from profile {cfg.profile!r}" if cfg.profile else "")),
        Check("databricks host", True, cfg.host or "(none)"),
    ]
    started = time.perf_counter()
    try:
        me = backend.policy.call(backend.client.current_user.me, safe=True,
                                 what="look up the current user")
        ms = (time.perf_counter() - started) * 1000
        out.append(Check("databricks user", True, f"{me.user_name} (round trip {ms:.0f} ms)"))
    except NotFound:
        out.append(Check("databricks user", True,
                         "this host has no current-user API (an MLflow server rather than a "
                         "Databricks workspace?): '~/' experiment names cannot be expanded"))
    except Exception as exc:
        error = translate(exc, "look up the current user", backend.describe(),
                          secrets=backend.secrets())
        out.append(Check("databricks user", False, str(error),
                         "check that the credentials are valid and not expired; " + AUTH_FIX))
    started = time.perf_counter()
    try:
        backend.call(lambda: backend.client.api_client.do(
            "POST", "/api/2.0/mlflow/experiments/search", body={"max_results": 1},
            headers={"Accept": "application/json", "Content-Type": "application/json"}),
            what="search experiments", safe=True)
        ms = (time.perf_counter() - started) * 1000
        out.append(Check("databricks latency", True,
                         f"MLflow tracking API answered in {ms:.0f} ms"))
    except TrackbridgeError as exc:
        out.append(Check("databricks latency", False, str(exc),
                         "check the host URL and that the workspace has MLflow tracking enabled"))
    return out
