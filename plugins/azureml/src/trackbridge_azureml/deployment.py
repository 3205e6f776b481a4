"""Azure ML managed online endpoints as a trackbridge deploy target (``azure-ai-ml``).

``deploy``, blue/green: the model is registered as an ``mlflow_model`` (a ``models:/`` URI is
used as it is; a ``runs:/`` model goes through the plugin's registry as
``[azureml.serving] model_name``, default the endpoint's name), the endpoint is created when
missing (``ManagedOnlineEndpoint``, key auth), and a ``ManagedOnlineDeployment`` named
``blue`` or ``green`` (whichever is free) is created with ``instance_type`` /
``instance_count``. The old deployment keeps all the traffic until the new one is
``Succeeded``; then the endpoint's traffic gives the new one ``--traffic`` percent (default
100, the rest stays with the old one), and an old deployment left with no traffic is deleted.
A failed deployment's container logs are shown. ``query`` translates MLflow's payload to the
``{"input_data": ...}`` that Azure ML's MLflow deployments take.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from trackbridge.deploy import (
    DeployError,
    DeploySource,
    DeployTarget,
    Endpoint,
    Progress,
    log_tail,
    normalize_predictions,
    to_split,
    wait_for,
)
from trackbridge.errors import BackendError, NotFoundError

from .registry import AzureMLModelRegistry

if TYPE_CHECKING:
    from .backend import AzureMLBackend

COLORS = ("blue", "green")
LOG_LINES = 60


class AzureMLEndpointTarget(DeployTarget):
    backend_name: ClassVar[str] = "azureml"
    settings_keys: ClassVar[Mapping[str, Any]] = {"instance_type": str, "instance_count": int}
    default_timeout_minutes: ClassVar[float] = 60.0
    default_poll_seconds: ClassVar[float] = 15.0
    backend: AzureMLBackend

    def __init__(self, backend: AzureMLBackend, settings: Mapping[str, Any]) -> None:
        super().__init__(backend, settings)
        self.instance_type = self.settings.get("instance_type", "Standard_DS3_v2")
        self.instance_count = self.settings.get("instance_count", 1)
        self.registry = AzureMLModelRegistry(backend)

    @property
    def _ml(self) -> Any:
        return self.registry.client

    def _call(self, fn: Any, what: str, name: str | None = None) -> Any:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return fn()
        except ResourceNotFoundError:
            raise NotFoundError(f"{what} on the {self.backend.describe()} failed: no endpoint "
                                f"or deployment {name!r}") from None
        except AzureError as exc:
            message = (getattr(exc, "message", None) or str(exc) or type(exc).__name__)
            raise BackendError(f"{what} on the {self.backend.describe()} failed: "
                               f"{message.splitlines()[0]}") from None

    # -- deploy -----------------------------------------------------------------------------
    def _model_id(self, source: DeploySource, endpoint: str, progress: Progress) -> str:
        version = source.version
        if version is None:
            name = self.model_name or endpoint
            progress(f"registering {source.uri} as Azure ML model {name}")
            version = self.registry.create_version(name, source.run)
        return f"azureml:{version.name}:{version.version}"

    def _endpoint_or_none(self, name: str) -> Any:
        try:
            return self._call(lambda: self._ml.online_endpoints.get(name),
                              f"get online endpoint {name!r}", name)
        except NotFoundError:
            return None

    def deploy(self, source: DeploySource, endpoint: str, *, wait: bool, traffic: int | None,
               progress: Progress) -> Endpoint:
        from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint

        model = self._model_id(source, endpoint, progress)
        ep = self._endpoint_or_none(endpoint)
        if ep is None:
            progress(f"creating endpoint {endpoint}")
            self._call(lambda: self._ml.online_endpoints.begin_create_or_update(
                ManagedOnlineEndpoint(name=endpoint, auth_mode="key")).result(),
                f"create online endpoint {endpoint!r}", endpoint)
            ep = self._call(lambda: self._ml.online_endpoints.get(endpoint),
                            f"get online endpoint {endpoint!r}", endpoint)
        existing = {d.name for d in self._call(
            lambda: list(self._ml.online_deployments.list(endpoint)),
            f"list deployments of {endpoint!r}", endpoint)}
        new = next((c for c in COLORS if c not in existing), None)
        if new is None:  # both colours exist: replace the one without traffic
            serving = {k for k, v in (ep.traffic or {}).items() if v}
            new = next((c for c in COLORS if c not in serving), COLORS[0])
        progress(f"creating deployment {new} of {model} on endpoint {endpoint} "
                 f"({self.instance_count} x {self.instance_type}); the others keep the traffic")
        deployment = ManagedOnlineDeployment(name=new, endpoint_name=endpoint, model=model,
                                             instance_type=self.instance_type,
                                             instance_count=self.instance_count)
        poller = self._call(lambda: self._ml.online_deployments.begin_create_or_update(deployment),
                            f"create deployment {new!r} of {endpoint!r}", new)
        if not wait:
            progress(f"not waiting: deployment {new} gets no traffic until it is healthy and "
                     f"you deploy again with --wait")
            return self.get_endpoint(endpoint)
        self._wait_healthy(endpoint, new, poller, progress)
        self._move_traffic(endpoint, new, 100 if traffic is None else traffic, progress)
        return self.get_endpoint(endpoint)

    def _wait_healthy(self, endpoint: str, name: str, poller: Any, progress: Progress) -> None:
        """Wait on the SDK's poller (it alone polls the deployment) with a progress line."""
        from azure.core.exceptions import AzureError

        def poll() -> tuple[bool, str]:
            if not poller.done():
                return False, _text(poller.status())
            try:
                found = poller.result()
            except AzureError as exc:
                state = f"failed ({(getattr(exc, 'message', None) or str(exc)).splitlines()[0]})"
            else:
                state = _text(getattr(found, "provisioning_state", None)) or "Succeeded"
            if state != "Succeeded":
                raise DeployError(f"deployment {name!r} of online endpoint {endpoint!r} in the "
                                  f"{self.backend.describe()}: {state}; the old deployment keeps "
                                  f"the traffic.{self._logs(endpoint, name)}")
            return True, state

        def pause(seconds: float) -> None:
            try:
                poller.wait(seconds)  # returns early when the deployment is done
            except AzureError:
                pass  # a failure: the next poll reads it from the poller

        wait_for(poll, what=f"deployment {name} of {endpoint}", timeout=self.timeout,
                 interval=self.poll_seconds, progress=progress, sleep=pause, clock=self.clock)

    def _logs(self, endpoint: str, name: str) -> str:
        try:
            text = self._ml.online_deployments.get_logs(name=name, endpoint_name=endpoint,
                                                        lines=LOG_LINES)
        except Exception as exc:  # logs are a courtesy: never hide the failure itself
            text = f"(could not fetch them: {exc})"
        return f"\n  container logs of {name}:\n{log_tail(text, LOG_LINES)}"

    def _move_traffic(self, endpoint: str, new: str, percent: int, progress: Progress) -> None:
        ep = self._call(lambda: self._ml.online_endpoints.get(endpoint),
                        f"get online endpoint {endpoint!r}", endpoint)
        old = {k: v for k, v in (ep.traffic or {}).items() if k != new and v}
        split = {new: percent if old else 100}  # the only deployment takes everything
        if old:  # the rest stays with the deployment that served the most
            split.update(dict.fromkeys(old, 0))
            split[max(old, key=old.get)] = 100 - percent
        ep.traffic = split
        progress(f"traffic of {endpoint}: " + ", ".join(f"{k} {v}%" for k, v in split.items()))
        self._call(lambda: self._ml.online_endpoints.begin_create_or_update(ep).result(),
                   f"set the traffic of {endpoint!r}", endpoint)
        for name, share in split.items():
            if name != new and share == 0:
                progress(f"deleting deployment {name} (no traffic left)")
                self._call(lambda name=name: self._ml.online_deployments.begin_delete(
                    name=name, endpoint_name=endpoint).result(),
                    f"delete deployment {name!r} of {endpoint!r}", name)

    # -- reads, query, delete ---------------------------------------------------------------
    def get_endpoint(self, name: str) -> Endpoint:
        ep = self._call(lambda: self._ml.online_endpoints.get(name),
                        f"get online endpoint {name!r}", name)
        deployments = self._call(lambda: list(self._ml.online_deployments.list(name)),
                                 f"list deployments of {name!r}", name)
        return _endpoint(ep, deployments)

    def list_endpoints(self) -> list[Endpoint]:
        found = self._call(lambda: list(self._ml.online_endpoints.list()),
                           "list online endpoints")
        return [_endpoint(ep, ()) for ep in found]

    def query(self, name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        request: dict[str, Any] = {"input_data": to_split(payload)}
        if payload.get("params"):
            request["params"] = dict(payload["params"])
        with tempfile.TemporaryDirectory(prefix="trackbridge-query-") as tmp:
            path = Path(tmp) / "request.json"
            path.write_text(json.dumps(request))
            answer = self._call(lambda: self._ml.online_endpoints.invoke(
                endpoint_name=name, request_file=str(path)), f"query online endpoint {name!r}",
                name)
        try:
            return normalize_predictions(json.loads(answer))
        except (TypeError, ValueError):
            raise BackendError(f"online endpoint {name!r} answered something that is not JSON: "
                               f"{str(answer)[:200]!r}") from None

    def delete_endpoint(self, name: str) -> None:
        self._call(lambda: self._ml.online_endpoints.begin_delete(name=name).result(),
                   f"delete online endpoint {name!r}", name)


def _endpoint(ep: Any, deployments: Any) -> Endpoint:
    state = _text(ep.provisioning_state) or "Unknown"
    served = tuple(f"{d.name}: {_model_name(d.model)}" for d in deployments)
    traffic = {k: int(v) for k, v in (ep.traffic or {}).items()}
    return Endpoint(name=ep.name, state=state, url=ep.scoring_uri, served=served, traffic=traffic,
                    ready=state == "Succeeded" and any(traffic.values()))


def _model_name(model: Any) -> str:
    """``churn:2`` from an ARM id ``.../models/churn/versions/2`` or ``azureml:churn:2``."""
    text = str(getattr(model, "id", None) or model or "")
    if "/models/" in text and "/versions/" in text:
        name, _, version = text.split("/models/", 1)[1].partition("/versions/")
        return f"{name}:{version}"
    return text.removeprefix("azureml:")


def _text(state: Any) -> str | None:
    """An SDK state (a str enum or a string) as its plain value."""
    return None if state is None else str(getattr(state, "value", state))
