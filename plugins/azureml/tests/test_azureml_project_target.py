"""The Azure ML project target at the wire (``responses``): the ARM calls azure-ai-ml makes for
``jobs.create_or_update(command(...))`` (code upload, environment, job), status mapping, log
fetching from the job's ``user_logs/std_log.txt``, cancel, a lost submit answer, and the
errors raised before anything is sent."""

from __future__ import annotations

import json
import re
import sys
from importlib.metadata import version
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import responses
import yaml
from trackbridge_azureml.target import AzureMLTarget, job_status

from testsupport.remote_project import write_tree
from trackbridge.config import load_config
from trackbridge.entities import FAILED, FINISHED, KILLED, RUNNING
from trackbridge.errors import TrackbridgeError
from trackbridge.projects.bootstrap import source
from trackbridge.projects.runner import Job, plan_run
from trackbridge.projects.targets import open_target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

SUB, RG, WS = "11111111-2222-3333-4444-555555555555", "ml-rg", "ml-ws"
TOKEN = "static-token-for-jobs-4c2a"  # made up; never in a body, a file or a message
SCOPE = (f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
         f"Microsoft.MachineLearningServices/workspaces/{WS}")
TRACKING = f"azureml://westeurope.api.azureml.ms/mlflow/v1.0{SCOPE}"
MLFLOW = f"https://westeurope.api.azureml.ms/mlflow/v1.0{SCOPE}/api/2.0/mlflow"
HISTORY = f"https://westeurope.api.azureml.ms/history/v1.0{SCOPE}"
ARM = f"https://management.azure.com{SCOPE}"
STORE = "https://wsstore.blob.core.windows.net"
BLOB = f"{STORE}/azureml-blobstore"
SAS = "sv=2024-01-01&sig=SECRETSIGNATURE123"


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    files = {
        "MLproject": """\
            name: amlwire
            python_env: python_env.yaml
            entry_points:
              main:
                parameters: {alpha: {type: float, default: 0.5}}
                command: "python train.py --alpha {alpha}"
              withdata:
                parameters: {data: path}
                command: "python train.py --data {data}"
            """,
        "python_env.yaml": "python: \"3.11\"\ndependencies:\n  - scikit-learn>=1.3\n",
        "train.py": "print('hi')\n",
        ".gitignore": "outputs/\n",
        "outputs/model.bin": "x",
    }
    return write_tree(root, files)


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield load_config({"backend": "azureml", "experiment": "amlwire",
                       "local": {"path": str(tmp_path / "tbruns")},
                       "azureml": {"tracking_uri": TRACKING, "access_token": TOKEN,
                                   "max_retries": 0}})
    from trackbridge import registry

    registry.close_all()


@pytest.fixture
def arm():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_target(tracking, tmp_path, **table):
    from trackbridge.projects.childconfig import _value  # a TOML value writer

    body = {"compute": "cpu-cluster", **table}
    path = tmp_path / "compute.toml"
    path.write_text("[azureml]\n" + "".join(f"{k} = {_value(v)}\n" for k, v in body.items()
                                            if v is not None))
    return open_target("azureml", tracking, path)


def job_for(target, project, tracking):
    plan = plan_run(project, target=target)
    target.check(plan)
    return Job(plan=plan, tracking=tracking, experiment="amlwire", run_name="r1")


