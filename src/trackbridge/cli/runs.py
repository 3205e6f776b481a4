"""``trackbridge runs list|show|compare``."""

from __future__ import annotations

from typing import Any

import click

from .. import reading
from ..backend import Backend
from ..entities import RUN_STATUSES, DatasetInput, Run
from . import cli
from .output import (
    config_option,
    fmt_duration,
    fmt_number,
    fmt_time,
    json_option,
    print_json,
    print_table,
)


@cli.group()
def runs() -> None:
    """List, show and compare runs."""


def run_dict(run: Run) -> dict[str, Any]:
    return {
        "id": run.id, "experiment": run.experiment, "experiment_id": run.experiment_id,
        "name": run.name, "status": run.status, "start_time": run.start_time,
        "end_time": run.end_time, "parent_run_id": run.parent_run_id, "params": run.params,
        "metrics": run.metrics, "tags": run.tags, "artifact_uri": run.artifact_uri,
    }


def input_dict(item: DatasetInput) -> dict[str, Any]:
    return {**item.dataset._asdict(), "context": item.context, "tags": item.tags}


def _all_artifacts(backend: Backend, run_id: str) -> list[dict[str, Any]]:
    from ..artifact_tree import walk_files

    files = [{"path": e.path, "size": e.size} for e in walk_files(backend, run_id)]
    return sorted(files, key=lambda f: f["path"])


@runs.command("list")
@click.option("--experiment", "-e", multiple=True, help="Only runs of this experiment.")
@click.option("--status", type=click.Choice(RUN_STATUSES, case_sensitive=False))
@click.option("--filter", "filter_", help="MLflow filter, e.g. \"metrics.acc > 0.9\".")
@json_option
@config_option
def list_runs(experiment: tuple[str, ...], status: str | None, filter_: str | None,
              as_json: bool, config) -> None:
    """Runs, newest first."""
    clauses = [c for c in (filter_, status and f"attributes.status = '{status.upper()}'") if c]
    found = reading.search_runs(list(experiment) or None, " and ".join(clauses) or None, config)
    if as_json:
        print_json([run_dict(r) for r in found])
        return
    print_table(
        f"{len(found)} run(s)",
        ["run id", "experiment", "name", "status", "started (UTC)", "duration", "metrics"],
        [(r.id, r.experiment, r.name, r.status, fmt_time(r.start_time),
          fmt_duration(r.start_time, r.end_time),
          ", ".join(f"{k}={fmt_number(v)}" for k, v in sorted(r.metrics.items())[:4]))
         for r in found],
    )


@runs.command("show")
@click.argument("run_id")
@json_option
@config_option
def show_run(run_id: str, as_json: bool, config) -> None:
    """Params, latest metrics, tags and artifacts of one run."""
    from ..registry import open_backend

    run = reading.get_run(run_id, config)
    backend = open_backend(config)
    artifacts = _all_artifacts(backend, run.id)  # run.id: as the backend knows it
    inputs = [input_dict(i) for i in backend.get_inputs(run.id)]
    if as_json:
        print_json({**run_dict(run), "artifacts": artifacts, "inputs": inputs})
        return
    click.echo(f"Run {run.id}  ({run.name})")
    click.echo(f"  experiment  {run.experiment}")
    click.echo(f"  status      {run.status}")
    click.echo(f"  started     {fmt_time(run.start_time)} UTC")
    if run.end_time:
        click.echo(f"  ended       {fmt_time(run.end_time)} UTC "
                   f"({fmt_duration(run.start_time, run.end_time)})")
    if run.parent_run_id:
        click.echo(f"  parent      {run.parent_run_id}")
    print_table("Params", ["key", "value"], sorted(run.params.items()))
    print_table("Metrics (latest)", ["key", "value"],
                [(k, fmt_number(v)) for k, v in sorted(run.metrics.items())])
    print_table("Tags", ["key", "value"], sorted(run.tags.items()))
    print_table("Artifacts", ["path", "bytes"], [(a["path"], a["size"]) for a in artifacts])
    if inputs:
        print_table("Dataset inputs", ["name", "digest", "context", "source", "profile"],
                    [(i["name"], i["digest"], i["context"] or "", i["source_type"],
                      i["profile"] or "") for i in inputs])


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--all", "show_all", is_flag=True, help="Also show params that are equal in every run.")
@json_option
@config_option
def compare_runs(run_ids: tuple[str, ...], show_all: bool, as_json: bool, config) -> None:
    """Params and latest metrics of several runs side by side (differences by default)."""
    if len(run_ids) < 2:
        raise click.UsageError("give at least two run ids")
    found = [reading.get_run(r, config) for r in run_ids]
    if as_json:
        print_json([run_dict(r) for r in found])
        return
    rows = []
    for kind, attr in (("param", "params"), ("metric", "metrics")):
        keys = sorted(set().union(*(getattr(r, attr) for r in found)))
        for key in keys:
            values = [getattr(r, attr).get(key) for r in found]
            if kind == "param" and not show_all and len(set(values)) == 1:
                continue
            rows.append((f"{kind}s.{key}", *("-" if v is None else fmt_number(v) for v in values)))
    print_table(None, ["", *(f"{r.name} ({r.id[:8]})" for r in found)], rows)
