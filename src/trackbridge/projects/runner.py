"""``trackbridge run``: plan a project run, then run it on a target as one tracked run.

Everything targets share happens here, once: the parameters (checked, normalised, quoted),
the run (created with the project's tags, or for a target whose platform creates the run,
attached to after submitting), following the job (output to the terminal and to
``logs/<stream>.txt``), Ctrl-C (before the job is submitted: submit nothing; after: cancel
the job, once; the run ends KILLED) and the end (the status and exit code from the job's
outcome, whatever the script's own ``with`` block said or saving ``logs/`` did).
A target (``targets.py``) only submits, polls, reads logs and cancels.
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
    KILLED,
    RUNNING,
    TAG_GIT_COMMIT,
    TAG_SOURCE_NAME,
    TAG_SOURCE_TYPE,
)
from ..errors import RunNotFoundError
from ..fluent import RUN_ID_ENV, _random_name, start_run
from .envs import Environment, select_environment
from .errors import ProjectError
from .follow import LogSinks, follow, outcome
from .gitinfo import git_state
from .packing import project_files, why_left_out
from .params import render_command, resolve_parameters
from .process import Interrupts
from .spec import EntryPoint, Project, load_project
from .targets import Job, Submission, Target
from .tracking import JournalRun, RemoteRun, end_run, save_logs

CONFIG_ENV = "TRACKBRIDGE_CONFIG"
TAG_PROJECT_NAME = "trackbridge.project.name"
TAG_ENTRY_POINT = "trackbridge.project.entry_point"
TAG_COMMAND = "trackbridge.project.command"
TAG_GIT_DIRTY = "trackbridge.project.git_dirty"
TAG_ENV_MANAGER = "trackbridge.project.env_manager"
TAG_TARGET = "trackbridge.project.target"
TAG_JOB_ID = "trackbridge.project.job_id"
TAG_JOB_URL = "trackbridge.project.job_url"
SOURCE_TYPE_PROJECT = "PROJECT"  # MLflow's SourceType.PROJECT


@dataclass(frozen=True)
class Plan:
    """Everything decided before anything runs (what ``--dry-run`` shows). ``env`` is the
    local environment; None when the command runs elsewhere (``target`` is not local)."""

    project: Project
    entry: EntryPoint
    params: dict[str, str]
    command: str
    env: Environment | None
    target: str = "local"

    def describe(self, config: Config) -> list[str]:
        lines = [
            f"project:      {self.project.name} ({self.project.directory})",
            f"entry point:  {self.entry.name}",
            f"parameters:   {', '.join(f'{k}={v}' for k, v in self.params.items()) or '(none)'}",
            f"command:      {self.command}",
            f"directory:    {self.project.directory}",
        ]
        if self.env is not None:
            lines.append(f"environment:  {self.env.describe()}")
        lines.append(f"config:       {config.source} (backend {config.backend})")
        if self.env is not None:
            lines.append(f"variables:    {RUN_ID_ENV}=<the new run's id>, {CONFIG_ENV}=<the "
                         f"resolved config, written to a temporary file>")
        else:
            lines.append(f"target:       {self.target}")
        return lines


@dataclass(frozen=True)
class Result:
    run_id: str | None  # None: interrupted before a run was made
    status: str
    exit_code: int  # what `trackbridge run` exits with
    job_id: str | None = None
    url: str | None = None


def plan_run(directory: str | Path, entry_point: str = "main",
             params: Mapping[str, str] | None = None, env_manager: str | None = None,
             cwd: Path | None = None, cache_dir: Path | None = None,
             target: Target | None = None) -> Plan:
    """Load the project, check the parameters, render the command, pick the environment.

    For a target other than ``local``, ``path`` parameters (and ``uri`` ones without a
    scheme) must be relative paths of files the packed project holds (they travel with it)
    or locations the target's platform reads (:meth:`Target.remote_path`)."""
    project = load_project(directory)
    remote = target is not None and target.name != "local"
    if remote and env_manager is not None:
        raise ProjectError(f"--env-manager applies to --on local only; on {target.name} the "
                           f"environment is set in the --on-config file")
    env = None if remote else select_environment(project, env_manager, cache_dir)
    entry = project.entry_point(entry_point)
    rule = _remote_path_rule(target, project.directory) if remote else None
    values = resolve_parameters(entry, params or {}, cwd=cwd or Path.cwd(),
                                project_dir=project.directory, remote_path=rule)
    return Plan(project=project, entry=entry, params=values, command=render_command(entry, values),
                env=env, target=target.name if remote else "local")


