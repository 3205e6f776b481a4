"""The ``[databricks]`` config table: its keys, their checks, and the limits it may override."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from trackbridge.config import check_number, override_limits
from trackbridge.entities import Limits
from trackbridge.errors import ConfigError

#: Databricks' documented limits (see the README for the sources). Keys and param values are
#: the log-batch / log-param limits; 5000 for tag values sits under both Databricks' 64 KB
#: and open-source MLflow's 8000, so the same config works against either.
DATABRICKS_LIMITS = Limits(
    max_metrics_per_batch=1000,
    max_params_per_batch=100,
    max_tags_per_batch=100,
    max_entities_per_batch=1000,
    max_batch_bytes=1_000_000,
    max_metric_key_length=250,
    max_param_key_length=250,
    max_tag_key_length=250,
    max_param_value_length=500,
    max_tag_value_length=5000,
    max_params_per_run=1600,
    max_tags_per_run=1600,
    max_metric_points_per_run=1_000_000,
)

LIMIT_NAMES = frozenset(Limits._fields)
#: Limits that may be switched off with 0 (the others are needed to pack batches).
#: Keys of ``[databricks]``. Secrets (token, client secret) are deliberately absent: the
#: SDK reads them from the environment or a ``~/.databrickscfg`` profile.
CONFIG_KEYS = frozenset({
    "profile", "host", "auth_type", "artifact_root", "max_requests_per_second",
    "retry_timeout_seconds", "http_timeout_seconds", "limits",
}) | LIMIT_NAMES


class Settings(NamedTuple):
    profile: str | None = None
    host: str | None = None
    auth_type: str | None = None
    artifact_root: str | None = None
    max_requests_per_second: float | None = 20.0
    retry_timeout_seconds: float = 300.0
    http_timeout_seconds: float = 60.0
    limits: Limits = DATABRICKS_LIMITS


def _number(key: str, value: Any, high: float, *, allow_zero: bool = False) -> float:
    return check_number(f"[databricks] {key}", value, low=0, high=high, above=not allow_zero)


def _string(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"[databricks] {key} must be a non-empty string, got {value!r}")
    return value.strip()


def parse_limits(overrides: Mapping[str, Any], base: Limits = DATABRICKS_LIMITS) -> Limits:
    """``base`` with ``overrides`` applied (checked by the core: names, values, consistency)."""
    return override_limits(base, overrides, "databricks")


def parse_settings(table: Mapping[str, Any]) -> Settings:
    """Check the ``[databricks]`` table (already ``${VAR}``-interpolated) and fill defaults.

    Limits may be given as an inline table (``limits = {max_param_value_length = 6000}``) or
    as flat keys (``max_param_value_length = 6000``); giving one limit both ways is an error.
    """
    unknown = set(table) - CONFIG_KEYS
    if unknown:
        hint = ""
        if any("token" in k or "secret" in k for k in unknown):
            hint = (" (secrets never go in the file: set DATABRICKS_TOKEN, or use a profile "
                    "from ~/.databrickscfg)")
        raise ConfigError(
            f"unknown key(s) {', '.join(sorted(map(repr, unknown)))} in [databricks]{hint}; "
            f"valid keys: {', '.join(sorted(CONFIG_KEYS - LIMIT_NAMES))} and limit names"
        )
    nested = table.get("limits", {})
    if not isinstance(nested, Mapping):
        raise ConfigError(f"[databricks] limits must be a table, got {nested!r}")
    flat = {k: v for k, v in table.items() if k in LIMIT_NAMES}
    both = set(nested) & set(flat)
    if both:
        raise ConfigError(f"[databricks] limit(s) {', '.join(sorted(both))} given twice "
                          f"(in 'limits' and as keys)")
    defaults = Settings()
    rate = table.get("max_requests_per_second", defaults.max_requests_per_second)
    return Settings(
        profile=_string("profile", table.get("profile")),
        host=_string("host", table.get("host")),
        auth_type=_string("auth_type", table.get("auth_type")),
        artifact_root=_string("artifact_root", table.get("artifact_root")),
        # 0 turns the client-side throttle off
        max_requests_per_second=_number("max_requests_per_second", rate, 100_000,
                                        allow_zero=True) or None,
        retry_timeout_seconds=_number(
            "retry_timeout_seconds",
            table.get("retry_timeout_seconds", defaults.retry_timeout_seconds), 86_400),
        http_timeout_seconds=_number(
            "http_timeout_seconds", table.get("http_timeout_seconds", defaults.http_timeout_seconds),
            3600),
        limits=parse_limits({**nested, **flat}),
    )
