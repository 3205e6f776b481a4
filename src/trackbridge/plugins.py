"""Load plugins: setuptools entry points of group ``trackbridge`` plus the default plugins.

Built-in features (the local backend, the run-context provider) are registered exactly the
way an external plugin is. Set ``TRACKBRIDGE_PLUGINS`` to a comma-separated list of entry
point names to load only those (an empty value loads none); default plugins always load.
A plugin that fails to import is skipped with a warning and reported by
``trackbridge backends``: one broken plugin never breaks the others.
"""

from __future__ import annotations

import importlib
import os
import warnings

import pluggy

from . import hookspecs

DEFAULT_PLUGINS = ("trackbridge.local.plugin", "trackbridge.context", "trackbridge.models.plugin",
                   "trackbridge.projects.plugin")
ENTRY_POINT_GROUP = "trackbridge"

_pm: pluggy.PluginManager | None = None
#: entry point name -> (distribution name, version), for ``trackbridge backends``
plugin_distributions: dict[str, tuple[str, str]] = {}
#: entry point name -> why it could not be loaded
plugin_errors: dict[str, str] = {}


def load_plugins() -> pluggy.PluginManager:
    """The plugin manager, with default and installed plugins registered (once per process)."""
    global _pm
    if _pm is None:
        _pm = _build()
    return _pm


def _build() -> pluggy.PluginManager:
    from importlib.metadata import entry_points

    pm = pluggy.PluginManager("trackbridge")
    pm.add_hookspecs(hookspecs)
    plugin_distributions.clear()
    plugin_errors.clear()
    only = os.environ.get("TRACKBRIDGE_PLUGINS")
    allowed = None if only is None else {n.strip() for n in only.split(",") if n.strip()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if (allowed is not None and ep.name not in allowed) or pm.get_plugin(ep.name) is not None:
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:
            plugin_errors[ep.name] = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"trackbridge plugin {ep.name!r} failed to load and is skipped: "
                          f"{plugin_errors[ep.name]}", stacklevel=3)
            continue
        if ep.dist is not None:
            plugin_distributions[ep.name] = (ep.dist.metadata["Name"], ep.dist.version)
    for module_name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    return pm


def collect_classes(hook_name: str, key: str, what: str) -> dict[str, type]:
    """The classes plugins offer through a ``register`` hook, by their ``key`` attribute.

    When two plugins offer the same name, the first hook to run keeps it; built-in plugins
    are registered last and so run first, so an installed plugin cannot silently replace one.
    """
    from .errors import ConfigError

    found: dict[str, type] = {}

    def register(cls: type) -> None:
        name = getattr(cls, key, None)
        if not name:
            raise ConfigError(f"{what} class {cls.__qualname__} has no {key!r}")
        found.setdefault(name, cls)

    getattr(load_plugins().hook, hook_name)(register=register)
    return found
