"""``trackbridge run --on azureml``: the project as an Azure ML command job.

``azure.ai.ml.command(code=<the packed project>, command=..., environment=..., compute=...)``
and ``ml_client.jobs.create_or_update``. Azure ML makes the job's MLflow run itself (the job's
name is the run id) and injects ``MLFLOW_TRACKING_URI``, ``MLFLOW_RUN_ID`` and a token into
it; so this target creates no run: the runner attaches to the job's, and the bootstrap points
trackbridge inside the job at it (``TRACKBRIDGE_RUN_ID`` from ``MLFLOW_RUN_ID``, a config
whose tracking URI and token are those variables). In a registered environment or the
project's docker image the bootstrap installs trackbridge and this plugin at the client's
versions unless they are there (``--require``); the environment built from the project pins
them. Output is the job's ``user_logs/std_log.txt``, read from the run's artifacts as it grows
(the bootstrap marks the command's stderr lines in it).
"""

from __future__ import annotations

import io
import shlex
import sys
import tarfile
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from trackbridge.config import Config
from trackbridge.entities import FAILED, FINISHED, KILLED, RUNNING
from trackbridge.errors import ArtifactNotFoundError, TrackbridgeError
from trackbridge.projects.errors import ProjectError
from trackbridge.projects.remote import JobLog, RemoteTarget
from trackbridge.projects.targets import Job, JobState, Submission, map_status

from .compute import CONFIG_KEYS, ComputeSettings, parse_compute
from .quiet import no_stray_output, quiet_azure_ai_ml

PLUGIN_DISTRIBUTION = "trackbridge-azureml"
STD_LOG = "user_logs/std_log.txt"
NEW_JOB_NAME = "<a new job name>"
_STATUSES = {"Completed": FINISHED, "Failed": FAILED, "NotResponding": FAILED, "Paused": FAILED,
             "Canceled": KILLED}
#: Tracking-config keys that say where and how *this* machine reaches the workspace.
_CLIENT_KEYS = ("tracking_uri", "subscription_id", "resource_group", "workspace", "config_json",
                "credential", "managed_identity_client_id", "access_token")


def job_status(status: str) -> str:
    """A run status for an Azure ML job status (unknown and in-between ones: RUNNING)."""
    return map_status(status, _STATUSES, "azureml")


class _State:
    def __init__(self, name: str) -> None:
        self.name = name
        self.log = JobLog()


