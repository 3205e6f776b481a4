"""Scoring-server benchmark: a scikit-learn model logged once with ``run.log_model``, served
by ``trackbridge models serve runs:/<id>/model`` and by ``mlflow models serve --env-manager
local`` (of the same logged directory) in the same run, one server at a time, the same client
(``http.client``, one keep-alive connection per server). Both servers run at once, idle
but for the request being timed: requests alternate between them, so the load of this
shared machine falls on both alike. Two models: ``pipeline`` (a ColumnTransformer
with scaling and one-hot encoding, then a logistic regression: predict itself costs
milliseconds) and ``linear`` (scaling + logistic regression on 4 numeric columns: the
server's own cost dominates). For each:

* cold start: process start -> first ``/ping`` 200;
* latency of 1-row JSON requests (``dataframe_split``): p50 and p99;
* throughput of 100-row requests: rows/s.

Each round starts both servers afresh (alternating which starts and is asked first); the
table shows the median over rounds and the min-max spread, and the load average of the
machine around each round.

The ``floor`` column is the model alone, measured in this process after each round: its
``predict`` on the DataFrame a 1-row (100-row) request becomes, back to back (hot caches,
no HTTP, no parsing), and a fresh interpreter that only imports skops and loads the model
file. No server of this model can beat it, so ``MLflow / floor`` is the best ratio any
server could show.

    .venv/bin/python bench/serve_bench.py [--rounds 3] [--requests 1000] [--batches 300]
        [--model pipeline --model linear]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from serving_support import churn_data, churn_pipeline  # noqa: E402

from testsupport.servers import HOST, free_port, start_group, stop_group  # noqa: E402


def linear_model():
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = pd.DataFrame(np.random.default_rng(1).normal(size=(200, 4)), columns=list("abcd"))
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, X["a"] > 0), X


def log_once(kind: str, root: Path):
    """(model, data, runs:/ URI, config, the logged directory as MLflow reads it)."""
    import trackbridge as tb

    model, X = churn_pipeline() if kind == "pipeline" else linear_model()
    config = {"local": {"path": str(root / "tbruns")}}
    with tb.start_run(experiment="serve-bench", config=config) as run:
        info = run.log_model(model, input_example=X.head(3))
    directory = tb.download_artifacts(run.id, "model", root / f"{kind}-logged", config=config)
    if kind == "pipeline":
        X, _ = churn_data(200)
    return X, info.model_uri, root / "tb.toml", directory


def command(kind: str, model: tuple[str, Path, Path], port: int) -> list[str]:
    uri, config, directory = model
    if kind == "trackbridge":
        return [sys.executable, "-m", "trackbridge", "models", "serve", uri, "--port", str(port),
                "--config", str(config)]
    return [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(directory), "--port",
            str(port), "--host", HOST, "--env-manager", "local"]


def cold_start(kind: str, model: tuple[str, Path, Path], log: Path):
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    start = time.perf_counter()
    proc = start_group(command(kind, model, port), log, env=env)
    while True:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return proc, port, time.perf_counter() - start
        except OSError:
            pass
        if proc.poll() is not None or time.perf_counter() - start > 180:
            raise RuntimeError(f"{kind} did not start; see {log}")
        time.sleep(0.02)


def post(conn: http.client.HTTPConnection, body: bytes) -> bytes:
    for attempt in (1, 2):
        try:
            conn.request("POST", "/invocations", body=body,
                         headers={"Content-Type": "application/json"})
            answer = conn.getresponse()
            break
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            conn.close()  # the server dropped an idle keep-alive connection: open a new one
            if attempt == 2:
                raise
    data = answer.read()
    if answer.status != 200:
        raise RuntimeError(f"HTTP {answer.status}: {data[:300]!r}")
    return data


def split(X) -> bytes:
    return json.dumps({"dataframe_split": {"columns": list(X.columns),
                                           "data": X.values.tolist()}}).encode()


def measure(ports: dict[str, int], X, requests: int, batches: int) -> dict[str, dict[str, float]]:
    """Both servers measured interleaved, request by request (the order alternating), so a
    load spike on this shared machine hits both alike; one keep-alive connection each."""
    conns = {k: http.client.HTTPConnection(HOST, p, timeout=30) for k, p in ports.items()}
    kinds = list(conns)
    one, hundred = split(X.head(1)), split(X.head(100))
    for _ in range(50):  # warm up, interleaved like the measurement
        for conn in conns.values():
            post(conn, one)
            post(conn, hundred)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for i in range(requests):
        body = split(X.iloc[[i % len(X)]]) if i % 50 == 0 else one
        for kind in kinds if i % 2 == 0 else kinds[::-1]:
            start = time.perf_counter()
            post(conns[kind], body)
            times[kind].append(time.perf_counter() - start)
    busy = {k: 0.0 for k in kinds}
    for i in range(batches):
        for kind in kinds if i % 2 == 0 else kinds[::-1]:
            start = time.perf_counter()
            post(conns[kind], hundred)
            busy[kind] += time.perf_counter() - start
    out = {}
    for kind in kinds:
        t = sorted(times[kind])
        out[kind] = {"p50_ms": t[len(t) // 2] * 1000, "p99_ms": t[int(len(t) * 0.99)] * 1000,
                     "rows_per_s": batches * 100 / busy[kind]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--model", action="append", choices=["pipeline", "linear"])
    args = parser.parse_args()
    for name in args.model or ["pipeline", "linear"]:
        with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
            root = Path(tmp)
            X, uri, config, directory = log_once(name, root)
            config.write_text(f'[local]\npath = "{root / "tbruns"}"\n')
            results = run_rounds((uri, config, directory), X, root, args)
        report(name, results, args.rounds)


def floor(directory: Path, X, requests: int, batches: int) -> dict[str, float]:
    """The model alone in this process (see the module docstring)."""
    import pandas as pd

    from trackbridge.models import load_model

    model = load_model(directory).raw_model

    def frame(rows):  # what a dataframe_split request of these rows becomes
        return pd.DataFrame(data=rows.values.tolist(), columns=list(rows.columns))

    one, hundred = frame(X.head(1)), frame(X.head(100))
    for _ in range(50):
        model.predict(one)
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        model.predict(one)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(batches):
        model.predict(hundred)
    busy = time.perf_counter() - start
    code = ("import sys, skops.io as s; f = sys.argv[1]; "
            "s.load(f, trusted=s.get_untrusted_types(file=f))")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(directory / "model.skops")], check=True)
    cold = time.perf_counter() - start
    t = sorted(times)
    return {"p50_ms": t[len(t) // 2] * 1000, "p99_ms": t[int(len(t) * 0.99)] * 1000,
            "rows_per_s": batches * 100 / busy, "cold_start_s": cold}


def run_rounds(model, X, root: Path, args) -> dict[str, list[dict[str, float]]]:
    results: dict[str, list[dict[str, float]]] = {"trackbridge": [], "mlflow": [], "floor": []}
    for r in range(args.rounds):
        order = ["trackbridge", "mlflow"] if r % 2 == 0 else ["mlflow", "trackbridge"]
        procs, ports, colds = [], {}, {}
        load_before = os.getloadavg()[0]
        try:
            for kind in order:  # started one after the other: cold starts do not overlap
                proc, ports[kind], colds[kind] = cold_start(kind, model, root / f"{kind}-{r}.log")
                procs.append(proc)
            found = measure(ports, X, args.requests, args.batches)
        finally:
            for proc in procs:
                stop_group(proc)
        found["floor"] = floor(model[2], X, args.requests, args.batches)
        load = (load_before, os.getloadavg()[0])
        for kind in (*order, "floor"):
            if kind in colds:
                found[kind]["cold_start_s"] = colds[kind]
            results[kind].append({**found[kind], "load": load})
            print(f"round {r + 1} {kind}: " + ", ".join(f"{k} {v:.3g}"
                                                        for k, v in found[kind].items())
                  + f" (load average {load[0]:.2f} -> {load[1]:.2f})", flush=True)
    return results


def report(name: str, results: dict[str, list[dict[str, float]]], rounds: int) -> None:
    loads = [v for x in results["floor"] for v in x["load"]]
    print(f"\nmodel {name} (1-minute load average {min(loads):.2f}-{max(loads):.2f})")
    print(f"| metric (median of {rounds}, min-max) | trackbridge | MLflow | ratio | floor "
          f"(model alone) | MLflow / floor |")
    print("| --- | --- | --- | --- | --- | --- |")
    for key, better in (("p50_ms", "lower"), ("p99_ms", "lower"), ("rows_per_s", "higher"),
                        ("cold_start_s", "lower")):
        cells = []
        for kind in ("trackbridge", "mlflow", "floor"):
            values = [x[key] for x in results[kind]]
            cells.append((statistics.median(values), min(values), max(values)))
        lower = better == "lower"
        shown = [f"{m:.4g} ({lo:.4g}-{hi:.4g})" for m, lo, hi in cells]
        print(f"| {key} | {shown[0]} | {shown[1]} | {_ratio(cells[0][0], cells[1][0], lower)} | "
              f"{shown[2]} | {_ratio(cells[2][0], cells[1][0], lower)} |", flush=True)


def _ratio(ours: float, theirs: float, lower_is_better: bool) -> str:
    if lower_is_better:
        return f"{theirs / ours:.2f}x faster"
    return f"{ours / theirs:.2f}x more"


if __name__ == "__main__":
    main()
