"""The one error type of projects (a ``TrackbridgeError``, so the CLI prints one line)."""

from __future__ import annotations

from ..errors import TrackbridgeError


class ProjectError(TrackbridgeError):
    """The project, its parameters or its environment cannot be used as given."""
