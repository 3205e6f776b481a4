"""The Databricks project target at the wire (``responses``): the exact uploads and the
``runs/submit`` body, upload-once, the idempotency token across a lost answer, state
mapping, log fetching, cancel, and the errors raised before anything is sent."""

from __future__ import annotations

import io
import json
import os
import re
import sys
import tarfile
from importlib.metadata import version

import pytest
import requests
import responses
from dbx_support import TOKEN
from trackbridge_databricks.target import job_status
from unit_support import HOST, calls_to, json_body

from testsupport.remote_project import write_tree
from trackbridge.config import load_config
from trackbridge.entities import FAILED, FINISHED, KILLED, RUNNING
from trackbridge.errors import TrackbridgeError
from trackbridge.projects.bootstrap import source
from trackbridge.projects.runner import Job, plan_run, run_project
from trackbridge.projects.targets import open_target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

UPLOAD = "/Volumes/main/ml/projects/tb"
RUN = "0123456789abcdef0123456789abcdef"
FS = f"{HOST}/api/2.0/fs/files"
JOBS = f"{HOST}/api/2.2/jobs/runs"


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    files = {
        "MLproject": """\
            name: wire
            python_env: python_env.yaml
            entry_points:
              main:
                parameters: {alpha: {type: float, default: 0.5}, data: {type: path, default: in.csv}}
                command: "python train.py --alpha {alpha} --data {data}"
            """,
        "python_env.yaml": "dependencies:\n  - scikit-learn>=1.3\n  - -r extra.txt\n",
        "extra.txt": "numpy>=1.24  # arrays\n",
        "train.py": "print('hi')\n",
        "in.csv": "a,b\n1,2\n",
        ".gitignore": "data/\n*.log\n",
        "data/big.bin": "x" * 1000,
        "notes.log": "ignored\n",
        "pkg/__pycache__/m.cpython-311.pyc": "bytecode",
        "pkg/m.py": "X = 1\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        "tbruns/trackbridge.db": "store",
    }
    return write_tree(root, files)


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    from dbx_support import isolate_sdk_env

    isolate_sdk_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    yield load_config({"backend": "databricks", "experiment": "/Shared/wire", "max_in_flight": 2,
                       "system_metrics": True, "system_metrics_interval": 5,
                       "local": {"path": str(tmp_path / "tbruns"), "flush_interval": 0.05},
                       "databricks": {"host": HOST, "retry_timeout_seconds": 5,
                                      "max_requests_per_second": 0}})
    from trackbridge import registry

    registry.close_all()


def toml_table(table):
    from trackbridge.projects.childconfig import _value  # a TOML value writer

    return "[databricks]\n" + "".join(f"{k} = {_value(v)}\n" for k, v in table.items()
                                      if v is not None)


def make_target(tracking, tmp_path, **table):
    path = tmp_path / "compute.toml"
    path.write_text(toml_table({"upload_to": UPLOAD, "serverless": True, **table}))
    return open_target("databricks", tracking, path)


def job_for(target, project, tracking, run_id=RUN):
    plan = plan_run(project, target=target)
    target.check(plan)
    return Job(plan=plan, tracking=tracking, experiment="/Shared/wire", run_name="r1",
               run_id=run_id)


def send(target, job):
    """What the runner does: upload, (check for Ctrl-C,) submit."""
    target.upload(job)
    return target.submit(job)


def run_page(run_id=42, life="RUNNING", result=None, task_run_id=43):
    state = {"life_cycle_state": life, "state_message": "msg"}
    if result:
        state["result_state"] = result
    return {"run_id": run_id, "run_page_url": f"{HOST}/#job/runs/{run_id}", "state": state,
            "tasks": [{"task_key": "project", "run_id": task_run_id, "state": state}]}


def mock_workspace(rsps, uploaded=False):
    rsps.add(responses.GET, f"{HOST}/api/2.0/preview/scim/v2/Me", json={"userName": "me"})
    rsps.add(responses.HEAD, re.compile(f"{FS}{UPLOAD}/.*"), status=200 if uploaded else 404)
    rsps.add(responses.PUT, re.compile(f"{FS}{UPLOAD}/.*"), status=204)
    rsps.add(responses.POST, f"{JOBS}/submit", json={"run_id": 42})
    rsps.add(responses.GET, f"{JOBS}/get", json=run_page())


