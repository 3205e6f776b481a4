"""What every view reads from: the backend being shown, and the local store holding the sync
ledger (when the backend is the local store itself)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..backend import Backend
from ..entities import Run
from ..errors import NotFoundError


@dataclass(frozen=True)
class UIState:
    backend: Backend

    @property
    def title(self) -> str:
        return self.backend.describe()


#: Distinct, readable line colours; a run keeps its colour on every page (chosen by its id).
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#393b79", "#ad494a", "#637939", "#e6550d", "#5254a3", "#843c39", "#3182bd",
           "#31a354", "#756bb1", "#d6616b", "#636363", "#8c6d31", "#7b4173", "#0f9d8f", "#c49c94")


def run_color(run_id: str) -> str:
    """The run's colour, the same on every page: a palette entry chosen by a hash of its id."""
    return PALETTE[int(hashlib.sha256(run_id.encode()).hexdigest()[:8], 16) % len(PALETTE)]


def find_experiment_runs(state: UIState, name: str, filter: str | None = None) -> tuple[str, list[Run]]:
    """(experiment id, its runs matching ``filter``, newest first); unknown name -> 404."""
    found = state.backend.get_experiment(name)
    if found is None:
        raise NotFoundError(f"experiment {name!r} not found in the {state.title}")
    return found.id, list(state.backend.search_runs([found.id], filter))
