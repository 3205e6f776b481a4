"""``trackbridge doctor`` checks for the Azure ML backend, each failure with its fix.

Which credential produced a token (the token itself is never shown), which workspace and
tracking URI were found, and whether the tracking service answers, with its latency.
"""

from __future__ import annotations

import time
from typing import Any

from trackbridge.doctor import Check
from trackbridge.errors import TrackbridgeError

from .credentials import SCOPE, credential_name
from .errors import redact


def _ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.0f} ms"


def checks(backend: Any) -> list[Check]:
    """The Azure ML checks for ``backend`` (an AzureMLBackend)."""
    secrets = (backend.settings.access_token,)
    found: list[Check] = []
    started = time.perf_counter()
    try:
        credential = backend.credential
        token = credential.get_token(SCOPE)
        minutes = max(0, int((token.expires_on - time.time()) // 60))
        found.append(Check("azure credential", True,
                           f"{credential_name(credential)} gave a token for {SCOPE} (valid "
                           f"{minutes} more min; {_ms(started)})"))
    except Exception as exc:  # azure-identity raises several types; all mean "no token"
        kind = "access_token" if backend.settings.access_token else backend.settings.credential
        found.append(Check(
            "azure credential", False,
            f"credential {kind!r} gave no token: {redact(' '.join(str(exc).split()), secrets)[:400]}",
            "run `az login` (credential = \"cli\" or \"default\"), set AZURE_TENANT_ID / "
            "AZURE_CLIENT_ID / AZURE_CLIENT_SECRET (\"environment\"), set "
            "managed_identity_client_id on a VM, or pass access_token",
        ))
        return found
    started = time.perf_counter()
    try:
        workspace = backend.workspace
        how = "configured" if backend.settings.tracking_uri else "discovered through ARM"
        found.append(Check("azure workspace", True,
                           f"{workspace.name} ({how}); tracking URI "
                           f"{workspace.tracking_uri} ({_ms(started)})"))
    except TrackbridgeError as exc:
        found.append(Check("azure workspace", False, str(exc),
                           "check subscription_id / resource_group / workspace (or config_json) "
                           "and that the identity has Reader on the workspace; or set "
                           "tracking_uri from the workspace's overview page"))
        return found
    started = time.perf_counter()
    try:
        backend.http.call(backend._call("tracking service check"), "POST",
                          f"{workspace.mlflow_api}/experiments/search",
                          body={"max_results": 1})
        found.append(Check("azure tracking service", True,
                           f"MLflow API answered in {_ms(started)}"))
    except TrackbridgeError as exc:
        found.append(Check("azure tracking service", False, str(exc),
                           "give the identity a role on the workspace (AzureML Data Scientist) "
                           "and check network access to the workspace (private link, proxy)"))
    return found