def test_submit_uploads_the_project_and_bootstrap_and_sends_the_exact_job(rsps, project, tracking,
                                                                           tmp_path):
    mock_workspace(rsps)
    target = make_target(tracking, tmp_path)
    job = job_for(target, project, tracking)
    target.upload(job)
    assert calls_to(rsps, "/jobs/runs/submit") == []  # uploads first; the runner checks Ctrl-C
    puts_before_submit = len([c for c in rsps.calls if c.request.method == "PUT"])
    submission = target.submit(job)
    assert len([c for c in rsps.calls if c.request.method == "PUT"]) == puts_before_submit

    archive = target.archive
    puts = {c.request.url.split("?")[0][len(FS):]: c.request for c in rsps.calls
            if c.request.method == "PUT"}
    digest = __import__("hashlib").sha256(source()).hexdigest()[:16]
    archive_path = f"{UPLOAD}/projects/{archive.sha256}.tar.gz"
    bootstrap_path = f"{UPLOAD}/bootstrap/bootstrap-{digest}.py"
    assert set(puts) == {archive_path, bootstrap_path}
    body = puts[archive_path].body
    data = body.read() if hasattr(body, "read") else body
    assert __import__("hashlib").sha256(data).hexdigest() == archive.sha256
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:  # .git, venvs, stores, .gitignore'd: out
        assert sorted(tar.getnames()) == [".gitignore", "MLproject", "extra.txt", "in.csv",
                                          "pkg/m.py", "python_env.yaml", "train.py"]
    boot = puts[bootstrap_path].body
    assert (boot.read() if hasattr(boot, "read") else boot) == source()

    (submit,) = calls_to(rsps, "/jobs/runs/submit")
    sent = json_body(submit.request)
    params = sent["tasks"][0]["spark_python_task"]["parameters"]
    config = tomllib.loads(params[3])
    assert sent == {
        "run_name": "trackbridge wire: r1",
        "idempotency_token": f"trackbridge-{RUN}",
        "tasks": [{"task_key": "project", "environment_key": "trackbridge",
                   "spark_python_task": {"python_file": bootstrap_path, "parameters": [
                       "--archive", archive_path, "--config-toml", params[3], "--run-id", RUN,
                       "--grace", "40", "--", "python train.py --alpha 0.5 --data in.csv"]}}],
        "environments": [{"environment_key": "trackbridge", "spec": {
            "environment_version": "2",
            "dependencies": ["scikit-learn>=1.3", "numpy>=1.24",
                             f"trackbridge=={version('trackbridge')}",
                             f"trackbridge-databricks=={version('trackbridge-databricks')}"]}}],
    }
    # the job authenticates as the cluster: no host, no token in what it is given; every
    # top-level setting of the tracking config carries over
    assert config == {"backend": "databricks", "experiment": "/Shared/wire", "sync_timeout": 30.0,
                      "max_in_flight": 2,
                      "system_metrics": True, "system_metrics_interval": 5.0,
                      "databricks": {"retry_timeout_seconds": 5, "max_requests_per_second": 0},
                      "local": {"flush_interval": 0.05, "path": "${TRACKBRIDGE_JOB_DIR}/tbruns"}}
    assert TOKEN not in json.dumps(sent)
    assert (submission.job_id, submission.url) == ("42", f"{HOST}/#job/runs/42")
    assert submission.tags == {"mlflow.databricks.runURL": f"{HOST}/#job/runs/42"}


def test_an_unchanged_project_is_not_uploaded_again(rsps, project, tracking, tmp_path):
    mock_workspace(rsps, uploaded=True)
    target = make_target(tracking, tmp_path)
    send(target, job_for(target, project, tracking))
    assert [c for c in rsps.calls if c.request.method == "PUT"] == []
    assert len(calls_to(rsps, "/jobs/runs/submit")) == 1


def test_a_submit_whose_answer_was_lost_is_resent_with_the_same_token(rsps, project, tracking,
                                                                      tmp_path):
    mock_workspace(rsps, uploaded=True)
    rsps.replace(responses.POST, f"{JOBS}/submit", body=requests.ConnectionError("reset by peer"))
    rsps.add(responses.POST, f"{JOBS}/submit", json={"run_id": 42})
    target = make_target(tracking, tmp_path)
    submission = send(target, job_for(target, project, tracking))
    sent = [json_body(c.request) for c in calls_to(rsps, "/jobs/runs/submit")]
    assert len(sent) == 2 and sent[0] == sent[1]  # the same request, token included
    assert sent[0]["idempotency_token"] == f"trackbridge-{RUN}"
    assert submission.job_id == "42"


