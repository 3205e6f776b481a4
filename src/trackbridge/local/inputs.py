"""Dataset inputs of runs in the local store (table ``run_inputs``, schema version 6)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..entities import Dataset, DatasetInput


class DatasetInputs:
    """``log_inputs`` / ``get_inputs`` of :class:`~trackbridge.local.store.LocalBackend`.

    An input is kept once per (run, name, digest, context): logging it again is a no-op.
    Uses the store's ``transaction``, ``connection`` and ``_run_pk``."""

    def log_inputs(self: Any, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        with self.transaction() as conn:
            pk = self._run_pk(conn, run_id)
            conn.executemany(
                "INSERT OR IGNORE INTO run_inputs(run_pk, name, digest, context, source_type, "
                "source, schema, profile, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(pk, *i.key, i.dataset.source_type, i.dataset.source, i.dataset.schema,
                  i.dataset.profile, json.dumps(i.tags, sort_keys=True)) for i in inputs])

    def get_inputs(self: Any, run_id: str) -> list[DatasetInput]:
        conn = self.connection()
        pk = self._run_pk(conn, run_id)
        rows = conn.execute("SELECT name, digest, source_type, source, schema, profile, tags "
                            "FROM run_inputs WHERE run_pk = ? ORDER BY input_id", (pk,))
        return [DatasetInput(Dataset(*row[:6]), json.loads(row[6])) for row in rows]
