"""The regular files below a local directory, opened without following links out of it.

``log_artifacts`` uploads what this yields. Checking a path and opening it later would let a
symlink swapped in between (another user, a compromised job) make us upload a file from
elsewhere. So each file is *opened during the walk*, relative to its directory's descriptor
(``os.fwalk``, which never enters a symlinked directory) with ``O_NOFOLLOW``, and the path
handed on is ``/proc/self/fd/<n>``: whoever opens it gets the very file that was checked.

Symlinks to files inside the directory are followed (the target is opened from the root one
component at a time, never following a link); links leading outside are skipped with a
warning. Without ``os.fwalk`` or ``/proc`` (not Linux) the same rules are checked on paths.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

_FILE_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


def files_below(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative POSIX path, a path to read it through) per regular file below ``root``,
    sorted per directory. The read path is valid until the next item is asked for."""
    if hasattr(os, "fwalk") and os.path.isdir("/proc/self/fd"):
        yield from _by_descriptor(root)
    else:  # pragma: no cover - macOS, Windows
        yield from _by_path(root)


def _by_descriptor(root: Path) -> Iterator[tuple[str, Path]]:
    real_root = root.resolve()
    for dirpath, dirnames, filenames, dirfd in os.fwalk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            fd = _open_regular(name, dirfd)
            if fd is None and stat.S_ISLNK(os.lstat(name, dir_fd=dirfd).st_mode):
                fd = _open_link_target(path, real_root, root)
            if fd is None:
                continue
            try:
                yield path.relative_to(root).as_posix(), Path(f"/proc/self/fd/{fd}")
            finally:
                os.close(fd)


def _open_regular(name: str, dirfd: int) -> int | None:
    """A descriptor of the regular file ``name`` in ``dirfd``; None for a link or a non-file."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dirfd)
    except OSError:  # ELOOP: a symlink (O_NOFOLLOW); or it vanished
        return None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return fd
    os.close(fd)
    return None


def _open_link_target(path: Path, real_root: Path, root: Path) -> int | None:
    target = path.resolve()
    if not target.is_relative_to(real_root):
        warnings.warn(f"skipping {path}: a symlink to outside {root}", stacklevel=4)
        return None
    parts = target.relative_to(real_root).parts
    fd = os.open(real_root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            inner = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
        return _open_regular(parts[-1], fd) if parts else None
    except OSError:  # a link swapped in on the way: skip rather than follow it
        return None
    finally:
        os.close(fd)


def _by_path(root: Path) -> Iterator[tuple[str, Path]]:  # pragma: no cover - not Linux
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                warnings.warn(f"skipping {path}: a symlink to outside {root}", stacklevel=4)
                continue
            if path.is_file():
                yield path.relative_to(root).as_posix(), path
