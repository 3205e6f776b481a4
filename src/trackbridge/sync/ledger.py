"""The sync ledger: what a destination is known to hold, per (source run, destination).

It lives in the local store (tables ``sync_*``, schema versions 2 and 4) and records the remote
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
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..backend import Backend
from ..local.liveness import HOST, is_alive, process_start_marker
from ..local.store import LocalBackend

#: A lease not renewed for this long is free even if its holder lives (a hung syncer).
LEASE_TTL_MS = 10 * 60 * 1000


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
        """The ledger in ``store`` of what ``destination`` holds."""
        return cls(store, destination_id(destination))

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
    def acquire(self, run_id: str, owner: str, ttl_ms: int = LEASE_TTL_MS) -> bool:
        """Take (or renew) the lease on syncing ``run_id`` here. False while another live
        syncer holds it; a lease whose holder died on this host, or expired, is taken over."""
        pid = os.getpid()
        now = _now()
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT owner, host, pid, pid_started, expires FROM sync_leases "
                "WHERE source_run_id = ? AND destination = ?", self._key(run_id),
            ).fetchone()
            if row is not None and row[0] != owner and row[4] > now:
                holder_alive = row[1] != HOST or is_alive(row[2], row[3])
                if holder_alive:
                    return False
            conn.execute(
                "INSERT OR REPLACE INTO sync_leases(source_run_id, destination, owner, host, pid, "
                "pid_started, expires) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*self._key(run_id), owner, HOST, pid, process_start_marker(pid), now + ttl_ms),
            )
        return True

    def release(self, run_id: str, owner: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "DELETE FROM sync_leases WHERE source_run_id = ? AND destination = ? AND owner = ?",
                (*self._key(run_id), owner),
            )

    def destinations(self) -> list[str]:
        rows = self.store.connection().execute("SELECT DISTINCT destination FROM sync_runs")
        return sorted(d for (d,) in rows)


def destination_id(backend: Backend) -> str:
    """How the ledger names a destination (never includes a secret)."""
    return f"{backend.name}:{backend.describe()}"


def _now() -> int:
    return time.time_ns() // 1_000_000