class Workspace:
    """ARM and blob storage as azure-ai-ml sees them; records what was uploaded."""

    def __init__(self, mock):
        self.mock = mock
        self.blobs: dict[str, bytes] = {}
        self.jobs: dict[str, dict] = {}
        mock.add(responses.GET, f"{ARM}/computes/cpu-cluster", json={
            "id": f"{SCOPE}/computes/cpu-cluster", "name": "cpu-cluster",
            "properties": {"computeType": "AmlCompute", "properties": {}}})
        mock.add(responses.GET, re.compile(rf"{re.escape(ARM)}/codes/[^/]+/versions\?.*hash=.*"),
                 json={"value": []})
        mock.add_callback(responses.POST, re.compile(rf"{re.escape(ARM)}/codes/[^/]+/versions/1/"
                                                     r"startPendingUpload.*"), callback=self.pending)
        mock.add_callback(responses.PUT, re.compile(rf"{re.escape(ARM)}/codes/.*"), callback=self.echo)
        mock.add_callback(responses.PUT, re.compile(rf"{re.escape(ARM)}/environments/.*"),
                          callback=self.echo)
        mock.add_callback(responses.PUT, re.compile(rf"{re.escape(ARM)}/jobs/.*"), callback=self.job)
        mock.add(responses.HEAD, re.compile(re.escape(STORE) + ".*"), status=404,
                 headers={"x-ms-error-code": "BlobNotFound"})  # as Azure answers
        mock.add_callback(responses.PUT, re.compile(re.escape(STORE) + ".*"), callback=self.blob)

    def pending(self, request):
        return 200, {}, json.dumps({
            "blobReferenceForConsumption": {
                "blobUri": f"{BLOB}/LocalUpload/abc",
                "storageAccountArmId": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
                                       f"Microsoft.Storage/storageAccounts/wsstore",
                "credential": {"credentialType": "SAS", "sasUri": f"{BLOB}/LocalUpload/abc?{SAS}"}},
            "pendingUploadId": "abc", "pendingUploadType": "TemporaryBlobReference"})

    def echo(self, request):
        body = json.loads(request.body)
        path = urlsplit(request.url).path
        return 200, {}, json.dumps({"id": path, "name": path.rsplit("/", 1)[1], **body})

    def job(self, request):
        body = json.loads(request.body)
        name = urlsplit(request.url).path.rsplit("/", 1)[1]
        self.jobs[name] = body
        body["properties"]["status"] = "NotStarted"
        body["properties"]["services"] = {"Studio": {
            "jobServiceType": "Studio", "endpoint": f"https://ml.azure.com/runs/{name}?wsid={SCOPE}"}}
        return 201, {}, json.dumps({"id": f"{SCOPE}/jobs/{name}", "name": name, **body})

    def blob(self, request):
        path = unquote(urlsplit(request.url).path)
        headers = {"ETag": '"0x1"', "Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"}
        if "comp=" in (urlsplit(request.url).query or ""):  # set metadata: done
            return 200, headers, ""
        data = request.body
        self.blobs[path] = data if isinstance(data, bytes) else data.read() \
            if hasattr(data, "read") else (data or "").encode()
        return 201, headers, ""


def test_submit_sends_a_command_job_with_the_packed_project(arm, project, tracking, tmp_path):
    ws = Workspace(arm)
    target = make_target(tracking, tmp_path)
    submission = target.submit(job_for(target, project, tracking))

    uploaded = {p.split("/code/", 1)[1]: data for p, data in ws.blobs.items() if "/code/" in p}
    assert sorted(uploaded) == [".gitignore", ".trackbridge/bootstrap.py", ".trackbridge/job.toml",
                                "MLproject", "python_env.yaml", "train.py"]  # outputs/: ignored
    assert uploaded[".trackbridge/bootstrap.py"] == source()
    config = tomllib.loads(uploaded[".trackbridge/job.toml"].decode())
    assert config["backend"] == "azureml"
    assert config["azureml"] == {"tracking_uri": "${MLFLOW_TRACKING_URI}",
                                 "access_token": "${MLFLOW_TRACKING_TOKEN}", "max_retries": 0}
    assert config["local"]["path"] == "${TRACKBRIDGE_JOB_DIR}/tbruns"

    (name, body), = ws.jobs.items()
    props = body["properties"]
    assert name.startswith("tb-") and submission.run_id == name == submission.job_id
    assert props["jobType"] == "Command"
    # the environment is built with trackbridge pinned (below): the bootstrap installs nothing
    assert props["command"] == ("python .trackbridge/bootstrap.py --config .trackbridge/job.toml "
                                "--run-id-env MLFLOW_RUN_ID --grace 40 -- "
                                "'python train.py --alpha 0.5'")
    assert (props["experimentName"], props["displayName"]) == ("amlwire", "r1")
    assert props["computeId"].endswith("/computes/cpu-cluster")
    assert props["environmentVariables"] == {"PYTHONUNBUFFERED": "1"}
    (env,) = [json.loads(c.request.body) for c in arm.calls
              if c.request.method == "PUT" and "/environments/" in c.request.url]
    conda = yaml.safe_load(env["properties"]["condaFile"])
    assert env["properties"]["image"] == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    assert conda["dependencies"][:2] == ["python=3.11", "pip"]
    assert conda["dependencies"][2]["pip"] == [
        "scikit-learn>=1.3", f"trackbridge=={version('trackbridge')}",
        f"trackbridge-azureml=={version('trackbridge-azureml')}"]
    assert submission.url == f"https://ml.azure.com/runs/{name}?wsid={SCOPE}"
    for call in arm.calls:  # the token only ever travels as the bearer header
        body = call.request.body
        text = body if isinstance(body, str) else body.decode(errors="replace") \
            if isinstance(body, bytes) else ""
        assert TOKEN not in text and TOKEN not in call.request.url
    assert all(TOKEN.encode() not in data for data in ws.blobs.values())


