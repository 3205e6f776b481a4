"""Where a project's command runs: the current interpreter (``local``) or a cached ``venv``.

``venv`` builds a virtualenv with the running interpreter, installs the project's
``python_env.yaml`` (``build_dependencies``, then ``dependencies``) or its ``requirements.txt``
with pip, and caches it under ``<cache>/envs/venv-<key>``. The key is the sha256 of the
environment file(s) and of the interpreter, so an unchanged project reuses the venv and an edit
to its requirements builds a new one. The venv *inherits* the packages of the interpreter that
runs ``trackbridge run`` (like ``--system-site-packages``, but for that interpreter): trackbridge
itself is importable in the script, and what the project installs comes first on ``sys.path``.
Docker and conda environments are not supported (a clear error says so).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import site
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ProjectError
from .spec import PYTHON_ENV_FILE, Project

ENV_MANAGERS = ("local", "venv")
#: Overrides the cache directory (default ``$XDG_CACHE_HOME/trackbridge`` or ``~/.cache/...``).
CACHE_DIR_ENV = "TRACKBRIDGE_CACHE_DIR"
READY_MARKER = ".trackbridge-env.json"
INHERIT_PTH = "_trackbridge_inherit.pth"
_SUPPORTED = ("trackbridge runs projects with the env managers 'local' (the current interpreter) "
              "and 'venv' (a virtualenv built from python_env.yaml or requirements.txt)")


@dataclass(frozen=True)
class Environment:
    """The interpreter a command runs with; for ``venv``, how to build it."""

    manager: str
    python: Path
    directory: Path | None = None  # the venv
    sources: tuple[Path, ...] = ()  # the files it is built from
    build_requirements: tuple[str, ...] = ()  # pip arguments
    requirements: tuple[str, ...] = ()
    pip_cwd: Path | None = None  # relative requirement paths are relative to this
    wanted_python: str | None = None  # python_env.yaml's `python`

    @property
    def ready(self) -> bool:
        return self.directory is None or (self.directory / READY_MARKER).is_file()

    def describe(self) -> str:
        if self.directory is None:
            return f"local (the current interpreter: {self.python})"
        built_from = ", ".join(p.name for p in self.sources) or "no environment file"
        state = "cached" if self.ready else "to be built"
        return f"venv {self.directory} ({state}; from {built_from})"

    def variables(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` with this interpreter's ``bin`` directory first on ``PATH``."""
        env = dict(base)
        env["PATH"] = os.pathsep.join([str(self.python.parent), base.get("PATH", os.defpath)])
        if self.directory is not None:
            env["VIRTUAL_ENV"] = str(self.directory)
            env.pop("PYTHONHOME", None)
        return env


def select_environment(project: Project, manager: str | None = None,
                       cache_dir: Path | None = None) -> Environment:
    """The environment ``project`` runs in with ``manager`` (None: ``local``); nothing is built.

    A ``docker_env`` project is refused; a ``conda_env`` one too, unless ``local`` is asked for
    explicitly (the conda file is then ignored).
    """
    if manager is not None and manager not in ENV_MANAGERS:
        raise ProjectError(f"unknown env manager {manager!r}; {_SUPPORTED}")
    if project.env_kind == "docker_env":
        image = f" (image {project.docker_image!r})" if project.docker_image else ""
        raise ProjectError(f"project {project.name!r} declares docker_env{image}; {_SUPPORTED}, "
                           f"not Docker: declare a python_env instead, or run the command in the "
                           f"image yourself")
    if project.env_kind == "conda_env" and manager != "local":
        raise ProjectError(f"project {project.name!r} declares conda_env; {_SUPPORTED}, not "
                           f"conda: declare a python_env ({PYTHON_ENV_FILE}) instead, or pass "
                           f"--env-manager local to run in the current interpreter without it")
    if manager in (None, "local"):
        return Environment(manager="local", python=Path(sys.executable))
    return _venv_environment(project, cache_dir or default_cache_dir())


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "trackbridge"


