"""Pack a project directory into a deterministic tar.gz that its sha256 names.

Left out: ``.git``, virtualenvs (``.venv``, ``venv``, any directory holding ``pyvenv.cfg``),
``__pycache__`` and ``*.pyc``, local stores (``tbruns``, ``mlruns``, any directory holding a
``trackbridge.db``) and whatever the project's ``.gitignore`` files exclude (each applies to
its own directory and below, with git's rules, through ``pathspec``). Symlinks are stored
as the files they point to when those lie inside the project, and left out otherwise.

The archive is the same bytes for the same files: entries sorted, mtimes, owners and modes
normalised, no gzip timestamp. So an unchanged project has the same name, and a target that
finds ``<sha256>.tar.gz`` already uploaded never uploads it again.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import ProjectError

SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "tbruns", "mlruns",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"})
_STORE_MARKERS = ("trackbridge.db", "pyvenv.cfg")


@dataclass(frozen=True)
class Archive:
    """A packed project: ``path`` on disk, its ``sha256`` and size, the files it holds."""

    path: Path
    sha256: str
    size: int
    files: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.sha256}.tar.gz"

    def describe(self) -> str:
        return f"{len(self.files)} files, {self.size / 1e6:.2f} MB, sha256 {self.sha256}"


def project_files(directory: Path) -> list[str]:
    """The files of the project that are packed: relative POSIX paths, sorted."""
    import pathspec

    root = Path(directory).resolve()
    found: list[str] = []
    specs: list[tuple[str, pathspec.PathSpec]] = []  # (directory prefix, its .gitignore)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        ignore = here / ".gitignore"
        if ignore.is_file():
            lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines()
            specs.append((prefix, pathspec.GitIgnoreSpec.from_lines(lines)))

        def ignored(rel: str, is_dir: bool) -> bool:
            suffix = "/" if is_dir else ""
            return any(rel.startswith(p) and spec.match_file(rel[len(p):] + suffix)
                       for p, spec in specs)

        keep = []
        for name in sorted(dirnames):
            path = here / name
            if name in SKIP_DIRS or any((path / m).exists() for m in _STORE_MARKERS):
                continue
            if path.is_symlink() or ignored(prefix + name, True):
                continue  # a symlinked directory is not descended into
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = prefix + name
            path = here / name
            if name.endswith((".pyc", ".pyo")) or ignored(rel, False):
                continue
            if path.is_symlink():
                real = path.resolve()
                if not real.is_file() or not real.is_relative_to(root):
                    warnings.warn(f"not packing {rel}: a symlink to outside the project",
                                  stacklevel=2)
                    continue
            if path.is_file():
                found.append(rel)
    return sorted(found)


def pack_project(directory: Path, dest_dir: Path) -> Archive:
    """Write the project's archive into ``dest_dir`` as ``<sha256>.tar.gz``."""
    root = Path(directory).resolve()
    files = project_files(root)
    if not files:
        raise ProjectError(f"project {root} has no files to pack")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in files:
            path = root / rel
            data = path.read_bytes()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    payload = buffer.getvalue()
    sha = hashlib.sha256(payload).hexdigest()
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / f"{sha}.tar.gz"
    path.write_bytes(payload)
    return Archive(path=path, sha256=sha, size=len(payload), files=tuple(files))


def check_size(archive: Archive, limit_mb: float, target: str, key: str = "max_archive_mb") -> None:
    """Refuse an archive over the configured limit, before anything is uploaded."""
    if archive.size > limit_mb * 1_000_000:
        raise ProjectError(
            f"--on {target}: the packed project is {archive.size / 1e6:.1f} MB, over the "
            f"configured limit {key} = {limit_mb:g}; exclude data and outputs with .gitignore "
            f"or raise {key} in [{target}] of the --on-config file")
