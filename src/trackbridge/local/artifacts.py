"""Content-addressed blob storage for the local store.

A file lives once under ``<root>/artifacts/<sha[:2]>/<sha>`` however many runs log it.
Files are hashed while they are copied (streamed, 1 MiB at a time) into a temp file in the
same directory tree, fsynced, then renamed into place and the directory fsynced, so a blob is
either whole or absent, after a crash or a power loss.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

CHUNK = 1024 * 1024


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: mkstemp makes 0600 files; a downloaded artifact gets what the user's umask gives any file
FILE_MODE = 0o666 & ~_umask()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, source: Path) -> tuple[str, int]:
        """Copy ``source`` in; return (sha256, size). Never holds the whole file in memory."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix="blob-")
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.path_of(sha)
            if final.exists():
                os.unlink(tmp_name)
            else:
                if not final.parent.is_dir():
                    final.parent.mkdir(parents=True, exist_ok=True)
                    _fsync_dir(final.parent.parent)
                os.replace(tmp_name, final)
                _fsync_dir(final.parent)  # the rename itself survives power loss
            return sha, size
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    def copy_out(self, sha256: str, dst: Path) -> None:
        """Write the blob to ``dst`` (atomically: temp file then rename)."""
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.")
        try:
            with os.fdopen(fd, "wb") as out, open(self.path_of(sha256), "rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
            os.chmod(tmp_name, FILE_MODE)
            os.replace(tmp_name, dst)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise
