"""Reads of the local store that the UI repeats, kept until the store changes.

* :class:`RunCache`: an experiment's runs. A table of 10,000 runs takes a few hundred ms to
  read; re-reading it for every sort, page and poll would make the UI slow. SQLite's
  ``PRAGMA data_version`` (asked on a connection of our own) changes whenever any other
  connection commits, so a cached list is reused only while nothing was written. A list
  holding a RUNNING run is never reused: its writer may have died without writing
  anything, and only a fresh read notices (and shows it KILLED).
* :class:`SeriesCache`: a metric's decoded columns, reused while the key has no new chunk
  (a zoom, a second chart or the run page's summary then cost no decoding).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict

from ..entities import RUNNING, Run
from ..filtering import compile_filter
from ..local.store import LocalBackend
from ..metric_arrays import MetricArrays


class RunCache:
    def __init__(self, store: LocalBackend) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(f"{store.db_path.as_uri()}?mode=ro", uri=True,
                                     check_same_thread=False)
        self._runs: dict[str, tuple[int, list[Run]]] = {}

    def _version(self) -> int:
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def search(self, experiment_id: str, filter: str | None = None) -> list[Run]:
        """Runs of the experiment matching ``filter`` (MLflow syntax), newest first."""
        matches = compile_filter(filter, backend=self.store.describe())
        version = self._version()
        cached = self._runs.get(experiment_id)
        if cached is None or cached[0] != version:
            runs = list(self.store.search_runs([experiment_id]))
            if not any(r.status == RUNNING for r in runs):
                self._runs[experiment_id] = (self._version(), runs)
            else:
                self._runs.pop(experiment_id, None)
        else:
            runs = cached[1]
        return [r for r in runs if matches(r)]


class SeriesCache:
    """Up to ``max_bytes`` of decoded metric columns, least recently used dropped first."""

    def __init__(self, store: LocalBackend, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], tuple[tuple, MetricArrays]] = OrderedDict()
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
        return self.arrays_of(run_id, [key])[key]

    def arrays_of(self, run_id: str, keys: list[str]) -> dict[str, MetricArrays]:
        """Several keys; those not cached are decoded in one pass over the run's chunks."""
        fingerprints = {key: self._fingerprint(run_id, key) for key in keys}
        found = {key: self._cached(run_id, key, fingerprints[key]) for key in keys}
        missing = [key for key, arrays in found.items() if arrays is None]
        if len(missing) == 1:
            found[missing[0]] = self.store.get_metric_arrays(run_id, missing[0])
        elif missing:
            found.update(self.store.get_metric_arrays_of(run_id, missing))
        for key in missing:
            self._keep(run_id, key, fingerprints[key], found[key])
        return found


def _size(arrays: MetricArrays) -> int:
    return arrays.step.nbytes + arrays.timestamp.nbytes + arrays.value.nbytes
