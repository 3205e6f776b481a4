"""The one-time run submitted for a project: a ``spark_python_task`` running the bootstrap.

Compute is the configured one: a serverless environment (the dependencies go in its spec),
a ``new_cluster`` or an ``existing_cluster_id`` (the dependencies go in ``libraries``).
The dependencies are the project's requirements plus trackbridge and this plugin: pinned to
the client's versions from the package index, or the wheels built here and uploaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .compute import ComputeSettings

TASK_KEY = "project"
ENVIRONMENT_KEY = "trackbridge"


def idempotency_token(run_id: str) -> str:
    """The same run never gets two jobs: Databricks returns the existing one for a token
    it has seen (at most 64 characters)."""
    return f"trackbridge-{run_id}"[:64]


def bootstrap_parameters(archive: str, config_toml: str, run_id: str, command: str,
                         grace: float) -> list[str]:
    """The bootstrap's arguments. No ``--require``: the task's libraries (or its serverless
    environment) install trackbridge and this plugin at the client's versions."""
    return ["--archive", archive, "--config-toml", config_toml, "--run-id", run_id,
            "--grace", f"{grace:g}", "--", command]


def submit_request(settings: ComputeSettings, *, run_name: str, bootstrap: str,
                   parameters: Sequence[str], dependencies: Sequence[str],
                   wheels: Sequence[str], token: str) -> dict[str, Any]:
    """The keyword arguments of ``w.jobs.submit`` (SDK dataclasses)."""
    from databricks.sdk.service import compute, jobs

    task = jobs.SubmitTask(
        task_key=TASK_KEY,
        spark_python_task=jobs.SparkPythonTask(python_file=bootstrap, parameters=list(parameters)),
    )
    environments = None
    if settings.compute == "serverless":
        task.environment_key = ENVIRONMENT_KEY
        environments = [jobs.JobEnvironment(
            environment_key=ENVIRONMENT_KEY,
            spec=compute.Environment(environment_version=settings.environment_version,
                                     dependencies=[*dependencies, *wheels]))]
    else:
        if settings.compute == "new_cluster":
            task.new_cluster = compute.ClusterSpec.from_dict(dict(settings.new_cluster or {}))
        else:
            task.existing_cluster_id = settings.existing_cluster_id
        task.libraries = [compute.Library(pypi=compute.PythonPyPiLibrary(package=d))
                          for d in dependencies] + [compute.Library(whl=w) for w in wheels]
    return {
        "run_name": run_name,
        "tasks": [task],
        "environments": environments,
        "idempotency_token": token,
        "timeout_seconds": settings.timeout_seconds or None,
    }


def as_json(request: dict[str, Any]) -> dict[str, Any]:
    """The request body as the Jobs API receives it (for ``--dry-run``)."""
    body: dict[str, Any] = {}
    for key, value in request.items():
        if value is None:
            continue
        if isinstance(value, list):
            body[key] = [v.as_dict() if hasattr(v, "as_dict") else v for v in value]
        else:
            body[key] = value
    return body