@pytest.mark.parametrize("environment", ["registered", "docker_env"])
def test_an_environment_trackbridge_did_not_build_gets_it_installed_by_the_bootstrap(
        arm, project, tracking, tmp_path, environment):
    ws = Workspace(arm)
    table = {}
    if environment == "docker_env":
        (project / "MLproject").write_text(
            "name: amlwire\ndocker_env:\n  image: python:3.11-slim\nentry_points:\n  main:\n"
            "    command: \"python train.py --alpha 0.5\"\n")
    else:
        table["environment"] = "team-env@latest"
        env = {"id": f"{SCOPE}/environments/team-env/versions/3", "name": "3",
               "properties": {"image": "team/image:1"}}
        arm.add(responses.GET, re.compile(rf"{re.escape(ARM)}/environments/team-env/versions\?.*"),
                json={"value": [env]})
    target = make_target(tracking, tmp_path, **table)
    job = job_for(target, project, tracking)
    target.upload(job)
    target.submit(job)
    ((_, body),) = ws.jobs.items()
    assert body["properties"]["command"] == (
        f"python .trackbridge/bootstrap.py --config .trackbridge/job.toml --run-id-env "
        f"MLFLOW_RUN_ID --grace 40 --require trackbridge=={version('trackbridge')} --require "
        f"trackbridge-azureml=={version('trackbridge-azureml')} -- 'python train.py --alpha 0.5'")
    if environment == "registered":  # the label resolved to the version the workspace has
        assert body["properties"]["environmentId"] == f"{SCOPE}/environments/team-env/versions/3"


def sent(arm, method, part):
    """(path, JSON body) of each ``method`` request whose URL holds ``part``."""
    return [(urlsplit(c.request.url).path, json.loads(c.request.body)) for c in arm.calls
            if c.request.method == method and part in c.request.url]


def job_request(arm, environment_id):
    """The one job PUT, checked to carry the code azure-ai-ml registered, and its body."""
    ((code_path, _),) = sent(arm, "PUT", "/codes/")
    ((job_path, body),) = sent(arm, "PUT", "/jobs/")
    assert job_path.startswith(f"{SCOPE}/jobs/tb-")
    props = body["properties"]
    assert props.pop("codeId") == code_path
    assert props.pop("environmentId") == environment_id
    return body


def base_props(command="python train.py --alpha 0.5", require=False):
    """The job properties every test here expects; ``require``: an environment trackbridge did
    not build, whose bootstrap installs trackbridge and the plugin at this client's versions."""
    requires = (f" --require trackbridge=={version('trackbridge')} --require "
                f"trackbridge-azureml=={version('trackbridge-azureml')}") if require else ""
    return {"jobType": "Command", "displayName": "r1", "experimentName": "amlwire",
            "command": "python .trackbridge/bootstrap.py --config .trackbridge/job.toml "
                       f"--run-id-env MLFLOW_RUN_ID --grace 40{requires} -- '{command}'",
            "environmentVariables": {"PYTHONUNBUFFERED": "1"}, "inputs": {}, "outputs": {},
            "isArchived": False, "properties": {}, "tags": {}}


