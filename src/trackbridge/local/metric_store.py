"""Metric points of runs in the local store: columnar chunks (see ``columns.py``), one row
per flush, indexed by key; the latest value per key kept beside them for ``get_run``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from ..entities import Metric
from ..metric_arrays import MetricArrays, MetricSummary
from .columns import (
    Chunk,
    StoredChunk,
    decode,
    decode_all,
    decode_arrays,
    summarize_chunks,
)


class MetricChunks:
    """The metric side of :class:`~trackbridge.local.store.LocalBackend` (it uses the store's
    ``connection`` and ``_run_pk``). Every read is one short read transaction: a writer is
    never held up."""

    @staticmethod
    def _append_chunk(conn: sqlite3.Connection, pk: int, chunk: Chunk) -> None:
        cur = conn.execute(
            "INSERT INTO metric_chunks(run_pk, n, keys, key_index, vals, timestamps, steps, layout) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (pk, chunk.n, json.dumps(chunk.keys), chunk.key_index, chunk.values,
             chunk.timestamps, chunk.steps, chunk.layout),
        )
        conn.executemany(
            "INSERT INTO metric_chunk_keys(run_pk, key, chunk_id) VALUES (?, ?, ?)",
            [(pk, key, cur.lastrowid) for key in chunk.keys],
        )
        conn.executemany(
            "INSERT INTO latest_metrics(run_pk, key, value, timestamp, step) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(run_pk, key) DO UPDATE SET "
            "value = excluded.value, timestamp = excluded.timestamp, step = excluded.step "
            "WHERE (excluded.step, excluded.timestamp) >= "
            "(latest_metrics.step, latest_metrics.timestamp)",
            [(pk, key, v, t, s) for key, (v, t, s) in chunk.latest.items()],
        )

    def get_metric_history(self: Any, run_id: str, key: str) -> list[Metric]:
        conn = self.connection()
        pk = self._run_pk(conn, run_id)
        points = [Metric(key, v, t, s) for row in self._chunks_of(conn, pk, key)
                  for v, t, s in decode(*row, key)]
        points.sort(key=lambda m: (m.step, m.timestamp))  # stable: logged order on ties
        return points

    def get_metric_arrays(self: Any, run_id: str, key: str) -> MetricArrays:
        """Columns decoded from the stored chunks with numpy (no object per point)."""
        return self.get_metric_arrays_of(run_id, [key])[key]

    def get_metric_arrays_of(self: Any, run_id: str, keys: Sequence[str]) -> dict[str, MetricArrays]:
        """:meth:`get_metric_arrays` of several keys, reading each stored chunk once.

        One small SELECT finds the chunks (and their key lists); each chunk's point
        columns are then read straight from the database file with SQLite's blob I/O (one
        copy, no row assembled around them: ~2x faster than selecting them). Chunks are
        never changed once written, so no transaction is needed to read them consistently,
        and a writer is never held up."""
        if not keys:
            return {}
        conn = self.connection()
        return decode_arrays(self._stored_chunks(conn, run_id, keys), keys, _column_reader(conn))

    def metric_summaries(self: Any, run_id: str, keys: Sequence[str]) -> dict[str, MetricSummary]:
        """Per key: points, finite min and max, last step, NaN/inf count (see
        :class:`~trackbridge.metric_arrays.MetricSummary`), read one chunk at a time."""
        if not keys:
            return {}
        conn = self.connection()
        return summarize_chunks(self._stored_chunks(conn, run_id, keys), keys,
                                _column_reader(conn))

    def _stored_chunks(self: Any, conn: sqlite3.Connection, run_id: str,
                       keys: Sequence[str]) -> list[StoredChunk]:
        """The chunks holding any of ``keys`` (without their point columns), in stored order.
        A mixed chunk's key index is read by blob I/O too, never put through the query
        (20 keys' rows of a 10M-point run made a DISTINCT sort 800 MB of it)."""
        pk = self._run_pk(conn, run_id)
        rows = conn.execute(
            "SELECT c.chunk_id, c.keys, c.key_index IS NOT NULL, c.layout, c.n "
            "FROM metric_chunks c WHERE c.chunk_id IN (SELECT k.chunk_id FROM metric_chunk_keys k "
            f"WHERE k.run_pk = ? AND k.key IN ({','.join('?' * len(keys))})) "
            "ORDER BY c.chunk_id", (pk, *keys)).fetchall()
        read = _column_reader(conn)
        return [StoredChunk(cid, json.loads(names), read(cid, "key_index") if mixed else None,
                            layout, n) for cid, names, mixed, layout, n in rows]

    @staticmethod
    def _chunks_of(conn: sqlite3.Connection, pk: int, key: str) -> list[tuple]:
        """The stored chunks holding ``key``, in logged order (one SELECT, read at once)."""
        return conn.execute(
            "SELECT c.keys, c.key_index, c.vals, c.timestamps, c.steps, c.layout "
            "FROM metric_chunk_keys k JOIN metric_chunks c USING (chunk_id) "
            # k's primary key order: ordering by c would sort the blobs in a temporary table
            "WHERE k.run_pk = ? AND k.key = ? ORDER BY k.chunk_id",
            (pk, key),
        ).fetchall()

    # -- the journal side, read by sync -------------------------------------------------
    def points_since(self: Any, run_id: str, position: int) -> tuple[list[Metric], int]:
        """Points logged after the first ``position`` (in logged order), and the new end."""
        conn = self.connection()
        pk = self._run_pk(conn, run_id)
        sizes = conn.execute(
            "SELECT chunk_id, n FROM metric_chunks WHERE run_pk = ? ORDER BY chunk_id", (pk,)
        ).fetchall()
        points: list[Metric] = []
        seen = 0
        for chunk_id, n in sizes:
            if seen + n > position:
                row = conn.execute(
                    "SELECT keys, key_index, vals, timestamps, steps, layout FROM metric_chunks "
                    "WHERE chunk_id = ?", (chunk_id,)
                ).fetchone()
                skip = max(position - seen, 0)
                points.extend(decode_all(*row)[skip:])
            seen += n
        return points, seen

    def count_points(self: Any, run_id: str) -> int:
        conn = self.connection()
        pk = self._run_pk(conn, run_id)
        return conn.execute(
            "SELECT coalesce(sum(n), 0) FROM metric_chunks WHERE run_pk = ?", (pk,)
        ).fetchone()[0]


def _column_reader(conn: sqlite3.Connection) -> Callable[[int, str], bytes]:
    """``read(chunk_id, column)``: a chunk's point column, by blob I/O (Python 3.11+) or a
    SELECT of that column alone."""
    if hasattr(conn, "blobopen"):
        def read(chunk_id: int, column: str) -> bytes:
            with conn.blobopen("metric_chunks", column, chunk_id, readonly=True) as blob:
                return blob.read()
    else:  # pragma: no cover - Python 3.10
        def read(chunk_id: int, column: str) -> bytes:
            return conn.execute(f"SELECT {column} FROM metric_chunks WHERE chunk_id = ?",
                                (chunk_id,)).fetchone()[0]
    return read
