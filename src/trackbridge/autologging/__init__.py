"""Autologging: ``fit`` logs params, metrics, the model and the training data by itself.

``tb.autolog()`` switches on every supported framework that is installed; per framework
``tb.sklearn.autolog()``, ``tb.xgboost.autolog()``, ``tb.lightgbm.autolog()``. Each takes
``log_models=True``, ``log_datasets=True``, ``disable=False`` (``True`` restores the original
methods), ``silent=False`` (``True``: no autolog warnings) and ``max_tuning_runs=5`` (child runs
of a parameter search). Keys are MLflow's (``mlflow.sklearn.autolog`` and friends), so runs
look the same on every backend. A fit without an active run starts one and ends it; inside a
run it logs into it. Logging never breaks training: an error is an :class:`AutologWarning`
and ``fit`` returns as usual. Importing this package imports no framework.
"""

from __future__ import annotations

import importlib
import importlib.util

from .patching import AutologWarning

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm")


def autolog(log_models: bool = True, log_datasets: bool = True, disable: bool = False,
            silent: bool = False, max_tuning_runs: int | None = 5) -> list[str]:
    """Switch autologging on (or off) for every supported framework installed; returns them."""
    done = []
    for name in FRAMEWORKS:
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(f".{name}", __name__)
        module.autolog(log_models=log_models, log_datasets=log_datasets, disable=disable,
                       silent=silent, max_tuning_runs=max_tuning_runs)
        done.append(name)
    return done


__all__ = ["FRAMEWORKS", "AutologWarning", "autolog"]