def test_serverless_sends_the_instance_type_and_count_and_no_compute(arm, project, tracking,
                                                                     tmp_path):
    Workspace(arm)
    target = make_target(tracking, tmp_path, compute=None, instance_type="Standard_DS3_v2",
                         instance_count=2)
    target.submit(job_for(target, project, tracking))
    ((env_path, _),) = sent(arm, "PUT", "/environments/")
    assert job_request(arm, env_path) == {"properties": {
        **base_props(), "resources": {"instanceCount": 2, "instanceType": "Standard_DS3_v2",
                                      "properties": {}}}}
    assert not [c for c in arm.calls if "/computes/" in c.request.url]  # nothing to look up


def mock_registered_environment(arm):
    env = f"{SCOPE}/environments/my-env"
    version = {"id": f"{env}/versions/5", "name": "5", "properties": {"image": "img"}}
    arm.add(responses.GET, re.compile(rf"{re.escape(ARM)}/environments/my-env/versions\?.*"),
            json={"value": [version]})  # the latest version, as azure-ai-ml asks for it
    arm.add(responses.GET, re.compile(rf"{re.escape(ARM)}/environments/my-env/versions/3\?.*"),
            json={**version, "id": f"{env}/versions/3", "name": "3"})
    return env


@pytest.mark.parametrize(("setting", "version"), [("my-env@latest", 5), ("my-env:3", 3),
                                                  ("azureml:my-env:3", 3)])
def test_a_registered_environment_is_sent_as_the_id_of_its_version(arm, project, tracking,
                                                                   tmp_path, setting, version):
    Workspace(arm)
    env = mock_registered_environment(arm)
    target = make_target(tracking, tmp_path, environment=setting)
    target.submit(job_for(target, project, tracking))
    body = job_request(arm, f"{env}/versions/{version}")
    assert body == {"properties": {**base_props(require=True),
                                   "computeId": f"{SCOPE}/computes/cpu-cluster"}}
    assert sent(arm, "PUT", "/environments/") == []  # nothing built or registered
    looked_up = {unquote(urlsplit(c.request.url).path).rsplit("/environments/", 1)[1]
                 for c in arm.calls if "/environments/" in c.request.url}
    assert looked_up == {"my-env/versions" if version == 5 else "my-env/versions/3"}


def test_a_docker_env_project_runs_in_its_image(arm, project, tracking, tmp_path):
    Workspace(arm)
    (project / "MLproject").write_text("name: d\ndocker_env:\n  image: python:3.11-slim\n"
                                       "entry_points:\n  main:\n    command: \"python t.py\"\n")
    target = make_target(tracking, tmp_path)
    target.submit(job_for(target, project, tracking))
    ((env_path, env),) = sent(arm, "PUT", "/environments/")
    assert env == {"properties": {"image": "python:3.11-slim", "isAnonymous": True,
                                  "isArchived": False}}
    assert env_path.startswith(f"{SCOPE}/environments/CliV2AnonymousEnvironment/versions/")
    assert job_request(arm, env_path) == {"properties": {
        **base_props("python t.py", require=True), "computeId": f"{SCOPE}/computes/cpu-cluster"}}


def test_a_project_over_max_archive_mb_is_refused_before_anything_is_sent(arm, project,
                                                                          tracking, tmp_path):
    import os

    Workspace(arm)
    (project / "weights.bin").write_bytes(os.urandom(4000))  # incompressible
    target = make_target(tracking, tmp_path, max_archive_mb=0.001)
    with pytest.raises(TrackbridgeError, match=r"^--on azureml: the packed project is \d\.\d\d KB "
                                               r"\([\d,]+ bytes\), over the configured limit "
                                               r"max_archive_mb = 0\.001 \(1\.00 KB\); exclude "
                                               r"data and outputs with \.gitignore or raise "
                                               r"max_archive_mb in \[azureml\] of the --on-config "
                                               r"file$"):
        job_for(target, project, tracking)
    assert [c.request.url for c in arm.calls] == []  # not even a lookup


