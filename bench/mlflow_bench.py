"""MLflow-server benchmarks, trackbridge and MLflow's own client side by side in one run:

1. **sync**: one run of 100,000 points (4 keys) and 20 params to a local
   ``mlflow server --workers 4``: ``trackbridge sync`` through the mlflow backend
   (``max_in_flight`` batches at once) against ``MlflowClient.log_batch`` of 1000 points.
2. **migration**: an ``mlruns/`` of 50 runs (written by MLflow) copied to the server:
   ``trackbridge sync --from mlruns/`` against mlflow-export-import when it is importable
   (``--export-import PATH`` adds it to sys.path), else against MLflow's client copying the
   same runs (runs, params, tags, full histories in batches of 1000, artifacts).

For the sync, each contender's line also gives the CPU seconds the server spent on it (its
process group), this client's CPU seconds, other processes' CPU seconds on the machine
meanwhile, and the load average; the last line gives the floor those allow: the server's and
the client's CPU spread over every core, so the best wall time any client could reach here.

    .venv/bin/python bench/mlflow_bench.py [--points 100000] [--runs 50] [--in-flight 4 8]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testsupport.servers import start_mlflow, stop_group  # noqa: E402

os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", MLFLOW_ALLOW_FILE_STORE="true")
for var in [v for v in os.environ if v.startswith("MLFLOW_TRACKING_")]:
    del os.environ[var]


class Meter:
    """Wall time and CPU seconds of one timed stretch: the server's process group, this
    process, and everything else on the machine (Linux ``/proc``)."""

    def __init__(self, server_pid: int) -> None:
        self.pgid = os.getpgid(server_pid)
        self.wall = self.server = self.client = self.others = 0.0
        self.load = 0.0

    def _server_cpu(self) -> float:
        tick, total = os.sysconf("SC_CLK_TCK"), 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.pgid:
                total += int(fields[11]) + int(fields[12])
        return total / tick

    @staticmethod
    def _machine_cpu() -> float:
        """CPU seconds all cores spent busy (steal included) since boot."""
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _client_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def start(self) -> None:
        self._at = (time.perf_counter(), self._server_cpu(), self._client_cpu(), self._machine_cpu())

    def stop(self) -> float:
        wall, server, client, machine = self._at
        self.wall = time.perf_counter() - wall
        self.server = self._server_cpu() - server
        self.client = self._client_cpu() - client
        self.others = max(self._machine_cpu() - machine - self.server - self.client, 0.0)
        self.load = os.getloadavg()[0]
        return self.wall

    def columns(self) -> str:
        return (f"{self.server:.1f} s | {self.client:.1f} s | {self.others:.1f} s | "
                f"{self.load:.2f} |")


def points(n: int) -> list[tuple[str, float, int, int]]:
    t0 = int(time.time() * 1000)
    return [(("loss", "acc", "lr", "grad_norm")[i % 4], 1.0 / (i + 1), t0 + i, i // 4)
            for i in range(n)]


def mlflow_config(url: str, experiment: str, in_flight: int) -> dict:
    return {"backend": "mlflow", "experiment": experiment, "max_in_flight": in_flight,
            "mlflow": {"tracking_uri": url}}


def bench_trackbridge_sync(root: Path, url: str, data, in_flight: int, meter: Meter) -> float:
    import trackbridge as tb
    from trackbridge.config import load_config
    from trackbridge.local.store import LocalBackend
    from trackbridge.registry import open_backend
    from trackbridge.sync import SyncPlan, select_runs, sync

    store = root / f"tbruns-{in_flight}"
    with tb.start_run(experiment="bench", config={"local": {"path": str(store)}}) as run:
        run.log_params({f"param_{i}": str(i) for i in range(20)})
        for key, value, ts, step in data:
            run.log_metric(key, value, step=step, timestamp=ts)
    config = load_config(mlflow_config(url, f"bench-tb-{in_flight}-{time.time_ns()}", in_flight))
    source = LocalBackend(store)
    plan = SyncPlan(source, open_backend(config), source, experiment=config.experiment,
                    max_in_flight=config.max_in_flight)
    import requests  # noqa: F401  (imported before the clock starts, as mlflow is below)

    meter.start()
    [report] = sync(plan, select_runs(source))
    seconds = meter.stop()
    assert report.error is None, report.error
    return seconds


def bench_mlflow_client(url: str, data, meter: Meter) -> float:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=url)
    meter.start()
    exp = client.create_experiment(f"bench-mlflow-{time.time_ns()}")
    run_id = client.create_run(exp).info.run_id
    client.log_batch(run_id, params=[Param(f"param_{i}", str(i)) for i in range(20)])
    for i in range(0, len(data), 1000):
        client.log_batch(run_id, metrics=[Metric(k, v, ts, s) for k, v, ts, s in data[i:i + 1000]])
    client.set_terminated(run_id)
    return meter.stop()


WRITE_MLRUNS = r'''
import sys, mlflow
from mlflow.entities import Metric
runs, per_run = int(sys.argv[1]), int(sys.argv[2])
mlflow.set_tracking_uri("file:./mlruns")
mlflow.set_experiment("migrate-bench")
client = mlflow.MlflowClient()
open("notes.txt", "w").write("x" * 10000)
for r in range(runs):
    with mlflow.start_run(run_name=f"run-{r}") as run:
        mlflow.log_params({f"p{i}": i for i in range(30)})
        mlflow.set_tags({"team": "ml", "index": str(r)})
        batch = [Metric(("loss", "acc")[i % 2], 1.0 / (i + 1), 1_760_000_000_000 + i, i // 2)
                 for i in range(per_run)]
        for i in range(0, per_run, 1000):
            client.log_batch(run.info.run_id, metrics=batch[i:i + 1000])
        mlflow.log_artifact("notes.txt", "docs")
'''


def copy_with_mlflow_client(src_uri: str, dst_url: str) -> float:
    """MLflow's client copying every run of the source: what export-import does, minus files
    on a local disk in between."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    src, dst = MlflowClient(tracking_uri=src_uri), MlflowClient(tracking_uri=dst_url)
    start = time.perf_counter()
    exp = src.get_experiment_by_name("migrate-bench")
    new_exp = dst.create_experiment(f"migrate-mlflow-{time.time_ns()}")
    with tempfile.TemporaryDirectory() as tmp:
        for run in src.search_runs([exp.experiment_id], max_results=1000):
            new = dst.create_run(new_exp, start_time=run.info.start_time, run_name=run.info.run_name,
                                 tags=run.data.tags)
            dst.log_batch(new.info.run_id, params=[Param(k, v) for k, v in run.data.params.items()],
                          tags=[RunTag(k, v) for k, v in run.data.tags.items()])
            history = [m for key in run.data.metrics for m in src.get_metric_history(run.info.run_id, key)]
            for i in range(0, len(history), 1000):
                dst.log_batch(new.info.run_id, metrics=[Metric(m.key, m.value, m.timestamp, m.step)
                                                        for m in history[i:i + 1000]])
            local = src.download_artifacts(run.info.run_id, "", os.path.join(tmp, run.info.run_id))
            dst.log_artifacts(new.info.run_id, local)
            dst.set_terminated(new.info.run_id, run.info.status, run.info.end_time)
    return time.perf_counter() - start


