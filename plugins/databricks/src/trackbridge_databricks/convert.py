"""Between trackbridge's entities and the MLflow REST / databricks-sdk shapes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from trackbridge.entities import TAG_PARENT_RUN_ID, TAG_RUN_NAME, Dataset, DatasetInput, Metric, Run


def wire_float(value: float) -> float | str:
    """A metric value for JSON: protobuf's JSON mapping spells non-finite numbers as strings
    ("NaN", "Infinity", "-Infinity"), which both Databricks and MLflow servers accept."""
    if math.isfinite(value):
        return float(value)
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


#: SQL-backed MLflow stores keep +/-inf as +/-DBL_MAX (SQL has no infinity) and return that.
_DBL_MAX = 1.7976931348623157e308


def read_float(value: Any) -> float:
    """A metric value from JSON (a number, or a protobuf non-finite string).

    +/-DBL_MAX reads back as +/-inf: that is how MLflow's SQL store saves infinities, so a
    logged inf round-trips (the price: a logged DBL_MAX itself reads back as inf).
    """
    number = float(value) if value is not None else math.nan
    if abs(number) == _DBL_MAX:
        return math.copysign(math.inf, number)
    return number


def metric_json(m: Metric) -> dict[str, Any]:
    return {"key": m.key, "value": wire_float(m.value), "timestamp": int(m.timestamp),
            "step": int(m.step)}


def metric_from_json(d: dict[str, Any]) -> Metric:
    return Metric(d["key"], read_float(d.get("value")), int(d.get("timestamp") or 0),
                  int(d.get("step") or 0))


def _pairs(items: Any) -> dict[str, str]:
    return {i["key"]: i.get("value", "") for i in items or ()}


def run_from_json(d: dict[str, Any], experiment_name: str) -> Run:
    """A ``Run`` from the REST shape ``{info: {...}, data: {metrics, params, tags}}``."""
    info, data = d.get("info", {}), d.get("data", {})
    tags = _pairs(data.get("tags"))
    end_time = info.get("end_time")
    return Run(
        id=info.get("run_id") or info["run_uuid"],
        experiment_id=str(info["experiment_id"]),
        experiment=experiment_name,
        name=info.get("run_name") or tags.get(TAG_RUN_NAME),
        status=info.get("status", "RUNNING"),
        start_time=int(info.get("start_time") or 0),
        end_time=int(end_time) if end_time is not None else None,
        params=_pairs(data.get("params")),
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


def inputs_from_json(run: dict[str, Any]) -> list[DatasetInput]:
    """The dataset inputs of a ``runs/get`` answer's ``run``."""
    found = run.get("inputs", {}).get("dataset_inputs", [])
    return [DatasetInput(Dataset(**{f: d["dataset"].get(f) for f in Dataset._fields}),
                         {t["key"]: t["value"] for t in d.get("tags", [])}) for d in found]
