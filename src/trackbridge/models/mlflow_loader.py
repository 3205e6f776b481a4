"""Loader of trackbridge ``python_function`` models for ``mlflow.pyfunc.load_model``.

``log_model`` copies this file into the model directory as ``code/trackbridge_pyfunc_loader.py``
(``MLmodel`` names it as ``loader_module`` with ``code: code``), so MLflow and the serving
platforms load the model without trackbridge installed. It imports nothing of trackbridge.

The model is a cloudpickle file, and unpickling runs code from it: like MLflow's own loaders,
this refuses unless ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true`` or it runs on Databricks.
"""

import os


def _allowed():
    try:
        from mlflow.environment_variables import MLFLOW_ALLOW_PICKLE_DESERIALIZATION
        from mlflow.utils.databricks_utils import (
            is_in_databricks_model_serving_environment,
            is_in_databricks_runtime,
        )

        return bool(MLFLOW_ALLOW_PICKLE_DESERIALIZATION.get() or is_in_databricks_runtime()
                    or is_in_databricks_model_serving_environment())
    except ImportError:
        value = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "")
        return value.lower() in ("true", "1") or "DATABRICKS_RUNTIME_VERSION" in os.environ


def _load_pyfunc(path):
    if not _allowed():
        raise RuntimeError(
            f"refusing to unpickle {path}: loading it runs code from the file; set "
            f"MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true if you trust where it came from")
    import cloudpickle

    with open(path, "rb") as f:
        return cloudpickle.load(f)
