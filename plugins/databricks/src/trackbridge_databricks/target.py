"""``trackbridge run --on databricks``: the project as a one-time Databricks job run.

The project's archive and the bootstrap script are uploaded once, named by their sha256, to
the configured folder (a Unity Catalog volume through the Files API, or workspace files)
by :meth:`DatabricksTarget.upload`; then (the runner having checked for Ctrl-C)
``w.jobs.submit`` starts a ``spark_python_task`` running the bootstrap, with an
idempotency token derived from the run id, so a retried submit never starts a second job.
The job logs to the run with the cluster's own auth (a Databricks config without host or
profile). Polling backs off from 1 s to ``poll_max_seconds``; the output is the task run's
``get_run_output().logs`` (stdout and stderr as Databricks interleaves them).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from trackbridge.config import Config
from trackbridge.entities import FAILED, FINISHED, KILLED, RUNNING
from trackbridge.projects.errors import ProjectError
from trackbridge.projects.remote import JobLog, RemoteTarget
from trackbridge.projects.targets import Job, JobState, Submission, map_status

from .compute import CONFIG_KEYS, ComputeSettings, from_mlflow_spec, parse_compute
from .jobspec import bootstrap_parameters, idempotency_token, submit_request

TAG_RUN_URL = "mlflow.databricks.runURL"
PLUGIN_DISTRIBUTION = "trackbridge-databricks"
#: Life-cycle states after which nothing changes any more.
_TERMINAL = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
_RESULTS = {"SUCCESS": FINISHED, "CANCELED": KILLED, "UPSTREAM_CANCELED": KILLED}
#: Tracking-config keys that say how *this* machine authenticates; the job uses its own.
_CLIENT_AUTH_KEYS = ("host", "profile", "auth_type")


def job_status(life_cycle: str, result: str | None) -> str:
    """A run status for a job run's (life-cycle state, result state)."""
    if life_cycle not in _TERMINAL:
        return map_status(life_cycle, {}, "databricks")
    if life_cycle == "TERMINATED" and result:
        return _RESULTS.get(result, FAILED)
    return FAILED  # SKIPPED, INTERNAL_ERROR, or terminated without a result


class _State:
    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.task_run_id: int | None = None
        self.log = JobLog()


