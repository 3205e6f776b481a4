"""The pip requirements a remote environment needs: the project's, plus trackbridge's own.

The project's come from its ``python_env.yaml`` (``build_dependencies`` then ``dependencies``;
``-r file`` is read from the project) or else its ``requirements.txt``. trackbridge and the
target's plugin are pinned to the versions installed here, so the job logs with the same code.
"""

from __future__ import annotations

from pathlib import Path

from .envs import _read_python_env
from .errors import ProjectError
from .spec import Project


def project_requirements(project: Project) -> list[str]:
    """The project's pip requirement lines (no options other than ``-r``)."""
    if project.env_kind == "python_env" and project.env_file is not None:
        _, build, deps = _read_python_env(project.env_file)
        return _expand([*build, *deps], project.env_file.parent, project.env_file)
    reqs = project.directory / "requirements.txt"
    if reqs.is_file():
        return _read_file(reqs, project.directory)
    return []


def python_version(project: Project) -> str | None:
    """``python:`` of ``python_env.yaml``, if any."""
    if project.env_kind == "python_env" and project.env_file is not None:
        return _read_python_env(project.env_file)[0]
    return None


def pinned(*distributions: str) -> list[str]:
    """``name==version`` of each installed distribution."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in distributions:
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            raise ProjectError(f"{name} is not installed here, so its version for the remote "
                               f"job is unknown; pip install {name}") from None
    return out


def _expand(args: list[str], base: Path, where: Path) -> list[str]:
    out: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in ("-r", "--requirement"):
            out += _read_file(base / next(it, ""), base)
        elif arg.startswith("-"):
            raise ProjectError(f"{where}: pip option {arg!r} cannot be passed to a remote "
                               f"environment; list plain requirements")
        else:
            out.append(arg)
    return out


def _read_file(path: Path, base: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ProjectError(f"cannot read requirements file {path}: {exc}") from None
    args: list[str] = []
    for line in lines:
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        args += line.split(None, 1) if line.startswith("-") else [line]
    return _expand(args, path.parent, path)
