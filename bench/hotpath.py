"""Benchmarks run in their own processes; each prints one JSON line. See bench/run.py."""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import tempfile
import time


def _median_per_call_ns(log, n_calls: int, rounds: int) -> float:
    samples = []
    for r in range(rounds):
        start = time.perf_counter_ns()
        for i in range(n_calls):
            log("loss", 0.5, step=r * n_calls + i)
        samples.append((time.perf_counter_ns() - start) / n_calls)
    return statistics.median(samples)


def trackbridge_hot(root: str, system_metrics: bool = False, interval: float = 10.0) -> dict:
    """``system_metrics``: with the sampler thread on, sampling every ``interval`` seconds
    (10: the default; 0.1: 100 times as often), to show what it costs the hot path."""
    import trackbridge as tb

    config = {"local": {"path": root}, "system_metrics_interval": interval}
    with tb.start_run(config=config, log_system_metrics=system_metrics) as run:
        _median_per_call_ns(run.log_metric, 1000, 1)  # warm up
        per_call = _median_per_call_ns(run.log_metric, 20_000, 25)
    return {"per_call_us": per_call / 1000}


def floor_per_call_us(n: int) -> float:
    """What any logging call costs at least: the loop, a tuple, ``list.extend``, the clock."""
    points: list = []
    extend, clock = points.extend, time.time_ns
    start = time.perf_counter()
    for i in range(n):
        extend(("loss", 0.5, clock() // 1_000_000, i))
        if len(points) >= 400_000:
            del points[:]
    return (time.perf_counter() - start) / n * 1e6


def trackbridge_sustained(root: str, n: int) -> dict:
    """A training loop: ``n`` calls in a row with the flusher writing in the background (the
    default config), the floor measured in the same process just before and after."""
    import trackbridge as tb

    before = floor_per_call_us(n)
    with tb.start_run(config={"local": {"path": root}}) as run:
        log = run.log_metric
        start = time.perf_counter()
        for i in range(n):
            log("loss", 0.5, step=i)
        per_call = (time.perf_counter() - start) / n * 1e6
        run.flush()
    after = floor_per_call_us(n)
    return {"per_call_us": per_call, "floor_us": min(before, after)}


def mlflow_hot(root: str, asynchronous: bool) -> dict:
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    if asynchronous:
        mlflow.config.enable_async_logging(True)
    with mlflow.start_run():
        n = 2000 if asynchronous else 200
        _median_per_call_ns(mlflow.log_metric, 50, 2)
        per_call = _median_per_call_ns(mlflow.log_metric, n, 5)
    return {"per_call_us": per_call / 1000}


def trackbridge_million(root: str, n: int) -> dict:
    import trackbridge as tb

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tb.start_run(config={"local": {"path": root}}) as run:
        log = run.log_metric
        start = time.perf_counter()
        for i in range(n):
            log("loss", 0.5, step=i)
        run.flush()
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stored = len(tb.get_metric_history(run.id, "loss", config={"local": {"path": root}}))
    assert stored == n, (stored, n)
    return {"seconds": seconds, "points_per_s": n / seconds, "peak_rss_mb": peak / 1024,
            "growth_mb": (peak - base_rss) / 1024}


def mlflow_batch(root: str, n: int) -> dict:
    """MLflow's fastest bulk path for comparison: MlflowClient.log_batch in 1000-point chunks."""
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlflow.db")
    exp = client.create_experiment("bench")
    run = client.create_run(exp)
    t0 = int(time.time() * 1000)
    start = time.perf_counter()
    for chunk in range(0, n, 1000):
        client.log_batch(run.info.run_id, metrics=[Metric("loss", 0.5, t0, i)
                                                   for i in range(chunk, min(n, chunk + 1000))])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "points_per_s": n / seconds}


if __name__ == "__main__":
    name, *args = sys.argv[1:]
    with tempfile.TemporaryDirectory() as root:
        if name == "trackbridge_hot":
            result = trackbridge_hot(root, system_metrics=args[:1] == ["system_metrics"],
                                     interval=float(args[1]) if len(args) > 1 else 10.0)
        elif name == "mlflow_hot":
            result = mlflow_hot(root, asynchronous=args[0] == "async")
        elif name == "trackbridge_sustained":
            result = trackbridge_sustained(root, int(args[0]))
        elif name == "trackbridge_million":
            result = trackbridge_million(root, int(args[0]))
        elif name == "mlflow_batch":
            result = mlflow_batch(root, int(args[0]))
        else:
            raise SystemExit(f"unknown benchmark {name}")
    print(json.dumps(result))
