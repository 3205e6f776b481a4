"""Find, read and check configuration.

Resolution order: the explicit ``config=`` argument (a path, a dict or a ``Config``), then
the file named by ``TRACKBRIDGE_CONFIG``, then ``./trackbridge.toml``, then
``[tool.trackbridge]`` in ``./pyproject.toml``, then the built-in default (the local store
in ``./tbruns``). ``TRACKBRIDGE_BACKEND`` and ``TRACKBRIDGE_EXPERIMENT`` override the result.
String values may use ``${VAR}`` and ``${VAR:-default}``. Relative paths are relative to the
current working directory. Unknown keys are errors that list the valid ones.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from .entities import Limits

DEFAULT_BACKEND = "local"
DEFAULT_EXPERIMENT = "Default"
TOP_LEVEL_KEYS = frozenset({"backend", "experiment", "sync_timeout", "max_in_flight",
                            "system_metrics", "system_metrics_interval"})
DEFAULT_SYNC_TIMEOUT = 30.0
#: metric batches of one run that sync keeps in flight at once, by default and at most
DEFAULT_MAX_IN_FLIGHT = 4
MAX_IN_FLIGHT_RANGE = (1, 64)
DEFAULT_SYSTEM_METRICS_INTERVAL = 10.0
#: seconds between two samples of system metrics: the range accepted in config
SYSTEM_METRICS_INTERVAL_RANGE = (0.1, 86400.0)
#: Keys of ``[local]`` the core owns (the local store is also the journal of every run).
LOCAL_KEYS = {"path": "tbruns", "flush_interval": 1.0, "buffer_size": 100_000}
#: Ranges of the core's numeric settings (checked when a config is resolved).
MIN_FLUSH_INTERVAL, MAX_FLUSH_INTERVAL = 0.01, 3600.0
MAX_BUFFER_SIZE = 10_000_000
MAX_SYNC_TIMEOUT = 86_400.0
#: Backends published as separate distributions: name -> what to install.
KNOWN_PLUGINS = {"databricks": "trackbridge-databricks", "azureml": "trackbridge-azureml",
                 "mlflow": "trackbridge-mlflow"}
_SECRET_WORDS = ("token", "secret", "password", "credential_key", "access_key", "api_key")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Config(NamedTuple):
    """A resolved configuration. ``sections`` holds each ``[name]`` table as written."""

    backend: str = DEFAULT_BACKEND
    experiment: str | None = None
    sections: Mapping[str, Mapping[str, Any]] = {}  # never mutated
    source: str = "built-in default"
    #: seconds a run's end waits for its remote copy to catch up (remote backends only)
    sync_timeout: float = DEFAULT_SYNC_TIMEOUT
    #: metric batches of one run sync sends at once to this config's backend
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    #: sample system metrics in every run (``system_metrics = true``), and how often
    system_metrics: bool = False
    system_metrics_interval: float = DEFAULT_SYSTEM_METRICS_INTERVAL

    def section(self, name: str) -> dict[str, Any]:
        """The ``[name]`` table with ``${VAR}`` interpolated (only interpolated when asked)."""
        raw = self.sections.get(name, {})
        return {k: _interpolate(v, f"{name}.{k}") for k, v in raw.items()}

    def local_settings(self) -> dict[str, Any]:
        """``[local]`` with defaults filled in."""
        return {**LOCAL_KEYS, **self.section("local")}

    @property
    def local_path(self) -> Path:
        from pathlib import Path

        return Path(str(self.local_settings()["path"])).expanduser()

    def __repr__(self) -> str:  # configs end up in logs and tracebacks: never a secret
        sections = {name: {k: _shown(k, v) for k, v in table.items()}
                    for name, table in self.sections.items()}
        return (f"Config(backend={self.backend!r}, experiment={self.experiment!r}, "
                f"sections={sections!r}, source={self.source!r}, sync_timeout={self.sync_timeout!r}, "
                f"max_in_flight={self.max_in_flight!r}, system_metrics={self.system_metrics!r}, "
                f"system_metrics_interval={self.system_metrics_interval!r})")

    def redacted(self) -> dict[str, Any]:
        """The config as a dict, secrets masked (see :func:`_shown`)."""
        out: dict[str, Any] = {"backend": self.backend, "experiment": self.experiment,
                               "sync_timeout": self.sync_timeout,
                               "max_in_flight": self.max_in_flight,
                               "system_metrics": self.system_metrics,
                               "system_metrics_interval": self.system_metrics_interval}
        for name, table in self.sections.items():
            out[name] = {k: _shown(k, v) for k, v in table.items()}
        out["local"] = {**LOCAL_KEYS, **out.get("local", {})}
        return out


def check_number(where: str, value: Any, *, low: float, high: float, integer: bool = False,
                 above: bool = False) -> Any:
    """A numeric config value within [``low``, ``high``] (``above``: strictly above ``low``),
    as an int or a float; a string holding a number is read (``${VAR}`` interpolation makes
    strings). Anything else is a ConfigError naming ``where``, the value and the range."""
    kind = "an int" if integer else "a number"
    bound = f"above {low:g}" if above else f"from {low:g}"
    problem = ConfigError(f"config key {where} must be {kind} {bound} to {high:g}, got {value!r}")
    number = value
    if isinstance(value, str):
        try:
            number = int(value) if integer else float(value)
        except ValueError:
            raise problem from None
    if isinstance(number, bool) or not isinstance(number, int if integer else (int, float)):
        raise problem
    if not (low < number if above else low <= number) or not number <= high:  # NaN fails too
        raise problem
    return number if integer else float(number)


def _check_local(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The core's ``[local]`` keys, interpolated and checked (plugins check their own tables)."""
    checked = {k: _interpolate(v, f"local.{k}") for k, v in table.items()}
    if "path" in checked and (not isinstance(checked["path"], str) or not checked["path"]):
        raise ConfigError(f"config key [local] path in {source} must be a non-empty string (a "
                          f"directory), got {checked['path']!r}")
    if "flush_interval" in checked:
        checked["flush_interval"] = check_number(
            f"[local] flush_interval in {source} (seconds)", checked["flush_interval"],
            low=MIN_FLUSH_INTERVAL, high=MAX_FLUSH_INTERVAL)
    if "buffer_size" in checked:
        checked["buffer_size"] = check_number(
            f"[local] buffer_size in {source} (points)", checked["buffer_size"], low=1,
            high=MAX_BUFFER_SIZE, integer=True)
    return checked


