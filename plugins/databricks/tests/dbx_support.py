"""Helpers shared by the databricks plugin's tests (a module name no other suite uses)."""

from __future__ import annotations

import os

import pytest
from trackbridge_databricks.backend import DatabricksBackend
from trackbridge_databricks.retry import RetryPolicy, Throttle

#: A token-shaped secret: tests assert it never shows up in messages or logs.
TOKEN = "dapi0123456789abcdef0123456789abcdef"


def isolate_sdk_env(mp: pytest.MonkeyPatch, token: str | None = TOKEN) -> None:
    """No DATABRICKS_*/ARM_* variable or ~/.databrickscfg of the machine leaks into a test."""
    for var in list(os.environ):
        if var.startswith(("DATABRICKS_", "ARM_")):
            mp.delenv(var)
    mp.setenv("DATABRICKS_CONFIG_FILE", os.devnull)
    if token is not None:
        mp.setenv("DATABRICKS_TOKEN", token)


def make_backend(mp: pytest.MonkeyPatch, **table) -> DatabricksBackend:
    """A backend from a ``[databricks]`` table, its client built now under a clean env."""
    isolate_sdk_env(mp)
    backend = DatabricksBackend.from_config(table)
    backend.client  # noqa: B018 - resolve auth while the env is the test's
    return backend


class FakeTime:
    """A clock that only moves when something sleeps on it; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def use_fake_time(backend: DatabricksBackend, rate: float | None = None) -> FakeTime:
    """Make ``backend``'s throttle and retry policy sleep on a :class:`FakeTime`."""
    t = FakeTime()
    backend.policy = RetryPolicy(
        backend.settings.retry_timeout_seconds,
        Throttle(rate, clock=t.clock, sleep=t.sleep), clock=t.clock, sleep=t.sleep)
    return t
