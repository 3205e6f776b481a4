"""UI benchmarks: every speed target of the web UI issue, and the sampled series against a
local MLflow server's ``get-history-bulk-interval`` (the call MLflow's UI charts use) in the
same run. Everything runs on loopback; timings are medians (min-max) of several repeats.

    .venv/bin/python bench/ui_bench.py [--repeat 7] [--skip-mlflow] [--skip-browser]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sync_bench import start_mlflow  # noqa: E402
from testsupport.servers import stop_group  # noqa: E402

TRACKBRIDGE = str(Path(sys.executable).with_name("trackbridge"))


def stats(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    return f"{statistics.median(ms):,.1f} ms ({ms[0]:,.1f}-{ms[-1]:,.1f})"


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def http_get(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path, headers={"Host": f"127.0.0.1:{port}"})
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, (path, response.status, body[:300])
    return body


def start_ui(store: Path) -> tuple[subprocess.Popen, int, float]:
    """``trackbridge ui`` on a free port: (process, port, seconds until it answered)."""
    start = time.perf_counter()
    proc = subprocess.Popen([TRACKBRIDGE, "ui", "--store", str(store), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    port = int(proc.stdout.readline().split("http://127.0.0.1:")[1].split()[0])
    while True:
        try:
            http_get(port, "/api/models")
            return proc, port, time.perf_counter() - start
        except (ConnectionError, OSError):
            time.sleep(0.01)


def spike_series(n: int, spike_at: int) -> list[float]:
    rnd = random.Random(1)
    values = [0.5 + 0.01 * rnd.random() for _ in range(n)]
    values[spike_at] = 100.0
    return values


def make_stores(tmp: Path) -> dict:
    import trackbridge as tb
    from trackbridge.entities import Metric, Param
    from trackbridge.local.store import LocalBackend

    out = {}
    config = {"local": {"path": str(tmp / "big")}}
    values = spike_series(1_000_000, 777_777)
    with tb.start_run(experiment="big", config=config) as run:
        for step, value in enumerate(values):
            run.log_metric("loss", value, step=step)
        for step, value in enumerate(values[:100_000]):
            run.log_metric("loss100k", value if step != 77_777 else 100.0, step=step)
    out["big"], out["big_run"] = tmp / "big", run.id
    config = {"local": {"path": str(tmp / "wide")}}
    with tb.start_run(experiment="wide", config=config) as run:
        for step in range(100_000):
            run.log_metrics({f"metric_{k:02d}": (step % (k + 7)) / (k + 7) for k in range(20)},
                            step=step)
    out["wide"], out["wide_run"] = tmp / "wide", run.id
    store = LocalBackend(tmp / "many")
    exp = store.get_or_create_experiment("sweep")
    now = int(time.time() * 1000)
    rnd = random.Random(2)
    for i in range(10_000):
        r = store.create_run(exp.id, run_name=f"trial-{i}", start_time=now - i * 1000,
                             tags={"mlflow.user": "ana", "mlflow.source.name": "sweep.py"})
        store.log_batch(r.id, [Metric(k, rnd.random(), now, 0) for k in ("loss", "acc", "f1", "auc")],
                        [Param(k, str(rnd.randint(1, 9))) for k in ("lr", "depth", "seed", "batch")])
        store.update_run(r.id, status="FINISHED", end_time=now)
    store.close()
    out["many"] = tmp / "many"
    from trackbridge import registry

    registry.close_all()  # as a finished training leaves its store: no writer, WAL checkpointed
    return out


def bench_columnar(stores: dict, repeat: int) -> dict:
    import trackbridge as tb

    config = {"local": {"path": str(stores["big"])}}
    run_id = stores["big_run"]
    arrays = timed(lambda: tb.get_metric_history(run_id, "loss", config=config, as_arrays=True), repeat)
    metrics = timed(lambda: tb.get_metric_history(run_id, "loss", config=config), max(3, repeat // 2))
    return {"arrays": arrays, "metrics": metrics,
            "ratio": statistics.median(metrics) / statistics.median(arrays)}


def bench_sampled_server_time(stores: dict, repeat: int) -> dict:
    from trackbridge.local.store import LocalBackend

    store = LocalBackend(stores["big"])
    run_id = stores["big_run"]
    core = timed(lambda: store.sample_metric_history(run_id, "loss", max_points=2000), repeat)
    from starlette.testclient import TestClient

    from trackbridge.ui.app import create_app

    url = f"/api/runs/{run_id}/metrics/loss?max_points=2000"
    with TestClient(create_app(store), base_url="http://127.0.0.1:5005") as client:
        body = client.get(url).json()
        assert 100.0 in body["value"] and len(body["value"]) <= 2000
        asgi = timed(lambda: client.get(url), repeat)
    # over HTTP, the first request of a fresh server (nothing decoded yet), 1 s after it
    # started (a person's first click), then the same request again
    (first,) = first_requests(stores["big"], [url], repeat, settle=1.0)
    (at_once,) = first_requests(stores["big"], [url], max(3, repeat // 2))
    return {"core": core, "asgi": asgi, "first": first, "at_once": at_once}


def bench_vs_mlflow(stores: dict, repeat: int, tmp: Path) -> dict:
    from mlflow.entities import Metric as MlMetric
    from mlflow.tracking import MlflowClient

    values = spike_series(100_000, 77_777)
    (tmp / "mlflow").mkdir()
    proc, url = start_mlflow(tmp / "mlflow")
    ui, port, _ = start_ui(stores["big"])
    try:
        client = MlflowClient(tracking_uri=url)
        exp = client.create_experiment("ui-bench")
        run = client.create_run(exp)
        t0 = int(time.time() * 1000)
        for start in range(0, len(values), 1000):
            client.log_batch(run.info.run_id, metrics=[
                MlMetric("loss", v, t0 + start + i, start + i)
                for i, v in enumerate(values[start:start + 1000])])
        host, mport = url.split("//")[1].split(":")
        results = {}
        for max_results in (320, 2000):
            path = (f"/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids="
                    f"{run.info.run_id}&metric_key=loss&max_results={max_results}")
            body = json.loads(http_get(int(mport), path))
            kept = any(m["value"] == 100.0 for m in body["metrics"])
            results[f"mlflow_{max_results}"] = (timed(lambda p=path: http_get(int(mport), p), repeat),
                                                len(body["metrics"]), kept)
        path = f"/api/runs/{stores['big_run']}/metrics/loss100k?max_points=2000"
        body = json.loads(http_get(port, path))
        results["trackbridge_2000"] = (timed(lambda: http_get(port, path), repeat), len(body["value"]),
                                       100.0 in body["value"])
        return results
    finally:
        stop_group(ui)
        stop_group(proc)


def first_requests(store: Path, paths: list[str], repeat: int, settle: float = 0.0) -> list[list[float]]:
    """Per path, the time of the first request of it in ``repeat`` fresh ``trackbridge ui``
    processes (each path in its own process: nothing read before), ``settle`` s after start."""
    out: list[list[float]] = [[] for _ in paths]
    for _ in range(repeat):
        for i, path in enumerate(paths):
            ui, port, _ = start_ui(store)
            try:
                time.sleep(settle)
                out[i] += timed(lambda p=path, n=port: http_get(n, p), 1)
            finally:
                stop_group(ui)
    return out


def bench_runs_json(stores: dict, repeat: int) -> dict:
    path = "/api/experiments/sweep"
    sort, where = path + "?sort=metrics.loss&order=asc", path + "?filter=metrics.acc%20%3E%200.5"
    # a fresh server's first request, 1 s after it started (a person's first click), and
    # right after it answered (its warm-up thread still importing numpy beside the request)
    cold, cold_sorted, cold_filtered, home = first_requests(
        stores["many"], [path, sort, where, "/api/experiments"], repeat, settle=1.0)
    (at_once,) = first_requests(stores["many"], [path], repeat)
    ui, port, _ = start_ui(stores["many"])
    try:
        http_get(port, path)
        warm = timed(lambda: http_get(port, path), repeat)
        sorted_by_metric = timed(lambda: http_get(port, sort), repeat)
        filtered = timed(lambda: http_get(port, where), repeat)
        return {"cold": cold, "cold_sorted": cold_sorted, "cold_filtered": cold_filtered,
                "home": home, "at_once": at_once, "warm": warm, "sorted": sorted_by_metric,
                "filtered": filtered}
    finally:
        stop_group(ui)


def bench_browser(stores: dict, repeat: int, tmp: Path) -> dict:
    from testsupport.browser import start_chromium

    out = {}
    driver = start_chromium(tmp / "profile")
    try:
        ui, port, _ = start_ui(stores["many"])
        try:
            base = f"http://127.0.0.1:{port}"
            driver.get(f"{base}/experiments/sweep")  # warm the cache, the CSS and uPlot

            def table():
                driver.get(f"{base}/experiments/sweep?sort=metrics.loss")
                assert len(driver.find_elements("css selector", "#runs tbody tr")) == 100
            out["table"] = timed(table, repeat)
        finally:
            stop_group(ui)
        ui, port, _ = start_ui(stores["wide"])
        try:
            # the default 1400 x 1000 window: a run with up to 24 metrics loads every chart at once
            url = f"http://127.0.0.1:{port}/runs/{stores['wide_run']}"
            driver.get(url)

            in_page = []

            def charts():
                driver.get(url)
                deadline = time.monotonic() + 60
                while not driver.execute_script("return document.body.dataset.chartsDrawnMs"):
                    assert time.monotonic() < deadline, "charts not drawn in 60 s"
                    time.sleep(0.01)
                assert len(driver.find_elements("css selector", "figure.chart[data-drawn]")) == 20
                # the page's own clock: navigation start -> the 20th chart drawn
                in_page.append(float(driver.execute_script(
                    "return document.body.dataset.chartsDrawnMs")) / 1000)
            out["charts"] = timed(charts, repeat)
            out["charts_in_page"] = in_page
        finally:
            stop_group(ui)
    finally:
        driver.quit()
    return out


def bench_startup(stores: dict, repeat: int) -> dict:
    serve = []
    for _ in range(repeat):
        proc, _, seconds = start_ui(stores["big"])
        serve.append(seconds)
        stop_group(proc)
    imports = timed(lambda: subprocess.run([sys.executable, "-c", "import trackbridge"], check=True),
                    repeat)
    bare = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeat)
    return {"serve": serve, "import": imports, "bare": bare}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="tb-ui-bench-") as name:
        tmp = Path(name)
        start = time.perf_counter()
        stores = make_stores(tmp)
        print(f"data: 1M-point run, 20 x 100k-point run, 10,000 runs in {time.perf_counter() - start:.0f} s")
        r = bench_columnar(stores, args.repeat)
        print(f"columnar read, 1M points: as_arrays {stats(r['arrays'])}, Metric list "
              f"{stats(r['metrics'])}: {r['ratio']:.0f}x faster (target >= 10x)")
        r = bench_sampled_server_time(stores, args.repeat)
        print(f"sampled query, 1M -> <= 2000 points (target <= 50 ms): read from SQLite + sampled "
              f"{stats(r['core'])} in-process; over HTTP, a fresh server's first request "
              f"{stats(r['first'])} (1 s after start; {stats(r['at_once'])} right after start); "
              f"with the decoded columns cached, the whole request in the ASGI app {stats(r['asgi'])}")
        if not args.skip_mlflow:
            r = bench_vs_mlflow(stores, args.repeat, tmp)
            tb_ms = statistics.median(r["trackbridge_2000"][0])
            for name, (samples, n, kept) in r.items():
                ratio = statistics.median(samples) / tb_ms
                print(f"100k-point series over HTTP, {name}: {stats(samples)}, {n} points, "
                      f"spike kept: {kept}" + ("" if name.startswith("trackbridge") else
                                               f" ({ratio:.1f}x trackbridge's time)"))
        r = bench_runs_json(stores, args.repeat)
        print(f"runs JSON, 10,000 runs (a page of 100; target <= 300 ms), first request of a fresh "
              f"server 1 s after start: {stats(r['cold'])} ({stats(r['at_once'])} right after "
              f"start), sorted by a metric {stats(r['cold_sorted'])}, filtered "
              f"{stats(r['cold_filtered'])}, the experiments list {stats(r['home'])}; again: "
              f"{stats(r['warm'])}, sorted {stats(r['sorted'])}, filtered {stats(r['filtered'])}")
        if not args.skip_browser:
            r = bench_browser(stores, args.repeat, tmp)
            print(f"headless Chromium: 10,000-run table drawn {stats(r['table'])} (target <= 1.5 s); "
                  f"run page, 20 metrics x 100k points, all charts drawn {stats(r['charts'])} "
                  f"(in the page's own clock {stats(r['charts_in_page'])}; target <= 2 s)")
        r = bench_startup(stores, max(3, args.repeat // 2))
        print(f"trackbridge ui answering after start {stats(r['serve'])} (target <= 1 s); "
              f"python -c 'import trackbridge' {stats(r['import'])} vs python -c pass {stats(r['bare'])}")


if __name__ == "__main__":
    main()
