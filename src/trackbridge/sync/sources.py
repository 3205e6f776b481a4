"""What sync reads from: the local journal (incremental), or any backend (a migration).

A source gives the run's metric points as an append-only sequence addressed by a *cursor*
(JSON-serialisable, kept in the ledger): for the journal, the number of points already
sent in logged order; for another backend, a per-key count into each key's history (so a
migrated run should be finished: a running remote run may insert points mid-history).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ..artifact_tree import target_inside, walk_files
from ..backend import Backend
from ..entities import Metric, Run
from ..local.store import LocalBackend


class Source(Protocol):
    backend: Backend
    initial_cursor: Any

    def pending(self, run: Run, cursor: Any) -> tuple[list[Metric], Any]:
        """Points after ``cursor`` and the cursor once they are all sent."""

    def advance(self, cursor: Any, sent: Sequence[Metric]) -> Any:
        """The cursor after ``sent`` (a prefix of what :meth:`pending` returned) landed."""

    def keys_after(self, everything: Sequence[Metric], cursor: Any) -> set[str]:
        """Keys of the points of ``everything`` (all points, as ``pending`` from the initial
        cursor returned them) that lie after ``cursor``."""

    def total(self, run: Run) -> int:
        """How many points the run has."""

    def pending_count(self, run: Run, cursor: Any) -> int:
        """How many points lie after ``cursor`` (``len`` of :meth:`pending`'s points)."""

    def artifacts(self, run: Run) -> dict[str, tuple[str, int]]:
        """path -> (sha256, size) of every artifact file of the run."""

    def artifact_file(self, run: Run, path: str) -> Path:
        """A local file holding the artifact's bytes (valid until :meth:`close`)."""

    def close(self) -> None: ...


class JournalSource:
    """The local store: points by logged order, files straight from the blob store."""

    initial_cursor = 0

    def __init__(self, store: LocalBackend) -> None:
        self.backend = self.store = store

    def pending(self, run: Run, cursor: int) -> tuple[list[Metric], int]:
        return self.store.points_since(run.id, cursor)

    def advance(self, cursor: int, sent: Sequence[Metric]) -> int:
        return cursor + len(sent)

    def keys_after(self, everything: Sequence[Metric], cursor: int) -> set[str]:
        return {p.key for p in everything[cursor:]}

    def total(self, run: Run) -> int:
        return self.store.count_points(run.id)

    def pending_count(self, run: Run, cursor: int) -> int:
        return max(self.total(run) - cursor, 0)  # counted, not read: cheap for big runs

    def artifacts(self, run: Run) -> dict[str, tuple[str, int]]:
        return self.store.artifact_manifest(run.id)

    def artifact_file(self, run: Run, path: str) -> Path:
        sha, _ = self.store.artifact_manifest(run.id)[path]
        return self.store.blobs.path_of(sha)

    def close(self) -> None:
        pass


class BackendSource:
    """Any backend, through its read side. Artifacts are downloaded once per pass to hash them."""

    initial_cursor: dict[str, int] = {}

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._tmp = tempfile.TemporaryDirectory(prefix="trackbridge-sync-")
        self._files: dict[tuple[str, str], Path] = {}

    def pending(self, run: Run, cursor: dict[str, int]) -> tuple[list[Metric], dict[str, int]]:
        points: list[Metric] = []
        end: dict[str, int] = {}
        for key in sorted(run.metrics):
            history = self.backend.get_metric_history(run.id, key)
            points.extend(history[cursor.get(key, 0):])
            end[key] = len(history)
        return points, end

    def advance(self, cursor: dict[str, int], sent: Sequence[Metric]) -> dict[str, int]:
        out = dict(cursor)
        for point in sent:
            out[point.key] = out.get(point.key, 0) + 1
        return out

    def keys_after(self, everything: Sequence[Metric], cursor: dict[str, int]) -> set[str]:
        counts = Counter(p.key for p in everything)
        return {key for key, n in counts.items() if n > cursor.get(key, 0)}

    def total(self, run: Run) -> int:
        return sum(len(self.backend.get_metric_history(run.id, k)) for k in run.metrics)

    def pending_count(self, run: Run, cursor: dict[str, int]) -> int:
        return len(self.pending(run, cursor)[0])

    def artifacts(self, run: Run) -> dict[str, tuple[str, int]]:
        manifest: dict[str, tuple[str, int]] = {}
        for entry in walk_files(self.backend, run.id):
            local = self.artifact_file(run, entry.path)
            digest = hashlib.sha256()
            with local.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            manifest[entry.path] = (digest.hexdigest(), local.stat().st_size)
        return manifest

    def artifact_file(self, run: Run, path: str) -> Path:
        local = self._files.get((run.id, path))
        if local is None:
            local = target_inside(Path(self._tmp.name) / run.id, path)
            self.backend.download_artifact(run.id, path, local)
            self._files[(run.id, path)] = local
        return local

    def close(self) -> None:
        self._tmp.cleanup()


def source_for(backend: Backend) -> JournalSource | BackendSource:
    return JournalSource(backend) if type(backend) is LocalBackend else BackendSource(backend)
