"""Sync benchmark: one run (100,000 points, 20 params, 50 MB of artifacts) copied to a local
MLflow tracking server, by ``trackbridge sync`` (through the Databricks plugin) and by MLflow's
own client (``MlflowClient.log_batch`` in 1000-point chunks and ``log_artifacts``), in one run.
Requests are counted by a pass-through proxy in front of the server.

    .venv/bin/python bench/sync_bench.py [--points 100000] [--mb 50]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testsupport.faults import FaultProxy  # noqa: E402
from testsupport.servers import HOST, free_port, start_group, stop_group, wait_until_up  # noqa: E402


def start_mlflow(root: Path):
    port = free_port()
    (root / "art").mkdir()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = start_group([sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", str(port),
                        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                        "--artifacts-destination", str(root / "art"), "--workers", "1"],
                       root / "server.log", env=env, cwd=root)
    url = f"http://{HOST}:{port}"
    wait_until_up(f"{url}/health", proc, root / "server.log", "mlflow server")
    return proc, url


def make_data(root: Path, n_points: int, megabytes: int):
    files = root / "files"
    (files / "model").mkdir(parents=True)
    per_file = megabytes * 1024 * 1024 // 5
    for i in range(5):
        (files / "model" / f"shard-{i}.bin").write_bytes(os.urandom(per_file))
    t0 = int(time.time() * 1000)
    points = [(("loss", "acc", "lr", "grad_norm")[i % 4], 1.0 / (i + 1), t0 + i, i // 4)
              for i in range(n_points)]
    params = {f"param_{i}": str(i) for i in range(20)}
    return files, points, params


def bench_trackbridge(root: Path, proxy: FaultProxy, files: Path, points, params) -> dict:
    import trackbridge as tb
    from trackbridge.config import load_config
    from trackbridge.local.store import LocalBackend
    from trackbridge.registry import open_backend
    from trackbridge.sync import SyncPlan, select_runs, sync

    store_path = root / "tbruns"
    with tb.start_run(experiment="bench", config={"local": {"path": str(store_path)}}) as run:
        run.log_params(params)
        for key, value, ts, step in points:
            run.log_metric(key, value, step=step, timestamp=ts)
        run.log_artifacts(files)
    os.environ.update(DATABRICKS_TOKEN="bench", DATABRICKS_CONFIG_FILE=os.devnull)
    config = load_config({"backend": "databricks", "experiment": "/Shared/bench-trackbridge",
                          "databricks": {"host": proxy.url, "max_requests_per_second": 0}})
    source = LocalBackend(store_path)
    plan = SyncPlan(source, open_backend(config), source, experiment=config.experiment)
    import databricks.sdk  # noqa: F401  (imported before the clock starts, as mlflow is below)

    proxy.counts.clear()
    start = time.perf_counter()
    [report] = sync(plan, select_runs(source))
    seconds = time.perf_counter() - start
    assert report.error is None, report.error
    return {"seconds": seconds, "requests": sum(proxy.writes().values()),
            "all_requests": sum(proxy.counts.values()), "by_path": dict(proxy.counts)}


def bench_mlflow(proxy: FaultProxy, files: Path, points, params) -> dict:
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=proxy.url)
    proxy.counts.clear()
    start = time.perf_counter()
    exp = client.create_experiment("bench-mlflow")
    run_id = client.create_run(exp).info.run_id
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
    for i in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=[Metric(k, v, ts, s) for k, v, ts, s in points[i:i + 1000]])
    client.log_artifacts(run_id, str(files))
    client.set_terminated(run_id)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "requests": sum(proxy.writes().values()),
            "all_requests": sum(proxy.counts.values()), "by_path": dict(proxy.counts)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--mb", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proc, url = start_mlflow(root)
        proxy = FaultProxy(url).start()
        try:
            files, points, params = make_data(root, args.points, args.mb)
            ours = bench_trackbridge(root, proxy, files, points, params)
            theirs = bench_mlflow(proxy, files, points, params)
        finally:
            proxy.stop()
            stop_group(proc)
    print(f"sync of 1 run: {args.points:,} points, 20 params, {args.mb} MB in 5 files -> MLflow server")
    print("| client | wall time | non-GET requests | all requests |")
    print("| --- | --- | --- | --- |")
    for name, r in (("trackbridge sync", ours), ("MLflow client", theirs)):
        print(f"| {name} | {r['seconds']:.1f} s | {r['requests']} | {r['all_requests']} |")
    print(f"ratio (MLflow / trackbridge wall time): {theirs['seconds'] / ours['seconds']:.2f}x")
    if os.environ.get("BENCH_VERBOSE"):
        for name, r in (("trackbridge", ours), ("mlflow", theirs)):
            print(name, sorted(r["by_path"].items()))


if __name__ == "__main__":
    main()
