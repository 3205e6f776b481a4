"""The ``[mlflow]`` config table: its keys, their checks, and where ``tracking_uri`` points.

``tracking_uri`` picks what the backend talks to, as MLflow's own ``MLFLOW_TRACKING_URI`` does:

* ``http://`` / ``https://``: a tracking server, through its REST API;
* ``file:./mlruns`` (or ``file:///abs/mlruns``): an MLflow file store, read in place;
* ``sqlite:///mlflow.db``: an MLflow SQL store (SQLite), read in place, read-only.

Secrets never go in the file: auth comes from MLflow's environment variables
(``MLFLOW_TRACKING_USERNAME`` / ``_PASSWORD``, ``MLFLOW_TRACKING_TOKEN``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from trackbridge.config import is_secret_key, override_limits
from trackbridge.entities import Limits
from trackbridge.errors import ConfigError
from trackbridge.mlflow_rest.limits import MLFLOW_LIMITS

CONFIG_KEYS = frozenset({"tracking_uri", "http_timeout_seconds", "retry_timeout_seconds",
                         "max_requests_per_second", "multipart_threshold_mb", "limits"})
SERVER, FILE_STORE, SQL_STORE = "server", "file", "sqlite"
SECRET_HINT = ("secrets never go in a config file: set MLFLOW_TRACKING_USERNAME and "
               "MLFLOW_TRACKING_PASSWORD (basic auth) or MLFLOW_TRACKING_TOKEN (bearer) in the "
               "environment, as for MLflow's own client")


class Settings(NamedTuple):
    tracking_uri: str = ""
    kind: str = SERVER
    #: the store's path for the file and SQL stores
    path: Path | None = None
    http_timeout_seconds: float = 120.0
    retry_timeout_seconds: float = 300.0
    max_requests_per_second: float | None = None
    #: files at least this large go up as a multipart upload where the server offers it
    multipart_threshold_bytes: int = 500 * 1024 * 1024
    limits: Limits = MLFLOW_LIMITS


def _number(key: str, value: Any, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"[mlflow] {key} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"[mlflow] {key} must be {'>= 0' if allow_zero else '> 0'}, "
                          f"got {value!r}")
    return float(value)


def parse_tracking_uri(uri: Any) -> tuple[str, Path | None]:
    """(kind, store path) of a tracking URI; a clear error for anything else."""
    if not isinstance(uri, str) or not uri.strip():
        raise ConfigError("[mlflow] tracking_uri is required: the server's URL "
                          "(https://mlflow.example.com), file:./mlruns or sqlite:///mlflow.db; "
                          f"got {uri!r}")
    uri = uri.strip()
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        if parts.password is not None or parts.username is not None:
            raise ConfigError(f"[mlflow] tracking_uri must not hold a user or password; "
                              f"{SECRET_HINT}")
        if not parts.hostname:
            raise ConfigError(f"[mlflow] tracking_uri {uri!r} has no host")
        return SERVER, None
    if parts.scheme == "file":
        path = uri[len("file://"):] if uri.startswith("file://") else uri[len("file:"):]
        return FILE_STORE, Path(path or ".").expanduser()
    if parts.scheme == "sqlite":
        if not uri.startswith("sqlite:///"):
            raise ConfigError(f"[mlflow] tracking_uri {uri!r}: a SQLite store is "
                              f"sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return SQL_STORE, Path(uri[len("sqlite:///"):]).expanduser()
    if parts.scheme in ("postgresql", "mysql", "mssql") or "+" in parts.scheme:
        raise ConfigError(f"[mlflow] tracking_uri {uri!r}: only SQLite stores are read in place; "
                          f"for a PostgreSQL/MySQL store, point tracking_uri at the tracking "
                          f"server in front of it")
    raise ConfigError(f"[mlflow] tracking_uri {uri!r} must start with http://, https://, file: "
                      f"or sqlite:///")


def parse_settings(table: Mapping[str, Any]) -> Settings:
    """Check the ``[mlflow]`` table (already ``${VAR}``-interpolated) and fill defaults."""
    secret = sorted(k for k in table if is_secret_key(k))
    if secret:
        raise ConfigError(f"[mlflow] key(s) {', '.join(map(repr, secret))} refused: {SECRET_HINT}")
    unknown = set(table) - CONFIG_KEYS
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(sorted(map(repr, unknown)))} in [mlflow]; "
                          f"valid keys: {', '.join(sorted(CONFIG_KEYS))}")
    kind, path = parse_tracking_uri(table.get("tracking_uri"))
    d = Settings()
    rate = _number("max_requests_per_second", table.get("max_requests_per_second", 0),
                   allow_zero=True)
    threshold = table.get("multipart_threshold_mb", d.multipart_threshold_bytes / 1024 / 1024)
    return Settings(
        tracking_uri=table["tracking_uri"].strip().rstrip("/"),
        kind=kind,
        path=path,
        http_timeout_seconds=_number("http_timeout_seconds",
                                     table.get("http_timeout_seconds", d.http_timeout_seconds)),
        retry_timeout_seconds=_number("retry_timeout_seconds",
                                      table.get("retry_timeout_seconds", d.retry_timeout_seconds)),
        max_requests_per_second=rate or None,
        multipart_threshold_bytes=int(_number("multipart_threshold_mb", threshold) * 1024 * 1024),
        limits=override_limits(MLFLOW_LIMITS, table.get("limits"), "mlflow"),
    )
