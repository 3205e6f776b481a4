"""Backends by name: which are installed, checking their config, opening (and caching) them."""

from __future__ import annotations

import json
import threading
from typing import Any

from .backend import Backend
from .config import KNOWN_PLUGINS, LOCAL_KEYS, Config, is_secret_key
from .errors import ConfigError
from .plugins import collect_classes

_instances: dict[tuple[str, str], Backend] = {}
_lock = threading.Lock()


def backend_classes() -> dict[str, type[Backend]]:
    """Installed backends: name -> class, from every plugin's ``trackbridge_register_backends``."""
    return collect_classes("trackbridge_register_backends", "name", "backend")


def _unknown_backend(name: str, installed: dict[str, type[Backend]]) -> ConfigError:
    from .plugins import plugin_errors

    msg = f"unknown backend {name!r}; installed backends: {', '.join(sorted(installed))}"
    if name in plugin_errors:
        msg += f". The {name!r} plugin is installed but failed to load: {plugin_errors[name]}"
    elif name in KNOWN_PLUGINS:
        msg += f". Install the plugin: pip install {KNOWN_PLUGINS[name]}"
    return ConfigError(msg)


def check_config(config: Config) -> type[Backend]:
    """Check every section and key of ``config``; return the configured backend's class."""
    classes = backend_classes()
    if config.backend not in classes:
        raise _unknown_backend(config.backend, classes)
    valid_sections = set(classes) | set(KNOWN_PLUGINS) | {"local"}
    for name, table in config.sections.items():
        if name not in valid_sections:
            raise ConfigError(
                f"unknown config table [{name}] in {config.source}; valid tables: "
                f"{', '.join(sorted(valid_sections))}"
            )
        if name not in classes:
            continue  # a table for a plugin that is not installed here: not ours to judge
        valid = set(classes[name].config_keys) | (set(LOCAL_KEYS) if name == "local" else set())
        unknown = set(table) - valid
        if unknown:
            hint = ""
            if any(is_secret_key(k) for k in unknown):
                said = getattr(classes[name], "secret_hint", "") or "secrets never go in a config file"
                hint = f" ({said})"
            raise ConfigError(
                f"unknown key(s) {', '.join(sorted(map(repr, unknown)))} in [{name}] of "
                f"{config.source}{hint}; valid keys: {', '.join(sorted(valid))}"
            )
    return classes[config.backend]


def _settings_for(cls: type[Backend], config: Config) -> dict[str, Any]:
    if cls.name == "local":
        return {"path": str(config.local_path.resolve())}
    return config.section(cls.name)


def _cached(name: str, cls: type[Backend], settings: dict[str, Any]) -> Backend:
    key = (name, json.dumps(settings, sort_keys=True, default=str))
    with _lock:
        backend = _instances.get(key)
        if backend is None:
            backend = _instances[key] = cls.from_config(settings)
        return backend


def open_backend(config: Config) -> Backend:
    """The configured backend, one instance per (name, settings) per process."""
    cls = check_config(config)
    return _cached(cls.name, cls, _settings_for(cls, config))


def open_journal(config: Config) -> Backend:
    """The local store of ``config`` (every run is journalled there first)."""
    classes = backend_classes()
    cls = classes["local"]
    return _cached("local", cls, _settings_for(cls, config))


def close_all() -> None:
    """Close every cached backend (tests use this between cases)."""
    with _lock:
        for backend in _instances.values():
            backend.close()
        _instances.clear()
