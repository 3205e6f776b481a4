"""Check parameters against an entry point and render its command line.

Values are text (as given with ``-P key=value``). Each is checked against its declared type;
every problem (all missing required parameters, bad numbers, missing paths) is reported in
one error. Numbers are normalised (``int("007")`` -> ``7``, ``float("1e-3")`` -> ``0.001``) so
that the value in the command, the logged param and what the script logs agree. Parameters
the entry point does not declare are appended as ``--key value``, as MLflow does.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from urllib.parse import urlparse

from .errors import ProjectError
from .shellquote import substitute
from .spec import EntryPoint, Parameter

_EXTRA_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` -> ``{"a": "1", "b": "x=y"}``; a key given twice is an error."""
    given: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ProjectError(f"parameter {pair!r} must be written key=value")
        if key in given:
            raise ProjectError(f"parameter {key!r} is given twice")
        given[key] = value
    return given


def resolve_parameters(entry: EntryPoint, given: Mapping[str, str], *, cwd: Path,
                       project_dir: Path,
                       remote_path: Callable[[str, str], str] | None = None) -> dict[str, str]:
    """Every parameter value, checked and as text: declared ones (defaults filled in) first,
    then the undeclared ones in the order given. Relative ``path``/``uri`` values are made
    absolute: given ones against ``cwd``, defaults against ``project_dir``. When the command
    runs elsewhere, ``remote_path(name, value)`` checks ``path`` values (and ``uri`` ones
    without a scheme) instead (it raises ValueError)."""
    problems: list[str] = []
    missing = [p.name for p in entry.parameters.values() if p.required and p.name not in given]
    if missing:
        problems.append(f"missing required parameter(s) {', '.join(map(repr, missing))}")
    resolved: dict[str, str] = {}
    for name, param in entry.parameters.items():
        if name in given:
            value, base = given[name], cwd
        elif param.default is not None:
            value, base = param.default, project_dir
        else:
            continue
        try:
            if remote_path is not None and _is_local_path(param, value):
                resolved[name] = remote_path(name, value)
                continue
            resolved[name] = convert(param, value, base)
        except ValueError as exc:
            problems.append(str(exc))
    for name, value in given.items():
        if name in entry.parameters:
            continue
        if not _EXTRA_KEY.fullmatch(name):
            problems.append(f"parameter name {name!r} may only use letters, digits and _ . -")
        resolved[name] = value
    if problems:
        declared = ", ".join(f"{p.name} ({p.type})" for p in entry.parameters.values()) or "none"
        raise ProjectError(f"invalid parameters for entry point {entry.name!r}: "
                           f"{'; '.join(problems)} (declared: {declared})")
    return resolved


def _is_local_path(param: Parameter, value: str) -> bool:
    return param.type == "path" or (param.type == "uri" and len(urlparse(value).scheme) <= 1)


def convert(param: Parameter, value: str, base: Path) -> str:
    """``value`` checked against ``param.type``, as text; ValueError says what is wrong."""
    if param.type == "int":
        try:
            return str(int(value))
        except ValueError:
            raise ValueError(f"{param.name!r} must be an int, got {value!r}") from None
    if param.type == "float":
        try:
            return str(float(value))
        except ValueError:
            raise ValueError(f"{param.name!r} must be a float, got {value!r}") from None
    if param.type == "path":
        path = _absolute(value, base)
        if not value or not os.path.exists(path):
            raise ValueError(f"{param.name!r} is a path that does not exist: {value!r} "
                             f"(relative to {base})")
        return path
    if param.type == "uri":
        if not value:
            raise ValueError(f"{param.name!r} must be a URI or a path, got ''")
        return value if len(urlparse(value).scheme) > 1 else _absolute(value, base)
    return value


def _absolute(value: str, base: Path) -> str:
    return os.path.normpath(base / Path(value).expanduser())


def render_command(entry: EntryPoint, values: Mapping[str, str]) -> str:
    """The entry point's command with every value quoted for the shell context of its
    placeholder (see shellquote.py); undeclared values appended as ``--key 'value'``."""
    declared = {name: values[name] for name in entry.parameters if name in values}
    command = substitute(entry.command, declared, entry.name)
    extras = [f"--{name} {shlex.quote(value)}" for name, value in values.items()
              if name not in entry.parameters]
    return " ".join([command, *extras])
