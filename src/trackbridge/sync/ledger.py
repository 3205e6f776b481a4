"""The sync ledger: what a destination is known to hold, per (source run, destination).

It lives in the local store (tables ``sync_*``, schema versions 2, 5 and 6) and records the remote
run id, the metric cursor acknowledged (how far the source's points are known to have landed),
the params, tags, dataset inputs and artifacts (path + sha256) acknowledged, and the status last
pushed.

``in_doubt`` is set *before* a write request is sent and cleared when its answer is
recorded. A ledger found in doubt (the process died mid-request, or the request failed
ambiguously) is not trusted for metrics: the engine then compares the source with what the
destination really holds (see ``engine.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..backend import Backend
from ..local.store import LocalBackend


@dataclass
class RunEntry:
    remote_run_id: str
    cursor: Any
    in_doubt: bool = False
    status: str | None = None
    end_time: int | None = None
    params: set[str] = field(default_factory=set)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    #: dataset inputs acknowledged: (name, digest, context)
    inputs: set[tuple[str, str, str]] = field(default_factory=set)


class Ledger:
    def __init__(self, store: LocalBackend, destination: str) -> None:
        self.store = store
        self.destination = destination

    @classmethod
    def of(cls, store: LocalBackend, destination: Backend) -> Ledger:
        """The ledger in ``store`` of what ``destination`` holds (entries recorded under one
        of its former identities are moved to its identity first)."""
        ledger = cls(store, destination_id(destination))
        ledger._adopt([f"{destination.name}:{old}" for old in destination.former_identities()])
        return ledger

    def _adopt(self, former: list[str]) -> None:
        former = [key for key in former if key != self.destination]
        if not former:
            return
        marks = ",".join("?" * len(former))
        if self.store.connection().execute(
                f"SELECT 1 FROM sync_runs WHERE destination IN ({marks}) LIMIT 1", former
        ).fetchone() is None:
            return
        tables = ("sync_params", "sync_tags", "sync_artifacts", "sync_runs")
        known = "source_run_id IN (SELECT source_run_id FROM sync_runs WHERE destination = ?)"
        with self.store.transaction() as conn:
            for table in tables:  # a run already recorded under the identity keeps that entry
                conn.execute(f"DELETE FROM {table} WHERE destination IN ({marks}) AND {known}",
                             (*former, self.destination))
            for table in tables:
                conn.execute(f"UPDATE OR IGNORE {table} SET destination = ? "
                             f"WHERE destination IN ({marks})", (self.destination, *former))
                conn.execute(f"DELETE FROM {table} WHERE destination IN ({marks})", former)

    def _key(self, run_id: str) -> tuple[str, str]:
        return run_id, self.destination

    def load(self, run_id: str) -> RunEntry | None:
        conn = self.store.connection()
        row = conn.execute(
            "SELECT remote_run_id, metric_cursor, in_doubt, status, end_time FROM sync_runs "
            "WHERE source_run_id = ? AND destination = ?", self._key(run_id),
        ).fetchone()
        if row is None:
            return None
        where = "WHERE source_run_id = ? AND destination = ?"
        return RunEntry(
            remote_run_id=row[0], cursor=json.loads(row[1]), in_doubt=bool(row[2]), status=row[3],
            end_time=row[4],
            params={k for (k,) in conn.execute(f"SELECT key FROM sync_params {where}",
                                               self._key(run_id))},
            tags=dict(conn.execute(f"SELECT key, value FROM sync_tags {where}", self._key(run_id))),
            artifacts=dict(conn.execute(f"SELECT path, sha256 FROM sync_artifacts {where}",
                                        self._key(run_id))),
            inputs={tuple(row) for row in conn.execute(
                f"SELECT name, digest, context FROM sync_inputs {where}", self._key(run_id))},
        )

    def create(self, run_id: str, remote_run_id: str, cursor: Any, *, in_doubt: bool,
               tags: Mapping[str, str] = {}) -> RunEntry:  # noqa: B006 (read only)
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sync_runs(source_run_id, destination, remote_run_id, "
                "metric_cursor, in_doubt, updated_time) VALUES (?, ?, ?, ?, ?, ?)",
                (*self._key(run_id), remote_run_id, json.dumps(cursor), int(in_doubt), _now()),
            )
            self._ack_tags(conn, run_id, tags.items())
        return RunEntry(remote_run_id, cursor, in_doubt, tags=dict(tags))

    def set_in_doubt(self, run_id: str, entry: RunEntry) -> None:
        """Record, before sending, that a write to the destination is under way."""
        if not entry.in_doubt:
            with self.store.transaction() as conn:
                conn.execute(
                    "UPDATE sync_runs SET in_doubt = 1, updated_time = ? "
                    "WHERE source_run_id = ? AND destination = ?", (_now(), *self._key(run_id)),
                )
            entry.in_doubt = True

    def ack_batch(self, run_id: str, entry: RunEntry, *, cursor: Any, in_doubt: bool,
                  params: Iterable[str] = (), tags: Iterable[tuple[str, str]] = ()) -> None:
        """Record that a batch landed: the new cursor, its params and tags."""
        params, tags = list(params), list(tags)
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE sync_runs SET metric_cursor = ?, in_doubt = ?, updated_time = ? "
                "WHERE source_run_id = ? AND destination = ?",
                (json.dumps(cursor), int(in_doubt), _now(), *self._key(run_id)),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO sync_params(source_run_id, destination, key) VALUES (?, ?, ?)",
                [(*self._key(run_id), key) for key in params],
            )
            self._ack_tags(conn, run_id, tags)
        entry.cursor, entry.in_doubt = cursor, in_doubt
        entry.params.update(params)
        entry.tags.update(tags)

    def _ack_tags(self, conn: Any, run_id: str, tags: Iterable[tuple[str, str]]) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO sync_tags(source_run_id, destination, key, value) "
            "VALUES (?, ?, ?, ?)", [(*self._key(run_id), k, v) for k, v in tags],
        )

    def ack_artifact(self, run_id: str, entry: RunEntry, path: str, sha256: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sync_artifacts(source_run_id, destination, path, sha256) "
                "VALUES (?, ?, ?, ?)", (*self._key(run_id), path, sha256),
            )
        entry.artifacts[path] = sha256

    def ack_inputs(self, run_id: str, entry: RunEntry, keys: Iterable[tuple[str, str, str]]
                   ) -> None:
        """Record that these dataset inputs (name, digest, context) landed."""
        keys = list(keys)
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO sync_inputs(source_run_id, destination, name, digest, "
                "context) VALUES (?, ?, ?, ?, ?)", [(*self._key(run_id), *k) for k in keys])
        entry.inputs.update(keys)

    def ack_status(self, run_id: str, entry: RunEntry, status: str, end_time: int | None) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE sync_runs SET status = ?, end_time = ?, updated_time = ? "
                "WHERE source_run_id = ? AND destination = ?",
                (status, end_time, _now(), *self._key(run_id)),
            )
        entry.status, entry.end_time = status, end_time

    # -- one syncer at a time -------------------------------------------------------------
    def acquire(self, run_id: str, owner: str) -> bool:
        """Take the lease on syncing ``run_id`` to this destination, for ``owner`` (for
        messages only). False while another syncer, thread or process, holds it. The lease is
        an OS file lock (see ``local/liveness.py``): it never expires under a live syncer
        however long its pass, and it is free the moment its holder dies."""
        return self.store.locks.try_hold_sync(run_id, self.destination)

    def release(self, run_id: str, owner: str) -> None:
        self.store.locks.release_sync(run_id, self.destination)

    # -- the last error of a pass, for status and the UI ------------------------------------
    def record_error(self, run_id: str, message: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO sync_errors(source_run_id, destination, message, "
                         "time) VALUES (?, ?, ?, ?)", (*self._key(run_id), message, _now()))

    def clear_error(self, run_id: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM sync_errors WHERE source_run_id = ? AND destination = ?",
                         self._key(run_id))

    def last_error(self, run_id: str) -> tuple[str, int] | None:
        """(message, ms since the epoch) of the last pass that failed, if none ended well since."""
        row = self.store.connection().execute(
            "SELECT message, time FROM sync_errors WHERE source_run_id = ? AND destination = ?",
            self._key(run_id)).fetchone()
        return None if row is None else (row[0], row[1])

    def destinations(self) -> list[str]:
        """Every destination the ledger knows: one a run was synced to, or one a pass
        failed on (its first sync may have failed before any remote run existed)."""
        rows = self.store.connection().execute(
            "SELECT destination FROM sync_runs UNION SELECT destination FROM sync_errors")
        return sorted(d for (d,) in rows)


def destination_id(backend: Backend) -> str:
    """How the ledger names a destination: stable, never includes a secret."""
    return f"{backend.name}:{backend.identity()}"


def _now() -> int:
    return time.time_ns() // 1_000_000
