"""Between trackbridge's entities and the MLflow REST API's JSON shapes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..entities import (
    TAG_PARENT_RUN_ID,
    TAG_RUN_NAME,
    Dataset,
    DatasetInput,
    Experiment,
    Metric,
    Param,
    Run,
    RunTag,
)


def wire_float(value: float) -> float | str:
    """A metric value for JSON: protobuf's JSON mapping spells non-finite numbers as strings
    ("NaN", "Infinity", "-Infinity"), which Databricks, Azure ML and MLflow servers accept."""
    if math.isfinite(value):
        return float(value)
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


#: SQL-backed MLflow stores keep +/-inf as +/-DBL_MAX (SQL has no infinity) and return that.
DBL_MAX = 1.7976931348623157e308


def read_float(value: Any) -> float:
    """A metric value from JSON (a number, or a protobuf non-finite string).

    +/-DBL_MAX reads back as +/-inf: that is how MLflow's SQL store saves infinities, so a
    logged inf round-trips (the price: a logged DBL_MAX itself reads back as inf).
    """
    number = float(value) if value is not None else math.nan
    if abs(number) == DBL_MAX:
        return math.copysign(math.inf, number)
    return number


def metric_json(m: Metric) -> dict[str, Any]:
    return {"key": m.key, "value": wire_float(m.value), "timestamp": int(m.timestamp),
            "step": int(m.step)}


def metric_from_json(d: Mapping[str, Any]) -> Metric:
    return Metric(d["key"], read_float(d.get("value")), int(d.get("timestamp") or 0),
                  int(d.get("step") or 0))


def pairs_json(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """``[{"key": k, "value": v}, ...]``, the API's shape for params and tags."""
    return [{"key": k, "value": v} for k, v in items]


def pairs_from_json(items: Any) -> dict[str, str]:
    return {i["key"]: i.get("value", "") for i in items or ()}


def batch_json(run_id: str, metrics: Sequence[Metric], params: Sequence[Param],
               tags: Sequence[RunTag]) -> dict[str, Any]:
    """The body of ``POST runs/log-batch``."""
    return {"run_id": run_id, "metrics": [metric_json(m) for m in metrics],
            "params": pairs_json(params), "tags": pairs_json(tags)}


def create_run_json(experiment_id: str, *, run_name: str | None, start_time: int,
                    tags: Mapping[str, str], parent_run_id: str | None = None,
                    user_id: str | None = None) -> dict[str, Any]:
    """The body of ``POST runs/create``; the parent link is MLflow's ``mlflow.parentRunId`` tag."""
    all_tags = dict(tags)
    if parent_run_id:
        all_tags.setdefault(TAG_PARENT_RUN_ID, parent_run_id)
    body: dict[str, Any] = {"experiment_id": experiment_id, "start_time": int(start_time),
                            "tags": pairs_json(all_tags.items())}
    if run_name is not None:
        body["run_name"] = run_name
    if user_id:
        body["user_id"] = user_id
    return body


def experiment_from_json(d: Mapping[str, Any]) -> Experiment:
    return Experiment(str(d["experiment_id"]), d["name"], d.get("artifact_location"))


def run_from_json(d: Mapping[str, Any], experiment_name: str) -> Run:
    """A ``Run`` from the REST shape ``{info: {...}, data: {metrics, params, tags}}``."""
    info, data = d.get("info", {}), d.get("data", {})
    tags = pairs_from_json(data.get("tags"))
    end_time = info.get("end_time")
    return Run(
        id=info.get("run_id") or info["run_uuid"],
        experiment_id=str(info["experiment_id"]),
        experiment=experiment_name,
        name=info.get("run_name") or tags.get(TAG_RUN_NAME),
        status=info.get("status", "RUNNING"),
        start_time=int(info.get("start_time") or 0),
        end_time=int(end_time) if end_time is not None else None,
        params=pairs_from_json(data.get("params")),
        metrics={m["key"]: read_float(m.get("value")) for m in data.get("metrics") or ()},
        tags=tags,
        artifact_uri=info.get("artifact_uri"),
        parent_run_id=tags.get(TAG_PARENT_RUN_ID),
    )


def inputs_json(run_id: str, inputs: Sequence[DatasetInput]) -> dict[str, Any]:
    """The body of ``runs/log-inputs`` (fields that are None are left out)."""
    return {"run_id": run_id, "datasets": [
        {"tags": [{"key": k, "value": v} for k, v in i.tags.items()],
         "dataset": {k: v for k, v in i.dataset._asdict().items() if v is not None}}
        for i in inputs]}


def inputs_from_json(run: Mapping[str, Any]) -> list[DatasetInput]:
    """The dataset inputs of a ``runs/get`` answer's ``run`` (or of MLflow's stores)."""
    found = (run.get("inputs") or {}).get("dataset_inputs") or []
    return [DatasetInput(Dataset(**{f: d["dataset"].get(f) for f in Dataset._fields}),
                         {t["key"]: t["value"] for t in d.get("tags") or []}) for d in found]
