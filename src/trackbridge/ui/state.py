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


def run_color(run_id: str) -> str:
    """The run's colour, the same on every page: a hue from a hash of its id."""
    digest = int(hashlib.sha256(run_id.encode()).hexdigest()[:8], 16)
    hue = (digest % 360) / 360
    return _hsl_to_hex(hue, 0.62, 0.45 if 0.12 < hue < 0.55 else 0.5)


def _hsl_to_hex(h: float, s: float, lightness: float) -> str:
    import colorsys

    r, g, b = colorsys.hls_to_rgb(h, lightness, s)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def find_experiment_runs(state: UIState, name: str, filter: str | None = None) -> tuple[str, list[Run]]:
    """(experiment id, its runs matching ``filter``, newest first); unknown name -> 404."""
    found = state.backend.get_experiment(name)
    if found is None:
        raise NotFoundError(f"experiment {name!r} not found in the {state.title}")
    return found.id, list(state.backend.search_runs([found.id], filter))
