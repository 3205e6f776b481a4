"""The local backend: runs in SQLite (``<root>/trackbridge.db``), files content-addressed.

Several processes may write one root at once: the database runs in WAL mode, every write
is a ``BEGIN IMMEDIATE`` transaction and waits (``busy_timeout``) rather than failing with
"database is locked". Each thread of each process has its own connection (``database.py``).
This module holds experiments and runs; metric points live in ``metric_store.py``, artifact
files in ``run_artifacts.py``, dataset inputs in ``inputs.py``.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar

from ..backend import Backend
from ..entities import (
    KILLED,
    RUNNING,
    Experiment,
    Limits,
    Metric,
    Param,
    Run,
    RunTag,
)
from ..errors import (
    ParamConflictError,
    RunNotFoundError,
)
from ..filtering import compile_filter
from .artifacts import BlobStore
from .columns import encode
from .database import Database
from .inputs import DatasetInputs
from .liveness import HOST, Locks, pid_alive, process_start_marker
from .metric_store import MetricChunks
from .run_artifacts import RunArtifacts
from .run_details import RunDetails, details_of, keys_of, values_of

#: SQLite has no request size: big batches just mean fewer transactions.
LOCAL_LIMITS = Limits(
    max_metrics_per_batch=50_000,
    max_params_per_batch=10_000,
    max_tags_per_batch=10_000,
    max_entities_per_batch=70_000,
    max_batch_bytes=None,
)
#: Run ids bound in one query (well under SQLite's limit on bound variables).
IDS_PER_QUERY = 500
_RUN_COLUMNS = (
    "r.run_pk, r.run_id, r.experiment_id, e.name, r.name, r.status, r.start_time, r.end_time, "
    "r.parent_run_id, r.host, r.pid, r.pid_started"
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class LocalBackend(MetricChunks, RunArtifacts, DatasetInputs, Backend):
    """The embedded default backend. ``path`` is the store's root directory."""

    name: ClassVar[str] = "local"
    config_keys: ClassVar[frozenset[str]] = frozenset({"path"})
    is_local: ClassVar[bool] = True

    def __init__(self, path: str | os.PathLike[str] = "tbruns", *, record_dead: bool = True) -> None:
        """``record_dead=False`` makes a reader that never writes: a RUNNING run whose writer
        died is reported KILLED (with no end time) but not stored so (the web UI reads
        this way; any other reader stores it)."""
        self.root = Path(path).expanduser().resolve()
        self.record_dead = record_dead
        self.db_path = self.root / "trackbridge.db"
        self.blobs = BlobStore(self.root / "artifacts")
        self._artifact_root_uri = self.blobs.root.as_uri()
        self.locks = Locks(self.root)
        self.db = Database(self.db_path)
        self.connection()  # create + migrate now, so a broken store fails at open

    def describe(self) -> str:
        return f"local store {self.root}"

    @property
    def limits(self) -> Limits:
        return LOCAL_LIMITS

    # -- the database ------------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """This thread's connection to the store's database."""
        return self.db.connection()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on exit, rolled back on error."""
        return self.db.transaction()

    def close(self) -> None:
        self.db.close()

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
        """A RUNNING run with no live writer is reported (and, unless ``record_dead`` is
        False, stored) KILLED.

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
        if not self.record_dead:  # it may have ended (or been resumed) meanwhile
            stored = self.connection().execute(
                "SELECT status, end_time FROM runs WHERE run_pk = ?", (row[0],)).fetchone()
            return (KILLED, None) if stored[0] == RUNNING else stored
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
            artifact_uri=f"{self._artifact_root_uri}#run={row[1]}",
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
        rows = self._run_rows(conn, where, args)
        details = details_of(conn, where, args)
        for row in rows:
            run = self._run(conn, row, details.get(row[0], RunDetails({}, {}, {})))
            if matches(run):
                yield run

    @staticmethod
    def _run_rows(conn: sqlite3.Connection, where: str, args: Sequence[object]) -> list[tuple]:
        return conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs r JOIN experiments e USING (experiment_id) "
            f"{where} ORDER BY r.start_time DESC, r.run_pk DESC",
            args,
        ).fetchall()

    # -- lean reads of many runs (a table of 10,000 runs reads only what it shows) -------
    def run_headers(self, experiment_id: str) -> list[Run]:
        """The experiment's runs, newest first, *without* params, metrics and tags (their
        dicts are empty): the cheap part of :meth:`search_runs`. A RUNNING run whose writer
        died is reported (and stored) KILLED, as everywhere."""
        conn = self.connection()
        rows = self._run_rows(conn, "WHERE r.experiment_id = ?", (int(experiment_id),))
        eid, uri, empty = str(int(experiment_id)), self._artifact_root_uri, RunDetails({}, {}, {})
        # one Run per row without a call per row (10,000 runs: ~15 ms less); only a RUNNING
        # run needs the liveness check of _run
        return [Run(row[1], eid, row[3], row[4], row[5], row[6], row[7], {}, {}, {},
                    f"{uri}#run={row[1]}", row[8]) if row[5] != RUNNING
                else self._run(conn, row, empty) for row in rows]

    def run_values(self, experiment_id: str, entity: str,
                   keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """key -> {run id: value} of ``keys`` of ``entity`` (``params``, ``metrics``: the
        latest value, ``tags``) over the experiment's runs; runs without a key are absent."""
        return values_of(self.connection(), int(experiment_id), entity, keys)

    def run_keys(self, experiment_id: str) -> dict[str, list[str]]:
        """``{"params": [...], "metrics": [...], "tags": [...]}``: the sorted distinct keys
        the experiment's runs have."""
        return keys_of(self.connection(), int(experiment_id))

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """Whole runs (as :meth:`get_run`) of ``run_ids`` in one read, in that order;
        ids that are not runs of the store are left out."""
        conn = self.connection()
        found: dict[str, Run] = {}
        for start in range(0, len(run_ids), IDS_PER_QUERY):
            part = list(run_ids[start:start + IDS_PER_QUERY])
            where = f"WHERE r.run_id IN ({','.join('?' * len(part))})"
            details = details_of(conn, where, part)
            for row in self._run_rows(conn, where, part):
                found[row[1]] = self._run(conn, row, details.get(row[0], RunDetails({}, {}, {})))
        return [found[i] for i in run_ids if i in found]
