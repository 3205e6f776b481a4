"""Artifact files of runs in the local store: a manifest (path -> sha256, size) per run over
the content-addressed blob store (``artifacts.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..artifact_tree import checked_path
from ..entities import ArtifactEntry
from ..errors import ArtifactNotFoundError


class RunArtifacts:
    """The artifact side of :class:`~trackbridge.local.store.LocalBackend` (it uses the
    store's ``blobs``, ``transaction``, ``connection`` and ``_run_pk``)."""

    def upload_artifact(self: Any, run_id: str, local_path: Path, artifact_path: str) -> None:
        sha, size = self.blobs.put(Path(local_path))
        with self.transaction() as conn:
            pk = self._run_pk(conn, run_id)
            conn.execute(
                "INSERT OR REPLACE INTO artifacts(run_pk, path, sha256, size) VALUES (?, ?, ?, ?)",
                (pk, artifact_path, sha, size),
            )

    def artifact_manifest(self: Any, run_id: str) -> dict[str, tuple[str, int]]:
        """Every artifact file of the run: path -> (sha256, size)."""
        conn = self.connection()
        pk = self._run_pk(conn, run_id)
        rows = conn.execute("SELECT path, sha256, size FROM artifacts WHERE run_pk = ?", (pk,))
        return {path: (sha, size) for path, sha, size in rows}

    def list_artifacts(self: Any, run_id: str, path: str | None = None) -> list[ArtifactEntry]:
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

    def download_artifact(self: Any, run_id: str, path: str, dst: Path) -> None:
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