def _remote_path_rule(target: Target, project_dir: Path) -> Callable[[str, str], str]:
    """A relative path of the project travels with it when the archive holds it (a file, or
    a directory with packed files); one that exists here but is left out is an error saying
    why. Anything else is the target's to judge (:meth:`Target.remote_path`)."""
    packed: list[str] = []

    def rule(name: str, value: str) -> str:
        path = Path(value)
        if not value or path.is_absolute() or ".." in path.parts or \
                not (project_dir / path).exists():
            return target.remote_path(name, value)
        rel = path.as_posix()
        if not packed:
            packed.extend(project_files(project_dir))
        if rel == "." or rel in packed or any(f.startswith(f"{rel}/") for f in packed):
            return rel  # a file of the project: it travels with it
        why, fix = why_left_out(project_dir, rel)
        hint = getattr(target, "path_hint", "") or "the platform reads"
        raise ValueError(f"{name!r} is a path parameter: {value!r} is left out of the packed "
                         f"project ({why}), so the job on {target.name} would not find it; "
                         f"{fix}, or pass a location {hint}")

    return rule


def check_tracking(target: Target, config: Config) -> None:
    """The job logs to the tracking backend from where it runs: refuse one it cannot reach."""
    wanted = target.tracking_backends
    if wanted and config.backend not in wanted:
        raise ProjectError(
            f"--on {target.name}: the run is tracked with {config.source} (backend "
            f"{config.backend!r}), which the job cannot log to; pass --config with backend = "
            f"{' or '.join(map(repr, wanted))} (e.g. configs/{wanted[0]}.toml)")


def run_project(plan: Plan, config: Config, *, target: Target | None = None,
                experiment: str | None = None, run_name: str | None = None, stdout: BinaryIO,
                stderr: BinaryIO, echo: Callable[[str], None] = lambda message: None,
                detach: bool = False, grace: float | None = None) -> Result:
    """Check, create the run, upload, submit, follow the job, end the run by its outcome.

    Ctrl-C before the job is submitted submits nothing (the run, if made, ends KILLED). Once
    the job ended, its outcome is the run's status and the exit code: what fails afterwards
    (saving ``logs/``, ending the run) is a one-line warning."""
    from .local import LocalTarget

    if target is None:
        target = LocalTarget(echo=echo) if grace is None else LocalTarget(grace, echo)
    local = target.name == "local"
    if detach and local:
        raise ProjectError("--detach needs a remote --on target (databricks, azureml, ...)")
    check_tracking(target, config)
    job = Job(plan=plan, tracking=config, experiment=experiment or config.experiment or "Default",
              run_name=run_name or _random_name())
    target.check(plan)
    target.prepare(job)  # a broken environment makes no run: nothing ran
    tags = project_tags(plan, config, target)
    run: JournalRun | RemoteRun | None = None
    with tempfile.TemporaryDirectory(prefix="trackbridge-logs-") as tmp, Interrupts() as interrupts:
        submission: Submission | None = None
        sinks = LogSinks(target.log_streams, {"stdout": stdout, "stderr": stderr}, Path(tmp))
        try:
            if not target.creates_run:
                run = _create_run(plan, job, config, tags, local)
                run.log_params(plan.params)
                job = Job(plan=plan, tracking=config, experiment=run.experiment,
                          run_name=job.run_name, run_id=run.id)
            if interrupts.signum is None:
                target.upload(job)
            if interrupts.signum is not None:  # Ctrl-C before the job exists: stop here
                return _not_submitted(target, run, interrupts.signum, echo)
            submission = target.submit(job)
            if run is None:  # the platform made the run: attach, then params and tags
                run = RemoteRun.attach(_backend(config), submission.run_id)
                run.log_params(plan.params)
                submission.tags.update({**_context_tags_of(plan), **tags})
            run.set_tags(_job_tags(target, submission))
            where = f" ({submission.url})" if submission.url else ""
            echo(f"run {run.id} (experiment {run.experiment!r}): {plan.command}" if local else
                 f"run {run.id}: {target.name} job {submission.job_id} submitted{where}")
            if detach:
                echo("detached: the job goes on; the run ends when its script ends it")
                return Result(run.id, RUNNING, 0, submission.job_id, submission.url)
            state, interrupted = follow(target, submission, sinks, interrupts)
        except BaseException as exc:
            if submission is not None and not detach and not submission.cancel_sent:
                _stop(target, submission)
            if run is not None:
                run.end(KILLED if isinstance(exc, KeyboardInterrupt) else FAILED, quiet=True)
            raise
        finally:
            sinks.close()
            if submission is not None:
                target.finish(submission)
        status, code, why = outcome(state, interrupted)
        kept = "" if local else f" and in {target.name} job {submission.job_id}'s log"
        save_logs(run, sinks.paths, f"the output is the one shown above{kept}", echo)
        end_run(run, status, echo)
    echo(f"run {run.id} {status}{why}")
    return Result(run.id, status, code, submission.job_id, submission.url)