def is_secret_key(key: str) -> bool:
    """True for config keys whose values must never be shown."""
    k = key.lower()
    return any(word in k for word in _SECRET_WORDS)


def _shown(key: str, value: Any) -> Any:
    """How a config value may be shown: masked whole under a secret-named key, else with any
    credential inside it (URL userinfo, tokens, signatures) masked."""
    from .redaction import MASK, redact_value

    return MASK if is_secret_key(key) else redact_value(value)


def _interpolate(value: Any, where: str) -> Any:
    if isinstance(value, str) and "${" in value:

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(
                f"config key '{where}' uses ${{{name}}} but environment variable {name} "
                f"is not set (use ${{{name}:-default}} to give a default)"
            )

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [_interpolate(v, where) for v in value]
    return value


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _from_mapping(data: Mapping[str, Any], source: str) -> Config:
    top = {k: v for k, v in data.items() if not isinstance(v, Mapping)}
    sections = {k: dict(v) for k, v in data.items() if isinstance(v, Mapping)}
    unknown = set(top) - TOP_LEVEL_KEYS
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(sorted(map(repr, unknown)))} in {source}; "
            f"valid top-level keys: {', '.join(sorted(TOP_LEVEL_KEYS))} "
            f"(backend settings go in a [<backend>] table)"
        )
    backend = _interpolate(top.get("backend", DEFAULT_BACKEND), "backend")
    experiment = _interpolate(top.get("experiment"), "experiment")
    for key, value in (("backend", backend), ("experiment", experiment)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"config key '{key}' in {source} must be a non-empty string, "
                              f"got {value!r}")
    timeout = check_number(f"sync_timeout in {source} (seconds)",
                           _interpolate(top.get("sync_timeout", DEFAULT_SYNC_TIMEOUT), "sync_timeout"),
                           low=0, high=MAX_SYNC_TIMEOUT)
    low, high = MAX_IN_FLIGHT_RANGE
    in_flight = check_number(
        f"max_in_flight in {source} (metric batches of one run sent at once)",
        _interpolate(top.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT), "max_in_flight"),
        low=low, high=high, integer=True)
    if "local" in sections:
        sections["local"] = _check_local(sections["local"], source)
    system_metrics, interval = _system_metrics_settings(top, source)
    return Config(backend=backend, experiment=experiment, sections=sections, source=source,
                  sync_timeout=timeout, max_in_flight=in_flight, system_metrics=system_metrics,
                  system_metrics_interval=interval)


