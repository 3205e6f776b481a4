"""The local store's runs, read once and reused until the store changes.

A table of 10,000 runs takes a few hundred ms to read; re-reading it for every sort, page
and poll would make the UI slow. SQLite's ``PRAGMA data_version`` (asked on a connection of
our own) changes whenever any other connection commits, so a cached list is reused only
while nothing was written. A list holding a RUNNING run is never reused: its writer may
have died without writing anything, and only a fresh read notices (and shows it KILLED).
"""

from __future__ import annotations

import sqlite3
import threading

from ..entities import RUNNING, Run
from ..filtering import compile_filter
from ..local.store import LocalBackend


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