def test_clusters_get_their_dependencies_as_libraries(rsps, project, tracking, tmp_path):
    mock_workspace(rsps, uploaded=True)
    rsps.add(responses.GET, f"{HOST}/api/2.1/clusters/get", json={"cluster_id": "c-1"})
    target = make_target(tracking, tmp_path, serverless=None, existing_cluster_id="c-1",
                         libraries=["pyarrow>=15"])
    send(target, job_for(target, project, tracking))
    (task,) = json_body(calls_to(rsps, "/jobs/runs/submit")[0].request)["tasks"]
    assert task["existing_cluster_id"] == "c-1" and "environment_key" not in task
    assert [lib["pypi"]["package"] for lib in task["libraries"]] == [
        "scikit-learn>=1.3", "numpy>=1.24", "pyarrow>=15", f"trackbridge=={version('trackbridge')}",
        f"trackbridge-databricks=={version('trackbridge-databricks')}"]


def test_a_new_cluster_job_sends_the_cluster_libraries_and_timeout(rsps, project, tracking,
                                                                   tmp_path):
    mock_workspace(rsps, uploaded=True)
    cluster = {"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2",
               "num_workers": 0, "spark_conf": {"spark.master": "local[*]"},
               "custom_tags": {"ResourceClass": "SingleNode"}}
    target = make_target(tracking, tmp_path, serverless=None, new_cluster=cluster,
                         libraries=["pyarrow>=15"], timeout_seconds=3600)
    send(target, job_for(target, project, tracking))
    (submit,) = calls_to(rsps, "/jobs/runs/submit")
    sent = json_body(submit.request)
    task = sent["tasks"][0]
    digest = __import__("hashlib").sha256(source()).hexdigest()[:16]
    assert sent == {
        "run_name": "trackbridge wire: r1",
        "idempotency_token": f"trackbridge-{RUN}",
        "timeout_seconds": 3600,
        "tasks": [{
            "task_key": "project",
            "spark_python_task": {
                "python_file": f"{UPLOAD}/bootstrap/bootstrap-{digest}.py",
                "parameters": ["--archive", f"{UPLOAD}/projects/{target.archive.sha256}.tar.gz",
                               "--config-toml", task["spark_python_task"]["parameters"][3],
                               "--run-id", RUN, "--grace", "40", "--",
                               "python train.py --alpha 0.5 --data in.csv"]},
            "new_cluster": cluster,
            "libraries": [{"pypi": {"package": p}} for p in (
                "scikit-learn>=1.3", "numpy>=1.24", "pyarrow>=15",
                f"trackbridge=={version('trackbridge')}",
                f"trackbridge-databricks=={version('trackbridge-databricks')}")]}],
    }


@pytest.mark.parametrize(("life", "result", "status"), [
    ("PENDING", None, RUNNING), ("QUEUED", None, RUNNING), ("RUNNING", None, RUNNING),
    ("TERMINATING", None, RUNNING), ("BLOCKED", None, RUNNING),
    ("WAITING_FOR_RETRY", None, RUNNING), ("SOMETHING_NEW", None, RUNNING),
    ("TERMINATED", "SUCCESS", FINISHED), ("TERMINATED", "FAILED", FAILED),
    ("TERMINATED", "TIMEDOUT", FAILED), ("TERMINATED", "CANCELED", KILLED),
    ("TERMINATED", "UPSTREAM_CANCELED", KILLED), ("TERMINATED", "SUCCESS_WITH_FAILURES", FAILED),
    ("TERMINATED", None, FAILED), ("SKIPPED", None, FAILED), ("INTERNAL_ERROR", None, FAILED),
])
def test_job_states_map_to_run_statuses(life, result, status):
    assert job_status(life, result) == status


def test_logs_are_fetched_incrementally_and_the_exit_code_read_at_the_end(rsps, project, tracking,
                                                                          tmp_path):
    mock_workspace(rsps, uploaded=True)
    target = make_target(tracking, tmp_path)
    target.sleep = lambda s: None
    submission = send(target, job_for(target, project, tracking))
    rsps.replace(responses.GET, f"{JOBS}/get", json=run_page())
    rsps.add(responses.GET, f"{JOBS}/get", json=run_page())
    rsps.add(responses.GET, f"{JOBS}/get", json=run_page(life="TERMINATED", result="FAILED"))
    outputs = ["epoch 1\n", "epoch 1\nepoch 2\n",
               "epoch 1\nepoch 2\nboom\ntrackbridge: the command exited with code 3\n"]
    for text in outputs:
        rsps.add(responses.GET, f"{JOBS}/get-output", json={"logs": text, "error": "exit 3"})
    chunks, states = [], []
    for _ in outputs:
        states.append(target.wait(submission, 0.0))
        chunks.append(target.read_logs(submission)["stdout"])
    assert chunks == [b"epoch 1\n", b"epoch 2\n",
                      b"boom\ntrackbridge: the command exited with code 3\n"]
    assert [s.status for s in states] == [RUNNING, RUNNING, FAILED]
    assert states[-1].exit_code == 3 and "TERMINATED/FAILED" in states[-1].message
    assert {c.request.params["run_id"] for c in calls_to(rsps, "/jobs/runs/get-output")} == {"43"}