def copy_with_export_import(src_uri: str, dst_url: str, work: Path) -> float | None:
    """mlflow-export-import's export-experiment then import-experiment, if it imports here."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": src_uri}
    probe = subprocess.run([sys.executable, "-c", "import mlflow_export_import"], env=env,
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return None
    start = time.perf_counter()
    for module, args, uri in (
            ("mlflow_export_import.experiment.export_experiment",
             ["--experiment", "migrate-bench", "--output-dir", str(work / "export")], src_uri),
            ("mlflow_export_import.experiment.import_experiment",
             ["--experiment-name", f"migrate-ei-{time.time_ns()}", "--input-dir",
              str(work / "export")], dst_url)):
        done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                              text=True, env={**env, "MLFLOW_TRACKING_URI": uri})
        if done.returncode != 0:
            print(f"mlflow-export-import failed ({module}): {done.stderr[-800:]}")
            return None
    return time.perf_counter() - start


def trackbridge_migrate(mlruns: Path, url: str, work: Path, in_flight: int) -> float:
    to = work / f"to-{in_flight}.toml"
    to.write_text(f'backend = "mlflow"\nexperiment = "migrate-tb-{time.time_ns()}"\n'
                  f'max_in_flight = {in_flight}\n[mlflow]\ntracking_uri = "{url}"\n')
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "trackbridge", "sync", "--from", str(mlruns),
                           "--to", str(to), "--workers", "4"], cwd=work, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-2000:]
    return seconds


def bench_sync(root: Path, url: str, server_pid: int, args: argparse.Namespace) -> None:
    data = points(args.points)
    mlflow_meter = Meter(server_pid)
    theirs = bench_mlflow_client(url, data, mlflow_meter)
    meters = {n: Meter(server_pid) for n in args.in_flight}
    ours = {n: bench_trackbridge_sync(root, url, data, n, meters[n]) for n in args.in_flight}
    cores = os.cpu_count() or 1
    print(f"sync of 1 run, {args.points:,} points + 20 params -> mlflow server --workers 4 "
          f"({cores} cores)")
    print("| contender | wall | ratio | server CPU | client CPU | others' CPU | load avg |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(f"| MLflow client (log_batch of 1000) | {theirs:.1f} s | | {mlflow_meter.columns()}")
    for n, seconds in ours.items():
        print(f"| trackbridge sync, max_in_flight={n} | {seconds:.1f} s | "
              f"{theirs / seconds:.2f}x faster | {meters[n].columns()}")
    for n, meter in meters.items():
        floor = (meter.server + meter.client) / cores
        print(f"max_in_flight={n}: the server's and the client's CPU over {cores} cores allow "
              f"no less than {floor:.1f} s, at most {theirs / floor:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--points-per-run", type=int, default=4000)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--export-import", help="a directory holding mlflow_export_import")
    parser.add_argument("--skip-migration", action="store_true")
    parser.add_argument("--skip-sync", action="store_true")
    args = parser.parse_args()
    if args.export_import:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [args.export_import,
                                                                 os.environ.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "server").mkdir()
        proc, server = start_mlflow(root / "server", workers=4, timeout=600)
        try:
            if not args.skip_sync:
                bench_sync(root, server.url, proc.pid, args)
            if args.skip_migration:
                return
            work = root / "migrate"
            work.mkdir()
            done = subprocess.run([sys.executable, "-c", WRITE_MLRUNS, str(args.runs),
                                   str(args.points_per_run)], cwd=work, capture_output=True,
                                  text=True)
            assert done.returncode == 0, done.stderr[-2000:]
            mlruns = work / "mlruns"
            other = copy_with_export_import(f"file:{mlruns}", server.url, work)
            label = "mlflow-export-import"
            if other is None:
                other, label = copy_with_mlflow_client(f"file:{mlruns}", server.url), \
                    "MLflow client copying the runs"
            tb_seconds = trackbridge_migrate(mlruns, server.url, work, max(args.in_flight))
            print(f"migration of an mlruns/ of {args.runs} runs x {args.points_per_run:,} points")
            print(f"| {label} | {other:.1f} s | |")
            print(f"| trackbridge sync --from mlruns/ --workers 4 | {tb_seconds:.1f} s | "
                  f"{other / tb_seconds:.2f}x faster |")
        finally:
            stop_group(proc)


if __name__ == "__main__":
    main()
