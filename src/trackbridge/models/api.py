"""The public model calls: ``tb.load_model``, ``tb.register_model``, ``tb.set_model_alias``,
``tb.list_model_versions`` (and ``get_model_version``, ``list_models``).

Every call takes ``config=`` like the rest of the API. Registering ``runs:/<id>/<path>``
against a cloud backend translates a local run id through the sync ledger: when the run's
model files were synced, the registry is given the remote run (``ModelSource.run_id``) and
registers that copy; otherwise ``run_id`` is None and the registry decides (upload the local
files, or ask for a sync).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import load_config
from ..errors import RunNotFoundError
from ..fluent import ConfigArg, live_runs
from .errors import ModelError, ModelUriError
from .loading import LoadedModel, load_model_dir
from .registry import ModelRegistry, ModelSource, ModelVersion, download_model_dir, registry_for
from .uris import RegistryUri, RunModelUri, parse_model_uri

if TYPE_CHECKING:
    from ..backend import Backend
    from ..config import Config


def _open(config: ConfigArg) -> tuple[Config, Backend]:
    from ..registry import open_backend  # loads plugins: deferred

    cfg = load_config(config)
    return cfg, open_backend(cfg)


def _registry(config: ConfigArg) -> ModelRegistry:
    return registry_for(_open(config)[1])


def _flush(run_id: str) -> None:
    for run in live_runs():
        if run.id == run_id:
            run.sync()


def resolve_source(ref: RunModelUri, config: ConfigArg) -> tuple[ModelRegistry, ModelSource]:
    """The registry of the configured backend and the model as that backend knows it."""
    from ..registry import open_journal

    cfg, backend = _open(config)
    _flush(ref.run_id)

    def from_backend(run_id: str) -> ModelSource:
        return ModelSource(run_id, ref.path, run_id if backend.is_local else None,
                           lambda dst: download_model_dir(backend, run_id, ref.path, dst))

    if backend.is_local:
        return registry_for(backend), from_backend(ref.run_id)
    journal = open_journal(cfg)
    try:
        manifest = journal.artifact_manifest(ref.run_id)
    except RunNotFoundError:  # not a local run: an id of the backend itself
        return registry_for(backend), from_backend(ref.run_id)
    prefix = f"{ref.path}/"
    files = {p: sha for p, (sha, _size) in manifest.items() if p.startswith(prefix)}
    if f"{prefix}MLmodel" not in files:
        raise ModelError(f"run {ref.run_id} has no model at {ref.path!r} (no {prefix}MLmodel)")
    from ..sync.ledger import Ledger

    entry = Ledger.of(journal, backend).load(ref.run_id)
    synced = entry is not None and all(entry.artifacts.get(p) == sha for p, sha in files.items())
    source = ModelSource(entry.remote_run_id if synced and entry else None, ref.path, ref.run_id,
                         lambda dst: download_model_dir(journal, ref.run_id, ref.path, dst))
    return registry_for(backend), source


def load_model(uri: str | Path, config: ConfigArg = None, *, allow_pickle: bool = False,
               trusted_types: Sequence[str] = ()) -> LoadedModel:
    """Load a model by URI: ``runs:/<run id>/<path>``, ``models:/<name>/<version>``,
    ``models:/<name>@<alias>`` or a local model directory. Returns an object with ``predict``.

    Pickle-based models (sklearn saved with pickle/cloudpickle, python_function models) run
    code from their files when loaded: they need ``allow_pickle=True``. skops files naming
    types outside scikit-learn/numpy/scipy need them listed in ``trusted_types``.
    """
    options = {"allow_pickle": allow_pickle, "trusted_types": trusted_types}
    if isinstance(parse_model_uri(uri), Path):
        return load_model_dir(parse_model_uri(uri), **options)
    with tempfile.TemporaryDirectory(prefix="trackbridge-load-") as tmp:
        return load_model_dir(fetch_model_dir(uri, Path(tmp), config), label=str(uri), **options)


def fetch_model_dir(uri: str | Path, dst: Path, config: ConfigArg = None) -> Path:
    """The model directory of ``uri`` on this machine: a local directory as it is, anything
    else downloaded into ``dst``. Nothing is loaded (no code from the model runs)."""
    ref = parse_model_uri(uri)
    if isinstance(ref, Path):
        return ref
    if isinstance(ref, RunModelUri):
        from .. import reading

        return Path(reading.download_artifacts(ref.run_id, ref.path, dst, config))
    registry = _registry(config)
    version = registry.get_version(ref.name, version=ref.version, alias=ref.alias)
    return registry.download(version, dst)


def register_model(model_uri: str, name: str, config: ConfigArg = None, *,
                   description: str | None = None,
                   tags: Mapping[str, str] | None = None) -> ModelVersion:
    """Register the logged model ``runs:/<run id>/<path>`` as the next version of ``name``.

    Returns the :class:`ModelVersion` (``.name``, ``.version``: 1 for the first)."""
    ref = parse_model_uri(model_uri)
    if not isinstance(ref, RunModelUri):
        raise ModelUriError(f"register_model needs a runs:/<run id>/<path> URI, got {model_uri!r}")
    registry, source = resolve_source(ref, config)
    return registry.create_version(name, source, description=description,
                                   tags={k: str(v) for k, v in (tags or {}).items()})


def set_model_alias(name: str, alias: str, version: int, config: ConfigArg = None) -> None:
    """Point ``models:/<name>@<alias>`` at ``version``."""
    _registry(config).set_alias(name, alias, int(version))


def list_model_versions(name: str, config: ConfigArg = None) -> list[ModelVersion]:
    """Every version of the registered model ``name``, oldest first."""
    return _registry(config).list_versions(name)


def get_model_version(name: str, version: int | None = None, alias: str | None = None,
                      config: ConfigArg = None) -> ModelVersion:
    """One version of ``name``, by number or alias."""
    if (version is None) == (alias is None):
        raise ModelUriError("give exactly one of version= and alias=")
    return _registry(config).get_version(name, version=version, alias=alias)


def list_models(config: ConfigArg = None) -> list[str]:
    """Names of the registered models."""
    return _registry(config).list_models()


__all__ = ["RegistryUri", "fetch_model_dir", "get_model_version", "list_model_versions",
           "list_models", "load_model", "register_model", "set_model_alias"]
