"""``/models`` and ``/models/<name>``: the configured backend's model registry."""

from __future__ import annotations

from typing import Any

from ...errors import ConfigError
from ...models.registry import ModelVersion, registry_for
from ..rendering import url_path
from ..state import UIState


def _version(v: ModelVersion) -> dict[str, Any]:
    return {**v.as_dict(), "run_url": f"/runs/{url_path(v.run_id)}" if v.run_id else None}


def models_page(state: UIState) -> dict[str, Any]:
    """Every registered model: version count, latest version, aliases. A registry that
    cannot list models is reported in ``error``."""
    try:
        registry = registry_for(state.backend)
        names = registry.list_models()
    except ConfigError as exc:
        return {"backend": state.title, "models": [], "error": str(exc)}
    rows = []
    for name in names:
        versions = registry.list_versions(name)
        rows.append({
            "name": name, "url": f"/models/{url_path(name)}", "versions": len(versions),
            "latest": versions[-1].version if versions else None,
            "aliases": {a: v.version for v in versions for a in v.aliases},
            "updated": max((v.created_time or 0 for v in versions), default=None) or None,
        })
    return {"backend": state.title, "models": rows, "error": None}


def model_page(state: UIState, name: str) -> dict[str, Any]:
    """Every version of ``name``, newest first (unknown name -> ModelVersionNotFoundError)."""
    versions = registry_for(state.backend).list_versions(name)
    return {"backend": state.title, "name": name,
            "versions": [_version(v) for v in reversed(versions)]}
