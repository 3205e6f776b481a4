"""MLflow's file store (``mlruns/``), read in place.

Layout (MLflow 1.x to 3.x): ``<root>/<experiment id>/meta.yaml`` (name, lifecycle stage),
``<root>/<experiment id>/<run id>/meta.yaml`` (name, status as RunStatus number, times, artifact
URI), and per run ``metrics/<key>`` (one ``timestamp value [step]`` line per point, ``nan`` /
``inf`` spelled out), ``params/<key>`` and ``tags/<key>`` (the value is the file), keys with
``/`` as sub-directories; ``inputs/<id>/meta.yaml`` link to ``<experiment>/datasets/<id>``.
Deleted experiments and runs (lifecycle stage ``deleted``, ``.trash/``) are not listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from trackbridge.entities import TAG_PARENT_RUN_ID, TAG_RUN_NAME, Experiment, Metric, Run
from trackbridge.errors import BackendError

from .base import RUN_STATUS, ReadOnlyStore, local_dir

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _meta(path: Path) -> dict[str, Any] | None:
    try:
        with open(path / "meta.yaml", encoding="utf-8") as f:
            data = yaml.load(f, Loader=_Loader)  # noqa: S506 - a safe loader
    except FileNotFoundError:
        return None
    except yaml.YAMLError as exc:
        raise BackendError(f"{path / 'meta.yaml'} is not valid YAML: {exc}") from None
    return data if isinstance(data, dict) else None


def _values(folder: Path) -> dict[str, str]:
    """key -> file contents for every file under ``folder`` (keys with '/' are sub-dirs)."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
            for p in folder.rglob("*") if p.is_file()}


def read_points(path: Path, key: str) -> list[Metric]:
    """Every point of one metric file, in the order logged."""
    points = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 2:
                continue
            step = int(fields[2]) if len(fields) > 2 else 0
            points.append(Metric(key, float(fields[1]), int(fields[0]), step))
    return points


def latest(points: Sequence[Metric]) -> float:
    """MLflow's latest value: the point with the highest step, then timestamp."""
    best = max(points, key=lambda m: (m.step, m.timestamp))
    return best.value


class FileStore(ReadOnlyStore):
    kind = "file store"

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        if not self.root.is_dir():
            raise BackendError(f"MLflow file store {self.root} does not exist (tracking_uri "
                               f"{settings.tracking_uri!r})")
        self._run_dirs: dict[str, Path] = {}

    # -- experiments ----------------------------------------------------------------------
    def _experiment_dirs(self) -> list[tuple[Path, dict[str, Any]]]:
        out = []
        for child in sorted(self.root.iterdir()):
            if not child.is_dir() or child.name.startswith("."):
                continue
            meta = _meta(child)
            if meta and "name" in meta and meta.get("lifecycle_stage", "active") == "active":
                out.append((child, meta))
        return out

    def list_experiments(self) -> list[Experiment]:
        return [Experiment(str(m.get("experiment_id", d.name)), m["name"],
                           m.get("artifact_location")) for d, m in self._experiment_dirs()]

    # -- runs -----------------------------------------------------------------------------
    def _runs_in(self, exp_dir: Path, exp_meta: dict[str, Any]) -> list[Run]:
        runs = []
        for child in sorted(exp_dir.iterdir()):
            if not child.is_dir() or child.name in ("datasets", "models", "traces"):
                continue
            meta = _meta(child)
            if not meta or not (meta.get("run_id") or meta.get("run_uuid")):
                continue
            if meta.get("lifecycle_stage", "active") != "active":
                continue
            runs.append(self._run(child, meta, exp_meta))
        return runs

    def _run(self, run_dir: Path, meta: dict[str, Any], exp_meta: dict[str, Any]) -> Run:
        run_id = str(meta.get("run_id") or meta["run_uuid"])
        self._run_dirs[run_id] = run_dir
        tags = _values(run_dir / "tags")
        metrics = {}
        for path in (run_dir / "metrics").rglob("*") if (run_dir / "metrics").is_dir() else ():
            if path.is_file():
                key = path.relative_to(run_dir / "metrics").as_posix()
                points = read_points(path, key)
                if points:
                    metrics[key] = latest(points)
        status = meta.get("status", 1)
        end = meta.get("end_time")
        return Run(
            id=run_id, experiment_id=str(meta.get("experiment_id", run_dir.parent.name)),
            experiment=exp_meta["name"], name=meta.get("run_name") or tags.get(TAG_RUN_NAME),
            status=RUN_STATUS.get(status, status) if isinstance(status, int) else str(status),
            start_time=int(meta.get("start_time") or 0),
            end_time=int(end) if end is not None else None,
            params=_values(run_dir / "params"), metrics=metrics, tags=tags,
            artifact_uri=meta.get("artifact_uri"), parent_run_id=tags.get(TAG_PARENT_RUN_ID))

    def runs_of(self, experiment_ids: Sequence[str]) -> list[Run]:
        wanted = set(experiment_ids)
        return [run for d, m in self._experiment_dirs()
                if not wanted or str(m.get("experiment_id", d.name)) in wanted
                for run in self._runs_in(d, m)]

    def _run_dir(self, run_id: str) -> Path:
        found = self._run_dirs.get(run_id)
        if found is None:
            for exp_dir, _ in self._experiment_dirs():
                if (exp_dir / run_id / "meta.yaml").is_file():
                    found = self._run_dirs[run_id] = exp_dir / run_id
                    break
        if found is None or not (found / "meta.yaml").is_file():
            raise self._missing_run(run_id)
        return found

    def get_run(self, run_id: str) -> Run:
        run_dir = self._run_dir(run_id)
        meta = _meta(run_dir) or {}
        if meta.get("lifecycle_stage", "active") != "active":
            raise self._missing_run(run_id)
        return self._run(run_dir, meta, _meta(run_dir.parent) or {"name": run_dir.parent.name})

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        path = self._run_dir(run_id) / "metrics" / key
        if not path.is_file():
            return []
        points = read_points(path, key)
        points.sort(key=lambda m: (m.step, m.timestamp))
        return points

    # -- inputs and artifacts -------------------------------------------------------------
    def dataset_inputs(self, run_id: str) -> list[dict[str, Any]]:
        run_dir = self._run_dir(run_id)
        out = []
        inputs = run_dir / "inputs"
        for link in sorted(inputs.iterdir()) if inputs.is_dir() else ():
            meta = _meta(link)
            if not meta or meta.get("source_type") != "DATASET":
                continue
            ds = _meta(run_dir.parent / "datasets" / str(meta["source_id"]))
            if ds is None:
                continue
            dataset = {k: ds.get(k) for k in ("name", "digest", "source_type", "source",
                                             "schema", "profile") if ds.get(k) is not None}
            tags = [{"key": k, "value": str(v)} for k, v in (meta.get("tags") or {}).items()]
            out.append({"dataset": dataset, "tags": tags})
        return out

    def artifact_dir(self, run_id: str) -> Path | None:
        run_dir = self._run_dir(run_id)
        meta = _meta(run_dir) or {}
        uri = meta.get("artifact_uri")
        logged = local_dir(uri)
        if logged is not None and logged.is_dir():
            return logged
        if logged is not None or not uri:  # the store was moved: its files came along
            return run_dir / "artifacts"
        return None

