"""Reads of the local store that the UI repeats, kept until the store changes.

* :class:`RunCache`: an experiment's runs as a table of them reads them. Reading 10,000
  whole runs (110,000 param, metric and tag rows) takes a few hundred ms; a table needs far
  less: every run's header (name, status, times, parent), the values of the few keys that its
  filter and sort name, and whole runs only for the page it shows. So that is what is read,
  on demand, and kept. SQLite's ``PRAGMA data_version`` (asked on a connection of our own)
  changes whenever any other connection commits, so what was read is reused only while
  nothing was written. Headers that hold a RUNNING run are never reused: its writer may have
  died without writing anything, and only a fresh read notices (and shows it KILLED).
* :class:`SeriesCache`: a metric's decoded columns, reused while the key has no new chunk
  (a zoom or a second chart then cost no decoding), and each key's summary for the run
  page's table (computed a chunk at a time, never holding a whole run's points).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from typing import Any

from ..entities import RUNNING, Run
from ..filtering import compile_filter, filter_keys
from ..local.store import LocalBackend
from ..metric_arrays import MetricArrays, MetricSummary, summarize


class _Snapshot:
    """What was read of one experiment at one ``data_version``."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.headers: list[Run] | None = None
        self.running = False
        self.values: dict[tuple[str, str], dict[str, Any]] = {}
        self.keys: dict[str, list[str]] | None = None


class RunCache:
    def __init__(self, store: LocalBackend) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(f"{store.db_path.as_uri()}?mode=ro", uri=True,
                                     check_same_thread=False)
        self._snapshots: dict[str, _Snapshot] = {}

    def _snapshot(self, experiment_id: str) -> _Snapshot:
        """The experiment's snapshot at the store's current version (taken before any read,
        so nothing read after a commit is kept under an older version)."""
        with self._lock:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            snap = self._snapshots.get(experiment_id)
            if snap is None or snap.version != version:
                snap = self._snapshots[experiment_id] = _Snapshot(version)
            return snap

    def headers(self, experiment_id: str) -> list[Run]:
        """Every run of the experiment, newest first, with empty params, metrics and tags
        (:meth:`LocalBackend.run_headers`)."""
        snap = self._snapshot(experiment_id)
        headers = snap.headers
        if headers is None or snap.running:
            headers = self.store.run_headers(experiment_id)
            snap.headers, snap.running = headers, any(r.status == RUNNING for r in headers)
        return headers

    def values(self, experiment_id: str, entity: str, key: str) -> dict[str, Any]:
        """run id -> the value of ``entity.key`` (``params``, ``metrics``, ``tags``) over the
        experiment's runs; runs without it are absent."""
        snap = self._snapshot(experiment_id)
        found = snap.values.get((entity, key))
        if found is None:
            found = snap.values[(entity, key)] = self.store.run_values(
                experiment_id, entity, [key])[key]
        return found

    def keys(self, experiment_id: str) -> dict[str, list[str]]:
        """The sorted distinct keys of the experiment's runs, per entity."""
        snap = self._snapshot(experiment_id)
        if snap.keys is None:
            snap.keys = self.store.run_keys(experiment_id)
        return snap.keys

    def search(self, experiment_id: str, filter: str | None = None) -> list[Run]:
        """Headers of the runs matching ``filter`` (MLflow syntax, the core's filter), newest
        first. Only the keys the filter names are read to evaluate it."""
        matches = compile_filter(filter, backend=self.store.describe())
        headers = self.headers(experiment_id)
        wanted = filter_keys(filter)
        if not wanted:
            return [r for r in headers if matches(r)]
        columns = [(entity, key, self.values(experiment_id, entity, key)) for entity, key in wanted]
        found = []
        for run in headers:
            probe: dict[str, dict[str, Any]] = {"params": {}, "metrics": {}, "tags": {}}
            for entity, key, values in columns:
                if run.id in values:
                    probe[entity][key] = values[run.id]
            if matches(run._replace(**probe)):
                found.append(run)
        return found

    def whole(self, runs: list[Run]) -> list[Run]:
        """The whole runs (params, latest metrics, tags) of ``runs``, in that order."""
        return self.store.get_runs([r.id for r in runs])


class SeriesCache:
    """Up to ``max_bytes`` of decoded metric columns, least recently used dropped first."""

    def __init__(self, store: LocalBackend, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], tuple[tuple, MetricArrays]] = OrderedDict()
        #: (run id, key) -> (fingerprint, summary): a few numbers each, kept for every key seen
        self._summaries: dict[tuple[str, str], tuple[tuple, MetricSummary]] = {}
        self._bytes = 0

    def _fingerprint(self, run_id: str, key: str) -> tuple:
        return tuple(self.store.connection().execute(
            "SELECT count(*), max(k.chunk_id) FROM metric_chunk_keys k JOIN runs r USING (run_pk) "
            "WHERE r.run_id = ? AND k.key = ?", (run_id, key)).fetchone())

    def _cached(self, run_id: str, key: str, fingerprint: tuple) -> MetricArrays | None:
        with self._lock:
            hit = self._entries.get((run_id, key))
            if hit is None or hit[0] != fingerprint:
                return None
            self._entries.move_to_end((run_id, key))
            return hit[1]

    def _keep(self, run_id: str, key: str, fingerprint: tuple, arrays: MetricArrays) -> None:
        with self._lock:
            old = self._entries.pop((run_id, key), None)
            if old is not None:
                self._bytes -= _size(old[1])
            if _size(arrays) <= self.max_bytes:
                self._entries[(run_id, key)] = (fingerprint, arrays)
                self._bytes += _size(arrays)
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= _size(dropped)

    def arrays(self, run_id: str, key: str) -> MetricArrays:
        """``store.get_metric_arrays(run_id, key)``, from the cache while still current."""
        fingerprint = self._fingerprint(run_id, key)
        found = self._cached(run_id, key, fingerprint)
        if found is None:
            found = self.store.get_metric_arrays(run_id, key)
            self._keep(run_id, key, fingerprint, found)
        return found

    def summaries(self, run_id: str, keys: list[str]) -> dict[str, MetricSummary]:
        """Each key's :class:`MetricSummary`: from its cached columns or summary while still
        current, else read one chunk at a time (the columns are not decoded and kept: a
        table of a run's metrics needs a few numbers per key, not every point)."""
        fingerprints = {key: self._fingerprint(run_id, key) for key in keys}
        found: dict[str, MetricSummary] = {}
        for key in keys:
            with self._lock:
                summary = self._summaries.get((run_id, key))
            if summary is not None and summary[0] == fingerprints[key]:
                found[key] = summary[1]
            elif (arrays := self._cached(run_id, key, fingerprints[key])) is not None:
                found[key] = summarize(arrays.step, arrays.value)
        missing = [key for key in keys if key not in found]
        if missing:
            found.update(self.store.metric_summaries(run_id, missing))
        with self._lock:
            for key in missing:
                self._summaries[(run_id, key)] = (fingerprints[key], found[key])
        return found


def _size(arrays: MetricArrays) -> int:
    return arrays.step.nbytes + arrays.timestamp.nbytes + arrays.value.nbytes
