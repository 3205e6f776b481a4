from __future__ import annotations

import os

import pytest

import trackbridge as tb
from trackbridge import fluent, registry


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A config dict pointing at a fresh local store; cwd is a temp dir too."""
    monkeypatch.chdir(tmp_path)
    for var in ("TRACKBRIDGE_CONFIG", "TRACKBRIDGE_BACKEND", "TRACKBRIDGE_EXPERIMENT"):
        monkeypatch.delenv(var, raising=False)
    yield {"local": {"path": str(tmp_path / "tbruns"), "flush_interval": 0.05}}
    for run in fluent.live_runs():
        run.end()
    registry.close_all()


@pytest.fixture
def builtin_plugins_only(monkeypatch):
    """A fresh plugin manager that loads no installed plugin (TRACKBRIDGE_PLUGINS="")."""
    from trackbridge import plugins

    monkeypatch.setenv("TRACKBRIDGE_PLUGINS", "")
    monkeypatch.setattr(plugins, "_pm", None)
    yield plugins
    registry.close_all()


@pytest.fixture(autouse=True)
def _no_leftover_runs():
    yield
    leftover = fluent.live_runs()
    for run in leftover:
        run.end()
    assert not leftover, f"test left runs active: {leftover}"


def pytest_configure(config):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


__all__ = ["tb"]
