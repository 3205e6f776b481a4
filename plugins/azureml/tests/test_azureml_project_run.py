"""``trackbridge run --on azureml`` end to end: azure-ai-ml talks to a loopback ARM stand-in
(testsupport/azureml_jobs.py) that really runs the command job, tracking is the real MLflow
server behind the Azure-ML-shaped front, code and logs travel through Azurite. The client
runs as a subprocess (azure-ai-ml keeps its cloud in the process's environment). MLflow's own
client reads the result: exactly one run (the job's), params, metrics, logs, status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from azureml_front import SCOPE

from testsupport.azureml_jobs import AzureMLJobs
from testsupport.remote_project import losses, write_project

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def arm(azure_front, tmp_path_factory):
    stand_in = AzureMLJobs(azure_front, tmp_path_factory.mktemp("arm")).start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def setup(arm, azure_front, tmp_path):
    from azureml_helpers import TOKEN

    project = write_project(tmp_path / "proj")
    experiment = f"aml-remote-{uuid.uuid4().hex[:8]}"
    tracking = tmp_path / "tracking.toml"
    tracking.write_text(textwrap.dedent(f"""\
        backend = "azureml"
        experiment = "{experiment}"
        [local]
        path = "{tmp_path / 'tbruns'}"
        flush_interval = 0.05
        [azureml]
        tracking_uri = "{azure_front.tracking_uri}"
        access_token = "${{TEST_AZURE_TOKEN}}"
        retry_backoff = 0.1
        """))
    compute = tmp_path / "compute.toml"
    compute.write_text('[azureml]\ncompute = "cpu-cluster"\npoll_max_seconds = 0.3\n')
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZURE_", "AZUREML_", "TRACKBRIDGE_", "ARM_"))}
    env.update(arm.client_env(), TEST_AZURE_TOKEN=TOKEN)
    return project, tracking, compute, experiment, env


def trackbridge_run(setup, *args, wait=True):
    project, tracking, compute, _, env = setup
    proc = subprocess.Popen(
        [sys.executable, "-m", "trackbridge", "run", str(project), *args, "--on", "azureml",
         "--on-config", str(compute), "--config", str(tracking)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=project.parent)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=240)
    return proc.returncode, out.decode(), err.decode()


def only_run(mlflow_server, experiment):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.url)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1, [r.info.run_id for r in runs]  # the job's run, and no other
    return client, runs[0]


def stdout_log(front, job, name="stdout.txt"):
    """The run's artifact logs/<name>, read from the workspace's blob store (Azurite)."""
    blob = front.blobs.get_blob_client("azureml", f"ExperimentRun/dcid.{job.name}/logs/{name}")
    return blob.download_blob().readall().decode()


def job_of(arm, run):
    (job,) = [j for j in arm.jobs.values() if j.mlflow_run_id == run.info.run_id]
    return job


def test_a_project_runs_as_an_azureml_job_in_the_jobs_own_run(setup, arm, mlflow_server,
                                                                azure_front):
    from azureml_helpers import TOKEN

    code, out, err = trackbridge_run(setup, "-P", "alpha=0.25")
    assert code == 0, err
    client, run = only_run(mlflow_server, setup[3])
    job = job_of(arm, run)
    assert run.info.status == "FINISHED" and job.status == "Completed"
    assert run.data.params == {"alpha": "0.25", "code": "0", "sleep": "0.0"}
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == losses(0.25)
    tags = run.data.tags
    assert tags["trackbridge.project.job_id"] == job.name
    assert tags["trackbridge.project.job_url"].startswith(f"https://ml.loopback.invalid/runs/"
                                                          f"{job.name}?wsid={SCOPE}")
    assert tags["trackbridge.project.target"] == "azureml"
    assert tags["trackbridge.project.entry_point"] == "main"
    import platform
    import socket

    from trackbridge.version import __version__  # the tags every run gets, on the job's run too

    assert tags["mlflow.user"] and tags["mlflow.source.type"] == "PROJECT"
    assert tags["mlflow.source.name"] == str(setup[0])
    assert tags["trackbridge.context"] == (  # host, python, version: one tag on Azure ML
        f"host={socket.gethostname()}; python={platform.python_version()}; "
        f"trackbridge={__version__}")
    log = stdout_log(azure_front, job)
    errors = stdout_log(azure_front, job, "stderr.txt")
    assert log == f"trained in run {job.name}\n"  # the script attached to the job's run
    assert errors.endswith("a warning on stderr\ntrackbridge: the command exited with code 0\n")
    assert errors.splitlines()[-2] == "a warning on stderr"  # (the job's SDK may warn before)
    assert f"trained in run {job.name}" in out  # streamed to the terminal ...
    assert "a warning on stderr\n" in err and "warning" not in out  # ... each stream to its own
    assert TOKEN not in log + errors and TOKEN not in out and TOKEN not in err
    assert f"run {job.name} FINISHED" in err


def test_a_failing_command_fails_the_run_with_its_exit_code(setup, arm, mlflow_server):
    code, _, err = trackbridge_run(setup, "-P", "code=5")
    assert code == 5, err
    client, run = only_run(mlflow_server, setup[3])
    assert run.info.status == "FAILED" and job_of(arm, run).status == "Failed"
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 3
    assert "FAILED: the command exited with code 5" in err


def test_ctrl_c_cancels_the_job_and_kills_the_run(setup, arm, mlflow_server, azure_front):
    before = set(arm.jobs)
    proc = trackbridge_run(setup, "-P", "sleep=120", wait=False)
    try:
        deadline, job = time.monotonic() + 120, None
        while time.monotonic() < deadline and job is None:
            for name in set(arm.jobs) - before:
                log = arm.root / f"{name}.log"
                if log.exists() and b"sleeping" in log.read_bytes():
                    job = arm.jobs[name]
            time.sleep(0.1)
        assert job is not None, "the job did not start"
        proc.send_signal(signal.SIGINT)
        try:  # cancelling waits for the job to stop (at most the target's cancel_timeout)
            _, err = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"trackbridge run did not stop; job {job.status}, "
                                 f"stand-in errors {job.errors}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    assert arm.cancels == [job.name] or arm.cancels[-1] == job.name
    assert job.proc.wait(timeout=30) is not None and job.status == "Canceled"
    client, run = only_run(mlflow_server, setup[3])
    assert run.info.status == "KILLED"
    history = client.get_metric_history(run.info.run_id, "loss")  # the script flushed at SIGINT
    assert [(m.step, m.value) for m in history] == losses(0.5)
    assert "sleeping" in stdout_log(azure_front, job)


def code_uploads(arm) -> int:
    """How many times azure-ai-ml asked for an upload location of code."""
    return sum(1 for method, path in arm.requests if path.endswith("/startPendingUpload"))


def test_dry_run_says_whether_the_code_is_uploaded_and_submits_nothing(setup, arm, mlflow_server):
    project = setup[0]
    (project / "data.txt").write_text(uuid.uuid4().hex)  # code this workspace has never seen
    jobs, uploads = set(arm.jobs), code_uploads(arm)
    code, out, err = trackbridge_run(setup, "-P", "alpha=0.5", "--dry-run")
    assert code == 0, err
    assert "(to upload: the workspace has no code with this hash)" in out
    assert set(arm.jobs) == jobs and code_uploads(arm) == uploads  # nothing sent

    code, _, err = trackbridge_run(setup, "-P", "alpha=0.5")
    assert code == 0, err
    assert code_uploads(arm) == uploads + 1
    code, out, err = trackbridge_run(setup, "-P", "alpha=0.7", "--dry-run")
    assert code == 0, err
    assert "(already uploaded as code " in out and ": not uploaded again)" in out
    code, _, err = trackbridge_run(setup, "-P", "alpha=0.7")  # the dry run was right
    assert code == 0, err
    assert code_uploads(arm) == uploads + 1


def test_detach_submits_prints_and_leaves_the_run_to_the_job(setup, arm, mlflow_server,
                                                             azure_front):
    code, out, err = trackbridge_run(setup, "-P", "alpha=0.75", "--detach")
    assert code == 0, err
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    job = arm.jobs[fields["job_id"]]
    assert fields["run_id"] == job.name  # the job's own run
    assert fields["url"].startswith(f"https://ml.loopback.invalid/runs/{job.name}?wsid=")
    assert "detached: the job goes on" in err
    deadline = time.monotonic() + 120
    while job.status not in ("Completed", "Failed", "Canceled") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.status == "Completed", job.errors
    client, run = only_run(mlflow_server, setup[3])
    assert run.info.status == "FINISHED"  # Azure ML ends the job's run when the job ends
    assert run.data.params == {"alpha": "0.75", "code": "0", "sleep": "0.0"}
    assert run.data.tags["trackbridge.project.job_id"] == job.name
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == losses(0.75)
    blob = f"ExperimentRun/dcid.{job.name}/user_logs/std_log.txt"  # the platform's own log
    log = azure_front.blobs.get_blob_client("azureml", blob).download_blob().readall().decode()
    assert f"trained in run {job.name}" in log
    assert [a.path for a in client.list_artifacts(run.info.run_id, "logs")] == []  # not followed
