"""The run of a project run, as the runner sees it: create or attach, params, tags, logs, end.

* :class:`JournalRun` (``--on local``): the run is started with ``tb.start_run`` (journalled
  locally, mirrored to a remote backend when the config has one); the command, on this
  machine, attaches to the same journal run.
* :class:`RemoteRun` (other targets): the job runs elsewhere and attaches to the run on the
  tracking backend itself, so the client writes straight to that backend: nothing is
  journalled here that a later sync could push over what the job logged.

Once the job ended, :func:`save_logs` and :func:`end_run` never raise: the job's outcome is
the run's, and what fails afterwards is a one-line warning.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..backend import Backend
from ..batching import pack
from ..entities import TAG_RUN_NAME, Param, Run, RunTag
from ..errors import ParamConflictError
from ..run import ActiveRun
from ..validation import check_artifact_path, check_key, check_tags, check_value


class JournalRun:
    """An :class:`ActiveRun` of this process, handed to the command through the journal."""

    def __init__(self, run: ActiveRun) -> None:
        self.run = run
        self.id = run.id
        self.experiment = run.experiment

    def log_params(self, params: Mapping[str, str]) -> None:
        self.run.log_params(params)
        self.run.flush()  # the script's start_run must see them (a changed value is a conflict)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.run.set_tags(tags)

    def reclaim(self) -> None:
        """The command's start_run made it the run's writer; it has exited, so a reader
        would judge the run dead (KILLED). Take the run back before the last writes."""
        self.run.backend.update_run(self.run.id, status="RUNNING")

    def log_artifact(self, path: Path, folder: str) -> None:
        self.run.log_artifact(path, artifact_path=folder)

    def end(self, status: str, *, quiet: bool = False) -> None:
        self.run.end(status, _raise_errors=not quiet)


class RemoteRun:
    """A run on a remote backend, written to directly (every call is a request)."""

    def __init__(self, backend: Backend, info: Run) -> None:
        self.backend = backend
        self.id = info.id
        self.experiment = info.experiment
        self._params = dict(info.params)
        self._where = backend.describe()

    @classmethod
    def create(cls, backend: Backend, experiment: str, run_name: str,
               tags: Mapping[str, str]) -> RemoteRun:
        from ..fluent import _context_tags

        backend.check_experiment_name(experiment)
        exp = backend.get_or_create_experiment(experiment)
        all_tags = {**_context_tags(), **check_tags(tags, backend.limits, backend.describe()),
                    TAG_RUN_NAME: run_name}
        info = backend.create_run(exp.id, run_name=run_name, start_time=_now(), tags=all_tags)
        return cls(backend, info._replace(experiment=exp.name))

    @classmethod
    def attach(cls, backend: Backend, run_id: str) -> RemoteRun:
        return cls(backend, backend.get_run(run_id))

    def log_params(self, params: Mapping[str, str]) -> None:
        limits, fresh = self.backend.limits, []
        for key, value in params.items():
            check_key("param", key, limits.max_param_key_length, self._where)
            text = check_value("param", key, value, limits.max_param_value_length, self._where)
            old = self._params.get(key)
            if old is not None and old != text:
                raise ParamConflictError(f"param {key!r} of run {self.id} was logged as {old!r}; "
                                         f"it cannot change to {text!r}")
            if old is None:
                fresh.append(Param(key, text))
                self._params[key] = text
        self._send(params=fresh)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        checked = check_tags(tags, self.backend.limits, self._where)
        self._send(tags=[RunTag(k, v) for k, v in checked.items()])

    def _send(self, params: list[Param] = (), tags: list[RunTag] = ()) -> None:  # type: ignore[assignment]
        for batch in pack([], list(params), list(tags), self.backend.limits):
            self.backend.log_batch(self.id, batch.metrics, batch.params, batch.tags)

    def reclaim(self) -> None:
        """Nothing to take back: this process never handed the run to a writer."""

    def log_artifact(self, path: Path, folder: str) -> None:
        target = check_artifact_path(f"{folder}/{path.name}")
        self.backend.upload_artifact(self.id, path, target)

    def end(self, status: str, *, quiet: bool = False) -> None:
        try:
            self.backend.update_run(self.id, status=status, end_time=_now())
        except Exception:
            if not quiet:
                raise


def save_logs(run: JournalRun | RemoteRun, paths: Mapping[str, Path], kept: str,
              echo: Callable[[str], None]) -> None:
    """Save the output as ``logs/<stream>.txt``; what fails is said in one line ending with
    ``kept`` (where the output can still be found)."""
    try:
        run.reclaim()
    except Exception:  # noqa: S110 - only how readers see the run meanwhile; the end sets it
        pass
    failed: list[str] = []
    error: Exception | None = None
    for path in paths.values():
        try:
            run.log_artifact(path, "logs")
        except Exception as exc:
            failed.append(f"logs/{path.name}")
            error = error or exc
    if failed:
        echo(f"warning: {' and '.join(failed)} of run {run.id} not saved "
             f"({_one_line(error)}); {kept}")


def end_run(run: JournalRun | RemoteRun, status: str, echo: Callable[[str], None]) -> None:
    """End the run with ``status``; a failure is said in one line (the outcome stands)."""
    try:
        run.end(status)
    except Exception as exc:
        echo(f"warning: run {run.id} could not be marked {status} ({_one_line(exc)}); check "
             f"the tracking service and run `trackbridge doctor --config ...`")


def _one_line(exc: BaseException | None) -> str:
    from ..redaction import redact

    return f"{type(exc).__name__}: {' '.join(redact(str(exc)).split())[:300]}"


def _now() -> int:
    return time.time_ns() // 1_000_000
