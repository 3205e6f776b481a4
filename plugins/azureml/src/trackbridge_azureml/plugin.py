"""The plugin module named by the ``trackbridge`` entry point. Imports no azure package."""

from __future__ import annotations

from trackbridge.hookspecs import hookimpl


@hookimpl
def trackbridge_register_backends(register):
    from .backend import AzureMLBackend

    register(AzureMLBackend)


@hookimpl
def trackbridge_doctor_checks(backend, config):
    if getattr(backend, "name", None) != "azureml":
        return None
    from .doctor import checks

    return checks(backend)


@hookimpl
def trackbridge_register_model_registries(register):
    from .registry import AzureMLModelRegistry

    register(AzureMLModelRegistry)


@hookimpl
def trackbridge_register_project_targets(register):
    from .target import AzureMLTarget

    register(AzureMLTarget)