def test_a_lost_submit_answer_adopts_the_job_it_made(arm, project, tracking, tmp_path):
    ws = Workspace(arm)
    arm.replace(responses.PUT, re.compile(rf"{re.escape(ARM)}/jobs/.*"), status=502,
                json={"error": {"code": "BadGateway", "message": "lost"}})

    def get_job(request):
        name = urlsplit(request.url).path.rsplit("/", 1)[1]
        sent = [json.loads(c.request.body) for c in arm.calls
                if c.request.method == "PUT" and f"/jobs/{name}" in c.request.url]
        body = sent[-1]
        body["properties"]["status"] = "Queued"
        return 200, {}, json.dumps({"id": f"{SCOPE}/jobs/{name}", "name": name, **body})

    arm.add_callback(responses.GET, re.compile(rf"{re.escape(ARM)}/jobs/[^/?]+\?.*"),
                     callback=get_job)
    target = make_target(tracking, tmp_path)
    submission = target.submit(job_for(target, project, tracking))
    puts = [c for c in arm.calls if c.request.method == "PUT" and "/jobs/" in c.request.url]
    assert len({c.request.url for c in puts}) == 1  # one job name: never a second job
    assert submission.run_id == urlsplit(puts[0].request.url).path.rsplit("/", 1)[1]
    assert ws.jobs == {}


@pytest.mark.parametrize(("status", "mapped"), [
    ("NotStarted", RUNNING), ("Starting", RUNNING), ("Provisioning", RUNNING),
    ("Preparing", RUNNING), ("Queued", RUNNING), ("Running", RUNNING), ("Finalizing", RUNNING),
    ("CancelRequested", RUNNING), ("Unknown", RUNNING), ("Completed", FINISHED),
    ("Failed", FAILED), ("NotResponding", FAILED), ("Paused", FAILED), ("Canceled", KILLED),
])
def test_job_statuses_map_to_run_statuses(status, mapped):
    assert job_status(status) == mapped


def test_logs_come_from_std_log_incrementally_and_cancel_is_sent(arm, project, tracking, tmp_path):
    ws = Workspace(arm)
    target = make_target(tracking, tmp_path)
    target.sleep = lambda s: None
    submission = target.submit(job_for(target, project, tracking))
    name = submission.run_id
    statuses = iter(["Running", "Running", "Failed"])

    def get_job(request):
        body = dict(ws.jobs[name])
        body["properties"] = {**body["properties"], "status": next(statuses)}
        return 200, {}, json.dumps({"id": f"{SCOPE}/jobs/{name}", "name": name, **body})

    arm.add_callback(responses.GET, re.compile(rf"{re.escape(ARM)}/jobs/{name}\?.*"),
                     callback=get_job)
    arm.add(responses.GET, f"{MLFLOW}/runs/get", json={"run": {
        "info": {"run_id": name, "experiment_id": "7", "status": "RUNNING", "start_time": 1},
        "data": {}}})
    arm.add(responses.GET, f"{MLFLOW}/experiments/get",
            json={"experiment": {"experiment_id": "7", "name": "amlwire"}})
    log_blob = f"{BLOB}/ExperimentRun/dcid.{name}/user_logs/std_log.txt"
    arm.add(responses.GET, f"{HISTORY}/experimentids/7/runs/{name}/artifacts/contentinfo",
            json={"contentUri": f"{log_blob}?{SAS}"})
    texts = [b"step 1\n", b"step 1\nstep 2\n",
             b"step 1\nstep 2\ntrackbridge: the command exited with code 4\n"]
    for text in texts:
        arm.add(responses.GET, re.compile(re.escape(log_blob) + r"\?.*"), body=text, status=206,
                headers={"Content-Range": f"bytes 0-{len(text) - 1}/{len(text)}",
                         "x-ms-blob-type": "BlockBlob", "ETag": '"1"'})
    chunks, states = [], []
    for _ in texts:
        states.append(target.wait(submission, 0))
        chunks.append(target.read_logs(submission)["stdout"])
    assert chunks == [b"step 1\n", b"step 2\n", b"trackbridge: the command exited with code 4\n"]
    assert [s.status for s in states] == [RUNNING, RUNNING, FAILED]
    assert states[-1].exit_code == 4 and states[-1].message == "Failed"

    arm.add(responses.POST, f"{ARM}/jobs/{name}/cancel", status=202)
    target.cancel(submission, lambda: False)
    assert [c.request.method for c in arm.calls if c.request.url.split("?")[0].endswith(
        f"/jobs/{name}/cancel")] == ["POST"]


