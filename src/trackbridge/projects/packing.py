"""Pack a project directory into a deterministic tar.gz that its sha256 names.

What goes in is :func:`~.selection.project_files`: inside a git work tree, git's own list
(tracked files and untracked ones no ignore rule excludes: the repository's ``.gitignore``
files, those above the project too, ``.git/info/exclude``, the global excludes file); outside
git, the files the project's own ``.gitignore`` files do not exclude. Never: ``.git``,
virtualenvs (``.venv``, ``venv``, any directory holding ``pyvenv.cfg``), ``__pycache__`` and
``*.pyc``, local stores (``tbruns``, ``mlruns``, ``mlartifacts``, ``mlflow.db``, any directory
holding a ``trackbridge.db``). Symlinks are stored as the files they point to when those lie
inside the project, and left out otherwise.

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
from dataclasses import dataclass
from pathlib import Path

from .errors import ProjectError
from .selection import SKIP_DIRS, project_files, why_left_out

__all__ = ["Archive", "SKIP_DIRS", "check_size", "human_size", "pack_project", "project_files",
           "why_left_out"]


def human_size(size: float) -> str:
    """``812 B``, ``4.10 KB``, ``12.3 MB``, ``1.25 GB``: three significant digits (decimal
    units, as ``max_archive_mb`` counts them)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale * 0.9995:  # 999,999 bytes: 1.00 MB, not 1000 KB
            value = size / scale
            return f"{value:.{2 if value < 10 else 1 if value < 100 else 0}f} {unit}"
    return f"{size:g} B"


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
        return f"{len(self.files)} files, {human_size(self.size)}, sha256 {self.sha256}"


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
    limit = limit_mb * 1_000_000
    if archive.size > limit:
        raise ProjectError(
            f"--on {target}: the packed project is {human_size(archive.size)} "
            f"({archive.size:,} bytes), over the configured limit {key} = {limit_mb:g} "
            f"({human_size(limit)}); exclude data and outputs with .gitignore or raise {key} in "
            f"[{target}] of the --on-config file")
