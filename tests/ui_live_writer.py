"""Training processes for the browser tests of live pages: ``ui_live_writer.py STORE CONTROL
SCENARIO``. Each prints what the test needs (run ids, one JSON object a line), then moves on
when the test creates ``CONTROL/go-1``, ``CONTROL/go-2``, ... and ends its runs FINISHED when
``CONTROL/stop`` exists.

* ``nosteps``: a run logging ``loss`` without a step (so always at step 0) every 100 ms.
* ``fast``: a run logging ``loss`` 1,000 points (steps) every 100 ms.
* ``keys``: a run with no metric; at go-1 it logs ``acc`` and ``loss`` (then every 100 ms),
  at go-2 a key named like markup.
* ``table``: experiment ``live-table``: a RUNNING parent with a RUNNING child; at go-1 a second
  child starts, the first ends and a new top-level run starts.
"""

import json
import sys
import time
from pathlib import Path

from ui_support import MARKUP_KEY

import trackbridge as tb
from trackbridge.entities import FINISHED, Metric
from trackbridge.local.store import LocalBackend

root, control, scenario = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
config = {"local": {"path": root, "flush_interval": 0.05}}


def say(**ids):
    print(json.dumps(ids), flush=True)


def reached(name):
    return (control / name).exists()


def now_ms():
    return time.time_ns() // 1_000_000


def nosteps():
    with tb.start_run(experiment="live", run_name="no-steps", config=config) as run:
        run.log_metric("loss", 1.0)
        run.flush()
        say(run=run.id)
        n = 1
        while not reached("stop"):
            time.sleep(0.1)
            n += 1
            run.log_metric("loss", 1.0 / n)


def fast():
    with tb.start_run(experiment="live", run_name="fast", config=config) as run:
        run.log_metric("loss", 1.0, step=0)
        run.flush()
        say(run=run.id)
        step = 1
        while not reached("stop") and step < 2_000_000:
            for _ in range(1000):
                run.log_metric("loss", 1.0 / (1 + step / 1000) + (step % 97) / 1000, step=step)
                step += 1
            time.sleep(0.1)


def keys():
    store = LocalBackend(root)
    run = store.create_run(store.get_or_create_experiment("live").id, run_name="growing",
                           start_time=now_ms(), tags={})
    say(run=run.id)
    step = 0
    while not reached("stop"):
        if reached("go-1"):
            points = [Metric("acc", step / (step + 10), now_ms(), step),
                      Metric("loss", 1 / (step + 1), now_ms(), step)]
            if reached("go-2"):
                points.append(Metric(MARKUP_KEY, step % 7, now_ms(), step))
            store.log_batch(run.id, points)
            step += 1
        time.sleep(0.1)
    store.update_run(run.id, status=FINISHED, end_time=now_ms())
    store.close()


def table():
    store = LocalBackend(root)
    experiment = store.get_or_create_experiment("live-table").id

    def start(name, parent=None):
        return store.create_run(experiment, run_name=name, start_time=now_ms(), tags={},
                                parent_run_id=parent).id

    def end(run_id):
        store.update_run(run_id, status=FINISHED, end_time=now_ms())

    parent = start("sweep")
    first = start("trial-1", parent)
    say(parent=parent, first=first)
    while not reached("go-1"):
        time.sleep(0.05)
    second = start("trial-2", parent)
    end(first)
    later = start("later")
    say(second=second, later=later)
    while not reached("stop"):
        time.sleep(0.05)
    for run_id in (second, parent, later):
        end(run_id)
    store.close()


{"nosteps": nosteps, "fast": fast, "keys": keys, "table": table}[scenario]()