def test_cancel_cancels_the_job_run(rsps, project, tracking, tmp_path):
    mock_workspace(rsps, uploaded=True)
    rsps.add(responses.POST, f"{JOBS}/cancel", json={})
    target = make_target(tracking, tmp_path)
    submission = send(target, job_for(target, project, tracking))
    target.cancel(submission, lambda: False)
    (cancel,) = calls_to(rsps, "/jobs/runs/cancel")
    assert json_body(cancel.request) == {"run_id": 42}


def sent_nothing(rsps):
    return [c.request.url for c in rsps.calls
            if c.request.method in ("PUT", "POST") or "/jobs/" in c.request.url]


@pytest.mark.parametrize(("table", "words"), [
    ({"upload_to": UPLOAD, "serverless": True, "nodes": 2},
     ["unknown key(s) 'nodes'", "upload_to", "existing_cluster_id"]),
    ({"serverless": True}, ["needs upload_to", "/Volumes/"]),
    ({"upload_to": "dbfs:/tmp/x", "serverless": True}, ["upload_to must be /Volumes/"]),
    ({"upload_to": UPLOAD, "serverless": True, "existing_cluster_id": "c"},
     ["exactly one of serverless, new_cluster, existing_cluster_id", "serverless and existing"]),
    ({"upload_to": UPLOAD}, ["exactly one of", "found none"]),
    ({"upload_to": UPLOAD, "serverless": True, "install": "conda"}, ["install must be one of"]),
    ({"upload_to": UPLOAD, "serverless": True, "max_archive_mb": -1}, ["max_archive_mb"]),
])
def test_bad_compute_settings_fail_naming_the_key(rsps, tracking, tmp_path, table, words):
    path = tmp_path / "c.toml"
    path.write_text(toml_table(table))
    with pytest.raises(TrackbridgeError) as info:
        open_target("databricks", tracking, path)
    for word in words:
        assert word in str(info.value)
    assert "[databricks]" in str(info.value)
    assert sent_nothing(rsps) == []


GOOD_CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2",
                "num_workers": 1}


@pytest.mark.parametrize(("change", "words"), [
    ({"num_workers": "two"}, "[databricks.new_cluster] of --on-config num_workers must be an "
                             "int, got 'two'"),
    ({"spark_version": None}, "[databricks.new_cluster] of --on-config needs spark_version, the "
                              "Databricks Runtime of the cluster, e.g. spark_version = "),
    ({"spark_version": 15.4}, "spark_version must be a non-empty string, got 15.4"),
    ({"num_workers": -1}, "num_workers must be an int >= 0 (0: a single-node cluster), got -1"),
    ({"num_workers": None}, "needs exactly one of num_workers and autoscale (found neither): "
                            "num_workers = 2 for a fixed size"),
    ({"autoscale": {"min_workers": 1, "max_workers": 4}},
     "needs exactly one of num_workers and autoscale (found both)"),
    ({"num_workers": None, "autoscale": {"min_workers": 4, "max_workers": 2}},
     "autoscale needs min_workers and max_workers, ints with 0 <= min_workers <= max_workers, "
     "e.g. autoscale = { min_workers = 1, max_workers = 4 }, got {'min_workers': 4, "
     "'max_workers': 2}"),
    ({"num_workers": None, "autoscale": {"min_workers": 1}}, "autoscale needs min_workers and "
                                                            "max_workers"),
    ({"num_workers": None, "autoscale": {"min": 1, "max_workers": 2}},
     "unknown key(s) 'min' in [databricks.new_cluster] of --on-config autoscale"),
    ({"node_type_id": None}, "needs node_type_id (the VM type, e.g. \"Standard_DS3_v2\" or "
                             "\"i3.xlarge\"), instance_pool_id or policy_id"),
    ({"autotermination_minutes": "10"}, "autotermination_minutes must be an int, got '10'"),
    ({"enable_elastic_disk": "yes"}, "enable_elastic_disk must be true or false, got 'yes'"),
    ({"data_security_mode": "ALONE"}, "data_security_mode must be one of "),
    ({"ssh_public_keys": "ssh-rsa AAA"}, "ssh_public_keys must be a list of strings"),
    ({"docker_image": "python:3.11"}, "docker_image must be a table (the Jobs API's DockerImage)"),
    ({"spark_env_vars": {"API_TOKEN": 12345}}, "spark_env_vars.API_TOKEN must be a string (quote "
                                               "it: \"API_TOKEN\" = \"...\"), got an int"),
    ({"spark_env_vars": {"API_TOKEN": "12345"}}, "spark_env_vars.API_TOKEN must not hold a "
                                                 "secret (the job spec is visible in the "
                                                 "workspace and in --dry-run); use a secret "
                                                 "reference, API_TOKEN = \"{{secrets/<scope>/"
                                                 "<key>}}\""),
    ({"docker_image": {"url": "r.io/i", "basic_auth": {"username": "u", "password": "12345"}}},
     "docker_image.basic_auth.password must not hold a secret"),
])
def test_new_cluster_is_checked_before_anything_is_created(rsps, tracking, tmp_path, change,
                                                            words):
    cluster = {k: v for k, v in {**GOOD_CLUSTER, **change}.items() if v is not None}
    with pytest.raises(TrackbridgeError) as info:
        make_target(tracking, tmp_path, serverless=None, new_cluster=cluster)
    assert words in str(info.value) and "\n" not in str(info.value)
    assert "12345" not in str(info.value)
    assert sent_nothing(rsps) == []


