"""``trackbridge run``: plan a project run, then run it as one tracked run.

The parent creates the run (params, project tags, git state, the exact command), then runs
the command with ``TRACKBRIDGE_RUN_ID`` and ``TRACKBRIDGE_CONFIG`` set, so ``tb.start_run()``
in the script attaches to that run. When the command exits, the parent takes the run back
(the script's ``start_run`` made the script its writer, and the script's ``with`` block may
have ended it), saves the output as ``logs/stdout.txt`` and ``logs/stderr.txt`` and sets the
status from the exit code: 0 -> FINISHED, anything else -> FAILED, interrupted -> KILLED.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..config import Config
from ..entities import (
    FAILED,
    FINISHED,
    KILLED,
    RUNNING,
    TAG_GIT_COMMIT,
    TAG_SOURCE_NAME,
    TAG_SOURCE_TYPE,
)
from ..errors import RunNotFoundError
from ..fluent import RUN_ID_ENV, start_run
from ..run import ActiveRun
from .childconfig import write_child_config
from .envs import Environment, build_environment, select_environment
from .errors import ProjectError
from .gitinfo import git_state
from .params import render_command, resolve_parameters
from .process import TERMINATE_GRACE_S, run_command
from .spec import EntryPoint, Project, load_project

CONFIG_ENV = "TRACKBRIDGE_CONFIG"
TAG_PROJECT_NAME = "trackbridge.project.name"
TAG_ENTRY_POINT = "trackbridge.project.entry_point"
TAG_COMMAND = "trackbridge.project.command"
TAG_GIT_DIRTY = "trackbridge.project.git_dirty"
TAG_ENV_MANAGER = "trackbridge.project.env_manager"
SOURCE_TYPE_PROJECT = "PROJECT"  # MLflow's SourceType.PROJECT


@dataclass(frozen=True)
class Plan:
    """Everything decided before anything runs (what ``--dry-run`` shows)."""

    project: Project
    entry: EntryPoint
    params: dict[str, str]
    command: str
    env: Environment

    def describe(self, config: Config) -> list[str]:
        return [
            f"project:      {self.project.name} ({self.project.directory})",
            f"entry point:  {self.entry.name}",
            f"parameters:   {', '.join(f'{k}={v}' for k, v in self.params.items()) or '(none)'}",
            f"command:      {self.command}",
            f"directory:    {self.project.directory}",
            f"environment:  {self.env.describe()}",
            f"config:       {config.source} (backend {config.backend})",
            f"variables:    {RUN_ID_ENV}=<the new run's id>, {CONFIG_ENV}=<the resolved config, "
            f"written to a temporary file>",
        ]


@dataclass(frozen=True)
class Result:
    run_id: str
    status: str
    exit_code: int  # what `trackbridge run` exits with


def plan_run(directory: str | Path, entry_point: str = "main",
             params: Mapping[str, str] | None = None, env_manager: str | None = None,
             cwd: Path | None = None, cache_dir: Path | None = None) -> Plan:
    """Load the project, check the parameters, render the command, pick the environment."""
    project = load_project(directory)
    env = select_environment(project, env_manager, cache_dir)  # first: it may not run here at all
    entry = project.entry_point(entry_point)
    values = resolve_parameters(entry, params or {}, cwd=cwd or Path.cwd(),
                                project_dir=project.directory)
    return Plan(project=project, entry=entry, params=values, command=render_command(entry, values),
                env=env)


def run_project(plan: Plan, config: Config, *, experiment: str | None = None,
                run_name: str | None = None, stdout: BinaryIO, stderr: BinaryIO,
                echo: Callable[[str], None] = lambda message: None,
                grace: float = TERMINATE_GRACE_S) -> Result:
    """Build the environment, create the run, run the command, end the run by its outcome."""
    build_environment(plan.env, echo)  # a broken environment makes no run: nothing ran
    run = _create_run(plan, config, experiment, run_name)
    try:
        run.log_params(plan.params)
        run.flush()  # the script's start_run must see them (a changed value is a conflict)
        with tempfile.TemporaryDirectory(prefix="trackbridge-run-") as tmp:
            scratch = Path(tmp)
            env = plan.env.variables(os.environ)
            env.update({
                RUN_ID_ENV: run.id,
                CONFIG_ENV: str(write_child_config(config, scratch / "config.toml",
                                                   experiment=run.experiment)),
                "PYTHONUNBUFFERED": "1",  # print() reaches the terminal as it happens
            })
            echo(f"run {run.id} (experiment {run.experiment!r}): {plan.command}")
            outcome = run_command(
                plan.command, cwd=plan.project.directory, env=env, stdout=stdout, stderr=stderr,
                stdout_file=scratch / "stdout.txt", stderr_file=scratch / "stderr.txt",
                grace=grace,
            )
            # The script's start_run made it the run's writer; it has exited, so a reader would
            # now judge the run dead (KILLED). Take the run back before the last writes.
            run.backend.update_run(run.id, status=RUNNING)
            if outcome.leftovers:
                echo(f"stopped {outcome.leftovers} process(es) the command left running")
            for name in ("stdout.txt", "stderr.txt"):
                if (scratch / name).is_file():
                    run.log_artifact(scratch / name, artifact_path="logs")
    except BaseException as exc:
        run.end(KILLED if isinstance(exc, KeyboardInterrupt) else FAILED, _raise_errors=False)
        raise
    status, code, why = _status(outcome.returncode, outcome.interrupted)
    run.end(status)
    echo(f"run {run.id} {status}{why}")
    return Result(run_id=run.id, status=status, exit_code=code)


def _status(returncode: int, interrupted: int | None) -> tuple[str, int, str]:
    if interrupted is not None:
        name = signal.Signals(interrupted).name
        return KILLED, 128 + interrupted, f": interrupted ({name}), the command was stopped"
    if returncode == 0:
        return FINISHED, 0, ""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return FAILED, 128 - returncode, f": the command was killed by {name}"
    return FAILED, returncode, f": the command exited with code {returncode}"


def _create_run(plan: Plan, config: Config, experiment: str | None,
                run_name: str | None) -> ActiveRun:
    from ..registry import open_backend

    limit = open_backend(config).limits.max_tag_value_length
    command = plan.command
    if limit is not None and len(command) > limit:
        command = command[: limit - 3] + "..."
    tags = {
        TAG_PROJECT_NAME: plan.project.name,
        TAG_ENTRY_POINT: plan.entry.name,
        TAG_COMMAND: command,
        TAG_ENV_MANAGER: plan.env.manager,
        TAG_SOURCE_NAME: str(plan.project.directory),
        TAG_SOURCE_TYPE: SOURCE_TYPE_PROJECT,
    }
    commit, dirty = git_state(plan.project.directory)
    if commit is not None:
        tags[TAG_GIT_COMMIT] = commit
        tags[TAG_GIT_DIRTY] = "true" if dirty else "false"
    # run from inside another project run (a sweep driver): the new run is its child
    parent = os.environ.get(RUN_ID_ENV) or None
    try:
        with _source(plan.project.mlproject or plan.project.directory / plan.entry.name):
            return start_run(experiment=experiment, run_name=run_name, tags=tags, config=config,
                             parent_run_id=parent)
    except RunNotFoundError:
        if parent is None:
            raise
        raise ProjectError(f"{RUN_ID_ENV} is set to {parent} (this command runs inside another "
                           f"project run) but that run is not on the configured backend; unset "
                           f"{RUN_ID_ENV} or use the same config") from None


@contextmanager
def _source(path: Path) -> Iterator[None]:
    """Let the run-context provider see ``path`` (a file of the project) as the program being
    run: it derives the source and git commit tags from ``sys.argv[0]``, which is the
    ``trackbridge`` script here (it would tag the commit of wherever trackbridge is installed)."""
    saved = sys.argv[0] if sys.argv else None
    if saved is None:
        yield
        return
    sys.argv[0] = str(path)
    try:
        yield
    finally:
        sys.argv[0] = saved
