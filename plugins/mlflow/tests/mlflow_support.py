"""Helpers shared by the mlflow plugin's tests (a module name no other suite uses)."""

from __future__ import annotations

import os

import pytest


def clean_mlflow_env(mp: pytest.MonkeyPatch) -> None:
    """No MLFLOW_TRACKING_* variable of the machine leaks into a test."""
    for var in list(os.environ):
        if var.startswith("MLFLOW_TRACKING_"):
            mp.delenv(var)
