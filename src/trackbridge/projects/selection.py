"""Which files of a project directory are packed for a remote run, and why one is not.

Inside a git work tree the answer is git's own: ``git ls-files --cached --others
--exclude-standard`` run in the project directory, i.e. the tracked files plus the untracked
ones no ignore rule excludes, the rules being every ``.gitignore`` of the repository (those
above the project directory too), ``.git/info/exclude`` and the user's global excludes file.
A submodule or nested repository is listed the same way inside it. Outside git (no work tree,
no git binary, or a project directory its repository ignores), the project's own
``.gitignore`` files are read instead: each applies to its own directory and below, with git's
rules, through ``pathspec``.

Either way some things are never packed: version-control metadata, virtualenvs (``.venv``,
``venv``, any directory holding a ``pyvenv.cfg``), ``__pycache__`` and ``*.pyc``, tool caches,
and local tracking stores: ``tbruns`` and any directory holding a ``trackbridge.db``, MLflow's
``mlruns`` and ``mlartifacts`` directories and ``mlflow.db`` files. Symlinks are packed as the
files they point to when those lie inside the project, and left out otherwise.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "tbruns", "mlruns",
                       "mlartifacts", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                       ".ipynb_checkpoints"})
#: MLflow's SQLite store (``sqlite:///mlflow.db``) and the files SQLite keeps beside it.
SKIP_FILES = frozenset({"mlflow.db", "mlflow.db-journal", "mlflow.db-wal", "mlflow.db-shm"})
#: A directory holding one of these is a local store or a virtualenv: never packed.
STORE_MARKERS = ("trackbridge.db", "pyvenv.cfg")
_COMPILED = (".pyc", ".pyo")
#: Variables that would point git at another repository than the project directory's.
_GIT_ENV = frozenset({"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX",
                      "GIT_COMMON_DIR"})


def project_files(directory: Path) -> list[str]:
    """The files of the project that are packed: relative POSIX paths, sorted."""
    root = Path(directory).resolve()
    listed = _git_files(root)
    candidates = _walk(root) if listed is None else listed
    stores: dict[str, bool] = {}
    return sorted(rel for rel in candidates if _packable(root, rel, stores))


def why_left_out(directory: Path, rel: str) -> tuple[str, str]:
    """(why, fix) for ``rel``, an existing path of the project that the archive does not hold
    (a file, or a directory none of whose files is packed)."""
    root = Path(directory).resolve()
    path = root / rel
    parts = rel.split("/")
    dirs = parts if path.is_dir() else parts[:-1]
    for i, part in enumerate(dirs):
        if part in SKIP_DIRS:
            where = "/".join(parts[:i + 1])
            return (f"{where}/ is a directory that is never packed: version control, "
                    f"virtualenvs, caches and local stores are not", f"move it out of {where}/")
    for i in range(1, len(dirs) + 1):
        where = "/".join(dirs[:i]) + "/"
        marker = next((m for m in STORE_MARKERS if (root / where / m).exists()), None)
        if marker:
            return (f"{where} holds a {marker}, which makes it a local store or virtualenv, "
                    f"never packed", f"move it out of {where}")
    if parts[-1].endswith(_COMPILED):
        return "compiled Python is never packed", "pass the .py source"
    if parts[-1] in SKIP_FILES:
        return "MLflow's local store is never packed", "pass a copy under another name"
    if path.is_symlink() and not path.resolve().is_relative_to(root):
        return "it is a symlink to outside the project", "copy the file into the project"
    rule = _git_rule(root, rel) if _git_answers(root) else _gitignore_rule(root, rel, path.is_dir())
    if rule:
        return f"ignored by {rule}", f"un-ignore it (a `!{rel}` line after that rule)"
    return "each file it holds is ignored or never packed", "un-ignore the files it needs"


# -- git's answer -----------------------------------------------------------------------------
def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes | None:
    """git's stdout, or None when git is missing or fails (not a work tree, ...)."""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, env=env,
                              timeout=120, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _git_answers(root: Path) -> bool:
    """Whether :func:`project_files` takes git's list for ``root``."""
    return _git(root, "rev-parse", "--is-inside-work-tree") is not None and \
        _git(root, "check-ignore", "-q", ".") is None


