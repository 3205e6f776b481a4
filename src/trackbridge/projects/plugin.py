"""Default plugin: the ``local`` execution target, registered through the same hook as the
platforms' targets."""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def trackbridge_register_project_targets(register):
    from .local import LocalTarget

    register(LocalTarget)
