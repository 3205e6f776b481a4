"""Where a workspace's tracking service lives: discovery through azure-ai-ml, URI parsing.

Discovery asks ARM for the workspace (``MLClient(...).workspaces.get(ws)``) and reads its
``mlflow_tracking_uri``; the answer is cached for the process. ``azure.ai.ml`` is slow to
import, so it is imported only here and only when no ``tracking_uri`` is configured.
"""

from __future__ import annotations

import ipaddress
import re
import threading
import warnings
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from trackbridge.errors import BackendError, ConfigError

from .errors import redact

_SCOPE = re.compile(
    r"(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices"
    r"/workspaces/[^/]+)/?$",
    re.IGNORECASE,
)
_cache: dict[tuple[str, ...], str] = {}
_lock = threading.Lock()


class Workspace(NamedTuple):
    """The REST bases of one workspace, derived from its tracking URI."""

    tracking_uri: str
    mlflow_api: str  # <scheme>://<host>/mlflow/v1.0/subscriptions/.../workspaces/<ws>/api/2.0/mlflow
    history: str  # <scheme>://<host>/history/v1.0/subscriptions/.../workspaces/<ws>
    host: str
    name: str
    is_loopback: bool


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_tracking_uri(uri: str) -> Workspace:
    """``azureml://`` becomes ``https://``; ``http://`` is accepted for loopback hosts only."""
    parts = urlsplit(uri.strip())
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme == "azureml":
        scheme = "https"
    elif scheme == "http":
        if not is_loopback(host):
            raise ConfigError(
                f"[azureml] tracking_uri {uri!r} uses plain http to a non-loopback host; Azure "
                f"ML needs https (or the azureml:// URI the workspace reports). http is "
                f"accepted only for 127.0.0.1, localhost and [::1] (local test servers)"
            )
    elif scheme != "https":
        raise ConfigError(f"[azureml] tracking_uri {uri!r} must start with azureml://, https:// "
                          f"or (loopback only) http://")
    match = _SCOPE.search(parts.path)
    if not host or match is None:
        raise ConfigError(
            f"[azureml] tracking_uri {uri!r} does not end in /subscriptions/<sub>/resourceGroups/"
            f"<rg>/providers/Microsoft.MachineLearningServices/workspaces/<ws>; copy it from "
            f"the workspace (MLClient(...).workspaces.get(ws).mlflow_tracking_uri)"
        )
    origin = f"{scheme}://{parts.netloc}"
    prefix = parts.path[: match.end(1)]
    scope = match.group(1)
    return Workspace(
        tracking_uri=uri,
        mlflow_api=f"{origin}{prefix}/api/2.0/mlflow",
        history=f"{origin}/history/v1.0{scope}",
        host=parts.netloc,
        name=scope.rsplit("/", 1)[-1],
        is_loopback=scheme == "http",
    )


def _one_line(exc: Exception) -> str:
    return redact(" ".join(str(exc).split()))[:600]


def discover_tracking_uri(credential: Any, *, subscription_id: str | None = None,
                          resource_group: str | None = None, workspace: str | None = None,
                          config_json: str | None = None) -> str:
    """The workspace's MLflow tracking URI from ARM (cached per process)."""
    key = (config_json or "", subscription_id or "", resource_group or "", workspace or "")
    with _lock:
        if key in _cache:
            return _cache[key]
    where = f"config_json {config_json!r}" if config_json else \
        f"workspace {workspace!r} (subscription {subscription_id}, resource group {resource_group})"
    try:
        with warnings.catch_warnings():  # azure-ai-ml's schemas warn at import (marshmallow)
            warnings.simplefilter("ignore")
            from azure.ai.ml import MLClient

        if config_json:
            client = MLClient.from_config(credential, path=config_json)
        else:
            client = MLClient(credential, subscription_id, resource_group, workspace)
        found = client.workspaces.get(client.workspace_name)
    except Exception as exc:  # azure-ai-ml raises many types; all mean "cannot discover"
        raise BackendError(
            f"azureml workspace discovery for {where} failed: {_one_line(exc)}. Check "
            f"the names, that the credential can read the workspace, or set tracking_uri"
        ) from None
    uri = getattr(found, "mlflow_tracking_uri", None)
    if not uri:
        raise BackendError(f"azureml workspace discovery for {where}: the workspace reports no "
                           f"MLflow tracking URI; set tracking_uri in [azureml]")
    with _lock:
        _cache[key] = uri
    return uri


def clear_cache() -> None:
    """Forget discovered URIs (tests)."""
    with _lock:
        _cache.clear()


_IDS = re.compile(r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                  r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/?]+)", re.I)


def workspace_ids(backend: Any, what: str) -> tuple[str, str, str]:
    """(subscription, resource group, workspace) of an Azure ML backend: from its config, else
    from its tracking URI (``what`` says who needs them, for the error)."""
    s = backend.settings
    if s.subscription_id and s.resource_group and s.workspace:
        return s.subscription_id, s.resource_group, s.workspace
    found = _IDS.search(backend.workspace.tracking_uri)
    if found is None:
        raise ConfigError(f"cannot tell the subscription, resource group and workspace of the "
                          f"{backend.describe()} for {what}")
    return found["sub"], found["rg"], found["ws"]
