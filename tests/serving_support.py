"""Models on disk and scoring servers on loopback for the serving tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import requests
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from testsupport.servers import HOST, free_port, start_group, stop_group, wait_until_up
from trackbridge.models import UnsafeFormatWarning, save_model


def churn_data(n: int = 120) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"age": rng.uniform(18, 80, n), "visits": rng.integers(0, 30, n),
                      "plan": rng.choice(["basic", "pro", "team"], n)})
    return X, ((X["age"] > 45) ^ (X["plan"] == "pro")).astype(int)


def churn_pipeline() -> tuple[object, pd.DataFrame]:
    X, y = churn_data()
    pipeline = make_pipeline(
        make_column_transformer((StandardScaler(), ["age", "visits"]), (OneHotEncoder(), ["plan"])),
        LogisticRegression()).fit(X, y)
    return pipeline, X


def save_churn(path: Path, **options) -> tuple[object, pd.DataFrame, Path]:
    """The churn pipeline saved with a column signature (age double, visits long, plan string)."""
    pipeline, X = churn_pipeline()
    save_model(pipeline, path, input_example=X.head(3), **options)
    return pipeline, X, path


def save_tensor(path: Path) -> tuple[object, np.ndarray, Path]:
    """A regression on a 2-D float64 array: tensor signature float64 [-1, 3]."""
    X = np.random.default_rng(5).normal(size=(40, 3))
    model = LinearRegression().fit(X, X @ np.array([1.0, -2.0, 0.5]) + 3)
    save_model(model, path, input_example=X[:2])
    return model, X, path


def save_pickled(path: Path) -> Path:
    pipeline, X = churn_pipeline()
    from trackbridge.models.flavors.sklearn import SklearnFlavor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeFormatWarning)
        save_model(pipeline, path, flavor=SklearnFlavor(serialization="pickle"),
                   input_example=X.head(2))
    return path


class SlowModel:
    """A python_function model whose predict takes ``seconds`` (for the request timeout)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predict(self, data):
        import time

        time.sleep(self.seconds)
        return [0] * len(data)


def save_slow(path: Path, seconds: float) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeFormatWarning)
        save_model(SlowModel(seconds), path)
    return path


class Server:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path) -> None:
        self.url, self.proc, self.log = url, proc, log

    def post(self, body, content_type: str = "application/json", **kwargs) -> requests.Response:
        import json

        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return requests.post(f"{self.url}/invocations", data=data,
                             headers={"Content-Type": content_type}, timeout=30, **kwargs)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def serve_command(model: Path, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "trackbridge", "models", "serve", str(model), "--port",
            str(port), *extra]


@contextlib.contextmanager
def trackbridge_server(model: Path, log_dir: Path, *extra: str) -> Iterator[Server]:
    """``trackbridge models serve MODEL`` on a free loopback port, stopped on exit."""
    port = free_port()
    log = log_dir / f"serve-{port}.log"
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    proc = start_group(serve_command(model, port, *extra), log, env=env)
    try:
        wait_until_up(f"http://{HOST}:{port}/ping", proc, log, "trackbridge models serve",
                      timeout=60)
        yield Server(f"http://{HOST}:{port}", proc, log)
    finally:
        stop_group(proc)


@contextlib.contextmanager
def mlflow_scoring_server(model: Path, log_dir: Path) -> Iterator[Server]:
    """``mlflow models serve -m MODEL --env-manager local`` on a free loopback port."""
    port = free_port()
    log = log_dir / f"mlflow-serve-{port}.log"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
           # it runs `uvicorn` by name: the one of this interpreter's environment
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model), "--port", str(port),
           "--host", HOST, "--env-manager", "local"]
    proc = start_group(cmd, log, env=env)
    try:
        wait_until_up(f"http://{HOST}:{port}/ping", proc, log, "mlflow models serve", timeout=120)
        yield Server(f"http://{HOST}:{port}", proc, log)
    finally:
        stop_group(proc)
