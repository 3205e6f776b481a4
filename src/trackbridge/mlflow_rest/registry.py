"""MLflow's model registry REST API (registered models, versions, aliases) over a ``send``.

The same calls serve an open-source server, a Databricks workspace registry (``prefix`` the
plain API) and Databricks Unity Catalog (``prefix`` ``.../unity-catalog``) for what they share.
``send`` is the transport of :mod:`.tracking`. Unknown models, versions and aliases raise
:class:`~trackbridge.models.errors.ModelVersionNotFoundError` naming them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import BackendError, NotFoundError
from ..models.errors import ModelError, ModelVersionNotFoundError
from ..models.registry import ModelVersion
from .errors import RESOURCE_ALREADY_EXISTS
from .limits import API
from .tracking import Send, paginate

#: how long a new version may stay PENDING_REGISTRATION (seconds)
READY_TIMEOUT = 300.0
SEARCH_PAGE = 1000


def version_from_json(data: Mapping[str, Any], source: str | None = None) -> ModelVersion:
    tags = data.get("tags") or []
    if isinstance(tags, list):
        tags = {t["key"]: t.get("value", "") for t in tags}
    aliases = data.get("aliases") or []
    aliases = tuple(a["alias"] if isinstance(a, Mapping) else a for a in aliases)
    created = data.get("creation_timestamp")
    return ModelVersion(
        name=data["name"], version=int(data["version"]), source=source or data.get("source", ""),
        run_id=data.get("run_id") or None,
        created_time=int(created) if created is not None else None,
        description=data.get("description") or None, tags=tags, aliases=aliases,
        storage_location=data.get("storage_location"), status=data.get("status"))


class RegistryApi:
    """One registry's REST calls; ``describe()`` names it in messages."""

    def __init__(self, send: Send, describe: Callable[[], str], prefix: str = API) -> None:
        self.send = send
        self.describe = describe
        self.prefix = prefix

    def _get(self, path: str, query: Mapping[str, Any], what: str, missing: str) -> dict[str, Any]:
        try:
            return self.send("GET", f"{self.prefix}/{path}", what=what, safe=True, query=query)
        except NotFoundError:
            raise ModelVersionNotFoundError(f"{missing} in the {self.describe()}") from None

    def create_model(self, name: str) -> None:
        """Create the registered model; one that exists already is fine."""
        try:
            self.send("POST", f"{self.prefix}/registered-models/create", safe=True,
                      what=f"create registered model {name!r}", body={"name": name})
        except BackendError as exc:
            if getattr(exc, "error_code", "") != RESOURCE_ALREADY_EXISTS:
                raise

    def create_version(self, name: str, source: str, run_id: str | None, *,
                       description: str | None = None,
                       tags: Mapping[str, str] | None = None) -> ModelVersion:
        """Sent once: a resend after a lost answer would create a second version."""
        body: dict[str, Any] = {"name": name, "source": source}
        if run_id:
            body["run_id"] = run_id
        if description:
            body["description"] = description
        if tags:
            body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        answer = self.send("POST", f"{self.prefix}/model-versions/create", body=body, safe=False,
                           what=f"create a version of model {name!r} from run {run_id}")
        return version_from_json(answer["model_version"])

    def wait_ready(self, name: str, version: int, *, timeout: float = READY_TIMEOUT,
                   sleep: Callable[[float], None] = time.sleep) -> ModelVersion:
        """The version once it is no longer PENDING_REGISTRATION; an error if it failed."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.get_version(name, version=version)
            if found.status != "PENDING_REGISTRATION":
                break
            if time.monotonic() > deadline:
                raise ModelError(f"version {version} of model {name!r} is still pending after "
                                 f"{timeout:.0f} s in the {self.describe()}")
            sleep(1.0)
        if found.status == "FAILED_REGISTRATION":
            raise ModelError(f"the {self.describe()} failed to register version {version} of "
                             f"model {name!r}")
        return found

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self.get_version(name, version=version)  # a clear error for an unknown version
        self.send("POST", f"{self.prefix}/registered-models/alias", safe=True,
                  body={"name": name, "alias": alias, "version": str(version)},
                  what=f"set alias {alias!r} of model {name!r} to version {version}")

    def get_version(self, name: str, *, version: int | None = None,
                    alias: str | None = None) -> ModelVersion:
        if alias is not None:
            data = self._get("registered-models/alias", {"name": name, "alias": alias},
                             f"get alias {alias!r} of model {name!r}",
                             f"model {name!r} has no alias {alias!r}")
        else:
            data = self._get("model-versions/get", {"name": name, "version": str(version)},
                             f"get version {version} of model {name!r}",
                             f"model {name!r} has no version {version}")
        return version_from_json(data["model_version"])

    def _search(self, path: str, items: str, params: dict[str, Any], what: str) -> list[dict]:
        return list(paginate(self.send, "GET", f"{self.prefix}/{path}", items, what=what,
                             params=params))

    def list_versions(self, name: str) -> list[ModelVersion]:
        escaped = name.replace("'", "\\'")
        found = self._search("model-versions/search", "model_versions",
                             {"filter": f"name='{escaped}'", "max_results": SEARCH_PAGE},
                             f"list versions of model {name!r}")
        if not found:
            raise ModelVersionNotFoundError(f"no registered model {name!r} in the {self.describe()}")
        return sorted((version_from_json(v) for v in found), key=lambda v: v.version)

    def list_models(self) -> list[str]:
        found = self._search("registered-models/search", "registered_models",
                             {"max_results": SEARCH_PAGE}, "list registered models")
        return sorted(m["name"] for m in found)