def test_a_good_new_cluster_passes(rsps, tracking, tmp_path):
    for extra in ({}, {"num_workers": None, "autoscale": {"min_workers": 0, "max_workers": 2}},
                  {"node_type_id": None, "instance_pool_id": "pool-1"},
                  {"node_type_id": None, "policy_id": "P1", "spark_conf": {"a.b": "1"},
                   "custom_tags": {"team": "ml"}, "data_security_mode": "SINGLE_USER",
                   "spark_env_vars": {"API_TOKEN": "{{secrets/ml/api-token}}"}}):
        cluster = {k: v for k, v in {**GOOD_CLUSTER, **extra}.items() if v is not None}
        target = make_target(tracking, tmp_path, serverless=None, new_cluster=cluster)
        assert target.settings.new_cluster == cluster


MLFLOW_SPEC = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge",
               "num_workers": 2, "spark_conf": {"spark.speculation": "true"}}


def test_an_mlflow_cluster_spec_json_is_read_as_new_cluster(rsps, project, tracking, tmp_path,
                                                            monkeypatch):
    from click.testing import CliRunner
    from trackbridge_databricks.compute import from_mlflow_spec

    from trackbridge.cli import cli

    bare = tmp_path / "cluster.json"
    bare.write_text(json.dumps(MLFLOW_SPEC))
    with pytest.raises(TrackbridgeError) as info:
        open_target("databricks", tracking, bare)
    assert str(info.value).startswith("[databricks] of --on-config needs upload_to: ")
    assert str(info.value).endswith(f"(--on-config {bare} was read as MLflow's cluster spec "
                                    f"(new_cluster); for more settings, write "
                                    f'{{"databricks": {{...}}}} with the keys of [databricks])')
    config = tmp_path / "tracking.toml"
    config.write_text(f'backend = "databricks"\n[databricks]\nhost = "{HOST}"\n')
    result = CliRunner().invoke(cli, ["run", str(project), "-b", "databricks",
                                      "--backend-config", str(bare), "--config", str(config)])
    assert result.exit_code != 0 and "needs upload_to" in result.output
    assert "TOML" not in result.output

    monkeypatch.setenv("TB_VOLUME", UPLOAD)
    wrapped = tmp_path / "compute.json"
    wrapped.write_text(json.dumps({"databricks": {"upload_to": "${TB_VOLUME}",
                                                  "new_cluster": MLFLOW_SPEC,
                                                  "timeout_seconds": 600}}))
    settings = open_target("databricks", tracking, wrapped).settings
    assert (settings.upload_to, settings.compute, settings.new_cluster,
            settings.timeout_seconds) == (UPLOAD, "new_cluster", MLFLOW_SPEC, 600)

    jobs_style = tmp_path / "job.json"
    jobs_style.write_text(json.dumps({"new_cluster": MLFLOW_SPEC,
                                      "libraries": [{"pypi": {"package": "xgboost==2.0"}}]}))
    with pytest.raises(TrackbridgeError, match=r"needs upload_to: .* \(--on-config .*job\.json "
                                               r"was read as MLflow's cluster spec with libraries "
                                               r"\(new_cluster, libraries\)"):
        open_target("databricks", tracking, jobs_style)
    assert from_mlflow_spec({"new_cluster": MLFLOW_SPEC, "libraries": [
        {"pypi": {"package": "xgboost==2.0"}}]})[0]["libraries"] == ["xgboost==2.0"]
    with pytest.raises(TrackbridgeError, match=r"library \{'jar': 'dbfs:/x.jar'\} of MLflow's "
                                               r"cluster spec is not a plain pypi package"):
        from_mlflow_spec({"new_cluster": MLFLOW_SPEC, "libraries": [{"jar": "dbfs:/x.jar"}]})
    for text, words in [("{not json", "is not valid JSON: "),
                        (json.dumps({"cluster": 1}), 'must hold {"databricks": {...}} with the '
                                                     "keys of [databricks]"),
                        (json.dumps([1]), "must hold a JSON object")]:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(TrackbridgeError) as info:
            open_target("databricks", tracking, bad)
        assert words in str(info.value) and str(bad) in str(info.value)
    assert sent_nothing(rsps) == []


