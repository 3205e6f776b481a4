"""The model registry interface: the seam between ``tb.register_model`` and a platform.

Each backend plugin offers its registry through the hook
``trackbridge_register_model_registries`` (the local store's is a default plugin). The core
resolves what is being registered (a :class:`ModelSource`: the run as the registry's backend
knows it, after translating a synced run's local id through the sync ledger) and a registry
only stores versions. Contract:

* versions are ints, 1 for a name's first, assigned by the registry, never reused;
* an alias points at one version of a name; setting it again moves it;
* unknown names, versions and aliases raise :class:`~.errors.ModelVersionNotFoundError`;
* errors are :class:`~trackbridge.errors.TrackbridgeError` whose message names the model,
  the operation and the registry, and holds no secret.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..backend import Backend


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: int
    #: what was registered: ``runs:/<run id>/<path>`` or a storage URI
    source: str
    #: the run it came from, as the registry's backend knows it (None if not from a run)
    run_id: str | None
    created_time: int | None = None  # ms since epoch
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    #: where the registry keeps the files when not in the run (UC storage, an Azure ML asset)
    storage_location: str | None = None
    status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "source": self.source,
                "run_id": self.run_id, "created_time": self.created_time,
                "description": self.description, "tags": dict(self.tags),
                "aliases": list(self.aliases), "storage_location": self.storage_location,
                "status": self.status}


@dataclass(frozen=True)
class ModelSource:
    """A logged model being registered, as the core resolved it for the registry's backend."""

    #: the run on the registry's backend (a synced run's remote id); None when the run
    #: exists only in the local journal (not synced yet)
    run_id: str | None
    #: the model's artifact path inside the run (``model``)
    artifact_path: str
    #: the run's id in the local store, when it was logged through it
    local_run_id: str | None
    #: writes the model directory into ``dst`` (from the local store when it has the
    #: files, else from the backend) and returns the model directory
    fetch: Callable[[Path], Path]

    @property
    def uri(self) -> str | None:
        """``runs:/<run id on the backend>/<path>``, or None when not on the backend."""
        return f"runs:/{self.run_id}/{self.artifact_path}" if self.run_id else None


class ModelRegistry(ABC):
    """Where one backend registers models. Built with the configured backend instance."""

    #: the backend (``Backend.name``) whose registry this is
    backend_name: ClassVar[str] = ""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def describe(self) -> str:
        return f"model registry of the {self.backend.describe()}"

    @abstractmethod
    def create_version(self, name: str, source: ModelSource, *, description: str | None = None,
                       tags: Mapping[str, str] | None = None) -> ModelVersion:
        """Register ``source`` as the next version of ``name`` (creating the model if new)."""

    @abstractmethod
    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` of ``name`` at ``version`` (moving it if it pointed elsewhere)."""

    @abstractmethod
    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first."""

    @abstractmethod
    def get_version(self, name: str, *, version: int | None = None,
                    alias: str | None = None) -> ModelVersion:
        """One version, by number or by alias."""

    def list_models(self) -> list[str]:
        """Names of the registered models (registries that cannot list say so)."""
        raise ConfigError(f"the {self.describe()} cannot list models; name one")

    def download(self, version: ModelVersion, dst: Path) -> Path:
        """Write the version's model directory into ``dst``; return it.

        The default reads the run's artifacts through the backend (``source`` must be
        ``runs:/<run id>/<path>``); registries that copy files elsewhere override this.
        """
        from .uris import RunModelUri, parse_model_uri

        ref = parse_model_uri(version.source) if version.source.startswith("runs:/") else None
        if not isinstance(ref, RunModelUri):
            raise ConfigError(f"{self.describe()} cannot download {version.source!r}")
        return download_model_dir(self.backend, ref.run_id, ref.path, dst)


def download_model_dir(backend: Backend, run_id: str, path: str, dst: Path) -> Path:
    """Copy the artifact directory ``path`` of a run into ``dst``; return ``dst/path``."""
    from ..artifact_tree import download_files
    from .errors import ModelError

    if not download_files(backend, run_id, path, dst):
        raise ModelError(f"run {run_id} has no model at {path!r} ({backend.describe()})")
    return dst / path


def registry_classes() -> dict[str, type[ModelRegistry]]:
    """Installed registries: backend name -> class (``trackbridge_register_model_registries``)."""
    from ..plugins import collect_classes

    return collect_classes("trackbridge_register_model_registries", "backend_name",
                           "model registry")


def registry_for(backend: Backend) -> ModelRegistry:
    classes = registry_classes()
    cls = classes.get(backend.name)
    if cls is None:
        raise ConfigError(f"the {backend.name!r} backend has no model registry installed; "
                          f"backends with one: {', '.join(sorted(classes))}")
    return cls(backend)