def sent_nothing(arm):
    return [c.request.url for c in arm.calls if c.request.method in ("PUT", "POST")]


@pytest.mark.parametrize(("table", "words"), [
    ({"compute": "c", "gpus": 2}, ["unknown key(s) 'gpus'", "instance_type"]),
    ({"compute": None}, ["exactly one of compute, instance_type", "found none"]),
    ({"instance_type": "Standard_DS3_v2"}, ["exactly one of compute, instance_type"]),
    ({"environment": "myenv"}, ["environment must name a version", "myenv@latest"]),
    ({"environment_variables": {"API_KEY": "x"}}, ["must not carry secrets", "API_KEY"]),
    ({"instance_count": 0}, ["instance_count must be an int from 1"]),
])
def test_bad_compute_settings_fail_naming_the_key(arm, tracking, tmp_path, table, words):
    with pytest.raises(TrackbridgeError) as info:
        make_target(tracking, tmp_path, **table)
    for word in words:
        assert word in str(info.value)
    assert sent_nothing(arm) == []


def test_a_json_on_config_holds_the_same_table(arm, tracking, tmp_path):
    good = tmp_path / "compute.json"
    good.write_text(json.dumps({"azureml": {"instance_type": "Standard_DS3_v2",
                                            "instance_count": 2}}))
    settings = open_target("azureml", tracking, good).settings
    assert (settings.instance_type, settings.instance_count) == ("Standard_DS3_v2", 2)
    bare = tmp_path / "cluster.json"
    bare.write_text(json.dumps({"instance_type": "Standard_DS3_v2"}))
    with pytest.raises(TrackbridgeError, match=r'must hold \{"azureml": \{\.\.\.\}\} with the '
                                               r"keys of \[azureml\] \(see "
                                               r"configs/azureml-compute\.toml for them\)"):
        open_target("azureml", tracking, bare)
    assert sent_nothing(arm) == []


def test_unknown_compute_or_environment_fail_before_anything_is_sent(arm, project, tracking,
                                                                      tmp_path):
    not_found = {"error": {"code": "ResourceNotFound", "message": "not found"}}
    arm.add(responses.GET, f"{ARM}/computes/gpu", status=404, json=not_found)
    arm.add(responses.GET, f"{ARM}/computes/cpu-cluster", json={
        "id": f"{SCOPE}/computes/cpu-cluster", "name": "cpu-cluster",
        "properties": {"computeType": "AmlCompute", "properties": {}}})
    arm.add(responses.GET, re.compile(rf"{re.escape(ARM)}/environments/ghost/versions.*"),
            status=404, json=not_found)
    with pytest.raises(TrackbridgeError, match=r"--on azureml: compute 'gpu' does not exist"):
        job_for(make_target(tracking, tmp_path, compute="gpu"), project, tracking)
    with pytest.raises(TrackbridgeError,
                       match=r"--on azureml: environment 'ghost@latest' does not exist"):
        job_for(make_target(tracking, tmp_path, environment="ghost@latest"), project, tracking)
    target = make_target(tracking, tmp_path)
    with pytest.raises(TrackbridgeError, match=r"'data' is a path parameter: on azureml it must "
                                               r"be a location the job reads"):
        plan_run(project, "withdata", params={"data": str(tmp_path)}, target=target)
    assert plan_run(project, "withdata", params={"data": "train.py"}, target=target).params == {
        "data": "train.py"}  # a project file travels with the project
    assert sent_nothing(arm) == []
    assert isinstance(target, AzureMLTarget)


