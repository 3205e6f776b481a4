"""Per destination in the sync ledger: is this run there, and what is still pending."""

from __future__ import annotations

from typing import Any

from ...entities import Run
from ...local.store import LocalBackend
from ...sync.ledger import Ledger
from ...sync.sources import JournalSource
from ...sync.status import run_status
from ..state import UIState


def sync_state(state: UIState, run: Run) -> list[dict[str, Any]]:
    """The ledger's view of ``run`` per destination (only when showing the local store: the
    ledger is keyed by local run ids). Pending counts never contact the destination."""
    store = state.backend
    if not isinstance(store, LocalBackend):
        return []
    source = JournalSource(store)
    return [run_status(source, Ledger(store, destination), run).as_dict()
            for destination in Ledger(store, "").destinations()]