def _not_submitted(target: Target, run: JournalRun | RemoteRun | None, signum: int,
                   echo: Callable[[str], None]) -> Result:
    """Ctrl-C came before the job was submitted: the run (if made) ends KILLED, 128 + N."""
    what = "the command started" if target.name == "local" else \
        f"the {target.name} job was submitted (nothing was submitted)"
    why = f"interrupted ({signal.Signals(signum).name}) before {what}"
    if run is None:
        echo(why)
        return Result(None, KILLED, 128 + signum)
    end_run(run, KILLED, echo)
    echo(f"run {run.id} KILLED: {why}")
    return Result(run.id, KILLED, 128 + signum)


def _stop(target: Target, submission: Submission) -> None:
    """Something failed while the job ran: stop it, so nothing outlives the project run."""
    submission.cancel_sent = True
    try:
        target.cancel(submission, lambda: True)
    except Exception:  # noqa: S110 - already failing; the original error is the one to show
        pass


def _backend(config: Config):  # noqa: ANN202 - a Backend
    from ..registry import open_backend

    return open_backend(config)


def project_tags(plan: Plan, config: Config, target: Target) -> dict[str, str]:
    limit = _backend(config).limits.max_tag_value_length
    command = plan.command
    if limit is not None and len(command) > limit:
        command = command[: limit - 3] + "..."
    tags = {
        TAG_PROJECT_NAME: plan.project.name,
        TAG_ENTRY_POINT: plan.entry.name,
        TAG_COMMAND: command,
        TAG_SOURCE_NAME: str(plan.project.directory),
        TAG_SOURCE_TYPE: SOURCE_TYPE_PROJECT,
    }
    if plan.env is not None:
        tags[TAG_ENV_MANAGER] = plan.env.manager
    else:
        tags[TAG_TARGET] = target.name
    commit, dirty = git_state(plan.project.directory)
    if commit is not None:
        tags[TAG_GIT_COMMIT] = commit
        tags[TAG_GIT_DIRTY] = "true" if dirty else "false"
    return tags


def _job_tags(target: Target, submission: Submission) -> dict[str, str]:
    if target.name == "local":
        return dict(submission.tags)
    tags = {TAG_JOB_ID: submission.job_id, **submission.tags}
    if submission.url:
        tags[TAG_JOB_URL] = submission.url
    return tags


def _source_path(plan: Plan) -> Path:
    return plan.project.mlproject or plan.project.directory / plan.entry.name


def _context_tags_of(plan: Plan) -> dict[str, str]:
    """The tags every new run gets (user, host, versions, source), for a run the platform
    made (``RemoteRun.create`` and ``start_run`` add them to the runs they make)."""
    from ..fluent import _context_tags

    with _source(_source_path(plan)):
        return _context_tags()


def _create_run(plan: Plan, job: Job, config: Config, tags: dict[str, str],
                local: bool) -> JournalRun | RemoteRun:
    source = _source_path(plan)
    if not local:
        with _source(source):
            return RemoteRun.create(_backend(config), job.experiment, job.run_name, tags)
    # run from inside another project run (a sweep driver): the new run is its child
    parent = os.environ.get(RUN_ID_ENV) or None
    try:
        with _source(source):
            return JournalRun(start_run(experiment=job.experiment, run_name=job.run_name,
                                        tags=tags, config=config, parent_run_id=parent))
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
