"""Read an ``MLproject`` file (the MLflow Projects format) into plain dataclasses.

A project is a directory. Its ``MLproject`` (YAML) names the project, declares at most one of
``python_env`` / ``conda_env`` / ``docker_env``, and lists entry points, each a ``command``
template with ``{param}`` placeholders and typed ``parameters``. A ``.py`` or ``.sh`` file of
the directory is also an entry point (implicit: every parameter becomes ``--key value``), so a
directory without ``MLproject`` can run too.
"""

from __future__ import annotations

import shlex
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ProjectError

PARAM_TYPES = ("string", "float", "int", "path", "uri")
ENV_KEYS = ("python_env", "conda_env", "docker_env")
PYTHON_ENV_FILE = "python_env.yaml"
_TOP_KEYS = frozenset({"name", "entry_points", *ENV_KEYS})


@dataclass(frozen=True)
class Parameter:
    """A declared parameter; ``default`` is the text of the default, None when required."""

    name: str
    type: str = "string"
    default: str | None = None

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class EntryPoint:
    name: str
    command: str
    parameters: dict[str, Parameter] = field(default_factory=dict)


@dataclass(frozen=True)
class Project:
    """A loaded project. ``env_kind`` is one of :data:`ENV_KEYS` or None; ``env_file`` is the
    declared ``python_env`` / ``conda_env`` file, ``docker_image`` the ``docker_env`` image."""

    name: str
    directory: Path
    entry_points: dict[str, EntryPoint]
    env_kind: str | None = None
    env_file: Path | None = None
    docker_image: str | None = None
    mlproject: Path | None = None

    def entry_point(self, name: str) -> EntryPoint:
        """The declared entry point ``name``, or the implicit one for a ``.py``/``.sh`` file."""
        if name in self.entry_points:
            return self.entry_points[name]
        if name.endswith((".py", ".sh")):
            script = (self.directory / name).resolve()
            if script.is_file() and script.is_relative_to(self.directory):
                runner = "python" if name.endswith(".py") else "bash"
                command = f"{runner} {shlex.quote(name)}".replace("{", "{{").replace("}", "}}")
                return EntryPoint(name=name, command=command)
        declared = ", ".join(sorted(self.entry_points)) or "none"
        raise ProjectError(
            f"project {self.name!r} has no entry point {name!r} (declared: {declared}; a .py or "
            f".sh file of {self.directory} can also be given as the entry point)"
        )


def find_mlproject(directory: Path) -> Path | None:
    """The ``MLproject`` file of ``directory`` (the name is matched case-insensitively)."""
    found = [p for p in directory.iterdir() if p.name.lower() == "mlproject" and p.is_file()]
    return found[0] if found else None


def load_project(directory: str | Path) -> Project:
    """Load the project in ``directory``; every mistake in ``MLproject`` is a ProjectError."""
    root = Path(directory).expanduser().resolve()
    if not root.is_dir():
        raise ProjectError(f"project directory {str(directory)!r} does not exist")
    mlproject = find_mlproject(root)
    if mlproject is None:
        env_file = root / PYTHON_ENV_FILE
        return Project(name=root.name, directory=root, entry_points={},
                       env_kind="python_env" if env_file.is_file() else None,
                       env_file=env_file if env_file.is_file() else None)
    data = _read_yaml(mlproject)
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ProjectError(f"{mlproject}: unknown key(s) {', '.join(sorted(map(repr, unknown)))}; "
                           f"valid keys: {', '.join(sorted(_TOP_KEYS))}")
    envs = [key for key in ENV_KEYS if key in data]
    if len(envs) > 1:
        raise ProjectError(f"{mlproject} declares {' and '.join(envs)}; a project may declare at "
                           f"most one of {', '.join(ENV_KEYS)}")
    name = data.get("name", root.name)
    if not isinstance(name, str) or not name:
        raise ProjectError(f"{mlproject}: 'name' must be a non-empty string, got {name!r}")
    env_kind = envs[0] if envs else None
    env_file, docker_image = None, None
    if env_kind == "docker_env":
        spec = data["docker_env"]
        docker_image = spec.get("image") if isinstance(spec, dict) else None
    elif env_kind is not None:
        env_file = _env_file(mlproject, env_kind, data[env_kind])
    return Project(name=name, directory=root, entry_points=_entry_points(mlproject, data),
                   env_kind=env_kind, env_file=env_file, docker_image=docker_image,
                   mlproject=mlproject)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # deferred: only projects need PyYAML

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProjectError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProjectError(f"{path} must be a YAML mapping, got {type(data).__name__}")
    return data


def _env_file(mlproject: Path, kind: str, value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise ProjectError(f"{mlproject}: '{kind}' must be the path of a file, got {value!r}")
    path = (mlproject.parent / value).resolve()
    if not path.is_file():
        raise ProjectError(f"{mlproject}: {kind} file {value!r} not found in {mlproject.parent}")
    return path


def _entry_points(mlproject: Path, data: dict[str, Any]) -> dict[str, EntryPoint]:
    raw = data.get("entry_points") or {}
    if not isinstance(raw, dict):
        raise ProjectError(f"{mlproject}: 'entry_points' must be a mapping of name -> entry point")
    entries = {}
    for name, spec in raw.items():
        where = f"{mlproject}: entry point {name!r}"
        if not isinstance(spec, dict) or not isinstance(spec.get("command"), str):
            raise ProjectError(f"{where} needs a 'command' (a string)")
        params_raw = spec.get("parameters") or {}
        if not isinstance(params_raw, dict):
            raise ProjectError(f"{where}: 'parameters' must be a mapping of name -> type")
        params = {str(k): _parameter(where, str(k), v) for k, v in params_raw.items()}
        _check_placeholders(where, spec["command"], params)
        entries[str(name)] = EntryPoint(name=str(name), command=spec["command"], parameters=params)
    return entries


def _parameter(where: str, name: str, spec: Any) -> Parameter:
    if isinstance(spec, str):
        ptype, default = spec, None
    elif isinstance(spec, dict):
        ptype, default = spec.get("type", "string"), spec.get("default")
    else:
        raise ProjectError(f"{where}: parameter {name!r} must be a type name or "
                           f"{{type: ..., default: ...}}, got {spec!r}")
    if ptype not in PARAM_TYPES:
        raise ProjectError(f"{where}: parameter {name!r} has unknown type {ptype!r}; valid types: "
                           f"{', '.join(PARAM_TYPES)}")
    return Parameter(name=name, type=ptype, default=None if default is None else str(default))


def _check_placeholders(where: str, command: str, params: dict[str, Parameter]) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(command) if f is not None]
    except ValueError as exc:
        raise ProjectError(f"{where}: bad command template {command!r}: {exc}") from None
    undeclared = sorted({f for f in fields if f not in params})
    if undeclared:
        raise ProjectError(f"{where}: the command uses undeclared parameter(s) "
                           f"{', '.join('{' + f + '}' for f in undeclared)}; declare them under "
                           f"'parameters' (write {{{{ and }}}} for literal braces)")
