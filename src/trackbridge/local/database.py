"""The local store's SQLite database: one connection per thread and process, WAL mode,
power-safe commits, write transactions that wait for the lock instead of failing."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreError
from .schema import migrate

BUSY_TIMEOUT_S = 120.0
#: Bytes of the database file each connection may read through mmap (SQLite writes as usual).
MMAP_BYTES = 256 * 1024 * 1024


class Database:
    """``<root>/trackbridge.db``; the schema is migrated when a connection is first opened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tls = threading.local()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened, and the schema migrated, on first use)."""
        conn = getattr(self._tls, "conn", None)
        if conn is not None and self._tls.pid == os.getpid():
            return conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")  # a commit survives power loss too
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")  # reads of big blobs: 2-3x faster
            migrate(conn, str(self.path))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the local store at {self.path}: {exc}") from exc
        self._tls.conn, self._tls.pid = conn, os.getpid()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on exit, rolled back on error."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the local store at {self.path}: {exc}") from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._tls, "conn", None)
        if conn is not None:
            conn.close()
            self._tls.conn = None
