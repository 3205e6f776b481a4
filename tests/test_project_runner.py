"""The runner with a stand-in target (no platform): Ctrl-C before the job is submitted, the
job's outcome standing whatever fails after it ended, cancel sent once, and the context tags
of a run the platform made."""

from __future__ import annotations

import io
import os
import signal
import threading
import time

import pytest

import trackbridge as tb
from testsupport.remote_project import write_tree
from trackbridge.config import load_config
from trackbridge.entities import FINISHED, KILLED, RUNNING
from trackbridge.projects.runner import plan_run, run_project
from trackbridge.projects.targets import JobState, Submission, Target
from trackbridge.projects.tracking import RemoteRun


class StandIn(Target):
    """A platform in memory: the job runs until told otherwise."""

    name = "standin"
    poll_interval = (0.02, 0.02)

    def __init__(self, *, states: list[JobState] | None = None, on_upload=None,
                 creates_run: bool = False, tracking=None) -> None:
        self.states = states or [JobState(FINISHED, exit_code=0)]
        self.on_upload = on_upload
        self.creates_run = creates_run  # type: ignore[misc]
        self.tracking = tracking
        self.uploads = self.submits = self.cancels = 0
        self.logs = [{"stdout": b"out\n", "stderr": b"err\n"}]

    def upload(self, job) -> None:
        self.uploads += 1
        if self.on_upload:
            self.on_upload()

    def submit(self, job) -> Submission:
        self.submits += 1
        run_id = None
        if self.creates_run:  # as Azure ML does: the platform makes the job's run
            from trackbridge.registry import open_backend

            backend = open_backend(self.tracking)
            exp = backend.get_or_create_experiment(job.experiment)
            run_id = backend.create_run(exp.id, run_name=job.run_name, start_time=1,
                                        tags={"platform.tag": "x"}).id
        return Submission(job_id="job-1", run_id=run_id)

    def wait(self, submission, timeout) -> JobState:
        self.sleep(timeout)
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def read_logs(self, submission) -> dict[str, bytes]:
        return self.logs.pop(0) if self.logs else {}

    def cancel(self, submission, hurry) -> None:
        self.cancels += 1
        self.states = [JobState(KILLED)]


@pytest.fixture
def setup(store, tmp_path):
    project = write_tree(tmp_path / "p", {"MLproject": "name: p\nentry_points:\n  main:\n"
                                                      "    command: \"python train.py\"\n"})
    return project, load_config({**store, "experiment": "runner"})


def run(setup, target, messages):
    project, config = setup
    return run_project(plan_run(project, target=target), config, target=target,
                       stdout=io.BytesIO(), stderr=io.BytesIO(), echo=messages.append)


def ctrl_c(times: int = 1) -> None:
    for _ in range(times):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)


def test_ctrl_c_during_the_upload_submits_nothing_and_kills_the_run(setup):
    target, messages = StandIn(on_upload=lambda: ctrl_c(2)), []
    result = run(setup, target, messages)
    assert (target.uploads, target.submits, target.cancels) == (1, 0, 0)
    assert (result.status, result.exit_code) == (KILLED, 130)
    assert tb.get_run(result.run_id, config=setup[1]).status == KILLED
    assert messages == [f"run {result.run_id} KILLED: interrupted (SIGINT) before the standin "
                        f"job was submitted (nothing was submitted)"]


def test_ctrl_c_before_the_platform_made_the_run_leaves_no_run(setup):
    target, messages = StandIn(on_upload=ctrl_c, creates_run=True, tracking=setup[1]), []
    result = run(setup, target, messages)
    assert target.submits == 0 and result.run_id is None and result.exit_code == 130
    assert tb.search_runs(config=setup[1]) == []


def failing_upload(monkeypatch) -> None:
    def log_artifact(self, path, folder):
        raise OSError(f"no space left on device while writing {path.name}")

    monkeypatch.setattr(RemoteRun, "log_artifact", log_artifact)


def test_a_failed_log_upload_is_a_warning_and_the_jobs_outcome_stands(setup, monkeypatch):
    failing_upload(monkeypatch)
    target, messages = StandIn(), []
    result = run(setup, target, messages)
    assert (result.status, result.exit_code) == (FINISHED, 0)
    assert tb.get_run(result.run_id, config=setup[1]).status == FINISHED
    (warning,) = [m for m in messages if m.startswith("warning:")]
    assert warning == (f"warning: logs/stdout.txt and logs/stderr.txt of run {result.run_id} not "
                       f"saved (OSError: no space left on device while writing stdout.txt); "
                       f"the output is the one shown above and in standin job job-1's log")


def test_an_interrupted_job_is_cancelled_once_and_ends_killed_even_if_saving_logs_fails(
        setup, monkeypatch):
    failing_upload(monkeypatch)
    target, messages = StandIn(states=[JobState(RUNNING)]), []
    threading.Timer(0.3, ctrl_c).start()
    result = run(setup, target, messages)
    assert target.cancels == 1
    assert (result.status, result.exit_code) == (KILLED, 130)
    assert tb.get_run(result.run_id, config=setup[1]).status == KILLED
    assert any(m.startswith("warning: logs/stdout.txt and logs/stderr.txt") for m in messages)


def test_a_run_the_platform_made_gets_the_context_tags_of_every_run(setup):
    from trackbridge.version import __version__

    target = StandIn(creates_run=True, tracking=setup[1])
    result = run(setup, target, [])
    tags = tb.get_run(result.run_id, config=setup[1]).tags
    assert tags["trackbridge.version"] == __version__
    for key in ("mlflow.user", "trackbridge.host", "trackbridge.python_version"):
        assert tags[key]
    assert tags["mlflow.source.name"] == str(setup[0])  # the project tags have the last word
    assert tags["mlflow.source.type"] == "PROJECT"
    assert tags["trackbridge.project.target"] == "standin" and tags["platform.tag"] == "x"