def code_lookups(arm):
    return [c.request for c in arm.calls
            if c.request.method == "GET" and re.search(r"/codes/[^/]+/versions\?", c.request.url)]


def test_dry_run_looks_the_code_up_by_the_hash_a_submit_registers(arm, project, tracking, tmp_path):
    ws = Workspace(arm)
    target = make_target(tracking, tmp_path)
    job = job_for(target, project, tracking)
    lines = target.describe(job)
    (lookup,) = code_lookups(arm)
    query = parse_qs(urlsplit(lookup.url).query)
    assert set(query) >= {"hash", "hashVersion", "api-version"}
    assert sent_nothing(arm) == []  # a lookup only
    assert f"              content hash {query['hash'][0]} (to upload: the workspace has no " \
           f"code with this hash)" in lines
    target.submit(job)
    (registered,) = [json.loads(c.request.body) for c in arm.calls
                     if c.request.method == "PUT" and "/codes/" in c.request.url]
    assert registered["properties"]["properties"]["hash_sha256"] == query["hash"][0]
    assert any("/code/" in path for path in ws.blobs)


def dry_run_spec(lines):
    """The job spec of ``describe``'s lines: the YAML after its header."""
    header = "job spec (ml_client.jobs.create_or_update; the name is made at submit):"
    return yaml.safe_load("\n".join(lines[lines.index(header) + 1:]))


def test_dry_run_prints_the_command_job_as_yaml(arm, project, tracking, tmp_path):
    Workspace(arm)
    target = make_target(tracking, tmp_path, compute=None, instance_type="Standard_DS3_v2",
                         instance_count=2, environment_variables={"HF_HOME": "/tmp/hf"})
    job = job_for(target, project, tracking)
    lines = target.describe(job)
    assert lines[0].startswith("archive:      ") and lines[1].startswith("code:         ")
    spec = dry_run_spec(lines)
    assert {k: spec[k] for k in ("name", "display_name", "experiment_name", "type", "command",
                                 "resources", "environment_variables")} == {
        "name": "<a new job name>", "display_name": "r1", "experiment_name": "amlwire",
        "type": "command",
        "command": "python .trackbridge/bootstrap.py --config .trackbridge/job.toml "
                   "--run-id-env MLFLOW_RUN_ID --grace 40 -- 'python train.py --alpha 0.5'",
        "resources": {"instance_count": 2, "instance_type": "Standard_DS3_v2", "properties": {}},
        "environment_variables": {"HF_HOME": "/tmp/hf", "PYTHONUNBUFFERED": "1"}}
    assert "compute" not in spec  # serverless
    assert spec["code"] == str(target.scratch / "code")
    env = spec["environment"]
    assert env["image"] == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    assert env["conda_file"]["dependencies"][:2] == ["python=3.11", "pip"]  # YAML, not a repr
    assert TOKEN not in "\n".join(lines)
    assert sent_nothing(arm) == []


def test_dry_run_says_already_uploaded_when_the_workspace_has_the_code(arm, project, tracking,
                                                                      tmp_path):
    ws = Workspace(arm)
    existing = f"{SCOPE}/codes/3f1c0d2e-aaaa-bbbb-cccc-000000000001/versions/1"
    arm.replace(responses.GET, re.compile(rf"{re.escape(ARM)}/codes/[^/]+/versions\?.*hash=.*"),
                json={"value": [{"id": existing, "name": "1", "properties": {
                    "codeUri": f"{BLOB}/LocalUpload/old", "isAnonymous": True}}]})
    arm.add(responses.GET, re.compile(rf"{re.escape(ARM)}/codes/3f1c0d2e-[^/]+/versions/1\?.*"),
            json={"id": existing, "name": "1", "properties": {
                "codeUri": f"{BLOB}/LocalUpload/old", "isAnonymous": True}})
    target = make_target(tracking, tmp_path)
    job = job_for(target, project, tracking)
    assert any(line.endswith("(already uploaded as code 3f1c0d2e-aaaa-bbbb-cccc-000000000001:1: "
                             "not uploaded again)") for line in target.describe(job))
    target.submit(job)  # and indeed: azure-ai-ml reuses it
    assert ws.blobs == {}
    (body,) = ws.jobs.values()
    assert body["properties"]["codeId"] == existing