def test_errors_before_anything_is_sent(rsps, project, tracking, tmp_path):
    rsps.add(responses.GET, f"{HOST}/api/2.0/preview/scim/v2/Me", json={"userName": "me"})
    rsps.add(responses.GET, f"{HOST}/api/2.1/clusters/get", status=400,
             json={"error_code": "INVALID_PARAMETER_VALUE", "message": "Cluster nope does not exist"})
    local = tmp_path / "local.csv"
    local.write_text("x")
    target = make_target(tracking, tmp_path)
    with pytest.raises(TrackbridgeError, match=r"'data' is a path parameter: on databricks it "
                                               r"must be a location the cluster reads"):
        plan_run(project, params={"data": str(local)}, target=target)
    assert plan_run(project, params={"data": "/Volumes/c/s/v/in.csv"}, target=target).params[
        "data"] == "/Volumes/c/s/v/in.csv"
    with pytest.raises(TrackbridgeError, match=r"existing_cluster_id 'nope' is not a cluster"):
        job_for(make_target(tracking, tmp_path, serverless=None, existing_cluster_id="nope"),
                project, tracking)
    with pytest.raises(TrackbridgeError, match=r"unknown key\(s\) 'num_worker' in \[databricks\."
                                               r"new_cluster\] of --on-config; valid keys: "
                                               r".*num_workers"):
        job_for(make_target(tracking, tmp_path, serverless=None,
                            new_cluster={"spark_version": "15.4.x", "num_worker": 1}),
                project, tracking)
    (project / "weights.bin").write_bytes(os.urandom(4000))  # incompressible: > 0.001 MB
    with pytest.raises(TrackbridgeError, match=r"packed project is \d\.\d\d KB \([\d,]+ bytes\), "
                                               r"over the configured limit max_archive_mb = "
                                               r"0\.001 \(1\.00 KB\)"):
        job_for(make_target(tracking, tmp_path, max_archive_mb=0.001), project, tracking)
    local_tracking = load_config({"local": {"path": str(tmp_path / "tbruns")}})
    with pytest.raises(TrackbridgeError, match=r"--on databricks: the run is tracked with .*"
                                               r"backend 'local'.*backend = 'databricks'"):
        run_project(plan_run(project, target=target), local_tracking, target=target,
                    stdout=io.BytesIO(), stderr=io.BytesIO())
    assert sent_nothing(rsps) == []


def test_missing_auth_is_one_line_before_anything_is_sent(rsps, project, tracking, tmp_path,
                                                          monkeypatch):
    monkeypatch.delenv("DATABRICKS_TOKEN")
    rsps.add(responses.GET, f"{HOST}/aad/auth", status=404)  # no tenant: azure-cli steps aside
    target = make_target(tracking, tmp_path)
    with pytest.raises(TrackbridgeError) as info:
        job_for(target, project, tracking)
    message = str(info.value)
    assert message.startswith(f"--on databricks: cannot set up Databricks auth for {HOST}: no "
                              f"credentials (no DATABRICKS_TOKEN or DATABRICKS_CLIENT_ID/"
                              f"DATABRICKS_CLIENT_SECRET in the environment, no token in profile "
                              f"'DEFAULT' of {os.devnull}, no CLI login); set DATABRICKS_TOKEN, ")
    assert message.endswith(f"or run `databricks auth login --host {HOST}` (auth comes from "
                            f"[databricks] of --config {tracking.source})")
    assert "\n" not in message and "Config:" not in message
    assert sent_nothing(rsps) == []


