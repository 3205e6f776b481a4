"""The ``[databricks]`` table of ``--on-config``: where projects are uploaded, which compute
runs them, how trackbridge gets onto it. Checked without any request (``new_cluster`` by
:mod:`.cluster`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from trackbridge.projects import targetconfig as tc
from trackbridge.projects.errors import ProjectError

from .cluster import check_new_cluster

WHERE = "[databricks] of --on-config"
COMPUTE_KEYS = ("serverless", "new_cluster", "existing_cluster_id")
INSTALLS = ("index", "wheels")
CONFIG_KEYS = frozenset({"upload_to", *COMPUTE_KEYS, "environment_version", "install",
                         "libraries", "timeout_seconds", "max_archive_mb", "poll_max_seconds"})


class ComputeSettings(NamedTuple):
    upload_to: str  # /Volumes/<catalog>/<schema>/<volume>[/...] or /Workspace/...
    compute: str  # one of COMPUTE_KEYS
    new_cluster: Mapping[str, Any] | None = None
    existing_cluster_id: str | None = None
    environment_version: str = "2"
    install: str = "index"
    libraries: tuple[str, ...] = ()  # extra pip requirements
    timeout_seconds: int = 0
    max_archive_mb: float = 50.0
    poll_max_seconds: float = 10.0

    @property
    def on_volume(self) -> bool:
        return self.upload_to.startswith("/Volumes/")


def parse_compute(table: Mapping[str, Any]) -> ComputeSettings:
    tc.check_keys(table, CONFIG_KEYS, WHERE)
    upload_to = tc.text(table, "upload_to", WHERE)
    if upload_to is None:
        raise ProjectError(f"{WHERE} needs upload_to: a Unity Catalog volume folder "
                           f"(/Volumes/<catalog>/<schema>/<volume>/trackbridge) or a workspace "
                           f"folder (/Workspace/Users/<you>/trackbridge)")
    upload_to = upload_to.rstrip("/")
    parts = upload_to.split("/")
    if not ((upload_to.startswith("/Volumes/") and len(parts) >= 5 and all(parts[2:5]))
            or upload_to.startswith("/Workspace/")) or ".." in parts:
        raise ProjectError(f"{WHERE} upload_to must be /Volumes/<catalog>/<schema>/<volume>/... "
                           f"or /Workspace/..., got {upload_to!r}")
    compute = tc.one_of(table, COMPUTE_KEYS, WHERE)
    cluster = table.get("new_cluster")
    if compute == "serverless" and table["serverless"] is not True:
        raise ProjectError(f"{WHERE} serverless must be true (or leave it out and set "
                           f"new_cluster or existing_cluster_id), got {table['serverless']!r}")
    if compute == "new_cluster" and not isinstance(cluster, Mapping):
        raise ProjectError(f"{WHERE} new_cluster must be a table of the Jobs API's new_cluster "
                           f"fields (spark_version, node_type_id, num_workers, ...), got {cluster!r}")
    if compute == "new_cluster":
        check_new_cluster(cluster)
    version = table.get("environment_version", "2")
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not version.strip():
        raise ProjectError(f"{WHERE} environment_version must be a string such as \"2\", "
                           f"got {version!r}")
    return ComputeSettings(
        upload_to=upload_to,
        compute=compute,
        new_cluster=dict(cluster) if compute == "new_cluster" else None,
        existing_cluster_id=tc.text(table, "existing_cluster_id", WHERE),
        environment_version=version,
        install=tc.choice(table, "install", WHERE, INSTALLS, "index"),
        libraries=tc.strings(table, "libraries", WHERE),
        timeout_seconds=tc.number(table, "timeout_seconds", WHERE, 0, lo=0, hi=7 * 86400,
                                  integer=True),
        max_archive_mb=float(tc.number(table, "max_archive_mb", WHERE, 50, lo=0.001, hi=10_000)),
        poll_max_seconds=float(tc.number(table, "poll_max_seconds", WHERE, 10, lo=0.01, hi=600)),
    )


def from_mlflow_spec(data: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
    """MLflow's ``--backend-config`` for Databricks as a ``[databricks]`` table: a bare cluster
    spec (``new_cluster``), or ``{"new_cluster": {...}, "libraries": [...]}`` whose pypi
    libraries become ``libraries``. None for anything else."""
    import dataclasses

    from databricks.sdk.service.compute import ClusterSpec

    if "new_cluster" in data and set(data) <= {"new_cluster", "libraries"}:
        table: dict[str, Any] = {"new_cluster": data["new_cluster"]}
        if data.get("libraries"):
            table["libraries"] = [_pypi(lib) for lib in data["libraries"]]
        return table, "MLflow's cluster spec with libraries (new_cluster, libraries)"
    if data and set(data) <= {f.name for f in dataclasses.fields(ClusterSpec)}:
        return {"new_cluster": dict(data)}, "MLflow's cluster spec (new_cluster)"
    return None


def _pypi(library: Any) -> str:
    package = library.get("pypi", {}).get("package") if isinstance(library, Mapping) else None
    if not isinstance(package, str) or not package or library["pypi"].get("repo") or \
            len(library) != 1:
        raise ProjectError(f"{WHERE}: library {library!r} of MLflow's cluster spec is not a "
                           f"plain pypi package, the only kind trackbridge installs "
                           f"([databricks] libraries); install it with an init script or a "
                           f"cluster policy instead")
    return package
