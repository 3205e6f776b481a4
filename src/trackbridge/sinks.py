"""Where a run's writer drains its buffer to.

:class:`JournalSink` appends to the local store in one transaction per drain (the fast,
columnar path). :class:`BackendSink` sends to any backend through the interface, packed
to the backend's limits, one request per batch.
"""

from __future__ import annotations

from .backend import Backend
from .batching import pack
from .entities import Metric, Param, RunTag
from .local.store import LocalBackend
from .writer import Committed


class JournalSink:
    def __init__(self, store: LocalBackend) -> None:
        self.store = store

    def describe(self) -> str:
        return self.store.describe()

    def write(self, run_id: str, points: list, n: int, params: list[Param], tags: list[RunTag],
              committed: Committed) -> None:
        conflicts = self.store.append(run_id, points, params, tags, n=n)
        committed(n // 4, len(params), len(tags))
        if conflicts:
            raise self.store.conflict_error(run_id, conflicts)


class BackendSink:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def describe(self) -> str:
        return self.backend.describe()

    def write(self, run_id: str, points: list, n: int, params: list[Param], tags: list[RunTag],
              committed: Committed) -> None:
        flat = points[:n]  # timestamps from the clock are float ms: backends get whole ms
        metrics = [Metric(k, v, int(t), s) for k, v, t, s in zip(*[iter(flat)] * 4)]
        for batch in pack(metrics, params, tags, self.backend.limits):
            self.backend.log_batch(run_id, batch.metrics, batch.params, batch.tags)
            committed(len(batch.metrics), len(batch.params), len(batch.tags))


def sink_for(backend: Backend) -> JournalSink | BackendSink:
    """The columnar fast path for the built-in store itself; the interface for anything
    else, subclasses included (they may override ``log_batch`` and expect it called)."""
    if type(backend) is LocalBackend:
        return JournalSink(backend)
    return BackendSink(backend)
