"""The ``[azureml]`` table of ``--on-config``: which compute runs a project and in which
environment. Checked without any request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from trackbridge.projects import targetconfig as tc

WHERE = "[azureml] of --on-config"
COMPUTE_KEYS = ("compute", "instance_type")
#: Azure ML's curated base image for conda environments (Ubuntu 22.04, no Python preinstalled).
DEFAULT_BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
CONFIG_KEYS = frozenset({*COMPUTE_KEYS, "instance_count", "environment", "base_image",
                         "libraries", "environment_variables", "max_archive_mb",
                         "poll_max_seconds"})


class ComputeSettings(NamedTuple):
    compute: str | None = None  # a compute cluster's name
    instance_type: str | None = None  # serverless compute, e.g. Standard_DS3_v2
    instance_count: int = 1
    environment: str | None = None  # a registered environment: name@latest or name:version
    base_image: str = DEFAULT_BASE_IMAGE
    libraries: tuple[str, ...] = ()
    environment_variables: Mapping[str, str] = {}
    max_archive_mb: float = 50.0
    poll_max_seconds: float = 15.0


def parse_compute(table: Mapping[str, Any]) -> ComputeSettings:
    tc.check_keys(table, CONFIG_KEYS, WHERE)
    tc.one_of(table, COMPUTE_KEYS, WHERE)
    env_vars = table.get("environment_variables", {})
    if not isinstance(env_vars, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env_vars.items()):
        raise tc.ProjectError(f"{WHERE} environment_variables must be a table of strings, "
                              f"got {env_vars!r}")
    if any(tc.is_secret_key(k) for k in env_vars):
        raise tc.ProjectError(f"{WHERE} environment_variables must not carry secrets "
                              f"({', '.join(k for k in env_vars if tc.is_secret_key(k))}): a job's "
                              f"variables are visible in the studio; use a key vault or "
                              f"the job's managed identity")
    environment = tc.text(table, "environment", WHERE)
    if environment is not None:
        environment = environment.removeprefix("azureml:")
        if "@" not in environment and ":" not in environment:
            raise tc.ProjectError(f"{WHERE} environment must name a version, e.g. "
                                  f"{environment}@latest or {environment}:3, got {environment!r}")
    return ComputeSettings(
        compute=tc.text(table, "compute", WHERE),
        instance_type=tc.text(table, "instance_type", WHERE),
        instance_count=tc.number(table, "instance_count", WHERE, 1, lo=1, hi=1000, integer=True),
        environment=environment,
        base_image=tc.text(table, "base_image", WHERE, DEFAULT_BASE_IMAGE) or DEFAULT_BASE_IMAGE,
        libraries=tc.strings(table, "libraries", WHERE),
        environment_variables=dict(env_vars),
        max_archive_mb=float(tc.number(table, "max_archive_mb", WHERE, 50, lo=0.001, hi=10_000)),
        poll_max_seconds=float(tc.number(table, "poll_max_seconds", WHERE, 15, lo=0.01, hi=600)),
    )
