"""What a model needs installed: ``requirements.txt``, ``python_env.yaml`` and ``conda.yaml``.

Requirements are the distributions that provide the modules the model's objects come from
(found by walking the object graph), plus what its flavor needs to load it, each pinned to
the version installed here (``importlib.metadata``). ``mlflow`` is added because the
``python_function`` loaders named in ``MLmodel`` are MLflow's (pinned when installed here;
unpinned otherwise, as serving platforms bring their own).
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import sys
import types
from collections.abc import Iterable
from typing import Any

#: Walked at most this many objects deep into a model's attributes and containers.
MAX_OBJECTS = 200_000
#: Never pinned: not needed to load a model (the saving side's own packages).
EXCLUDED = {"trackbridge", "pip", "setuptools", "wheel", "pytest"}


def modules_of(obj: Any, limit: int = MAX_OBJECTS) -> set[str]:
    """Top-level module names of every object reachable from ``obj`` (attributes, items)."""
    seen: set[int] = set()
    found: set[str] = set()
    pending = [obj]
    while pending and len(seen) < limit:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        cls = item if isinstance(item, type) else type(item)
        for klass in getattr(cls, "__mro__", (cls,)):
            module = getattr(klass, "__module__", None)
            if module:
                found.add(module.split(".")[0])
        if callable(item) and not isinstance(item, type) and getattr(item, "__module__", None):
            found.add(item.__module__.split(".")[0])  # a function held by the model
        if isinstance(item, (str, bytes, bytearray, int, float, complex, bool, type(None),
                             types.ModuleType)):
            continue
        if hasattr(item, "shape") and getattr(getattr(item, "dtype", None), "kind", "O") != "O":
            continue  # a numeric array: its items are numbers
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)
        state = getattr(item, "__dict__", None)
        if isinstance(state, dict) and not isinstance(item, type):
            pending.extend(state.values())
    return found


@functools.lru_cache(maxsize=1)
def _distributions_by_module() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def distributions_for(modules: Iterable[str]) -> set[str]:
    """Installed distributions providing these top-level modules (stdlib and unknown skipped)."""
    by_module = _distributions_by_module()
    out: set[str] = set()
    for module in modules:
        if module in sys.stdlib_module_names or module in ("__main__", "builtins"):
            continue
        for dist in by_module.get(module, ()):
            out.add(dist)
    return out


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def pinned(distributions: Iterable[str]) -> list[str]:
    """``name==version`` for each installed distribution, sorted by name (duplicates merged)."""
    lines: dict[str, str] = {}
    for dist in distributions:
        try:
            meta = metadata.distribution(dist)
        except metadata.PackageNotFoundError:
            continue
        name = meta.metadata["Name"]
        if _canonical(name) in EXCLUDED:
            continue
        lines[_canonical(name)] = f"{name}=={meta.version}"
    return [lines[k] for k in sorted(lines)]


def model_requirements(modules: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """Pinned requirements of a model using ``modules``, plus distributions ``extra``, plus mlflow."""
    lines = pinned(distributions_for(modules) | set(extra) | {"mlflow"})
    if not any(line.lower().startswith("mlflow==") for line in lines):
        lines.append("mlflow")
    return sorted(lines, key=str.lower)


def _installed(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def python_version() -> str:
    return ".".join(map(str, sys.version_info[:3]))


def python_env(requirements_file: str = "requirements.txt") -> dict[str, Any]:
    build = [f"{d}=={v}" if (v := _installed(d)) else d for d in ("pip", "setuptools", "wheel")]
    return {"python": python_version(), "build_dependencies": build,
            "dependencies": [f"-r {requirements_file}"]}


def conda_env(requirements: list[str]) -> dict[str, Any]:
    pip = _installed("pip")
    return {"name": "mlflow-env", "channels": ["conda-forge"],
            "dependencies": [f"python={python_version()}", f"pip<={pip}" if pip else "pip",
                             {"pip": list(requirements)}]}
