"""``/``: every experiment with its run count, status counts and last start."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ...entities import RUN_STATUSES
from ..rendering import url_path
from ..state import UIState


def experiments_page(state: UIState) -> dict[str, Any]:
    rows = []
    for exp in state.backend.list_experiments():
        runs = state.search(exp.id)
        statuses = Counter(r.status for r in runs)
        rows.append({
            "id": exp.id, "name": exp.name, "runs": len(runs),
            "status": {s: statuses.get(s, 0) for s in RUN_STATUSES},
            "last_start": max((r.start_time for r in runs), default=None),
            "url": f"/experiments/{url_path(exp.name)}",
        })
    rows.sort(key=lambda r: (r["last_start"] is None, -(r["last_start"] or 0), r["name"]))
    return {"backend": state.title, "experiments": rows}