def test_auth_failures_say_what_is_missing(monkeypatch, tmp_path):
    from dbx_support import isolate_sdk_env
    from trackbridge_databricks.auth import auth_failure
    from trackbridge_databricks.settings import Settings

    isolate_sdk_env(monkeypatch, token=None)
    cfg = tmp_path / "databrickscfg"
    cfg.write_text("[dev]\nhost = https://dbc-9.cloud.databricks.com\n")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(cfg))
    generic = ("default auth: cannot configure default credentials, please check https://docs."
               "databricks.com/x to configure credentials. Config: profile=dev, config_file=x. "
               "Env: DATABRICKS_CONFIG_FILE")
    assert auth_failure(Settings(profile="prod"), generic).startswith(
        f"cannot set up Databricks auth: profile 'prod' is not in {cfg}; add it (`databricks "
        f"auth login --host <workspace-url> --profile prod`), ")
    assert auth_failure(Settings(), generic).startswith(
        "cannot set up Databricks auth: no workspace named (no host in [databricks], no "
        f"DATABRICKS_HOST, no host in profile 'DEFAULT' of {cfg}); set host = ")
    assert auth_failure(Settings(profile="dev"), generic).startswith(
        "cannot set up Databricks auth for https://dbc-9.cloud.databricks.com: no credentials "
        f"(no DATABRICKS_TOKEN or DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET in the "
        f"environment, no token in profile 'dev' of {cfg}, no CLI login); ")
    other = auth_failure(Settings(host=HOST), "default auth: azure-cli: refused (secret abcd1234)."
                         " Config: host=x, token=***", ["abcd1234"])
    assert other.startswith(f"cannot set up Databricks auth for {HOST}: azure-cli: refused "
                            f"(secret ***); set DATABRICKS_TOKEN, ")
    assert "Config:" not in other and "abcd1234" not in other