def _venv_environment(project: Project, cache_dir: Path) -> Environment:
    wanted, build, reqs, sources = None, (), (), []
    pip_cwd = project.directory
    if project.env_kind == "python_env" and project.env_file is not None:
        wanted, build, reqs = _read_python_env(project.env_file)
        pip_cwd = project.env_file.parent
        sources.append(project.env_file)
        for args in (build, reqs):  # files named by -r / -c are part of the environment too
            sources += [pip_cwd / value for flag, value in zip(args, args[1:])
                        if flag in ("-r", "-c", "--requirement", "--constraint")]
    elif (project.directory / "requirements.txt").is_file():
        reqs = ("-r", "requirements.txt")
        sources.append(project.directory / "requirements.txt")
    digest = hashlib.sha256(b"trackbridge-venv-1\0")
    for part in (sys.executable, sys.version, *_inherited_site_dirs(), *build, "\0", *reqs):
        digest.update(part.encode() + b"\0")
    for source in sources:
        try:
            digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
        except OSError as exc:
            raise ProjectError(f"cannot read environment file {source}: {exc}") from None
    directory = (cache_dir / "envs" / f"venv-{digest.hexdigest()[:24]}").resolve()
    return Environment(manager="venv", python=directory / "bin" / "python", directory=directory,
                       sources=tuple(sources), build_requirements=tuple(build),
                       requirements=tuple(reqs), pip_cwd=pip_cwd, wanted_python=wanted)


def _read_python_env(path: Path) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    import yaml  # deferred: only projects need PyYAML

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ProjectError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{path} must be a YAML mapping (python, build_dependencies, "
                           f"dependencies)")
    lists = []
    for key in ("build_dependencies", "dependencies"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ProjectError(f"{path}: {key!r} must be a list of pip requirements")
        args: list[str] = []
        for item in value:  # "-r file" is two arguments; "pkg; python_version<'3.12'" is one
            args += shlex.split(item) if item.startswith("-") else [item]
        lists.append(tuple(args))
    wanted = data.get("python")
    return (None if wanted is None else str(wanted)), lists[0], lists[1]


def _inherited_site_dirs() -> list[str]:
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dict.fromkeys(dirs) if os.path.isdir(d)]


def build_environment(env: Environment, echo: Callable[[str], None]) -> None:
    """Build ``env`` unless it is cached. Concurrent builders of one venv wait for each other."""
    if env.directory is None:
        return
    if env.wanted_python and not _same_minor(env.wanted_python):
        echo(f"{PYTHON_ENV_FILE} asks for Python {env.wanted_python}; the venv uses the running "
             f"Python {sys.version.split()[0]} (trackbridge does not install interpreters)")
    import fcntl

    env.directory.parent.mkdir(parents=True, exist_ok=True)
    with open(env.directory.parent / f"{env.directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if env.ready:
            echo(f"reusing cached virtualenv {env.directory}")
            return
        echo(f"building virtualenv {env.directory} (once; later runs reuse it)")
        shutil.rmtree(env.directory, ignore_errors=True)  # a build that was interrupted
        try:
            _build(env, echo)
        except BaseException:
            shutil.rmtree(env.directory, ignore_errors=True)
            raise


def _build(env: Environment, echo: Callable[[str], None]) -> None:
    assert env.directory is not None
    _check_call([sys.executable, "-m", "venv", "--without-pip", str(env.directory)], None,
                "create the virtualenv")
    for args in (env.build_requirements, env.requirements):
        if args:
            echo(f"pip install {shlex.join(args)}")
            _check_call([*_pip(env), "install", "--disable-pip-version-check", *args],
                        env.pip_cwd, "install the project's requirements")
    # inherit the running interpreter's packages last, so pip above saw a clean venv
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(env.directory),
                                                       "platbase": str(env.directory)}))
    purelib.mkdir(parents=True, exist_ok=True)
    (purelib / INHERIT_PTH).write_text("".join(
        f"import site; site.addsitedir({d!r})\n" for d in _inherited_site_dirs()))
    (env.directory / READY_MARKER).write_text(json.dumps({
        "built_at": time.time(), "python": sys.executable,
        "sources": [str(p) for p in env.sources],
        "build_requirements": list(env.build_requirements),
        "requirements": list(env.requirements),
    }, indent=2))


def _pip(env: Environment) -> list[str]:
    """pip of the running interpreter driving the venv (fast), else pip bootstrapped into it."""
    try:
        import pip

        if tuple(int(x) for x in pip.__version__.split(".")[:2]) >= (22, 3):
            return [sys.executable, "-m", "pip", "--python", str(env.python)]
    except (ImportError, ValueError):
        pass
    if not (env.python.parent / "pip").exists():
        _check_call([str(env.python), "-m", "ensurepip", "--default-pip"], None, "bootstrap pip")
    return [str(env.python), "-m", "pip"]


def _check_call(cmd: list[str], cwd: Path | None, what: str) -> None:
    proc = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace")
    if proc.returncode != 0:
        tail = " | ".join(line.strip() for line in proc.stdout.strip().splitlines()[-5:])
        raise ProjectError(f"could not {what} (exit code {proc.returncode}): {shlex.join(cmd)}: "
                           f"{tail}")


def _same_minor(wanted: str) -> bool:
    return wanted.split(".")[:2] == [str(sys.version_info.major), str(sys.version_info.minor)]
