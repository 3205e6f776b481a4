"""The config a project's command sees: what ``trackbridge run`` resolved, as a TOML file.

The command runs in the project directory, and the config may have come from a dict, the
built-in default or a file with relative paths, so the parent writes the resolved config to
a private file (mode 0600) and names it in ``TRACKBRIDGE_CONFIG``: backend, experiment and
every table as written (``${VAR}`` references stay references: the child resolves them from
the environment it inherits, so no secret is expanded into the file), with the local store's
path made absolute.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import TOP_LEVEL_KEYS, Config
from .errors import ProjectError

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def write_child_config(config: Config, path: Path, experiment: str | None = None) -> Path:
    """Write ``config`` (its experiment replaced by ``experiment`` when given) to ``path``;
    the top-level keys are those the config format has (``config.TOP_LEVEL_KEYS``)."""
    text = config_text(config, experiment, local_path=str(config.local_path.resolve()))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def config_text(config: Config, experiment: str | None = None, *,
                local_path: str) -> str:
    """``config`` as TOML, with ``[local] path = local_path`` (may be a ``${VAR}`` reference
    the reader resolves)."""
    top = {key: getattr(config, key, None) for key in sorted(TOP_LEVEL_KEYS)}
    top["experiment"] = experiment or config.experiment
    top = {key: value for key, value in top.items() if value is not None}
    tables = {name: dict(table) for name, table in config.sections.items()}
    tables["local"] = {**tables.get("local", {}), "path": local_path}
    lines = [f"# written by trackbridge run from: {config.source}"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in top.items()]
    for name, table in tables.items():
        lines.append(f"\n[{_key(name)}]")
        lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    # JSON's escapes are valid TOML; TOML also wants DEL escaped
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise ProjectError(f"cannot pass config value {value!r} ({type(value).__name__}) to the "
                       f"project's command: write the config as a TOML file with plain values")
