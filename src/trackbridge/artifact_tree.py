"""Walk a run's artifact tree as a backend lists it, and write its files locally, safely.

Paths that come *from* a backend (the local store's manifest, a server's listing) are checked
as strictly as paths going in: relative, POSIX, normalised, no ``..``. Each listed entry must
lie below the folder that was listed; a folder is listed once (no loops) and a walk stops at
:data:`MAX_FILES` files. A local target is resolved and must stay inside its destination.
Every walk over artifacts (downloads, ``runs show``, model downloads, sync from a backend)
goes through here.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UnsafePathError

if TYPE_CHECKING:
    from .backend import Backend
    from .entities import ArtifactEntry

#: A run with more files than this is refused rather than walked for ever.
MAX_FILES = 1_000_000


def checked_path(path: object, where: str) -> str:
    """``path`` if it is a normalised relative POSIX path, else :class:`UnsafePathError`."""
    if (not isinstance(path, str) or not path or "\\" in path or "\0" in path
            or path.startswith("/") or posixpath.normpath(path) != path
            or path.split("/", 1)[0] == ".."):
        raise UnsafePathError(f"artifact path {path!r} listed by the {where} is not a normalised "
                              f"relative path; refusing it (nothing was written)")
    return path


def checked_entries(entries: list[ArtifactEntry], folder: str | None, where: str
                    ) -> list[ArtifactEntry]:
    """``entries`` (a listing of ``folder``), each checked and required to lie below it. An
    entry naming ``folder`` itself (some servers list a file as itself) is dropped."""
    prefix = f"{folder}/" if folder else ""
    kept = []
    for entry in entries:
        if entry.path == folder:
            continue
        if not checked_path(entry.path, where).startswith(prefix):
            raise UnsafePathError(f"artifact path {entry.path!r} listed by the {where} is not "
                                  f"inside the folder {folder or '(root)'!r} that was listed")
        kept.append(entry)
    return kept


def walk_files(backend: Backend, run_id: str, folder: str | None = None
               ) -> Iterator[ArtifactEntry]:
    """Every file below ``folder`` (the root when None), depth first, each path checked."""
    where = backend.describe()
    pending, seen, count = [folder], set(), 0
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for entry in checked_entries(backend.list_artifacts(run_id, current), current, where):
            if entry.is_dir:
                pending.append(entry.path)
                continue
            count += 1
            if count > MAX_FILES:
                raise UnsafePathError(f"run {run_id} lists more than {MAX_FILES:,} artifact files "
                                      f"({where}); refusing to walk further")
            yield entry


def target_inside(dst: Path, rel: str) -> Path:
    """``dst / rel``, resolved; :class:`UnsafePathError` unless it stays inside ``dst``."""
    root = dst.resolve()
    target = (root / rel).resolve()
    if target == root or not target.is_relative_to(root):
        raise UnsafePathError(f"artifact path {rel!r} would be written outside {dst}; refusing it")
    return target


def download_files(backend: Backend, run_id: str, folder: str | None, dst: Path) -> list[str]:
    """Write every file below ``folder`` to ``dst/<its path>``; return their paths."""
    paths = []
    for entry in walk_files(backend, run_id, folder):
        backend.download_artifact(run_id, entry.path, target_inside(dst, entry.path))
        paths.append(entry.path)
    return paths
