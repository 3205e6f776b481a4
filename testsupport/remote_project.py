"""The project the end-to-end tests of remote runs submit: a script that attaches to the run,
logs a param and three metric points, prints, optionally sleeps, and exits with a given code."""

from __future__ import annotations

import textwrap
from pathlib import Path

TRAIN = """\
import argparse, sys, time
import trackbridge as tb

p = argparse.ArgumentParser()
p.add_argument("--alpha", type=float)
p.add_argument("--code", type=int)
p.add_argument("--sleep", type=float)
a = p.parse_args()
with tb.start_run() as run:
    run.log_param("alpha", a.alpha)  # the value trackbridge run logged: a no-op
    for step in range(3):
        run.log_metric("loss", a.alpha / (step + 1), step=step)
    print(f"trained in run {run.id}", flush=True)
    print("a warning on stderr", file=sys.stderr, flush=True)
    if a.sleep:
        print("sleeping", flush=True)
        time.sleep(a.sleep)
sys.exit(a.code)
"""

MLPROJECT = """\
name: remote_demo
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      code: {type: int, default: 0}
      sleep: {type: float, default: 0}
    command: "python train.py --alpha {alpha} --code {code} --sleep {sleep}"
"""


def losses(alpha: float) -> list[tuple[int, float]]:
    """(step, value) of the "loss" points the script logs for ``alpha``."""
    return [(step, alpha / (step + 1)) for step in range(3)]


def write_project(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "MLproject").write_text(MLPROJECT)
    (directory / "train.py").write_text(TRAIN)
    return directory


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write each ``relative path: text`` (dedented) under ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root