def test_missing_auth_is_one_line_naming_the_credential_before_anything_is_sent(
        arm, project, tmp_path, monkeypatch):
    import os
    import subprocess

    config = tmp_path / "tracking.toml"  # EnvironmentCredential: fails at once, no network
    config.write_text(f'backend = "azureml"\n[azureml]\ntracking_uri = "{TRACKING}"\n'
                      f'credential = "environment"\n')
    compute = tmp_path / "compute.toml"
    compute.write_text('[azureml]\ncompute = "cpu-cluster"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "TRACKBRIDGE_"))}
    # anything that tried the network anyway would meet a closed loopback port
    env.update(HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    args = [sys.executable, "-m", "trackbridge", "run", str(project), "--on", "azureml",
            "--on-config", str(compute), "--config", str(config)]
    for extra in ([], ["--dry-run"]):
        done = subprocess.run(args + extra, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1, done.stderr  # one line, and nothing else
        assert done.stderr.startswith("Error: --on azureml: no Azure token from "
                                      "EnvironmentCredential: "), done.stderr
        assert f"`credential` in [azureml] of {config}" in done.stderr
        assert "Traceback" not in done.stderr


CHATTY = """\
import logging, sys
from pathlib import Path

tests, root, tmp, project, mode = sys.argv[1:]
sys.path[:0] = [tests, root]
if mode == "configured":
    logging.basicConfig(level=logging.INFO)
import responses
import test_azureml_project_target as t
from trackbridge.config import load_config

tracking = load_config({"backend": "azureml", "local": {"path": f"{tmp}/tbruns"},
                        "azureml": {"tracking_uri": t.TRACKING, "access_token": t.TOKEN,
                                    "max_retries": 0}})
with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
    t.Workspace(mock)
    target = t.make_target(tracking, Path(tmp))
    job = t.job_for(target, project, tracking)
    target.describe(job)
    target.submit(job)
print("submitted")
"""


def test_azure_ai_mls_chatter_stays_off_the_terminal(tmp_path):
    """azure-ai-ml's own stderr handler printed "Class ...Schema: This is an experimental
    class" and "Proceeding with no tenant id appended to studio URL"; its upload printed a
    colour reset. None of it reaches the terminal; a program's own logging still gets the
    records."""
    import os
    import subprocess
    from pathlib import Path

    script = tmp_path / "chatty.py"
    script.write_text(CHATTY)
    tests = Path(__file__).resolve().parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "TRACKBRIDGE_"))}
    env.update(HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    project = write_tree(tmp_path / "proj", {
        "MLproject": "name: p\nentry_points:\n  main:\n    command: \"python t.py\"\n",
        "t.py": "print(1)\n"})
    done = {}
    for mode in ("plain", "configured"):
        (tmp_path / mode).mkdir()
        done[mode] = subprocess.run(
            [sys.executable, str(script), str(tests), str(tests.parents[2]), str(tmp_path / mode),
             str(project), mode], capture_output=True, text=True, timeout=180, env=env)
    assert (done["plain"].returncode, done["plain"].stdout) == (0, "submitted\n"), \
        done["plain"].stderr
    assert done["plain"].stderr == ""
    assert done["configured"].returncode == 0, done["configured"].stderr
    assert "This is an experimental class" in done["configured"].stderr
    assert "Proceeding with no tenant id appended to studio URL" in done["configured"].stderr
