"""The hooks trackbridge calls: registers the backend and its model registry, and contributes
``doctor`` checks."""

from __future__ import annotations

from trackbridge.hookspecs import hookimpl


@hookimpl
def trackbridge_register_backends(register):
    from .backend import DatabricksBackend

    register(DatabricksBackend)


@hookimpl
def trackbridge_doctor_checks(backend, config):
    if getattr(backend, "name", None) != "databricks":
        return None
    from .doctor import checks

    return checks(backend)


@hookimpl
def trackbridge_register_model_registries(register):
    from .registry import DatabricksModelRegistry

    register(DatabricksModelRegistry)


@hookimpl
def trackbridge_register_project_targets(register):
    from .target import DatabricksTarget

    register(DatabricksTarget)
