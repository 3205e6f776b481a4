"""The local backend: runs in SQLite (``<root>/trackbridge.db``), files content-addressed.

Several processes may write one root at once: the database runs in WAL mode, every write
is a ``BEGIN IMMEDIATE`` transaction and waits (``busy_timeout``) rather than failing with
"database is locked". Each thread of each process has its own connection.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from ..artifact_tree import checked_path
from ..backend import Backend
from ..entities import (
    KILLED,
    RUNNING,
    ArtifactEntry,
    Experiment,
    Limits,
    Metric,
    Param,
    Run,
    RunTag,
)
from ..errors import (
    ArtifactNotFoundError,
    ParamConflictError,
    RunNotFoundError,
    StoreError,
)
from ..filtering import compile_filter
from ..metric_arrays import MetricArrays
from .artifacts import BlobStore
from .columns import Chunk, decode, decode_all, decode_key_arrays, encode
from .inputs import DatasetInputs
from .liveness import HOST, Locks, pid_alive, process_start_marker
from .run_details import RunDetails, details_of
from .schema import migrate

BUSY_TIMEOUT_S = 120.0
#: Bytes of the database file each connection may read through mmap (SQLite writes as usual).
MMAP_BYTES = 256 * 1024 * 1024
#: SQLite has no request size: big batches just mean fewer transactions.
LOCAL_LIMITS = Limits(
    max_metrics_per_batch=50_000,
    max_params_per_batch=10_000,
    max_tags_per_batch=10_000,
    max_entities_per_batch=70_000,
    max_batch_bytes=None,
)
_RUN_COLUMNS = (
    "r.run_pk, r.run_id, r.experiment_id, e.name, r.name, r.status, r.start_time, r.end_time, "
    "r.parent_run_id, r.host, r.pid, r.pid_started"
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class LocalBackend(DatasetInputs, Backend):
    """The embedded default backend. ``path`` is the store's root directory."""

    name: ClassVar[str] = "local"
    config_keys: ClassVar[frozenset[str]] = frozenset({"path"})
    is_local: ClassVar[bool] = True

    def __init__(self, path: str | os.PathLike[str] = "tbruns") -> None:
        self.root = Path(path).expanduser().resolve()
        self.db_path = self.root / "trackbridge.db"
        self.blobs = BlobStore(self.root / "artifacts")
        self.locks = Locks(self.root)
        self._tls = threading.local()
        self.connection()  # create + migrate now, so a broken store fails at open

    def describe(self) -> str:
        return f"local store {self.root}"

    @property
    def limits(self) -> Limits:
        return LOCAL_LIMITS

    # -- connections -------------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened, and the schema migrated, on first use)."""
        conn = getattr(self._tls, "conn", None)
        if conn is not None and self._tls.pid == os.getpid():
            return conn
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")  # a commit survives power loss too
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")  # reads of big blobs: 2-3x faster
            migrate(conn, str(self.db_path))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the local store at {self.db_path}: {exc}") from exc
        self._tls.conn, self._tls.pid = conn, os.getpid()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on exit, rolled back on error."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the local store at {self.db_path}: {exc}") from exc
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

    def _run_pk(self, conn: sqlite3.Connection, run_id: str) -> int:
        row = conn.execute("SELECT run_pk FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"run {run_id!r} not found in the {self.describe()}")
        return row[0]

    # -- write side ----------------------------------------------------------------------
    def get_or_create_experiment(self, name: str) -> Experiment:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO experiments(name, created_time) VALUES (?, ?)",
                (name, _now_ms()),
            )
        found = self.get_experiment(name)
        assert found is not None
        return found

    def create_run(
        self,
        experiment_id: str,
        *,
        run_name: str | None,
        start_time: int,
        tags: Mapping[str, str],
        parent_run_id: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        run_id = run_id or uuid.uuid4().hex
        self.locks.hold_run(run_id)  # before the run is RUNNING: readers see its writer at once
        try:
            self._insert_run(run_id, experiment_id, run_name, start_time, tags, parent_run_id)
        except BaseException:
            self.locks.release_run(run_id)
            raise
        return self.get_run(run_id)

    def _insert_run(self, run_id: str, experiment_id: str, run_name: str | None, start_time: int,
                    tags: Mapping[str, str], parent_run_id: str | None) -> None:
        pid = os.getpid()
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs(run_id, experiment_id, name, status, start_time, parent_run_id,"
                " host, pid, pid_started) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, int(experiment_id), run_name, RUNNING, start_time, parent_run_id,
                 HOST, pid, process_start_marker(pid)),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO tags(run_pk, key, value) VALUES (?, ?, ?)",
                [(cur.lastrowid, k, v) for k, v in tags.items()],
            )

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        flat = [field for point in metrics for field in point]
        conflicts = self.append(run_id, flat, params, tags)
        if conflicts:
            raise self.conflict_error(run_id, conflicts)

    def append(
        self, run_id: str, flat: list, params: Sequence[Param] = (), tags: Sequence[RunTag] = (),
        *, n: int | None = None,
    ) -> list[str]:
        """Store points given flat (key, value, timestamp, step, ...; the first ``n`` entries,
        all by default), params and tags in one transaction. Params that would change a
        stored value are skipped and described in the returned list; the rest is stored."""
        conflicts: list[str] = []
        n = len(flat) if n is None else n
        chunk = encode(flat, n) if n else None  # before the transaction: it holds the GIL
        with self.transaction() as conn:
            pk = self._run_pk(conn, run_id)
            if chunk is not None:
                self._append_chunk(conn, pk, chunk)
            if params:
                existing = dict(
                    conn.execute("SELECT key, value FROM params WHERE run_pk = ?", (pk,))
                )
                fresh = []
                for key, value in params:
                    old = existing.get(key)
                    if old is None:
                        existing[key] = value
                        fresh.append((pk, key, value))
                    elif old != value:
                        conflicts.append(f"{key!r}: logged {old!r}, now {value!r}")
                conn.executemany("INSERT INTO params(run_pk, key, value) VALUES (?, ?, ?)", fresh)
            if tags:
                conn.executemany(
                    "INSERT OR REPLACE INTO tags(run_pk, key, value) VALUES (?, ?, ?)",
                    [(pk, k, v) for k, v in tags],
                )
        return conflicts

    def conflict_error(self, run_id: str, conflicts: list[str]) -> ParamConflictError:
        return ParamConflictError(
            f"param value(s) of run {run_id} cannot change: {'; '.join(conflicts)} "
            f"({self.describe()}); the rest of the batch was stored"
        )

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

    def upload_artifact(self, run_id: str, local_path: Path, artifact_path: str) -> None:
        sha, size = self.blobs.put(Path(local_path))
        with self.transaction() as conn:
            pk = self._run_pk(conn, run_id)
            conn.execute(
                "INSERT OR REPLACE INTO artifacts(run_pk, path, sha256, size) VALUES (?, ?, ?, ?)",
                (pk, artifact_path, sha, size),
            )

    def update_run(self, run_id: str, *, status: str, end_time: int | None = None) -> None:
        if status == RUNNING:
            self.locks.hold_run(run_id)
        with self.transaction() as conn:
            pk = self._run_pk(conn, run_id)
            if status == RUNNING:  # (re)opened by this process: it is a writer now
                pid = os.getpid()
                conn.execute(
                    "UPDATE runs SET status = ?, end_time = NULL, host = ?, pid = ?, "
                    "pid_started = ? WHERE run_pk = ?",
                    (status, HOST, pid, process_start_marker(pid), pk),
                )
            else:
                conn.execute(
                    "UPDATE runs SET status = ?, end_time = ? WHERE run_pk = ?",
                    (status, end_time, pk),
                )
        if status != RUNNING:
            self.locks.release_run(run_id)

    # -- read side -----------------------------------------------------------------------
    def get_experiment(self, name: str) -> Experiment | None:
        row = self.connection().execute(
            "SELECT experiment_id, name FROM experiments WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else self._experiment(row)

    def _experiment(self, row: tuple[Any, ...]) -> Experiment:
        return Experiment(id=str(row[0]), name=row[1], artifact_location=str(self.blobs.root))

    def list_experiments(self) -> list[Experiment]:
        rows = self.connection().execute("SELECT experiment_id, name FROM experiments ORDER BY name")
        return [self._experiment(r) for r in rows]

    def _reap_if_dead(self, row: tuple[Any, ...]) -> tuple[str, int | None]:
        """A RUNNING run with no live writer is reported (and stored) KILLED.

        The evidence is the writer lock (see liveness.py): it holds across PID namespaces.
        Runs from a trackbridge without locks are judged by their PID, on their own host only.
        """
        status, end_time, host, pid, marker = row[5], row[7], row[9], row[10], row[11]
        if status != RUNNING:
            return status, end_time
        alive = self.locks.writer_alive(row[1])
        if alive is None:  # no lock file: a run written before writer locks existed
            alive = host != HOST or pid is None or pid_alive(pid, marker)
        if alive:
            return status, end_time
        now = _now_ms()
        with self.transaction() as conn:
            if conn.execute("UPDATE runs SET status = ?, end_time = ? WHERE run_pk = ? AND status = ?",
                            (KILLED, now, row[0], RUNNING)).rowcount:
                return KILLED, now
            # it ended (or was resumed) meanwhile: report it as stored now
            return conn.execute("SELECT status, end_time FROM runs WHERE run_pk = ?",
                                (row[0],)).fetchone()

    def _run(self, conn: sqlite3.Connection, row: tuple[Any, ...],
             details: RunDetails | None = None) -> Run:
        pk = row[0]
        status, end_time = self._reap_if_dead(row)
        if details is None:
            details = details_of(conn, "WHERE r.run_pk = ?", (pk,)).get(pk)
        details = details or RunDetails({}, {}, {})
        return Run(
            id=row[1],
            experiment_id=str(row[2]),
            experiment=row[3],
            name=row[4],
            status=status,
            start_time=row[6],
            end_time=end_time,
            params=details.params,
            metrics=details.metrics,
            tags=details.tags,
            artifact_uri=f"{self.blobs.root.as_uri()}#run={row[1]}",
            parent_run_id=row[8],
        )

    def get_run(self, run_id: str) -> Run:
        conn = self.connection()
        row = conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs r JOIN experiments e USING (experiment_id) "
            "WHERE r.run_id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            raise RunNotFoundError(f"run {run_id!r} not found in the {self.describe()}")
        return self._run(conn, row)

    def search_runs(self, experiment_ids: Sequence[str], filter: str | None = None) -> Iterator[Run]:
        matches = compile_filter(filter, backend=self.describe())
        conn = self.connection()
        if experiment_ids:
            marks = ",".join("?" * len(experiment_ids))
            where, args = f"WHERE r.experiment_id IN ({marks})", [int(i) for i in experiment_ids]
        else:
            where, args = "", []
        rows = conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs r JOIN experiments e USING (experiment_id) "
            f"{where} ORDER BY r.start_time DESC, r.run_pk DESC",
            args,
        ).fetchall()
        details = details_of(conn, where, args)
        for row in rows:
            run = self._run(conn, row, details.get(row[0], RunDetails({}, {}, {})))
            if matches(run):
                yield run

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        conn = self.connection()
        pk = self._run_pk(conn, run_id)
        points = [Metric(key, v, t, s) for row in self._chunks_of(conn, pk, key)
                  for v, t, s in decode(*row, key)]
        points.sort(key=lambda m: (m.step, m.timestamp))  # stable: logged order on ties
        return points

    def get_metric_arrays(self, run_id: str, key: str) -> MetricArrays:
        """Columns decoded from the stored chunks with numpy (no object per point); one
        short read (a single SELECT), so a writer is never held up."""
        conn = self.connection()
        return decode_key_arrays(self._chunks_of(conn, self._run_pk(conn, run_id), key), key)

    def get_metric_arrays_of(self, run_id: str, keys: Sequence[str]) -> dict[str, MetricArrays]:
        """:meth:`get_metric_arrays` of several keys, reading each stored chunk once."""
        conn = self.connection()
        rows = conn.execute(
            "SELECT keys, key_index, vals, timestamps, steps, layout FROM metric_chunks "
            "WHERE run_pk = ? ORDER BY chunk_id", (self._run_pk(conn, run_id),)).fetchall()
        return {key: decode_key_arrays(rows, key) for key in keys}

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
    def points_since(self, run_id: str, position: int) -> tuple[list[Metric], int]:
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

    def count_points(self, run_id: str) -> int:
        conn = self.connection()
        pk = self._run_pk(conn, run_id)
        return conn.execute(
            "SELECT coalesce(sum(n), 0) FROM metric_chunks WHERE run_pk = ?", (pk,)
        ).fetchone()[0]

    def artifact_manifest(self, run_id: str) -> dict[str, tuple[str, int]]:
        """Every artifact file of the run: path -> (sha256, size)."""
        conn = self.connection()
        pk = self._run_pk(conn, run_id)
        rows = conn.execute("SELECT path, sha256, size FROM artifacts WHERE run_pk = ?", (pk,))
        return {path: (sha, size) for path, sha, size in rows}

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactEntry]:
        conn = self.connection()
        pk = self._run_pk(conn, run_id)
        prefix = f"{path.strip('/')}/" if path else ""
        rows = conn.execute(
            "SELECT path, size FROM artifacts WHERE run_pk = ? AND substr(path, 1, ?) = ? "
            "ORDER BY path",
            (pk, len(prefix), prefix),
        )
        entries: dict[str, ArtifactEntry] = {}
        where = self.describe()
        for full, size in rows:
            rest = checked_path(full, where)[len(prefix):]  # a tampered manifest row is refused
            head, sep, _ = rest.partition("/")
            child = prefix + head
            if sep:
                entries.setdefault(child, ArtifactEntry(child, True, None))
            else:
                entries[child] = ArtifactEntry(child, False, size)
        return sorted(entries.values(), key=lambda e: e.path)

    def download_artifact(self, run_id: str, path: str, dst: Path) -> None:
        conn = self.connection()
        pk = self._run_pk(conn, run_id)
        row = conn.execute(
            "SELECT sha256 FROM artifacts WHERE run_pk = ? AND path = ?", (pk, path)
        ).fetchone()
        if row is None:
            raise ArtifactNotFoundError(
                f"no artifact {path!r} in run {run_id} ({self.describe()})"
            )
        self.blobs.copy_out(row[0], Path(dst))
