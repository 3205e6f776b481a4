"""Registers the local backend through the same hook external backends use."""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def trackbridge_register_backends(register):
    from .store import LocalBackend

    register(LocalBackend)
