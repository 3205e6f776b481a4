"""A logged model's summary for the run page: flavors, signature and requirements, read from
the ``MLmodel`` and ``requirements.txt`` artifacts of each model directory of the run."""

from __future__ import annotations

import json
import posixpath
from typing import Any

from ..state import UIState
from .artifacts import local_copy

MAX_FILE_BYTES = 1024 * 1024


def _read_text(state: UIState, run_id: str, path: str) -> str | None:
    file, temporary = local_copy(state, run_id, path)
    try:
        with file.open("rb") as f:
            return f.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")
    finally:
        if temporary:
            file.unlink(missing_ok=True)


def _columns(spec: Any) -> list[dict[str, Any]]:
    """MLflow signature inputs/outputs (a JSON string or a list) as ``{"name", "type"}``."""
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except ValueError:
            return [{"name": None, "type": spec}]
    if not isinstance(spec, list):
        return []
    out = []
    for col in spec:
        if isinstance(col, dict):
            kind = col.get("type")
            if kind == "tensor":
                info = col.get("tensor-spec", {})
                kind = f"tensor {info.get('dtype', '')} {info.get('shape', '')}".strip()
            out.append({"name": col.get("name"), "type": kind})
    return out


def logged_models(state: UIState, run_id: str, files: dict[str, int | None]) -> list[dict[str, Any]]:
    """One entry per ``MLmodel`` file among ``files``; an unreadable one says why."""
    import yaml

    found = []
    for path in files:
        if posixpath.basename(path) != "MLmodel":
            continue
        folder = posixpath.dirname(path)
        entry: dict[str, Any] = {"path": folder, "flavors": [], "inputs": [], "outputs": [],
                                 "requirements": [], "error": None}
        try:
            meta = yaml.safe_load(_read_text(state, run_id, path) or "")
        except yaml.YAMLError as exc:
            meta, entry["error"] = None, f"MLmodel is not valid YAML: {exc}"
        if isinstance(meta, dict):
            for name, conf in (meta.get("flavors") or {}).items():
                conf = conf if isinstance(conf, dict) else {}
                # which version: sklearn's for the sklearn flavor, Python's for python_function
                field = next((k for k in conf if k.endswith("_version")), None)
                entry["flavors"].append({
                    "name": name, "version": None if field is None else str(conf[field]),
                    "version_of": None if field is None else field[:-len("_version")]})
            signature = meta.get("signature") or {}
            entry["inputs"] = _columns(signature.get("inputs"))
            entry["outputs"] = _columns(signature.get("outputs"))
            entry["created"] = meta.get("utc_time_created")
            entry["model_uuid"] = meta.get("model_uuid")
        requirements = posixpath.join(folder, "requirements.txt") if folder else "requirements.txt"
        if requirements in files:
            text = _read_text(state, run_id, requirements) or ""
            entry["requirements"] = [line.strip() for line in text.splitlines()
                                     if line.strip() and not line.startswith("#")]
        found.append(entry)
    return found