def test_refused_credentials_name_the_target(rsps, project, tracking, tmp_path):
    rsps.add(responses.GET, f"{HOST}/api/2.0/preview/scim/v2/Me", status=401,
             json={"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})
    with pytest.raises(TrackbridgeError) as info:
        job_for(make_target(tracking, tmp_path), project, tracking)
    assert str(info.value).startswith("--on databricks: check the Databricks credentials on "
                                      f"Databricks workspace {HOST} failed: ")
    assert "Invalid access token" in str(info.value) and TOKEN not in str(info.value)
    assert sent_nothing(rsps) == []


def _subprocess_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABRICKS_", "ARM_", "TRACKBRIDGE_"))}
    # anything that tried the network anyway would meet a closed loopback port
    env.update(HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9",
               NO_PROXY="", DATABRICKS_CONFIG_FILE=os.devnull, HOME=str(tmp_path), **extra)
    return env


def test_missing_auth_is_the_only_line_on_stderr(project, tmp_path):
    import subprocess

    host = "https://dbc-12345678-9abc.cloud.databricks.com"
    config = tmp_path / "tracking.toml"
    config.write_text(f'backend = "databricks"\n[databricks]\nhost = "{host}"\n'
                      f"retry_timeout_seconds = 1\n")
    compute = tmp_path / "compute.toml"
    compute.write_text(toml_table({"upload_to": UPLOAD, "serverless": True}))
    args = [sys.executable, "-m", "trackbridge", "run", str(project), "--on", "databricks",
            "--on-config", str(compute), "--config", str(config)]
    for extra in ([], ["--dry-run"]):
        done = subprocess.run(args + extra, capture_output=True, text=True, timeout=120,
                              env=_subprocess_env(tmp_path))
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1, done.stderr  # one line, and nothing else
        assert done.stderr.startswith(f"Error: --on databricks: cannot set up Databricks auth "
                                      f"for {host}: no credentials (no DATABRICKS_TOKEN "), \
            done.stderr
        assert done.stderr.endswith(f"(auth comes from [databricks] of --config {config})\n")


def test_the_sdks_warnings_reach_only_handlers_a_program_set_up(tmp_path):
    """The SDK warns when the host has no metadata endpoint (every client it builds for such
    a workspace): not on the terminal, but a program's own logging still gets it."""
    import subprocess

    code = ("import logging, sys\n"
            "if sys.argv[1] == 'configured': logging.basicConfig()\n"
            "from trackbridge_databricks.backend import DatabricksBackend\n"
            "DatabricksBackend.from_config({'host': 'https://dbc-1.cloud.databricks.com', "
            "'retry_timeout_seconds': 1}).client\n")
    env = _subprocess_env(tmp_path, DATABRICKS_TOKEN=TOKEN)
    quiet, configured = (subprocess.run([sys.executable, "-c", code, mode], capture_output=True,
                                        text=True, timeout=120, env=env)
                         for mode in ("plain", "configured"))
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert "Failed to automatically resolve config from host metadata" in configured.stderr


def test_dry_run_shows_what_would_be_sent_and_sends_nothing(rsps, project, tracking, tmp_path):
    from click.testing import CliRunner

    from trackbridge.cli import cli

    rsps.add(responses.GET, f"{HOST}/api/2.0/preview/scim/v2/Me", json={"userName": "me"})
    rsps.add(responses.HEAD, re.compile(f"{FS}{UPLOAD}/projects/.*"), status=404)
    rsps.add(responses.HEAD, re.compile(f"{FS}{UPLOAD}/bootstrap/.*"), status=200)
    config = tmp_path / "tracking.toml"
    config.write_text(f'backend = "databricks"\nexperiment = "/Shared/wire"\n[databricks]\n'
                      f'host = "{HOST}"\nretry_timeout_seconds = 5\n')
    compute = tmp_path / "compute.toml"
    compute.write_text(toml_table({"upload_to": UPLOAD, "serverless": True}))
    result = CliRunner().invoke(cli, ["run", str(project), "-b", "databricks", "--backend-config",
                                      str(compute), "--config", str(config), "--dry-run"])
    assert result.exit_code == 0, result.output
    out = result.output
    sha = [line for line in out.splitlines() if line.startswith("archive:")][0].split()[-1]
    assert f"-> {UPLOAD}/projects/{sha}.tar.gz (to upload)" in out
    assert re.search(rf"bootstrap:    {UPLOAD}/bootstrap/bootstrap-[0-9a-f]{{16}}\.py "
                     rf"\(already uploaded\)", out)
    assert '"idempotency_token": "trackbridge-<the new run\'s id>"' in out
    assert "command:      python train.py --alpha 0.5 --data in.csv" in out
    assert TOKEN not in out
    assert sent_nothing(rsps) == []


def test_wheels_of_the_installed_code_are_uploaded_beside_the_project(rsps, project, tracking,
                                                                      tmp_path):
    mock_workspace(rsps)
    target = make_target(tracking, tmp_path, install="wheels")
    send(target, job_for(target, project, tracking))
    wheels = [c.request.url.split("?")[0][len(FS):] for c in rsps.calls  # in upload order
              if c.request.method == "PUT" and c.request.url.split("?")[0].endswith(".whl")]
    names = [w.rsplit("/", 1)[1] for w in wheels]
    assert names == [f"trackbridge-{version('trackbridge')}-py3-none-any.whl",
                     f"trackbridge_databricks-{version('trackbridge-databricks')}-py3-none-any.whl"]
    assert all(re.fullmatch(rf"{UPLOAD}/wheels/[0-9a-f]{{16}}/[^/]+\.whl", w) for w in wheels)
    (env,) = json_body(calls_to(rsps, "/jobs/runs/submit")[0].request)["environments"]
    assert env["spec"]["dependencies"] == ["scikit-learn>=1.3", "numpy>=1.24", *wheels]


def test_workspace_files_are_uploaded_with_mkdirs_and_import(rsps, project, tracking, tmp_path):
    folder = "/Workspace/Users/me@example.com/tb"
    rsps.add(responses.GET, f"{HOST}/api/2.0/preview/scim/v2/Me", json={"userName": "me"})
    rsps.add(responses.GET, f"{HOST}/api/2.0/workspace/get-status", status=404,
             json={"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "not found"})
    rsps.add(responses.POST, f"{HOST}/api/2.0/workspace/mkdirs", json={})
    rsps.add(responses.POST, f"{HOST}/api/2.0/workspace/import", json={})
    rsps.add(responses.POST, f"{JOBS}/submit", json={"run_id": 42})
    rsps.add(responses.GET, f"{JOBS}/get", json=run_page())
    target = make_target(tracking, tmp_path, upload_to=folder)
    send(target, job_for(target, project, tracking))
    mkdirs = {json_body(c.request)["path"] for c in calls_to(rsps, "/workspace/mkdirs")}
    assert mkdirs == {f"{folder}/projects", f"{folder}/bootstrap"}
    imports = [c.request for c in calls_to(rsps, "/workspace/import")]
    assert len(imports) == 2
    for request in imports:  # multipart: the path, format AUTO (a .py stays a file), overwrite
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        assert b'name="format"\r\n\r\nAUTO' in body and b'name="overwrite"\r\n\r\ntrue' in body
    (task,) = json_body(calls_to(rsps, "/jobs/runs/submit")[0].request)["tasks"]
    assert task["spark_python_task"]["python_file"].startswith(f"{folder}/bootstrap/bootstrap-")
    assert task["spark_python_task"]["parameters"][1] == \
        f"{folder}/projects/{target.archive.sha256}.tar.gz"


def test_docker_and_conda_projects_are_refused_before_anything_is_sent(rsps, project, tracking,
                                                                       tmp_path):
    (project / "MLproject").write_text("name: d\ndocker_env:\n  image: python:3.11\n"
                                       "entry_points:\n  main:\n    command: \"python train.py\"\n")
    target = make_target(tracking, tmp_path)
    with pytest.raises(TrackbridgeError, match=r"--on databricks: the project declares "
                                               r"docker_env, which Databricks jobs cannot build"):
        job_for(target, project, tracking)
    assert sent_nothing(rsps) == []
