"""Load plugins: setuptools entry points of group ``trackbridge`` plus the default plugins.

Built-in features (the local backend, the run-context provider) are registered exactly the
way an external plugin is. Set ``TRACKBRIDGE_PLUGINS`` to a comma-separated list of entry
point names to load only those (an empty value loads none); default plugins always load.
"""

from __future__ import annotations

import importlib
import os
import warnings
from importlib.metadata import entry_points

import pluggy

from . import hookspecs

DEFAULT_PLUGINS = ("trackbridge.local.plugin", "trackbridge.context")
ENTRY_POINT_GROUP = "trackbridge"

pm = pluggy.PluginManager("trackbridge")
pm.add_hookspecs(hookspecs)

#: entry point name -> (distribution name, version) for ``trackbridge backends``
plugin_distributions: dict[str, tuple[str, str]] = {}
#: entry point name -> why it could not be loaded (a broken plugin never breaks the others)
plugin_errors: dict[str, str] = {}
_loaded = False


def load_plugins() -> pluggy.PluginManager:
    """Register default and installed plugins once per process; return the manager."""
    global _loaded
    if _loaded:
        return pm
    _loaded = True
    only = os.environ.get("TRACKBRIDGE_PLUGINS")
    allowed = None if only is None else {n.strip() for n in only.split(",") if n.strip()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:
            plugin_errors[ep.name] = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"trackbridge plugin {ep.name!r} failed to load and is skipped: "
                          f"{plugin_errors[ep.name]}", stacklevel=2)
            continue
        dist = ep.dist
        if dist is not None:
            plugin_distributions[ep.name] = (dist.metadata["Name"], dist.version)
    for module_name in DEFAULT_PLUGINS:
        if pm.get_plugin(module_name) is None:
            pm.register(importlib.import_module(module_name), name=module_name)
    return pm
