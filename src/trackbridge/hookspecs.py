"""The hooks a trackbridge plugin can implement. Plugins use ``trackbridge.hookimpl``."""

from __future__ import annotations

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("trackbridge")
hookimpl = HookimplMarker("trackbridge")


@hookspec
def trackbridge_register_backends(register):
    """Offer backends: call ``register(BackendClass)`` once per class.

    The class subclasses ``trackbridge.backend.Backend`` and sets ``name`` (the value of
    ``backend = "..."`` in config) and ``config_keys``. When two plugins register the same
    name, the one whose hook runs first keeps it (the built-in ``local`` runs first). Import
    heavy SDKs inside the class's methods, not at module level.
    """


@hookspec
def trackbridge_run_context():
    """Return a dict of default tags for a new run (or None).

    Called once per new run; results of all plugins are merged, and tags the user passes
    to ``start_run`` win over them.
    """


@hookspec
def trackbridge_doctor_checks(backend, config):
    """Return a list of ``trackbridge.doctor.Check`` results for ``trackbridge doctor``.

    ``backend`` is the configured backend instance, ``config`` the resolved ``Config``.
    Implementations check only backends they own (compare ``backend.name``) and return
    None for others.
    """


@hookspec
def trackbridge_register_flavors(register):
    """Offer model flavors: call ``register(FlavorClass)`` once per class.

    The class subclasses ``trackbridge.models.flavors.Flavor`` and sets ``name`` (its key
    under ``flavors:`` in ``MLmodel`` and the value of ``log_model(flavor=...)``) and
    ``priority`` (higher is asked first by ``can_save`` when ``log_model`` picks a flavor).
    When two plugins register the same name, the one whose hook runs first keeps it (the
    built-in flavors run first). Import the framework inside the methods, not at module level.
    """


@hookspec
def trackbridge_register_model_registries(register):
    """Offer a model registry: call ``register(RegistryClass)`` once per class.

    The class subclasses ``trackbridge.models.registry.ModelRegistry`` and sets
    ``backend_name`` to the ``Backend.name`` it serves; it is built with that backend's
    configured instance. One registry per backend: the first registered for a name is kept.
    """


@hookspec
def trackbridge_register_project_targets(register):
    """Offer execution targets for ``trackbridge run --on NAME``: call ``register(cls)`` once
    per class.

    The class subclasses ``trackbridge.projects.targets.Target`` (its docstrings are the
    contract: check, describe, submit, wait, read_logs, cancel) and sets ``name`` (the value
    of ``--on`` and the table name in the ``--on-config`` file) and ``config_keys``. When two
    plugins register the same name, the one whose hook runs first keeps it (the built-in
    ``local`` runs first). Import the platform's SDK inside the methods, not at module level.
    """