class DatabricksTarget(RemoteTarget):
    name: ClassVar[str] = "databricks"
    config_keys: ClassVar[frozenset[str]] = CONFIG_KEYS
    tracking_backends: ClassVar[tuple[str, ...]] = ("databricks",)
    path_prefixes = ("dbfs:/", "/Volumes/")
    path_hint = "the cluster reads (dbfs:/... or /Volumes/...)"

    def __init__(self, settings: ComputeSettings, tracking: Config) -> None:
        super().__init__(settings, tracking)
        self._dependencies: list[str] = []
        self._uploaded_wheels: list[str] | None = None  # set by upload()

    @classmethod
    def from_config(cls, settings: Mapping[str, Any], tracking: Config) -> DatabricksTarget:
        return cls(parse_compute(settings), tracking)

    @classmethod
    def adopt_json(cls, data: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
        return from_mlflow_spec(data)

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        return self.backend.call(fn, what=what, safe=True)

    # -- before anything is sent ----------------------------------------------------------
    def check(self, plan: Any) -> None:
        from trackbridge.projects.requirements import pinned, project_requirements

        s = self.settings
        if plan.project.env_kind in ("docker_env", "conda_env"):
            raise ProjectError(
                f"--on databricks: the project declares {plan.project.env_kind}, which Databricks "
                f"jobs cannot build; declare python_env (python_env.yaml) or ship a "
                f"requirements.txt (for a container, set docker_image in new_cluster and drop "
                f"{plan.project.env_kind} from MLproject)")
        self.pack(plan)
        self._dependencies = [*project_requirements(plan.project), *s.libraries]
        if s.install == "index":
            self._dependencies += pinned("trackbridge", PLUGIN_DISTRIBUTION)
        client = self._authenticated()
        if s.existing_cluster_id:
            from databricks.sdk.errors import InvalidParameterValue, NotFound

            def cluster() -> None:
                try:
                    client.clusters.get(s.existing_cluster_id)
                except (NotFound, InvalidParameterValue) as exc:
                    if isinstance(exc, InvalidParameterValue) and "not exist" not in str(exc):
                        raise
                    raise ProjectError(
                        f"--on databricks: existing_cluster_id {s.existing_cluster_id!r} is not "
                        f"a cluster of {self.backend.describe()}; copy the id from the cluster's "
                        f"page or use new_cluster / serverless in the --on-config file") from None

            self._call(cluster, "look up the cluster")

    def _authenticated(self) -> Any:
        """The workspace client, its credentials checked; missing or refused auth is one line
        naming this target and the tracking config the auth comes from."""
        from trackbridge.errors import BackendError, ConfigError

        try:
            client = self.backend.client
            self._call(lambda: client.current_user.me(), "check the Databricks credentials")
        except (ConfigError, BackendError) as exc:
            raise ProjectError(f"--on databricks: {exc} (auth comes from [databricks] of "
                               f"--config {self.tracking.source})") from None
        return client

    # -- uploads --------------------------------------------------------------------------
    def _paths(self) -> dict[str, str]:
        from trackbridge.projects.bootstrap import source

        root = self.settings.upload_to
        digest = hashlib.sha256(source()).hexdigest()[:16]
        return {"archive": f"{root}/projects/{self.archive.name}",
                "bootstrap": f"{root}/bootstrap/bootstrap-{digest}.py"}

    def _exists(self, path: str) -> bool:
        from databricks.sdk.errors import NotFound

        client = self.backend.client

        def exists() -> bool:
            try:
                if self.settings.on_volume:
                    client.files.get_metadata(path)
                else:
                    client.workspace.get_status(path)
                return True
            except NotFound:
                return False

        return self._call(exists, f"look for {path}")

    def _upload(self, path: str, data: bytes) -> bool:
        """Upload ``data`` to ``path`` unless it is there (paths are named by content)."""
        if self._exists(path):
            return False
        client = self.backend.client

        def upload() -> None:
            if self.settings.on_volume:
                client.files.upload(path, io.BytesIO(data), overwrite=True, use_parallel=False)
            else:
                from databricks.sdk.service.workspace import ImportFormat

                client.workspace.mkdirs(path.rsplit("/", 1)[0])
                client.workspace.upload(path, io.BytesIO(data), format=ImportFormat.AUTO,
                                        overwrite=True)

        self._call(upload, f"upload {path}")
        return True

    def _wheels(self, upload: bool) -> list[str]:
        if self.settings.install != "wheels":
            return []
        from trackbridge.projects.wheels import build_wheel

        paths = []
        for dist in ("trackbridge", PLUGIN_DISTRIBUTION):
            wheel = build_wheel(dist, self.scratch / "wheels")
            path = f"{self.settings.upload_to}/wheels/{wheel.sha256[:16]}/{wheel.filename}"
            if upload:
                self._upload(path, wheel.path.read_bytes())
            paths.append(path)
        return paths

    def _request(self, job: Job, run_id: str, wheels: list[str]) -> dict[str, Any]:
        config = self.job_config(_CLIENT_AUTH_KEYS, experiment=job.experiment)
        paths = self._paths()
        return submit_request(
            self.settings, run_name=f"trackbridge {job.plan.project.name}: {job.run_name}",
            bootstrap=paths["bootstrap"],
            parameters=bootstrap_parameters(paths["archive"], config, run_id, job.plan.command,
                                            self.stop_grace),
            dependencies=self._dependencies, wheels=wheels, token=idempotency_token(run_id))

    def describe(self, job: Job) -> list[str]:
        from .jobspec import as_json

        paths, s = self._paths(), self.settings
        compute = {"serverless": f"serverless (environment version {s.environment_version})",
                   "new_cluster": "a new job cluster",
                   "existing_cluster_id": f"existing cluster {s.existing_cluster_id}"}[s.compute]
        there = {k: "already uploaded" if self._exists(p) else "to upload" for k, p in paths.items()}
        body = as_json(self._request(job, "<the new run's id>", self._wheels(upload=False)))
        return [
            f"archive:      {self.archive.describe()}",
            f"              -> {paths['archive']} ({there['archive']})",
            f"bootstrap:    {paths['bootstrap']} ({there['bootstrap']})",
            f"compute:      {compute}; trackbridge from "
            f"{'the package index' if s.install == 'index' else 'wheels built here'}",
            "job spec (POST /api/2.2/jobs/runs/submit):",
            *json.dumps(body, indent=2).splitlines(),
        ]

    # -- the job --------------------------------------------------------------------------
    def upload(self, job: Job) -> None:
        from trackbridge.projects.bootstrap import source

        paths = self._paths()
        self._upload(paths["archive"], self.archive.path.read_bytes())
        self._upload(paths["bootstrap"], source())
        self._uploaded_wheels = self._wheels(upload=True)

    def submit(self, job: Job) -> Submission:
        assert self._uploaded_wheels is not None, "upload() comes before submit()"
        request = self._request(job, job.run_id or "", self._uploaded_wheels)
        client = self.backend.client
        waiter = self._call(lambda: client.jobs.submit(**request), "submit the project's job run")
        state = _State(int(waiter.run_id))
        run = self._call(lambda: client.jobs.get_run(state.run_id), "get the job run")
        url = run.run_page_url
        return Submission(job_id=str(state.run_id), url=url,
                          tags={TAG_RUN_URL: url} if url else {}, state=state)

    def wait(self, submission: Submission, timeout: float) -> JobState:
        state: _State = submission.state
        self.sleep(timeout)
        client = self.backend.client
        run = self._call(lambda: client.jobs.get_run(state.run_id), "poll the job run")
        if run.tasks and run.tasks[0].run_id:
            state.task_run_id = run.tasks[0].run_id
        life = run.state.life_cycle_state.value if run.state and run.state.life_cycle_state else ""
        result = run.state.result_state.value if run.state and run.state.result_state else None
        status = job_status(life, result)
        message = life + (f"/{result}" if result else "")
        if run.state and run.state.state_message:
            message += f": {run.state.state_message}"
        error = self._fetch_logs(state)
        if status == RUNNING:
            return JobState(RUNNING, message=message)
        state.log.close()
        if error:
            message += f"; {error}"
        return JobState(status, exit_code=state.log.exit_code(), message=message)

    def _fetch_logs(self, state: _State) -> str | None:
        """Take the task's output now; return the platform's error line, if any."""
        if state.task_run_id is None:
            return None
        client = self.backend.client
        try:
            output = self._call(lambda: client.jobs.get_run_output(state.task_run_id),
                                "fetch the job's output")
        except Exception as exc:  # not there yet, or a hiccup: the next poll asks again
            return f"output not available: {exc}"
        state.log.feed(output.logs or "")
        return output.error

    def cancel(self, submission: Submission, hurry: Callable[[], bool]) -> None:
        state: _State = submission.state
        client = self.backend.client
        self._call(lambda: client.jobs.cancel_run(state.run_id), "cancel the job run")