def _system_metrics_settings(top: Mapping[str, Any], source: str) -> tuple[bool, float]:
    enabled = _interpolate(top.get("system_metrics", False), "system_metrics")
    if isinstance(enabled, str) and enabled.lower() in ("true", "false"):  # from ${VAR}
        enabled = enabled.lower() == "true"
    if not isinstance(enabled, bool):
        raise ConfigError(f"config key system_metrics in {source} must be true or false, "
                          f"got {enabled!r}")
    low, high = SYSTEM_METRICS_INTERVAL_RANGE
    interval = check_number(
        f"system_metrics_interval in {source} (seconds)",
        _interpolate(top.get("system_metrics_interval", DEFAULT_SYSTEM_METRICS_INTERVAL),
                     "system_metrics_interval"), low=low, high=high)
    return enabled, interval


def _discover() -> Config:
    from pathlib import Path

    env_path = os.environ.get("TRACKBRIDGE_CONFIG")
    if env_path:
        return _from_mapping(_read_toml(Path(env_path)), env_path)
    local = Path("trackbridge.toml")
    if local.is_file():
        return _from_mapping(_read_toml(local), str(local))
    pyproject = Path("pyproject.toml")
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("trackbridge")
        if table is not None:
            return _from_mapping(table, "pyproject.toml [tool.trackbridge]")
    return Config()


def load_config(config: str | os.PathLike[str] | Mapping[str, Any] | Config | None = None) -> Config:
    """Resolve ``config`` (see the module docstring) and apply environment overrides.

    Only the shape is checked here; :func:`trackbridge.registry.check_config` checks the
    backend sections against the installed backends.
    """
    if isinstance(config, Config):
        resolved = config
    elif isinstance(config, Mapping):
        resolved = _from_mapping(config, "config dict")
    elif config is not None:
        from pathlib import Path

        resolved = _from_mapping(_read_toml(Path(config)), os.fspath(config))
    else:
        resolved = _discover()
    overrides = {}
    if os.environ.get("TRACKBRIDGE_BACKEND"):
        overrides["backend"] = os.environ["TRACKBRIDGE_BACKEND"]
    if os.environ.get("TRACKBRIDGE_EXPERIMENT"):
        overrides["experiment"] = os.environ["TRACKBRIDGE_EXPERIMENT"]
    if overrides:
        resolved = resolved._replace(**overrides)
    return resolved


#: Limits a backend may declare absent (``None``); in config, 0 switches them off.
OPTIONAL_LIMITS = frozenset({"max_batch_bytes", "max_params_per_run", "max_tags_per_run",
                             "max_metric_points_per_run", "max_param_value_bytes"})


def override_limits(base: Limits, overrides: Any, table: str) -> Limits:
    """``base`` with the limits a config table overrides (e.g. ``[databricks.limits]``).

    Unknown names are an error listing the valid ones; values are ints > 0, or 0 to switch off
    an optional limit; ``max_entities_per_batch`` must hold the largest per-kind batch.
    """
    from .entities import Limits

    if not overrides:
        return base
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"[{table}] limits must be a table, e.g. [{table}.limits] "
                          f"max_tags_per_run = 60; got {overrides!r}")
    unknown = set(overrides) - set(Limits._fields)
    if unknown:
        raise ConfigError(f"unknown limit(s) {', '.join(sorted(map(repr, unknown)))} in "
                          f"[{table}.limits]; valid limits: {', '.join(Limits._fields)}")
    values: dict[str, int | None] = {}
    for name, value in overrides.items():
        optional = name in OPTIONAL_LIMITS
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or \
                (value == 0 and not optional):
            allowed = "an int >= 0 (0 = no limit)" if optional else "an int > 0"
            raise ConfigError(f"[{table}.limits] {name} must be {allowed}, got {value!r}")
        values[name] = value or None
    limits = base._replace(**values)
    biggest = max(limits.max_metrics_per_batch, limits.max_params_per_batch,
                  limits.max_tags_per_batch)
    if limits.max_entities_per_batch < biggest:
        raise ConfigError(f"[{table}.limits] max_entities_per_batch ({limits.max_entities_per_batch})"
                          f" must be at least the largest per-kind batch limit ({biggest})")
    return limits
