"""The hooks trackbridge calls: the ``mlflow`` backend, its model registry, ``doctor`` checks."""

from __future__ import annotations

from trackbridge.hookspecs import hookimpl


@hookimpl
def trackbridge_register_backends(register):
    from .backend import MlflowBackend

    register(MlflowBackend)


@hookimpl
def trackbridge_doctor_checks(backend, config):
    if getattr(backend, "name", None) != "mlflow":
        return None
    from .doctor import checks

    return checks(backend, config.experiment or "Default")


@hookimpl
def trackbridge_register_model_registries(register):
    from .registry import MlflowModelRegistry

    register(MlflowModelRegistry)
