"""Databricks Model Serving as a trackbridge deploy target (``w.serving_endpoints``).

``deploy``: a ``models:/catalog.schema.model/<version>`` URI is served as it is; anything else
(a synced ``runs:/`` model, a workspace-registry version's run) is first registered in Unity
Catalog as ``[databricks.serving] model_name`` through the plugin's registry, which needs a
signature with inputs *and* outputs. Then ``serving_endpoints.create`` (new endpoint) or
``update_config`` (existing one) with one served entity (that version, ``workload_size``,
``scale_to_zero``), and with ``wait`` a poll of ``serving_endpoints.get`` until ``state.ready``
is READY and ``state.config_update`` NOT_UPDATING (the SDK's own waiter stops at
NOT_UPDATING). On UPDATE_FAILED / UPDATE_CANCELED the served model's build logs and server
logs are fetched and shown.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from trackbridge.deploy import (
    DeployError,
    DeploySource,
    DeployTarget,
    Endpoint,
    Progress,
    log_tail,
    wait_for,
)
from trackbridge.errors import ConfigError, NotFoundError
from trackbridge.models.errors import ModelError

from .registry import DatabricksModelRegistry, is_unity_catalog

if TYPE_CHECKING:
    from .backend import DatabricksBackend

LOG_LINES = 40


class DatabricksServingTarget(DeployTarget):
    backend_name: ClassVar[str] = "databricks"
    settings_keys: ClassVar[Mapping[str, Any]] = {
        "workload_size": str, "workload_type": str, "scale_to_zero": bool}
    backend: DatabricksBackend

    def __init__(self, backend: DatabricksBackend, settings: Mapping[str, Any]) -> None:
        super().__init__(backend, settings)
        s = self.settings
        if self.model_name is not None and not is_unity_catalog(self.model_name):
            raise ConfigError(f"[databricks.serving] model_name must be a Unity Catalog name "
                              f"catalog.schema.model, got {self.model_name!r}")
        self.workload_size = s.get("workload_size", "Small")
        self.workload_type = s.get("workload_type")
        self.scale_to_zero = s.get("scale_to_zero", True)
        self.sleep = time.sleep  # tests replace it (and clock)

    @property
    def _api(self) -> Any:
        return self.backend.client.serving_endpoints

    def _call(self, fn: Any, what: str, *, safe: bool = True) -> Any:
        """Through the backend's throttle, retries and error translation (404: NotFoundError)."""
        return self.backend.call(fn, what=what, safe=safe, not_found=NotFoundError)

    # -- deploy -----------------------------------------------------------------------------
    def _uc_version(self, source: DeploySource, endpoint: str, progress: Progress) -> tuple[str, int]:
        if source.version is not None and is_unity_catalog(source.version.name):
            return source.version.name, source.version.version
        signature = source.signature() or {}
        if not signature.get("inputs") or not signature.get("outputs"):
            raise ModelError(
                f"Unity Catalog (which Databricks Model Serving serves from) needs a model "
                f"signature with inputs and outputs; {source.uri} has "
                f"{'no signature' if not signature else 'no outputs in its signature'}. Log it "
                f"with input_example= (outputs are inferred from predict) or signature=")
        if self.model_name is None:
            raise ConfigError(f"{source.uri} is not a Unity Catalog model version: set "
                              f"[databricks.serving] model_name = \"catalog.schema.model\" to "
                              f"register it there, or deploy models:/catalog.schema.model/<version>")
        run = source.run
        if run is None:
            raise ConfigError(f"{source.uri} is a workspace-registry version; Model Serving "
                              f"deploys Unity Catalog versions here: deploy "
                              f"models:/catalog.schema.model/<version>, or the runs:/ URI of the "
                              f"version's run to register it as {self.model_name}")
        progress(f"registering {source.uri} in Unity Catalog as {self.model_name}")
        created = DatabricksModelRegistry(self.backend).create_version(self.model_name, run)
        return created.name, created.version

    def _served_entity(self, name: str, version: int) -> Any:
        from databricks.sdk.service.serving import ServedEntityInput

        entity = ServedEntityInput(entity_name=name, entity_version=str(version),
                                   workload_size=self.workload_size,
                                   scale_to_zero_enabled=self.scale_to_zero)
        if self.workload_type:
            entity.workload_type = self.workload_type
        return entity

    def deploy(self, source: DeploySource, endpoint: str, *, wait: bool, traffic: int | None,
               progress: Progress) -> Endpoint:
        from databricks.sdk.service.serving import EndpointCoreConfigInput

        if traffic not in (None, 100):
            raise ConfigError("--traffic is for Azure ML; a Databricks endpoint serves one "
                              "version here (its update is atomic: the old version serves until "
                              "the new one is ready)")
        name, version = self._uc_version(source, endpoint, progress)
        entity = self._served_entity(name, version)
        if self._exists(endpoint):
            progress(f"updating endpoint {endpoint} to serve {name} version {version}")
            self._call(lambda: self._api.update_config(endpoint, served_entities=[entity]),
                       f"update serving endpoint {endpoint!r}")
        else:
            progress(f"creating endpoint {endpoint} serving {name} version {version}")
            config = EndpointCoreConfigInput(name=endpoint, served_entities=[entity])
            self._call(lambda: self._api.create(endpoint, config=config),
                       f"create serving endpoint {endpoint!r}", safe=False)
        if wait:
            self._wait(endpoint, progress)
        return self.get_endpoint(endpoint)

    def _exists(self, endpoint: str) -> bool:
        try:
            self.get_endpoint(endpoint)
        except NotFoundError:
            return False
        return True

    def _wait(self, endpoint: str, progress: Progress) -> None:
        def poll() -> tuple[bool, str]:
            detail = self._call(lambda: self._api.get(endpoint), f"get serving endpoint "
                                f"{endpoint!r}")
            ready, update = _state(detail)
            if update in ("UPDATE_FAILED", "UPDATE_CANCELED"):
                raise DeployError(f"serving endpoint {endpoint!r} in the "
                                  f"{self.backend.describe()}: config update {update}."
                                  f"{self._logs(endpoint, detail)}")
            return ready == "READY" and update == "NOT_UPDATING", f"{ready}, {update}"

        wait_for(poll, what=f"endpoint {endpoint}", timeout=self.timeout,
                 interval=self.poll_seconds, progress=progress, sleep=self.sleep,
                 clock=self.clock)

    def _logs(self, endpoint: str, detail: Any) -> str:
        pending = getattr(detail, "pending_config", None)
        entities = getattr(pending, "served_entities", None) or \
            getattr(getattr(detail, "config", None), "served_entities", None) or []
        parts = []
        for entity in entities:
            served = entity.name
            for kind, fetch in (("build logs", self._api.build_logs), ("server logs",
                                                                        self._api.logs)):
                try:
                    text = self._call(lambda fetch=fetch, served=served: fetch(endpoint, served),
                                      f"get {kind} of {served}").logs
                except Exception as exc:  # logs are a courtesy: never hide the failure itself
                    text = f"(could not fetch them: {exc})"
                parts.append(f"\n  {kind} of served model {served}:\n{log_tail(text, LOG_LINES)}")
        return "".join(parts)

    # -- reads, query, delete ---------------------------------------------------------------
    def get_endpoint(self, name: str) -> Endpoint:
        detail = self._call(lambda: self._api.get(name), f"get serving endpoint {name!r}",
                            )
        return _endpoint(detail, self.backend.client.config.host)

    def list_endpoints(self) -> list[Endpoint]:
        host = self.backend.client.config.host
        found = self._call(lambda: list(self._api.list()), "list serving endpoints")
        return [_endpoint(e, host) for e in found]

    def query(self, name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        from databricks.sdk.service.serving import DataframeSplitInput

        if "params" in payload:  # the SDK's query() has no params: post MLflow's payload as is
            answer = self._call(lambda: self.backend.client.api_client.do(
                "POST", f"/serving-endpoints/{name}/invocations", body=dict(payload),
                headers={"Accept": "application/json", "Content-Type": "application/json"}),
                f"query serving endpoint {name!r}")
            return {"predictions": answer.get("predictions")}
        kwargs: dict[str, Any] = {}
        if "dataframe_split" in payload:
            kwargs["dataframe_split"] = DataframeSplitInput.from_dict(payload["dataframe_split"])
        else:
            key = next(k for k in ("dataframe_records", "instances", "inputs") if k in payload)
            kwargs[key] = payload[key]
        answer = self._call(lambda: self._api.query(name, **kwargs),
                            f"query serving endpoint {name!r}")
        return {"predictions": answer.predictions}

    def delete_endpoint(self, name: str) -> None:
        self.get_endpoint(name)  # a clear "no such endpoint" instead of a silent no-op
        self._call(lambda: self._api.delete(name), f"delete serving endpoint {name!r}")


def _state(detail: Any) -> tuple[str, str]:
    state = getattr(detail, "state", None)
    ready = getattr(getattr(state, "ready", None), "value", None) or "UNKNOWN"
    update = getattr(getattr(state, "config_update", None), "value", None) or "UNKNOWN"
    return ready, update


def _endpoint(detail: Any, host: str | None) -> Endpoint:
    ready, update = _state(detail)
    config = getattr(detail, "config", None)
    entities = getattr(config, "served_entities", None) or []
    served = tuple(f"{e.entity_name}/{e.entity_version}" for e in entities if e.entity_name)
    routes = getattr(getattr(config, "traffic_config", None), "routes", None) or []
    traffic = {r.served_model_name or r.served_entity_name: int(r.traffic_percentage or 0)
               for r in routes}
    url = f"{host.rstrip('/')}/serving-endpoints/{detail.name}/invocations" if host else None
    return Endpoint(name=detail.name, state=f"{ready} ({update})", url=url, served=served,
                    traffic=traffic, ready=ready == "READY" and update == "NOT_UPDATING")
