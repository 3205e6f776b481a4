"""MLflow stores written by real MLflow (in a subprocess), and snapshots of what MLflow's own
client reads back, for exact comparisons that never go through the code under test."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

WRITER = r'''
import math, os, sys
from pathlib import Path
import mlflow
import pandas as pd

uri, experiment, points = sys.argv[1], sys.argv[2], int(sys.argv[3])
mlflow.set_tracking_uri(uri)
mlflow.set_experiment(experiment)
files = Path("files")
(files / "deep").mkdir(parents=True, exist_ok=True)
(files / "weights.bin").write_bytes(bytes(range(256)) * 300)
(files / "deep" / "notes.txt").write_text("épochs\n")
(files / "empty.txt").write_text("")
t0 = 1_760_000_000_000
with mlflow.start_run(run_name="parent", tags={"team": "ml"}) as parent:
    mlflow.log_params({f"p{i}": f"value-{i}" for i in range(150)})
    batch = [mlflow.entities.Metric("loss", 1.0 / (i + 1), t0 + i, i) for i in range(points)]
    batch += [mlflow.entities.Metric("odd", v, t0, s) for s, v in
              enumerate([math.nan, math.inf, -math.inf, -0.5, 1e300])]
    client = mlflow.MlflowClient()
    for start in range(0, len(batch), 1000):
        client.log_batch(parent.info.run_id, metrics=batch[start:start + 1000])
    mlflow.log_artifacts(str(files), "model")
    mlflow.log_input(mlflow.data.from_pandas(pd.DataFrame({"x": [1, 2, 3]}), name="train"),
                     context="training")
    with mlflow.start_run(run_name="child", nested=True) as child:
        mlflow.log_param("fold", "1")
        client.log_batch(child.info.run_id, metrics=[
            mlflow.entities.Metric("acc", i / points, t0 + i, i) for i in range(points // 3)])
        with mlflow.start_run(run_name="grandchild", nested=True):
            mlflow.log_metric("acc", 0.5, step=0, timestamp=t0)
            mlflow.set_tag("depth", "2")
    with mlflow.start_run(run_name="failed", nested=True) as failed:
        mlflow.log_metric("loss", 9.0, step=0, timestamp=t0)
    client.set_terminated(failed.info.run_id, "FAILED")
'''


def mlflow_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    env.update(MLFLOW_ALLOW_FILE_STORE="true", MLFLOW_DISABLE_TELEMETRY="true", **extra)
    return env


def write_store(cwd: Path, uri: str, experiment: str, points: int) -> None:
    """Real MLflow logs the runs (see WRITER) into ``uri``, run from ``cwd``."""
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", WRITER, uri, experiment, str(points)], cwd=cwd,
                          env=mlflow_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


#: MLflow's SQL stores (the server's) keep +/-inf as +/-DBL_MAX, and its client returns that
DBL_MAX = 1.7976931348623157e308


def point_value(v: float) -> object:
    """A metric value as a comparable token (NaN equal to NaN, DBL_MAX as inf)."""
    if math.isnan(v):
        return "nan"
    return math.copysign(math.inf, v) if abs(v) == DBL_MAX else v


def snapshot(tracking_uri: str, experiment: str, tmp: Path) -> dict[str, dict]:
    """What MLflow's client reads of every run of ``experiment``, keyed by run name, with
    ids replaced by run names (so a source and its copy compare equal)."""
    from mlflow import MlflowClient

    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} at {tracking_uri}"
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    names = {r.info.run_id: r.info.run_name for r in runs}
    out = {}
    for r in runs:
        tags = {k: v for k, v in r.data.tags.items()
                if k not in ("trackbridge.source_run_id", "mlflow.parentRunId")}
        parent = r.data.tags.get("mlflow.parentRunId")
        metrics = {}
        for key in r.data.metrics:
            history = client.get_metric_history(r.info.run_id, key)
            metrics[key] = sorted((m.step, m.timestamp, point_value(m.value)) for m in history)
        files = {}
        pending = [None]
        while pending:
            for f in client.list_artifacts(r.info.run_id, pending.pop()):
                if f.is_dir:
                    pending.append(f.path)
                else:
                    local = client.download_artifacts(r.info.run_id, f.path, str(tmp))
                    files[f.path] = Path(local).read_bytes()
        out[r.info.run_name] = {
            "status": r.info.status, "start_time": r.info.start_time,
            "end_time": r.info.end_time, "params": r.data.params, "tags": tags,
            "parent": names.get(parent) if parent else None, "metrics": metrics,
            "files": files,
            "inputs": sorted((i.dataset.name, i.dataset.digest, i.dataset.source_type,
                              i.dataset.schema, tuple(sorted((t.key, t.value) for t in i.tags)))
                             for i in (r.inputs.dataset_inputs if r.inputs else [])),
        }
    return out
