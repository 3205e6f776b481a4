"""``trackbridge sync`` and ``trackbridge status``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..config import load_config
from ..errors import ConfigError
from . import cli
from .output import json_option, print_json, print_table


def _source(ctx: click.Context, from_: str | None):
    """(source backend, ledger store): a store directory, a config's backend, or by default
    the local store of the resolved config."""
    from ..local.store import LocalBackend
    from ..registry import open_backend, open_journal

    if from_ and Path(from_).is_dir():
        store = LocalBackend(from_)
        return store, store
    config = load_config(from_ or (ctx.obj or {}).get("config"))
    journal = open_journal(config)
    return (open_backend(config) if from_ else journal), journal


def _plan(ctx: click.Context, to: str, from_: str | None):
    from ..registry import open_backend
    from ..sync import SyncPlan

    source, ledger_store = _source(ctx, from_)
    to_config = load_config(to)
    destination = open_backend(to_config)
    if destination is source or destination.describe() == source.describe():
        raise ConfigError(f"--to and the source are the same ({source.describe()})")
    return SyncPlan(source, destination, ledger_store, experiment=to_config.experiment)


class _Bars:
    """Progress on a terminal: runs (a bar), metric points and artifact bytes sent (counters)."""

    def __init__(self, n_runs: int) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description:>14}"), BarColumn(),
            TextColumn("{task.completed:,.0f}{task.fields[of]}"), transient=True,
        )
        self.runs = self.progress.add_task("runs", total=n_runs, of=f" / {n_runs}")
        self.point_task = self.progress.add_task("metric points", total=None, of="")
        self.byte_task = self.progress.add_task("artifact bytes", total=None, of="")

    def points(self, n: int) -> None:
        self.progress.advance(self.point_task, n)

    def artifact_bytes(self, n: int) -> None:
        self.progress.advance(self.byte_task, n)

    def done(self, reports: list) -> None:
        self.progress.update(self.runs, completed=len(reports))


def _report_dict(report: Any) -> dict:
    keys = ("source_run_id", "remote_run_id", "created", "adopted", "reconciled", "points", "params",
            "tags", "artifacts", "artifact_bytes", "write_requests", "status", "status_pushed", "error",
            "unchecked")
    return {k: getattr(report, k) for k in keys}


@cli.command()
@click.option("--to", "to", required=True, type=click.Path(dir_okay=False),
              help="Config of the destination backend.")
@click.option("--from", "from_", type=click.Path(),
              help="Source: a config (its backend) or a local store directory. "
                   "Default: the local store of the resolved config.")
@click.option("--experiment", help="Only runs of this source experiment.")
@click.option("--run", "run_ids", multiple=True, help="Only this run (repeatable).")
@click.option("--follow", is_flag=True, help="Keep shipping new points until the runs end.")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Runs synced at once (one rate limiter shared).")
@json_option
@click.pass_context
def sync(ctx: click.Context, to: str, from_: str | None, experiment: str | None,
         run_ids: tuple[str, ...], follow: bool, dry_run: bool, workers: int, as_json: bool) -> None:
    """Copy runs to another backend, exactly once; rerun to resume."""
    from ..sync import select_runs
    from ..sync import sync as run_sync

    plan = _plan(ctx, to, from_)
    runs = select_runs(plan.source, experiment, run_ids)
    bars = _Bars(len(runs)) if sys.stderr.isatty() and not as_json else None
    if bars:
        bars.progress.start()
    try:
        reports = run_sync(plan, runs, dry_run=dry_run, workers=workers, follow=follow,
                           progress=bars, on_pass=bars.done if bars else None)
    finally:
        if bars:
            bars.progress.stop()
    totals = {k: sum(getattr(r, k) for r in reports)
              for k in ("points", "params", "tags", "artifacts", "artifact_bytes", "write_requests")}
    failed = [r for r in reports if r.error]
    unchecked = next((r.unchecked for r in reports if r.unchecked), None)
    if as_json:
        print_json({"destination": plan.destination.describe(), "dry_run": dry_run,
                    "destination_checked": unchecked is None, "destination_error": unchecked,
                    "runs": [_report_dict(r) for r in reports], "totals": totals,
                    "failed": len(failed)})
    else:
        verb = "would send" if dry_run else "sent"
        for r in reports:
            line = (f"{r.source_run_id} -> {r.remote_run_id or '(new run)'}: {verb} {r.points} points, "
                    f"{r.params} params, {r.tags} tags, {r.artifacts} files ({r.artifact_bytes} bytes) "
                    f"in {r.write_requests} write requests")
            click.echo(f"{line}; FAILED: {r.error}" if r.error else line)
        click.echo(f"{len(reports)} run(s) to {plan.destination.describe()}: {verb} "
                   f"{totals['points']} points, {totals['artifact_bytes']} artifact bytes in "
                   f"{totals['write_requests']} write requests; {len(failed)} failed")
        if unchecked:
            click.echo(f"note: could not check {plan.destination.describe()} for what it already "
                       f"holds, so these are the counts the local ledger has pending: {unchecked}")
    if failed:
        raise SystemExit(1)


@cli.command()
@click.option("--to", "to", type=click.Path(dir_okay=False),
              help="Config of the destination (default: every destination in the ledger).")
@click.option("--from", "from_", type=click.Path(), help="Source config or store directory.")
@json_option
@click.pass_context
def status(ctx: click.Context, to: str | None, from_: str | None, as_json: bool) -> None:
    """Per run: what is synced, what is pending."""
    from ..registry import open_backend
    from ..sync import destination_id, select_runs
    from ..sync.ledger import Ledger
    from ..sync.sources import source_for
    from ..sync.status import run_status

    source, ledger_store = _source(ctx, from_)
    if to:
        destinations = [destination_id(open_backend(load_config(to)))]
    else:
        destinations = Ledger(ledger_store, "").destinations()
    reader = source_for(source)
    rows = [run_status(reader, Ledger(ledger_store, dest), run)
            for dest in destinations for run in select_runs(source)]
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    if not destinations:
        click.echo("nothing synced yet (no destination in the ledger); use --to CONFIG")
        return
    print_table(None, ["run", "name", "status", "destination", "remote run", "points pending",
                       "params", "tags", "files", "synced"],
                [(r.source_run_id, r.name, r.status, r.destination, r.remote_run_id or "-",
                  "in doubt" if r.points_pending is None else f"{r.points_pending}/{r.points_total}",
                  r.params_pending, r.tags_pending, r.artifacts_pending,
                  "yes" if r.synced else "no") for r in rows])
