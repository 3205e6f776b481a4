"""The ``[azureml]`` config table: its keys, checking them, and Azure ML's limits.

Azure ML's tracking service is stricter than open-source MLflow. Its limits are declared
here so the core checks keys, values and per-run counts before anything is sent, and packs
batches to them. Every limit can be overridden in ``[azureml.limits]`` because Azure changes
them; a name that is not a limit is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from trackbridge.config import check_number, override_limits
from trackbridge.entities import Limits
from trackbridge.errors import ConfigError

CREDENTIALS = ("default", "cli", "managed_identity", "environment", "workload_identity")

#: Azure ML's limits (resource-limits doc and service errors, 2025): 250 metric rows and 100
#: params/tags per request; 200 params and 50 tags per run; tag key 100 and value 1000 chars;
#: metric names 255 chars. Entities per request: the sum of the per-kind limits.
AZURE_LIMITS = Limits(
    max_metrics_per_batch=250,
    max_params_per_batch=100,
    max_tags_per_batch=100,
    max_entities_per_batch=450,
    max_batch_bytes=1_000_000,
    max_metric_key_length=255,
    max_param_key_length=250,
    max_tag_key_length=100,
    max_param_value_length=6000,
    max_tag_value_length=1000,
    max_params_per_run=200,
    max_tags_per_run=50,
    max_metric_points_per_run=None,
)
_PER_KIND = ("max_metrics_per_batch", "max_params_per_batch", "max_tags_per_batch")


class Settings(NamedTuple):
    """The ``[azureml]`` table, checked. Exactly one way to find the workspace is set."""

    tracking_uri: str | None = None
    subscription_id: str | None = None
    resource_group: str | None = None
    workspace: str | None = None
    config_json: str | None = None
    credential: str = "default"
    managed_identity_client_id: str | None = None
    access_token: str | None = None
    timeout: float = 120.0
    max_retries: int = 5
    retry_backoff: float = 0.8
    history_page_size: int = 500
    artifact_paths_per_request: int = 100
    limits: Limits = AZURE_LIMITS

    def __repr__(self) -> str:  # settings end up in logs and tracebacks: never the token
        shown = self._replace(access_token="***") if self.access_token else self
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in zip(self._fields, shown)) + ")"


CONFIG_KEYS = frozenset(Settings._fields)


def parse_limits(overrides: Mapping[str, Any] | None) -> Limits:
    """Azure's limits with ``overrides`` applied (checked by the core). Unless overridden,
    ``max_entities_per_batch`` follows the per-kind limits: room for each of them at once."""
    base = AZURE_LIMITS
    if overrides and isinstance(overrides, Mapping) and "max_entities_per_batch" not in overrides:
        per_kind = {k: v for k, v in overrides.items() if k in _PER_KIND}
        merged = base._replace(**per_kind)
        base = base._replace(max_entities_per_batch=sum(getattr(merged, k) for k in _PER_KIND))
    return override_limits(base, overrides, "azureml")


def _text(settings: Mapping[str, Any], key: str) -> str | None:
    value = settings.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"[azureml] {key} must be a string, got {type(value).__name__}")
    return value


def _number(settings: Mapping[str, Any], key: str, default: float, *, lo: float, hi: float,
            integer: bool = False) -> Any:
    return check_number(f"[azureml] {key}", settings.get(key, default), low=lo, high=hi,
                        integer=integer)


def parse_settings(settings: Mapping[str, Any]) -> Settings:
    """Check the ``[azureml]`` table (already ``${VAR}``-interpolated)."""
    unknown = set(settings) - CONFIG_KEYS
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(sorted(map(repr, unknown)))} in [azureml]; "
                          f"valid keys: {', '.join(sorted(CONFIG_KEYS))}")
    text = {k: _text(settings, k) for k in (
        "tracking_uri", "subscription_id", "resource_group", "workspace", "config_json",
        "managed_identity_client_id", "access_token")}
    credential = _text(settings, "credential") or "default"
    if credential not in CREDENTIALS:
        raise ConfigError(f"[azureml] credential must be one of {', '.join(CREDENTIALS)}, "
                          f"got {credential!r}")
    named = [text[k] for k in ("subscription_id", "resource_group", "workspace")]
    ways = [w for w, used in (("tracking_uri", text["tracking_uri"]),
                              ("config_json", text["config_json"]),
                              ("subscription_id/resource_group/workspace", any(named)))
            if used]
    if len(ways) != 1:
        found = " and ".join(ways) if ways else "none of them"
        raise ConfigError(
            "[azureml] needs exactly one way to find the workspace: tracking_uri, config_json, "
            f"or subscription_id + resource_group + workspace (found {found})"
        )
    if any(named) and not all(named):
        missing = [k for k, v in zip(("subscription_id", "resource_group", "workspace"), named,
                                             strict=True)
                   if not v]
        raise ConfigError(f"[azureml] is missing {', '.join(missing)} (subscription_id, "
                          f"resource_group and workspace go together)")
    return Settings(
        credential=credential,
        timeout=float(_number(settings, "timeout", 120.0, lo=1, hi=3600)),
        max_retries=_number(settings, "max_retries", 5, lo=0, hi=20, integer=True),
        retry_backoff=float(_number(settings, "retry_backoff", 0.8, lo=0, hi=60)),
        history_page_size=_number(settings, "history_page_size", 500, lo=1, hi=999, integer=True),
        artifact_paths_per_request=_number(settings, "artifact_paths_per_request", 100, lo=1,
                                           hi=100, integer=True),
        limits=parse_limits(settings.get("limits")),
        **text,
    )
