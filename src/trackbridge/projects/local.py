"""The ``local`` target: the command runs on this machine, in its own process group.

The environment (``local`` interpreter or a cached ``venv``) is built before the run is
created, the resolved config is handed to the command in a private file, and Ctrl-C stops
the group politely (SIGINT, then SIGTERM, then SIGKILL after the grace period; see
``process.py``). Processes the command leaves running in its group are stopped when it exits.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from ..entities import FAILED, FINISHED, RUNNING
from ..fluent import RUN_ID_ENV
from .childconfig import write_child_config
from .envs import build_environment
from .process import TERMINATE_GRACE_S, LocalProcess, group_members, terminate_group
from .targets import Job, JobState, Submission, Target

CONFIG_ENV = "TRACKBRIDGE_CONFIG"


class LocalTarget(Target):
    name: ClassVar[str] = "local"
    #: wait() returns as soon as output arrives; the interval bounds how late Ctrl-C is seen
    poll_interval: ClassVar[tuple[float, float]] = (0.1, 0.1)

    def __init__(self, grace: float = TERMINATE_GRACE_S,
                 echo: Callable[[str], None] = lambda message: None) -> None:
        self.grace = grace
        self.echo = echo

    @classmethod
    def from_config(cls, settings: Mapping[str, Any], tracking: Any) -> LocalTarget:
        return cls()

    def prepare(self, job: Job) -> None:
        """Build the environment (before any run is created: a broken one makes no run)."""
        if job.plan.env is not None:
            build_environment(job.plan.env, self.echo)

    def submit(self, job: Job) -> Submission:
        plan = job.plan
        scratch = tempfile.TemporaryDirectory(prefix="trackbridge-run-")
        env = plan.env.variables(os.environ) if plan.env is not None else dict(os.environ)
        env.update({
            RUN_ID_ENV: job.run_id or "",
            CONFIG_ENV: str(write_child_config(job.tracking, Path(scratch.name) / "config.toml",
                                               experiment=job.experiment)),
            "PYTHONUNBUFFERED": "1",  # print() reaches the terminal as it happens
        })
        process = LocalProcess(plan.command, cwd=plan.project.directory, env=env)
        return Submission(job_id=str(process.proc.pid), state=_State(process, scratch))

    def wait(self, submission: Submission, timeout: float) -> JobState:
        state: _State = submission.state
        if state.final is not None:
            return state.final
        code = state.process.wait(timeout)
        if code is None:
            return JobState(RUNNING)
        return self._ended(state, code)

    def _ended(self, state: _State, code: int) -> JobState:
        proc = state.process.proc
        leftovers = len(group_members(proc.pid))
        if leftovers:
            terminate_group(proc, self.grace)
            self.echo(f"stopped {leftovers} process(es) the command left running")
        state.process.join_pumps()
        state.final = JobState(FINISHED if code == 0 else FAILED, exit_code=code)
        return state.final

    def read_logs(self, submission: Submission) -> dict[str, bytes]:
        return submission.state.process.read()

    def cancel(self, submission: Submission, hurry: Callable[[], bool]) -> None:
        state: _State = submission.state
        code = terminate_group(state.process.proc, self.grace, hurry=hurry, polite=True)
        self._ended(state, code)

    def finish(self, submission: Submission) -> None:
        submission.state.scratch.cleanup()


class _State:
    def __init__(self, process: LocalProcess, scratch: tempfile.TemporaryDirectory) -> None:
        self.process = process
        self.scratch = scratch
        self.final: JobState | None = None
