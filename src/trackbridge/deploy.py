"""Deploy targets: put a logged or registered model behind a cloud serving endpoint.

A target is a plugin, like a backend: a distribution implements the hook
``trackbridge_register_deploy_targets(register)`` and registers a :class:`DeployTarget`
subclass whose ``backend_name`` is the backend it deploys to. ``trackbridge models deploy URI
--to CONFIG`` opens that config's backend and its target, built with the config table
``[<backend>.serving]`` (the target checks its keys).

What the core does once for every platform: resolve the URI (:func:`resolve_deploy_source`:
``runs:/`` through the sync ledger to the platform's copy of the run, ``models:/`` through the
platform's registry), read the model's signature, check a request payload in MLflow's format
(:func:`check_payload`) and translate it (:func:`to_split`), run wait loops with a progress line
(:func:`wait_for`). Targets only speak their platform's API.
"""

from __future__ import annotations

import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .errors import BackendError, ConfigError, ValidationError

if TYPE_CHECKING:
    from .backend import Backend
    from .models.registry import ModelSource, ModelVersion

T = TypeVar("T")
PAYLOAD_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
Progress = Callable[[str], None]


class DeployError(BackendError):
    """A deployment failed on the platform; the message carries the platform's logs."""


@dataclass(frozen=True)
class Endpoint:
    """A serving endpoint as a platform reports it (secret-free)."""

    name: str
    #: the platform's state words, e.g. ``READY`` / ``NOT_READY (IN_PROGRESS)``, ``Succeeded``
    state: str
    url: str | None = None
    #: what it serves: ``main.ml.churn/3`` (Databricks), ``blue: churn:2`` (Azure ML)
    served: tuple[str, ...] = ()
    #: deployment / served entity -> percent of traffic
    traffic: Mapping[str, int] = field(default_factory=dict)
    ready: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "ready": self.ready, "url": self.url,
                "served": list(self.served), "traffic": dict(self.traffic)}


@dataclass(frozen=True)
class DeploySource:
    """The model to deploy, as the core resolved it for the target's backend."""

    uri: str
    #: set for ``models:/`` URIs: the version in the platform's registry
    version: ModelVersion | None
    #: set for ``runs:/`` URIs: the logged model (``run_id`` is the platform's run, or None
    #: when the run was not synced)
    run: ModelSource | None
    #: writes the model directory into a directory and returns it (from the local store when
    #: it has the files, else from the platform)
    fetch: Callable[[Path], Path]

    def signature(self) -> Mapping[str, Any] | None:
        """The ``signature`` table of the model's ``MLmodel`` (None: it has none)."""
        from .models.saving import read_mlmodel

        with tempfile.TemporaryDirectory(prefix="trackbridge-deploy-") as tmp:
            return read_mlmodel(self.fetch(Path(tmp))).get("signature")


#: keys every ``[<backend>.serving]`` table takes (targets add their own in ``settings_keys``)
COMMON_SETTINGS: dict[str, type | tuple[type, ...]] = {
    "model_name": str, "timeout_minutes": (int, float), "poll_seconds": (int, float)}