class AzureMLTarget(RemoteTarget):
    name: ClassVar[str] = "azureml"
    config_keys: ClassVar[frozenset[str]] = CONFIG_KEYS
    creates_run: ClassVar[bool] = True
    tracking_backends: ClassVar[tuple[str, ...]] = ("azureml",)
    path_prefixes = ("azureml://", "https://", "wasbs://", "abfss://")
    path_hint = "the job reads (azureml://..., https://...)"

    def __init__(self, settings: ComputeSettings, tracking: Config) -> None:
        super().__init__(settings, tracking)
        self._client: Any = None

    @classmethod
    def from_config(cls, settings: Mapping[str, Any], tracking: Config) -> AzureMLTarget:
        return cls(parse_compute(settings), tracking)

    @property
    def client(self) -> Any:
        """``MLClient`` of the tracking config's workspace, with the backend's credential."""
        if self._client is None:
            from .discovery import workspace_ids

            with warnings.catch_warnings():  # azure-ai-ml's schemas warn at import
                warnings.simplefilter("ignore")
                from azure.ai.ml import MLClient
            quiet_azure_ai_ml()
            sub, rg, ws = workspace_ids(self.backend, "--on azureml")
            self._client = MLClient(self.backend.credential, subscription_id=sub,
                                    resource_group_name=rg, workspace_name=ws,
                                    show_progress=False)  # the terminal is the job's
        return self._client

    def _call(self, fn: Callable[[], Any], what: str, missing: str | None = None) -> Any:
        from azure.core.exceptions import AzureError, ClientAuthenticationError, ResourceNotFoundError

        from trackbridge.redaction import redact

        from .credentials import credential_name

        try:
            return fn()
        except TrackbridgeError:
            raise
        except ClientAuthenticationError as exc:
            text = " ".join(redact(str(exc)).split())[:400].rstrip(".")
            raise ProjectError(
                f"--on azureml: no Azure token from {credential_name(self.backend.credential)}: "
                f"{text}. Log in (`az login`), set the AZURE_* environment variables, or choose "
                f"another `credential` in [azureml] of {self.tracking.source}") from None
        except ResourceNotFoundError:
            if missing is None:
                raise ProjectError(f"--on azureml: {what} failed: not found") from None
            raise ProjectError(f"--on azureml: {missing}") from None
        except (AzureError, ValueError) as exc:
            text = " ".join(redact(str(exc)).split())[:500]
            raise ProjectError(f"--on azureml: {what} failed: {type(exc).__name__}: {text}. "
                               f"Check the [azureml] settings of --config and the credential "
                               f"(`trackbridge doctor --config ...`)") from None

    # -- before anything is sent ----------------------------------------------------------
    def check(self, plan: Any) -> None:
        s = self.settings
        if plan.project.env_kind == "conda_env" and not s.environment:
            raise ProjectError("--on azureml: conda_env projects need a registered environment: "
                               "set environment = \"<name>@latest\" in [azureml] of --on-config")
        self.pack(plan)
        client = self.client
        if s.compute:
            self._call(lambda: client.compute.get(s.compute), f"look up compute {s.compute!r}",
                       missing=f"compute {s.compute!r} does not exist in the workspace; set "
                               f"compute to one of its clusters, or instance_type for serverless")
        if s.environment:
            name, _, version = s.environment.replace("@", ":").partition(":")
            get = (lambda: client.environments.get(name, label="latest")) \
                if version == "latest" else (lambda: client.environments.get(name, version=version))
            self._call(get, f"look up environment {s.environment!r}",
                       missing=f"environment {s.environment!r} does not exist in the workspace; "
                               f"register it, or leave environment out to build one from the "
                               f"project's python_env.yaml")

    # -- the job --------------------------------------------------------------------------
    def _code_dir(self) -> Path:
        from trackbridge.projects.bootstrap import source

        code = self.scratch / "code"
        if code.exists():
            return code
        code.mkdir()
        with tarfile.open(self.archive.path, "r:gz") as tar:
            tar.extractall(code, filter="data") if hasattr(tarfile, "data_filter") \
                else tar.extractall(code)
        config = self.job_config(_CLIENT_KEYS, {"tracking_uri": "${MLFLOW_TRACKING_URI}",
                                                "access_token": "${MLFLOW_TRACKING_TOKEN}"})
        (code / ".trackbridge").mkdir()
        (code / ".trackbridge" / "bootstrap.py").write_bytes(source())
        (code / ".trackbridge" / "job.toml").write_text(config)
        return code

    def _environment(self, plan: Any) -> Any:
        from trackbridge.projects.requirements import pinned, project_requirements, python_version

        s = self.settings
        if s.environment:
            # azure-ai-ml resolves "name@label" only without the azureml: prefix (with it, it
            # looks up an environment named "azureml:name"); "azureml:name:version" as documented
            return s.environment if "@" in s.environment else f"azureml:{s.environment}"
        from azure.ai.ml.entities import Environment

        if plan.project.docker_image:
            return Environment(image=plan.project.docker_image)
        version = python_version(plan.project) or f"{sys.version_info[0]}.{sys.version_info[1]}"
        pip = [*project_requirements(plan.project), *s.libraries,
               *pinned("trackbridge", PLUGIN_DISTRIBUTION)]
        conda = {"name": "trackbridge-project", "channels": ["conda-forge"],
                 "dependencies": [f"python={version}", "pip", {"pip": pip}]}
        return Environment(image=s.base_image, conda_file=conda)

    def _requirements(self, plan: Any) -> list[str]:
        """``--require`` of the bootstrap: trackbridge and this plugin at this client's
        versions, installed in the job unless there. Only for environments trackbridge did
        not build (a registered one, the project's docker image): a built one pins them."""
        from trackbridge.projects.requirements import pinned

        if not (self.settings.environment or plan.project.docker_image):
            return []
        return [arg for spec in pinned("trackbridge", PLUGIN_DISTRIBUTION)
                for arg in ("--require", spec)]

    def _command_job(self, job: Job, name: str) -> Any:
        from azure.ai.ml import command

        quiet_azure_ai_ml()
        s = self.settings
        kwargs: dict[str, Any] = {"compute": s.compute} if s.compute else {
            "instance_type": s.instance_type, "instance_count": s.instance_count}
        if s.compute and s.instance_count > 1:
            kwargs["instance_count"] = s.instance_count
        line = shlex.join(["python", ".trackbridge/bootstrap.py", "--config",
                           ".trackbridge/job.toml", "--run-id-env", "MLFLOW_RUN_ID", "--grace",
                           f"{self.stop_grace:g}", *self._requirements(job.plan), "--",
                           job.plan.command])
        return command(
            name=name, display_name=job.run_name, experiment_name=job.experiment,
            code=str(self._code_dir()), command=line, environment=self._environment(job.plan),
            environment_variables={**s.environment_variables, "PYTHONUNBUFFERED": "1"}, **kwargs)

    def describe(self, job: Job) -> list[str]:
        # What a submit sends: create_or_update turns the command() node into its CommandJob
        # (``to_rest_job_object``: ``command._to_job()._to_rest_object()``); that job is shown
        # with the SDK's own YAML serialisation (``Job.dump``), code and environment as they are
        # before azure-ai-ml uploads / registers them.
        yaml_text = io.StringIO()
        self._command_job(job, NEW_JOB_NAME)._to_job().dump(yaml_text)
        digest, existing = self._code_state()
        there = f"already uploaded as code {existing}: not uploaded again" if existing else \
            "to upload: the workspace has no code with this hash"
        return [f"archive:      {self.archive.describe()}",
                "code:         the project + .trackbridge/ (bootstrap, job config), the job's "
                "code uploaded by azure-ai-ml",
                f"              content hash {digest} ({there})",
                "job spec (ml_client.jobs.create_or_update; the name is made at submit):",
                *yaml_text.getvalue().rstrip("\n").splitlines()]

    def _code_state(self) -> tuple[str, str | None]:
        """(content hash of the job's code, ``name:version`` of the workspace's code asset
        with that hash or None). Found as azure-ai-ml finds it before uploading
        (``CodeOperations.create_or_update``: ``GET .../codes/<name>/versions?hash=<sha256>
        &hashVersion=...``), so the answer is what a submit will do. azure-ai-ml has no
        public call for this lookup: its hash function and version operations are used as
        that method uses them."""
        from azure.ai.ml._artifacts._artifact_utilities import _get_snapshot_path_info
        from azure.ai.ml._utils._asset_utils import (
            _get_existing_asset_name_and_version,
            get_content_hash_version,
        )
        from azure.ai.ml.entities._assets._artifacts.code import Code

        code = Code(path=str(self._code_dir()))  # anonymous, as a job's local code is
        _, _, digest = _get_snapshot_path_info(code)
        ops = self.client._code
        found = self._call(lambda: list(ops._version_operation.list(
            resource_group_name=ops._resource_group_name, workspace_name=ops._workspace_name,
            name=code.name, hash=digest, hash_version=str(get_content_hash_version()))),
            "look up the job's code")
        if not found:
            return digest, None
        return digest, ":".join(_get_existing_asset_name_and_version(found[0]))

    def upload(self, job: Job) -> None:
        """Prepare the job's code here; azure-ai-ml uploads it in ``jobs.create_or_update``
        (the code asset and the job are made in one call of :meth:`submit`)."""
        self._code_dir()

    def submit(self, job: Job) -> Submission:
        name = f"tb-{uuid.uuid4().hex[:24]}"
        spec = self._command_job(job, name)
        client = self.client
        try:
            with no_stray_output():
                created = self._call(lambda: client.jobs.create_or_update(spec),
                                     "submit the job")
        except ProjectError:
            # the answer may have been lost after the job was made: a job of this name is ours
            created = self._find(name)
            if created is None:
                raise
        return Submission(job_id=created.name, url=created.studio_url, run_id=created.name,
                          state=_State(created.name))

    def _find(self, name: str) -> Any:
        try:
            return self._call(lambda: self.client.jobs.get(name), f"look up job {name}")
        except ProjectError:
            return None

    def wait(self, submission: Submission, timeout: float) -> JobState:
        state: _State = submission.state
        self.sleep(timeout)
        found = self._call(lambda: self.client.jobs.get(state.name), f"poll job {state.name}")
        status = str(getattr(found.status, "value", found.status) or "")
        self._fetch_logs(state)
        mapped = job_status(status)
        if mapped == RUNNING:
            return JobState(RUNNING, message=status)
        state.log.close()
        return JobState(mapped, exit_code=state.log.exit_code(), message=status)

    def _fetch_logs(self, state: _State) -> None:
        target = self.scratch / "std_log.txt"
        try:
            self.backend.download_artifact(state.name, STD_LOG, target)
        except (ArtifactNotFoundError, TrackbridgeError):
            return  # not written yet (or a hiccup): the next poll reads it again
        state.log.feed(target.read_bytes())

    def cancel(self, submission: Submission, hurry: Callable[[], bool]) -> None:
        name = submission.state.name
        self._call(lambda: self.client.jobs.begin_cancel(name, polling=False), f"cancel job {name}")
