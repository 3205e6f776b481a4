"""``trackbridge run``: run a project (a directory with an ``MLproject``) as one tracked run."""

from __future__ import annotations

import sys

import click

from . import cli
from .output import config_option


def _echo(message: str) -> None:
    click.echo(f"trackbridge: {message}", err=True)


@cli.command("run")
@click.argument("project_dir", default=".", type=click.Path(file_okay=False))
@click.option("-e", "--entry-point", default="main", show_default=True,
              help="Entry point of the MLproject, or a .py / .sh file of the project.")
@click.option("-P", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A parameter; repeat for several. Undeclared ones are passed as --KEY VALUE.")
@click.option("--experiment", help="Experiment of the run (default: the config's, then Default).")
@click.option("--run-name", help="Name of the run (default: a random one).")
@click.option("--env-manager", type=click.Choice(["local", "venv"]), default=None,
              help="local: the current interpreter (default); venv: a cached virtualenv built "
                   "from python_env.yaml or requirements.txt.")
@click.option("--dry-run", is_flag=True, help="Print the command and environment; run nothing.")
@config_option
@click.pass_context
def run(ctx: click.Context, project_dir: str, entry_point: str, params: tuple[str, ...],
        experiment: str | None, run_name: str | None, env_manager: str | None, dry_run: bool,
        config) -> None:
    """Run PROJECT_DIR's entry point as a run; exit with the command's exit code."""
    from ..projects.params import parse_assignments
    from ..projects.runner import plan_run, run_project

    plan = plan_run(project_dir, entry_point, parse_assignments(params), env_manager)
    if dry_run:
        for line in plan.describe(config):
            click.echo(line)
        return
    try:
        result = run_project(plan, config, experiment=experiment, run_name=run_name,
                             stdout=sys.stdout.buffer, stderr=sys.stderr.buffer, echo=_echo)
    except KeyboardInterrupt:  # before the command started or after it ended
        _echo("interrupted")
        ctx.exit(130)
    ctx.exit(result.exit_code)
