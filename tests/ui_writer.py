"""A training process for the browser tests: logs ``live`` every 50 ms until STOP_FILE exists."""

import sys
import time
from pathlib import Path

import trackbridge as tb

root, stop_file = sys.argv[1], Path(sys.argv[2])
config = {"local": {"path": root, "flush_interval": 0.1}}
with tb.start_run(experiment="demo", run_name="live-training", config=config) as run:
    run.log_param("lr", 0.2)
    run.log_metric("live", 1.0, step=0)
    run.flush()
    print(run.id, flush=True)
    step = 1
    while not stop_file.exists() and step < 20_000:
        run.log_metric("live", 1.0 / (1 + step), step=step)
        step += 1
        time.sleep(0.05)