class DeployTarget(ABC):
    """Serving endpoints of one platform. Built with the configured backend instance and the
    ``[<backend>.serving]`` table; messages name the endpoint and the platform, never a secret.

    The constructor checks the table (:data:`COMMON_SETTINGS` plus ``settings_keys``) into
    :attr:`settings` and sets ``model_name`` (what to register a ``runs:/`` model as),
    ``timeout`` and ``poll_seconds`` (of the wait loop) and ``clock`` (tests replace it).
    """

    #: the ``Backend.name`` this target deploys to
    backend_name: ClassVar[str] = ""
    #: the platform's own keys of ``[<backend>.serving]``: name -> accepted type(s)
    settings_keys: ClassVar[Mapping[str, type | tuple[type, ...]]] = {}
    default_timeout_minutes: ClassVar[float] = 30.0
    default_poll_seconds: ClassVar[float] = 10.0

    def __init__(self, backend: Backend, settings: Mapping[str, Any]) -> None:
        self.backend = backend
        self.settings = check_settings(settings, {**COMMON_SETTINGS, **self.settings_keys},
                                       f"{self.backend_name}.serving")
        self.model_name: str | None = self.settings.get("model_name")
        self.timeout = float(self.settings.get("timeout_minutes",
                                               self.default_timeout_minutes)) * 60
        self.poll_seconds = float(self.settings.get("poll_seconds", self.default_poll_seconds))
        self.clock: Callable[[], float] = time.monotonic

    def describe(self) -> str:
        return f"serving endpoints of the {self.backend.describe()}"

    @abstractmethod
    def deploy(self, source: DeploySource, endpoint: str, *, wait: bool, traffic: int | None,
               progress: Progress) -> Endpoint:
        """Create or update ``endpoint`` to serve ``source``; with ``wait``, return only once it
        serves the new model (raise :class:`DeployError` with the platform's logs when it
        fails). ``traffic``: percent for the new model where the platform splits traffic."""

    @abstractmethod
    def list_endpoints(self) -> list[Endpoint]:
        """Every serving endpoint the credentials can see."""

    @abstractmethod
    def get_endpoint(self, name: str) -> Endpoint:
        """One endpoint; an unknown name raises :class:`~trackbridge.errors.NotFoundError`."""

    @abstractmethod
    def query(self, name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Score ``payload`` (MLflow's request format, already checked) on ``name``; return
        ``{"predictions": ...}`` whatever the platform's answer looks like."""

    @abstractmethod
    def delete_endpoint(self, name: str) -> None:
        """Delete the endpoint (and what serves it)."""


# -- plugins ------------------------------------------------------------------------------------
def target_classes() -> dict[str, type[DeployTarget]]:
    """Installed deploy targets: backend name -> class (``trackbridge_register_deploy_targets``)."""
    from .plugins import collect_classes

    return collect_classes("trackbridge_register_deploy_targets", "backend_name", "deploy target")


def open_target(config: Any) -> DeployTarget:
    """The deploy target of ``config``'s backend, built with ``[<backend>.serving]``."""
    from .registry import open_backend

    backend = open_backend(config)
    classes = target_classes()
    cls = classes.get(backend.name)
    if cls is None:
        raise ConfigError(f"the {backend.name!r} backend ({config.source}) has no deploy target "
                          f"installed; backends with one: {', '.join(sorted(classes)) or 'none'}")
    settings = config.section(backend.name).get("serving", {})
    if not isinstance(settings, Mapping):
        raise ConfigError(f"[{backend.name}.serving] in {config.source} must be a table, got "
                          f"{settings!r}")
    return cls(backend, dict(settings))


def check_settings(settings: Mapping[str, Any], allowed: Mapping[str, type | tuple[type, ...]],
                   table: str) -> dict[str, Any]:
    """``settings`` whose keys are in ``allowed`` (name -> accepted type); errors name the key,
    the value and the table."""
    unknown = set(settings) - set(allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(sorted(map(repr, unknown)))} in [{table}]; "
                          f"valid keys: {', '.join(sorted(allowed))}")
    for key, value in settings.items():
        types = allowed[key]
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise ConfigError(f"[{table}] {key} must not be a boolean, got {value!r}")
        if not isinstance(value, types):
            raise ConfigError(f"[{table}] {key} has the wrong type: {value!r}")
    return dict(settings)


# -- the model ------------------------------------------------------------------------------------
def resolve_deploy_source(uri: str, config: Any) -> DeploySource:
    """What ``uri`` is on ``config``'s backend: a registered version or a logged model."""
    from .models.api import _registry, resolve_source
    from .models.uris import RegistryUri, RunModelUri, parse_model_uri

    ref = parse_model_uri(uri)
    if isinstance(ref, RunModelUri):
        source = resolve_source(ref, config)[1]
        return DeploySource(uri, None, source, source.fetch)
    if isinstance(ref, RegistryUri):
        registry = _registry(config)
        version = registry.get_version(ref.name, version=ref.version, alias=ref.alias)
        return DeploySource(uri, version, None, lambda dst: registry.download(version, dst))
    raise ValidationError(f"deploy needs a runs:/<run id>/<path> or models:/<name>/<version> URI "
                          f"(the platform must be able to read the model), got the directory {uri}")


# -- payloads -------------------------------------------------------------------------------------
def check_payload(payload: Any) -> dict[str, Any]:
    """A request in MLflow's format: an object with exactly one of ``dataframe_split``,
    ``dataframe_records``, ``instances``, ``inputs`` and optionally ``params``."""
    if not isinstance(payload, Mapping):
        raise ValidationError(f"a request must be a JSON object, got {type(payload).__name__}")
    found = [k for k in PAYLOAD_KEYS if k in payload]
    unknown = sorted(set(payload) - set(PAYLOAD_KEYS) - {"params"})
    if len(found) != 1 or unknown:
        raise ValidationError(f"a request needs exactly one of {', '.join(PAYLOAD_KEYS)} (and "
                              f"optionally params); got the keys {sorted(payload)}")
    if "params" in payload and not isinstance(payload["params"], Mapping):
        raise ValidationError("params must be a JSON object")
    return dict(payload)


def to_split(payload: Mapping[str, Any]) -> dict[str, Any] | Any:
    """The data of an MLflow request as a ``{"columns", "index", "data"}`` table (records are
    turned into one); ``instances`` / ``inputs`` values are returned as they are."""
    if "dataframe_split" in payload:
        split = dict(payload["dataframe_split"])
        if "columns" not in split or "data" not in split:
            raise ValidationError("dataframe_split needs 'columns' and 'data'")
        split.setdefault("index", list(range(len(split["data"]))))
        return split
    if "dataframe_records" in payload:
        records = payload["dataframe_records"]
        if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
            raise ValidationError("dataframe_records must be a list of objects")
        columns = list(dict.fromkeys(k for r in records for k in r))
        return {"columns": columns, "index": list(range(len(records))),
                "data": [[r.get(c) for c in columns] for r in records]}
    key = "instances" if "instances" in payload else "inputs"
    return payload[key]


# -- waiting --------------------------------------------------------------------------------------
def wait_for(poll: Callable[[], tuple[bool, str]], *, what: str, timeout: float, interval: float,
             progress: Progress, sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.monotonic) -> None:
    """Call ``poll`` (-> (done, state line)) every ``interval`` seconds until done, reporting
    each state; raise :class:`DeployError` after ``timeout`` seconds."""
    start = clock()
    while True:
        done, state = poll()
        elapsed = clock() - start
        progress(f"{what}: {state} ({elapsed:.0f} s)")
        if done:
            return
        if elapsed + interval > timeout:
            raise DeployError(f"{what} is still not done after {timeout:.0f} s (last state: "
                              f"{state}); it may finish later: check it with `trackbridge models "
                              f"endpoints show`")
        sleep(interval)


def log_tail(text: str | None, lines: int = 50) -> str:
    """The last ``lines`` lines of a platform's log, indented for an error message."""
    kept = (text or "").strip().splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in kept) or "    (empty)"


def normalize_predictions(answer: Any) -> dict[str, Any]:
    """``{"predictions": ...}`` from a platform's answer (a bare list, or already wrapped)."""
    if isinstance(answer, Mapping) and "predictions" in answer:
        return dict(answer)
    return {"predictions": answer}