def _git_files(root: Path) -> list[str] | None:
    """git's list of the files under ``root``, None when git cannot answer for it."""
    out = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if out is None:
        return None
    names = [os.fsdecode(n) for n in out.split(b"\0") if n]
    if not names and _git(root, "check-ignore", "-q", ".") is not None:
        return None  # the enclosing repository ignores the whole project: not its file
    files: list[str] = []
    for name in names:
        name = name.rstrip("/")
        path = root / name
        if path.is_dir() and not path.is_symlink():  # a submodule or a nested repository
            if SKIP_DIRS.isdisjoint(name.split("/")):
                inner = _git_files(path)
                files += [f"{name}/{f}" for f in (_walk(path) if inner is None else inner)]
        else:
            files.append(name)
    return files


def _git_rule(root: Path, rel: str) -> str | None:
    """The ignore rule git applies to ``rel``: ``<file> line <n> (<pattern>)``."""
    out = _git(root, "check-ignore", "-v", "-z", "--stdin", stdin=os.fsencode(rel) + b"\0")
    fields = [os.fsdecode(f) for f in (out or b"").split(b"\0")]
    if len(fields) < 3 or not fields[0]:
        return None
    source = Path(fields[0])
    if not source.is_absolute():  # relative to the top of the work tree
        top = _git(root, "rev-parse", "--show-toplevel")
        source = Path(os.fsdecode(top or b"").strip()) / source
    return f"{source} line {fields[1]} ({fields[2]})"


# -- the project's own .gitignore files, outside git ------------------------------------------
def _spec(ignore: Path):  # noqa: ANN202 - a pathspec.GitIgnoreSpec
    import pathspec

    lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _walk(root: Path) -> Iterator[str]:
    specs: list[tuple[str, object]] = []  # (directory prefix, its .gitignore)

    def ignored(rel: str, is_dir: bool) -> bool:
        suffix = "/" if is_dir else ""
        return any(rel.startswith(p) and spec.match_file(rel[len(p):] + suffix)
                   for p, spec in specs)

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        if (here / ".gitignore").is_file():
            specs.append((prefix, _spec(here / ".gitignore")))
        keep = []
        for name in sorted(dirnames):
            path = here / name
            if name in SKIP_DIRS or path.is_symlink() or ignored(prefix + name, True) or \
                    any((path / m).exists() for m in STORE_MARKERS):
                continue  # a symlinked directory is not descended into
            keep.append(name)
        dirnames[:] = keep
        yield from (prefix + name for name in sorted(filenames)
                    if not ignored(prefix + name, False))


def _gitignore_rule(root: Path, rel: str, is_dir: bool) -> str | None:
    """The first ``.gitignore`` rule of the project that excludes ``rel`` or a directory
    above it, in the order :func:`_walk` meets them."""
    parts = rel.split("/")
    for depth in range(1, len(parts) + 1):
        as_dir = depth < len(parts) or is_dir
        for k in range(depth):
            ignore = root.joinpath(*parts[:k], ".gitignore")
            if not ignore.is_file():
                continue
            spec = _spec(ignore)
            found = spec.check_file("/".join(parts[k:depth]) + ("/" if as_dir else ""))
            if found.include and found.index is not None:
                return f"{ignore} ({spec.patterns[found.index].pattern})"
    return None


# -- what is never packed ---------------------------------------------------------------------
def _packable(root: Path, rel: str, stores: dict[str, bool]) -> bool:
    parts = rel.split("/")
    name = parts[-1]
    if not SKIP_DIRS.isdisjoint(parts[:-1]) or name.endswith(_COMPILED) or name in SKIP_FILES:
        return False
    for i in range(len(parts)):
        prefix = "/".join(parts[:i])
        if prefix not in stores:
            stores[prefix] = any((root / prefix / m).exists() for m in STORE_MARKERS)
        if stores[prefix] and i > 0:
            return False
    path = root / rel
    if path.is_symlink():
        real = path.resolve()
        if real.is_dir():
            return False  # a symlinked directory is not packed
        if not real.is_file() or not real.is_relative_to(root):
            warnings.warn(f"not packing {rel}: a symlink to outside the project", stacklevel=3)
            return False
    return path.is_file()
