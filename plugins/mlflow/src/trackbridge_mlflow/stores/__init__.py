"""MLflow's own stores read in place, read-only, without the mlflow package or a server."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trackbridge.backend import Backend

    from ..settings import Settings


def open_store(settings: Settings) -> Backend:
    """The reader for a ``file:`` or ``sqlite:`` tracking URI."""
    from ..settings import FILE_STORE

    if settings.kind == FILE_STORE:
        from .filestore import FileStore

        return FileStore(settings)
    from .sqlstore import SqlStore

    return SqlStore(settings)
