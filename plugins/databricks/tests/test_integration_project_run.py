"""``trackbridge run --on databricks`` end to end: a loopback workspace (testsupport/
databricks_jobs.py) really runs the submitted job in a subprocess, tracking is the real MLflow
server behind it, and MLflow's own client reads the result: exactly one run, the project's
params, the script's metrics, the logs, a status that follows the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from click.testing import CliRunner
from dbx_support import TOKEN, isolate_sdk_env

from testsupport.databricks_jobs import DatabricksJobs
from testsupport.faults import FaultProxy
from testsupport.remote_project import losses, write_project
from trackbridge.cli import cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def workspace(mlflow_server, tmp_path_factory):
    ws = DatabricksJobs(mlflow_server.url, TOKEN, tmp_path_factory.mktemp("workspace")).start()
    yield ws
    ws.stop()


@pytest.fixture
def setup(workspace, tmp_path, monkeypatch):
    """(project dir, tracking config, compute config, experiment) for one test."""
    isolate_sdk_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    for var in ("TRACKBRIDGE_CONFIG", "TRACKBRIDGE_BACKEND", "TRACKBRIDGE_EXPERIMENT",
                "TRACKBRIDGE_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    project = write_project(tmp_path / "proj")

    def configs(host: str) -> tuple:
        experiment = f"/Shared/tb-remote/{uuid.uuid4().hex[:8]}"
        tracking = tmp_path / "tracking.toml"
        tracking.write_text(textwrap.dedent(f"""\
            backend = "databricks"
            experiment = "{experiment}"
            [local]
            path = "{tmp_path / 'tbruns'}"
            flush_interval = 0.05
            [databricks]
            host = "{host}"
            retry_timeout_seconds = 30
            max_requests_per_second = 0
            """))
        compute = tmp_path / "compute.toml"
        compute.write_text('[databricks]\nupload_to = "/Volumes/main/ml/projects"\n'
                           'serverless = true\npoll_max_seconds = 0.3\n')
        return project, tracking, compute, experiment

    yield configs
    from trackbridge import registry

    registry.close_all()


def only_run(mlflow_server, experiment):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.url)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1, [r.info.run_id for r in runs]  # the job attached: one run, not two
    return client, runs[0]


def log_text(client, run_id, name, tmp_path):
    path = client.download_artifacts(run_id, f"logs/{name}", str(tmp_path / "dl"))
    with open(path) as f:
        return f.read()


def invoke(*args):
    result = CliRunner().invoke(cli, ["run", *map(str, args)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_a_project_runs_as_a_databricks_job_into_one_run(setup, workspace, mlflow_server, tmp_path):
    project, tracking, compute, experiment = setup(workspace.url)
    result = invoke(project, "-P", "alpha=0.25", "--on", "databricks", "--on-config", compute,
                    "--config", tracking)
    assert result.exit_code == 0, result.output
    client, run = only_run(mlflow_server, experiment)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"alpha": "0.25", "code": "0", "sleep": "0.0"}
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == losses(0.25)
    (job,) = [j for j in workspace.runs.values()
              if j.body["idempotency_token"] == f"trackbridge-{run.info.run_id}"]
    tags = run.data.tags
    assert tags["mlflow.databricks.runURL"] == f"{workspace.url}/#job/runs/{job.run_id}"
    assert tags["trackbridge.project.job_id"] == str(job.run_id)
    assert tags["trackbridge.project.target"] == "databricks"
    assert tags["trackbridge.project.command"] == \
        "python train.py --alpha 0.25 --code 0 --sleep 0.0"
    logs = log_text(client, run.info.run_id, "stdout.txt", tmp_path)
    errors = log_text(client, run.info.run_id, "stderr.txt", tmp_path)
    assert logs == f"trained in run {run.info.run_id}\n"  # the script logged into this run
    assert errors.endswith("a warning on stderr\ntrackbridge: the command exited with code 0\n")
    assert errors.splitlines()[-2] == "a warning on stderr"  # (the job's SDK may warn before)
    assert f"trained in run {run.info.run_id}" in result.stdout  # and the terminal saw it ...
    assert "a warning on stderr\n" in result.stderr and "warning" not in result.stdout  # apart
    assert TOKEN not in logs + errors and TOKEN not in result.output
    assert f"run {run.info.run_id} FINISHED" in result.stderr


def test_a_failing_command_fails_the_run_with_its_exit_code(setup, workspace, mlflow_server):
    project, tracking, compute, experiment = setup(workspace.url)
    result = invoke(project, "-P", "code=3", "--on", "databricks", "--on-config", compute,
                    "--config", tracking)
    assert result.exit_code == 3, result.output
    client, run = only_run(mlflow_server, experiment)
    assert run.info.status == "FAILED"  # the script's `with` said FINISHED; the job decides
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 3
    assert "FAILED: the command exited with code 3" in result.stderr


def test_a_lost_submit_answer_starts_one_job(setup, workspace, mlflow_server):
    proxy = FaultProxy(workspace.url).start()
    try:
        project, tracking, compute, experiment = setup(proxy.url)
        proxy.inject("/api/2.2/jobs/runs/submit", "drop")  # applied, the answer never comes
        before = len(workspace.runs)
        result = invoke(project, "--on", "databricks", "--on-config", compute,
                        "--config", tracking)
    finally:
        proxy.stop()
    assert result.exit_code == 0, result.output
    _, run = only_run(mlflow_server, experiment)
    assert proxy.counts[("POST", "/api/2.2/jobs/runs/submit")] == 2  # resent ...
    assert len(workspace.runs) == before + 1  # ... and still one job
    assert run.info.status == "FINISHED"


def test_ctrl_c_cancels_the_job_and_kills_the_run(setup, workspace, mlflow_server, tmp_path):
    project, tracking, compute, experiment = setup(workspace.url)
    env = {**os.environ, "DATABRICKS_TOKEN": TOKEN}
    before = set(workspace.runs)
    proc = subprocess.Popen(
        [sys.executable, "-m", "trackbridge", "run", str(project), "-P", "sleep=120", "--on",
         "databricks", "--on-config", str(compute), "--config", str(tracking)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 90
        job = None
        while time.monotonic() < deadline:
            new = [workspace.runs[i] for i in set(workspace.runs) - before]
            if new and new[0].log_path.exists() and b"sleeping" in new[0].log_path.read_bytes():
                job = new[0]
                break
            time.sleep(0.1)
        assert job is not None, "the job did not start"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    assert workspace.cancels == [job.run_id]
    assert job.proc.wait(timeout=30) is not None  # the job's process is gone
    client, run = only_run(mlflow_server, experiment)
    assert run.info.status == "KILLED"
    history = client.get_metric_history(run.info.run_id, "loss")  # the script flushed at SIGINT
    assert [(m.step, m.value) for m in history] == losses(0.5)
    assert "sleeping" in log_text(client, run.info.run_id, "stdout.txt", tmp_path)
    assert b"KILLED: interrupted (SIGINT)" in err


def test_ctrl_c_during_the_upload_submits_nothing(setup, workspace, mlflow_server, tmp_path):
    project, tracking, compute, experiment = setup(workspace.url)
    (project / "weights.bin").write_bytes(os.urandom(2000))  # a new archive: it is uploaded
    submits = len(workspace.submits)
    workspace.upload_started.clear()
    workspace.upload_delay = 3.0
    proc = subprocess.Popen(
        [sys.executable, "-m", "trackbridge", "run", str(project), "--on", "databricks",
         "--on-config", str(compute), "--config", str(tracking)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env={**os.environ, "DATABRICKS_TOKEN": TOKEN}, cwd=tmp_path)
    try:
        assert workspace.upload_started.wait(90), "no upload came"
        for _ in range(2):  # two Ctrl-C, as seen: the upload ends, nothing is submitted
            proc.send_signal(signal.SIGINT)
            time.sleep(0.2)
        _, err = proc.communicate(timeout=60)
    finally:
        workspace.upload_delay = 0.0
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    assert len(workspace.submits) == submits
    _, run = only_run(mlflow_server, experiment)
    assert run.info.status == "KILLED"
    assert (f"run {run.info.run_id} KILLED: interrupted (SIGINT) before the databricks job was "
            f"submitted (nothing was submitted)").encode() in err


def test_detach_submits_prints_and_leaves_the_run_to_the_job(setup, workspace, mlflow_server):
    project, tracking, compute, experiment = setup(workspace.url)
    result = invoke(project, "--on", "databricks", "--on-config", compute, "--config", tracking,
                    "--detach")
    assert result.exit_code == 0, result.output
    fields = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    job = workspace.runs[int(fields["job_id"])]
    assert fields["url"] == f"{workspace.url}/#job/runs/{job.run_id}"
    assert job.body["idempotency_token"] == f"trackbridge-{fields['run_id']}"
    deadline = time.monotonic() + 60
    while job.life_cycle != "TERMINATED" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.result == "SUCCESS"
    client, run = only_run(mlflow_server, experiment)
    assert run.info.run_id == fields["run_id"]
    assert run.info.status == "FINISHED"  # ended by the script's own `with` block
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 3
