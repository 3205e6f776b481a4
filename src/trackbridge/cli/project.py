"""``trackbridge run``: run a project (a directory with an ``MLproject``) as one tracked run,
on this machine or on a platform (``--on databricks|azureml``)."""

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
                   "from python_env.yaml or requirements.txt. --on local only.")
@click.option("--on", "-b", "--backend", "on", default="local", show_default=True,
              metavar="TARGET",
              help="Where the command runs: local, databricks, azureml or an installed target.")
@click.option("--on-config", "--backend-config", "on_config", type=click.Path(dir_okay=False),
              help="TOML or JSON file with the target's settings ([databricks] / [azureml] "
                   "table; for databricks, also MLflow's cluster spec JSON).")
@click.option("--detach", is_flag=True,
              help="Submit the job, print its id and URL, and return (remote targets).")
@click.option("--dry-run", is_flag=True,
              help="Print the command, the environment and (remote) what would be sent; "
                   "run and submit nothing.")
@config_option
@click.pass_context
def run(ctx: click.Context, project_dir: str, entry_point: str, params: tuple[str, ...],
        experiment: str | None, run_name: str | None, env_manager: str | None, on: str,
        on_config: str | None, detach: bool, dry_run: bool, config) -> None:
    """Run PROJECT_DIR's entry point as a run; exit with the command's exit code."""
    from ..projects.local import LocalTarget
    from ..projects.params import parse_assignments
    from ..projects.runner import Job, check_tracking, plan_run, run_project
    from ..projects.targets import open_target

    if on == "local" and on_config is not None:
        raise click.UsageError("--on-config is for remote targets (--on databricks|azureml)")
    target = LocalTarget(echo=_echo) if on == "local" else open_target(on, config, on_config)
    try:
        plan = plan_run(project_dir, entry_point, parse_assignments(params), env_manager,
                        target=target)
        if dry_run:
            for line in plan.describe(config):
                click.echo(line)
            if on != "local":
                check_tracking(target, config)
                target.check(plan)
                job = Job(plan=plan, tracking=config,
                          experiment=experiment or config.experiment or "Default",
                          run_name=run_name or "<random>")
                for line in target.describe(job):
                    click.echo(line)
            return
        try:
            result = run_project(plan, config, target=target, experiment=experiment,
                                 run_name=run_name, stdout=sys.stdout.buffer,
                                 stderr=sys.stderr.buffer, echo=_echo,
                                 detach=detach)
        except KeyboardInterrupt:  # before the command started or after it ended
            _echo("interrupted")
            ctx.exit(130)
    finally:
        target.close()
    if detach:
        click.echo(f"run_id: {result.run_id}")
        click.echo(f"job_id: {result.job_id}")
        if result.url:
            click.echo(f"url: {result.url}")
    ctx.exit(result.exit_code)
