"""Streaming files to and from HTTP bodies without reading them whole into memory."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CHUNK = 1024 * 1024  # bytes per read/write when streaming


class FileSlice(io.RawIOBase):
    """``length`` bytes of a file from ``offset``, read lazily: a sized, streamed HTTP body."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._f.seek(offset)
        self._left = self._length = length

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = min(len(buf), self._left)
        if n <= 0:
            return 0
        got = self._f.readinto(memoryview(buf)[:n])
        self._left -= got
        return got

    def tell(self) -> int:
        return self._length - self._left

    def __len__(self) -> int:
        return self._length

    def close(self) -> None:
        self._f.close()
        super().close()


def write_stream(chunks: Iterable[bytes], dst: Path) -> None:
    """Write ``chunks`` to ``dst`` through a ``.part`` file renamed at the end (never half a file)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    with open(tmp, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
    os.replace(tmp, dst)
