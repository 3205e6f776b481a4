"""The environment for a child Python process of a test."""

from __future__ import annotations

import os


def child_env(home) -> dict:
    """This environment (OpenBLAS settings included) without trackbridge's own variables, with
    ``HOME`` at ``home`` and one BLAS/OpenMP thread per process (the machine has two cores)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKBRIDGE_")}
    return {**env, "MLFLOW_DISABLE_TELEMETRY": "true", "HOME": str(home), "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1"}
