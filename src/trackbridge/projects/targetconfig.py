"""The ``--on-config`` file: one ``[<target>]`` table per target, checked like the main config.

TOML, or JSON (``{"<target>": {...}}``, or a shape the target adopts, such as MLflow's cluster
spec for databricks). Unknown tables and keys are errors that list the valid ones; ``${VAR}``
references are expanded (``${VAR:-default}`` too). The helpers check one value each and say, in one line,
the target, the key, what was expected and what was given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import is_secret_key
from .errors import ProjectError

__all__ = ["ProjectError", "is_secret_key", "check_keys", "text", "number", "choice", "strings",
           "one_of", "read_target_table", "json_config"]

if TYPE_CHECKING:
    from ..config import Config
    from .targets import Target


def read_target_table(cls: type[Target], path: str | Path | None
                      ) -> tuple[dict[str, Any], str | None]:
    """The ``[<cls.name>]`` table of the file at ``path`` ({} without a file), and what the
    file was read as when it is not in trackbridge's shape (see :func:`json_config`)."""
    if path is None:
        return {}, None
    from ..config import load_config

    adopted = None
    if Path(path).suffix.lower() == ".json":
        config, adopted = json_config(cls, Path(path))
    else:
        config = load_config(path)  # the TOML and ${VAR} rules of every trackbridge config
    others = sorted(set(config.sections) - {cls.name})
    if others:
        raise ProjectError(f"--on-config {path}: unknown table(s) {', '.join(others)} for "
                           f"--on {cls.name}; valid table: [{cls.name}]")
    table = config.section(cls.name)
    check_keys(table, cls.config_keys, f"[{cls.name}] of {path}")
    return table, adopted


def json_config(cls: type[Target], path: Path) -> tuple[Config, str | None]:
    """A ``.json`` ``--on-config``: ``{"<name>": {...}}`` like the TOML table (``${VAR}``
    expanded the same way), or what the target adopts (:meth:`Target.adopt_json`, e.g.
    MLflow's cluster spec for databricks)."""
    from ..config import Config

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectError(f"--on-config file not found: {path}") from None
    except (ValueError, OSError) as exc:
        raise ProjectError(f"--on-config {path} is not valid JSON: {exc}") from None
    shape = f'{{"{cls.name}": {{...}}}} with the keys of [{cls.name}]'
    if not isinstance(data, dict):
        raise ProjectError(f"--on-config {path} must hold a JSON object: {shape}")
    adopted = None
    if cls.name not in data:
        found = cls.adopt_json(data)
        if found is None:
            raise ProjectError(f"--on-config {path} must hold {shape} (see "
                               f"configs/{cls.name}-compute.toml for them)")
        table, adopted = found
        data = {cls.name: table}
    loose = sorted(k for k, v in data.items() if not isinstance(v, Mapping))
    if loose:
        raise ProjectError(f"--on-config {path}: key(s) {', '.join(loose)} must be inside "
                           f"{shape}")
    return Config(sections=data, source=str(path)), adopted


def check_keys(table: Mapping[str, Any], valid: frozenset[str] | set[str], where: str) -> None:
    unknown = set(table) - set(valid)
    if unknown:
        raise ProjectError(f"unknown key(s) {', '.join(sorted(map(repr, unknown)))} in {where}; "
                           f"valid keys: {', '.join(sorted(valid))}")


def text(table: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str | None:
    value = table.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ProjectError(f"{where} {key} must be a non-empty string, got {value!r}")
    return value.strip()


def number(table: Mapping[str, Any], key: str, where: str, default: float, *, lo: float,
           hi: float, integer: bool = False) -> Any:
    value = table.get(key, default)
    kinds = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not lo <= value <= hi:
        raise ProjectError(f"{where} {key} must be {'an int' if integer else 'a number'} from "
                           f"{lo:g} to {hi:g}, got {value!r}")
    return value


def choice(table: Mapping[str, Any], key: str, where: str, options: Sequence[str],
           default: str) -> str:
    value = table.get(key, default)
    if value not in options:
        raise ProjectError(f"{where} {key} must be one of {', '.join(options)}, got {value!r}")
    return value


def strings(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ProjectError(f"{where} {key} must be a list of strings, got {value!r}")
    return tuple(value)


def one_of(table: Mapping[str, Any], keys: Sequence[str], where: str) -> str:
    """The one key of ``keys`` that is set; an error when none or several are."""
    given = [k for k in keys if table.get(k) not in (None, "", {})]
    if len(given) != 1:
        found = " and ".join(given) if given else "none"
        raise ProjectError(f"{where} needs exactly one of {', '.join(keys)} (found {found}); "
                           f"see configs/ for a commented example")
    return given[0]
