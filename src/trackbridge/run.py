"""The handle a training script logs through: validation at the call site, then the buffer."""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from .backend import Backend
from .entities import FAILED, FINISHED, KILLED, RUN_STATUSES, RUNNING, Limits, Param, Run, RunTag
from .errors import LimitExceededError, ParamConflictError, RunStateError, ValidationError
from .validation import (
    MAX_INT64,
    check_artifact_path,
    check_key,
    check_metric_value,
    check_step,
    check_tags,
    check_timestamp,
    check_value,
)
from .writer import RunWriter

_time = time.time
_time_ns = time.time_ns


class ActiveRun:
    """A run being logged to. Use as a context manager, or call :meth:`end`.

    Logging calls return as soon as the value is checked and buffered; the writer thread
    stores it. ``step`` defaults to 0 and ``timestamp`` to now (ms since epoch), as in MLflow.
    """

    def __init__(
        self,
        info: Run,
        backend: Backend,
        writer: RunWriter,
        on_end: Callable[[ActiveRun], None] | None = None,
        *,
        limits: Limits | None = None,
        where: str | None = None,
        mirror: Any = None,
        points_logged: int = 0,
    ) -> None:
        """``backend`` is where the run is written (the local journal for a remote config);
        ``limits``/``where`` are the final destination's (checked at the call site),
        ``mirror`` the sync worker copying the run there (online mode), if any, and
        ``points_logged`` the points the run already holds (a resumed run)."""
        self.id: str = info.id
        self.name: str | None = info.name
        self.experiment: str = info.experiment
        self.experiment_id: str = info.experiment_id
        self.parent_run_id: str | None = info.parent_run_id
        self.artifact_uri: str | None = info.artifact_uri
        self.status: str = RUNNING
        self.backend = backend
        #: the resolved Config the run was started with (set by ``start_run``)
        self.config: Any = None
        self._writer = writer
        self._limits = limits or backend.limits
        self._where = where or backend.describe()
        self._mirror = mirror
        self._params: dict[str, str] = dict(info.params)
        self._tags: dict[str, str] = dict(info.tags)
        self._metric_keys: set[str] = set(info.metrics)
        self._n_points = points_logged
        self._count = self._count_points if self._limits.max_metric_points_per_run else None
        self._points = writer.points
        self._full_at = writer.full_at
        self._ended = False
        self._alarm = False  # True once ended, or while a background write error waits
        writer.on_error = self._on_writer_error
        writer.on_drained = self._on_writer_drained
        self._on_end = on_end

    @property
    def remote_id(self) -> str | None:
        """The run's id on the remote backend (online mode), once the remote run exists."""
        return self._mirror.remote_id if self._mirror is not None else None

    def __repr__(self) -> str:
        return f"<ActiveRun id={self.id} name={self.name!r} experiment={self.experiment!r} " \
               f"status={self.status}>"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: Any, tb: Any) -> None:
        if exc_type is None:
            status = FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = KILLED
        else:
            status = FAILED
        self.end(status, _raise_errors=exc_type is None)

    # -- metrics: the hot path ------------------------------------------------------------
    def log_metric(
        self, key: str, value: float, step: int | None = 0, timestamp: int | None = None
    ) -> None:
        """Buffer one point. Checks are cached per key so a repeated key costs a set lookup.

        A write error of the background flusher is raised after this point is buffered, so
        neither the earlier (still buffered) points nor this one are lost. One flag,
        ``_alarm``, says "ended, or a background error waits" (checked last, one load)."""
        if key not in self._metric_keys:
            self._new_metric_key(key)
        if type(value) is not float:
            value = check_metric_value(key, value)
        if type(step) is not int or not 0 <= step <= MAX_INT64:
            step = check_step(key, step)
        if timestamp is None:
            timestamp = _time() * 1000.0  # ms, as a float: no integer division (columns.py)
        elif type(timestamp) is not int or not 0 <= timestamp <= MAX_INT64:
            timestamp = check_timestamp(key, timestamp)
        if self._count is not None:
            self._count(1)
        points = self._points
        points += (key, value, timestamp, step)  # one atomic C call (list_extend): see writer.py
        if len(points) >= self._full_at:
            self._full_at = self._writer.full()
        if self._alarm:
            self._sound_alarm()

    def _sound_alarm(self) -> None:
        """Raise why the last call must fail: the run ended (what it buffered is discarded), or
        the background writer's error (what it buffered stays, for the next write)."""
        if self._ended:
            self._raise_state()
        self._alarm = False  # before taking the error: one the writer sets meanwhile re-arms it
        self._writer.raise_error()

    def _on_writer_error(self) -> None:
        self._alarm = True

    def _on_writer_drained(self) -> None:
        if not self._ended:
            self._full_at = self._writer.full_at

    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = 0, timestamp: int | None = None
    ) -> None:
        """Buffer several points sharing one step and timestamp: all or none (every key, value
        and the per-run point limit are checked before any point is buffered)."""
        if self._ended:
            self._raise_state()
        if type(step) is not int or not 0 <= step <= MAX_INT64:
            step = check_step(next(iter(metrics), "?"), step)
        if timestamp is None:
            timestamp = _time() * 1000.0
        elif type(timestamp) is not int or not 0 <= timestamp <= MAX_INT64:
            timestamp = check_timestamp(next(iter(metrics), "?"), timestamp)
        flat: list = []
        for key, value in metrics.items():
            if key not in self._metric_keys:
                self._new_metric_key(key)
            if type(value) is not float:
                value = check_metric_value(key, value)
            flat += (key, value, timestamp, step)
        if self._count is not None:
            self._count(len(metrics))
        points = self._points
        points += flat  # one atomic call: see writer.py
        if len(points) >= self._full_at:
            self._full_at = self._writer.full()
        if self._alarm:
            self._sound_alarm()

    def _new_metric_key(self, key: str) -> None:
        check_key("metric", key, self._limits.max_metric_key_length, self._where)
        self._metric_keys.add(key)

    def _count_points(self, n: int) -> None:
        limit = self._limits.max_metric_points_per_run
        if limit is not None and self._n_points + n > limit:
            raise LimitExceededError(
                f"run {self.id} would have more than {limit} metric points; the "
                f"{self._where} backend allows at most {limit} per run"
            )
        self._n_points += n

    def _raise_state(self) -> None:
        self._writer.raise_error()
        if self._ended:
            raise RunStateError(f"run {self.id} has ended ({self.status}); start a new run "
                                f"or resume it with start_run(run_id={self.id!r})")

    # -- params and tags ------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        """Log a param; the same value again is a no-op, a different one ParamConflictError."""
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log several params at once: all are checked before any is buffered."""
        self._raise_state()
        limits = self._limits
        fresh: dict[str, str] = {}
        for key, value in params.items():
            check_key("param", key, limits.max_param_key_length, self._where)
            text = check_value("param", key, value, limits.max_param_value_length, self._where,
                               limits.max_param_value_bytes)
            old = self._params.get(key, fresh.get(key))
            if old is not None and old != text:
                raise ParamConflictError(
                    f"param {key!r} of run {self.id} was logged as {old!r}; it cannot change "
                    f"to {text!r} (params are immutable, as in MLflow)"
                )
            if old is None:
                fresh[key] = text
        limit = limits.max_params_per_run
        if limit is not None and len(self._params) + len(fresh) > limit:
            raise LimitExceededError(
                f"run {self.id} would have {len(self._params) + len(fresh)} params; the "
                f"{self._where} backend allows at most {limit} per run (while logging "
                f"{', '.join(map(repr, list(fresh)[:5]))})"
            )
        if fresh:
            self._params.update(fresh)
            self._writer.params.extend([Param(k, v) for k, v in fresh.items()])

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (a tag can be overwritten); all are checked before any is buffered."""
        self._raise_state()
        checked = self._check_tags(tags)
        self._tags.update(checked)
        self._writer.tags.extend([RunTag(k, v) for k, v in checked.items()])

    def _check_tags(self, tags: Mapping[str, Any]) -> dict[str, str]:
        limits = self._limits
        checked = check_tags(tags, limits, self._where)
        limit = limits.max_tags_per_run
        total = len(self._tags.keys() | checked.keys())
        if limit is not None and total > limit:
            raise LimitExceededError(
                f"run {self.id} would have {total} tags; the {self._where} backend allows "
                f"at most {limit} per run"
            )
        return checked

    # -- artifacts ------------------------------------------------------------------------
    def log_artifact(self, local_path: str | os.PathLike[str], artifact_path: str | None = None
                     ) -> None:
        """Store one file as ``<artifact_path>/<file name>`` of the run."""
        from pathlib import Path

        self._raise_state()
        source = Path(local_path)
        folder = check_artifact_path(artifact_path)
        if not source.is_file():
            what = "a directory (use log_artifacts)" if source.is_dir() else "missing"
            raise ValidationError(f"cannot log artifact {str(source)!r}: the file is {what}")
        target = f"{folder}/{source.name}" if folder else source.name
        self.backend.upload_artifact(self.id, source, target)

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
                      ) -> None:
        """Store every file below ``local_dir``, keeping the tree, under ``artifact_path``.

        Files are opened without following links out of ``local_dir`` (see local_files.py):
        symlinks to files inside it are followed, those leading outside are skipped with a
        warning, and symlinked directories are not descended into.
        """
        from pathlib import Path

        from .local_files import files_below

        self._raise_state()
        root = Path(local_dir)
        if not root.is_dir():
            raise ValidationError(f"cannot log artifacts from {str(root)!r}: not a directory")
        folder = check_artifact_path(artifact_path)
        for rel, readable in files_below(root):
            self.backend.upload_artifact(self.id, readable, f"{folder}/{rel}" if folder else rel)

    def log_text(self, text: str, artifact_file: str) -> None:
        """Store ``text`` (UTF-8) as the artifact file ``artifact_file``."""
        self._log_bytes(text.encode("utf-8"), artifact_file)

    def log_dict(self, dictionary: Mapping[str, Any], artifact_file: str) -> None:
        """Store a dict as JSON (or YAML for .yaml/.yml, when PyYAML is installed)."""
        if artifact_file.endswith((".yaml", ".yml")):
            try:
                import yaml
            except ImportError:
                raise ValidationError(
                    f"log_dict to {artifact_file!r} needs PyYAML; install it or use .json"
                ) from None
            data = yaml.safe_dump(dict(dictionary), sort_keys=False).encode()
        else:
            import json

            data = json.dumps(dictionary, indent=2, default=str).encode()
        self._log_bytes(data, artifact_file)

    def _log_bytes(self, data: bytes, artifact_file: str) -> None:
        self._write_artifact(artifact_file, lambda path: path.write_bytes(data))

    def _write_artifact(self, artifact_file: str, write: Callable[[Any], Any]) -> None:
        """``write(path)`` into a temp file named like ``artifact_file``, then store it there."""
        self._raise_state()
        target = check_artifact_path(artifact_file, "artifact file")
        if not target:
            raise ValidationError("artifact file name must not be empty")
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory(prefix="trackbridge-") as tmp:
            path = Path(tmp) / target.rsplit("/", 1)[-1]
            write(path)
            self.backend.upload_artifact(self.id, path, target)

    # -- figures, images, tables, datasets (trackbridge.media, trackbridge.data) ------------
    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """Store a matplotlib or plotly figure; the format follows the extension."""
        from .media import log_figure

        log_figure(self, figure, artifact_file)

    def log_image(self, image: Any, artifact_file: str | None = None, *, key: str | None = None,
                  step: int | None = None, timestamp: int | None = None) -> None:
        """Store a numpy/PIL image as ``artifact_file``, or as ``step`` of the series ``key``."""
        from .media import log_image

        log_image(self, image, artifact_file, key=key, step=step, timestamp=timestamp)

    def log_table(self, data: Any, artifact_file: str) -> None:
        """Store a dict of columns or a DataFrame as MLflow table JSON (appends to an existing one)."""
        from .media import log_table

        log_table(self, data, artifact_file)

    def log_input(self, dataset: Any, context: str | None = "training",
                  tags: Mapping[str, Any] | None = None) -> None:
        """Record a dataset the run used (``tb.data.from_pandas(df)``, a DataFrame, an array, a path)."""
        from .data import to_input

        self._raise_state()
        self.backend.log_inputs(self.id, [to_input(dataset, context, tags)])

    # -- models ---------------------------------------------------------------------------
    def log_model(self, model: Any, name: str = "model", input_example: Any = None,
                  signature: Any = None, pip_requirements: Any = None, extra_files: Any = None,
                  flavor: Any = None) -> Any:
        """Store ``model`` in the MLflow model format as the artifacts ``<name>/`` of the run.

        ``flavor`` is a flavor name (``"sklearn"``, ``"python_function"``) or instance
        (``SklearnFlavor(serialization="cloudpickle")``); by default the first installed
        flavor that can save the model. Returns a ``ModelInfo`` whose ``model_uri``
        (``runs:/<run id>/<name>``) ``tb.load_model`` and ``tb.register_model`` take.
        See :mod:`trackbridge.models`.
        """
        from .models.saving import log_model

        return log_model(self, model, name, input_example=input_example, signature=signature,
                         pip_requirements=pip_requirements, extra_files=extra_files, flavor=flavor)

    # -- lifecycle ------------------------------------------------------------------------
    def flush(self) -> None:
        """Block until everything logged so far is stored; raise a pending write error."""
        self._writer.flush()

    def sync(self, timeout: float | None = None) -> bool:
        """Flush, then (online mode) wait up to ``timeout`` s (default: the mirror's
        ``sync_timeout``) for the remote copy to catch up. True when it did."""
        self.flush()
        if self._mirror is None:
            return True
        return self._mirror.sync_now(self._mirror.timeout if timeout is None else timeout)

    def end(self, status: str = FINISHED, *, _raise_errors: bool = True) -> None:
        """Flush, then mark the run ended with ``status``. Ending twice is a no-op."""
        if status not in RUN_STATUSES or status == RUNNING:
            raise ValidationError(
                f"end status must be one of FINISHED, FAILED, KILLED, got {status!r}"
            )
        if self._ended:
            return
        self._ended = self._alarm = True
        self._points, self._full_at = [], float("inf")  # a late log_metric buffers nothing real
        if self._on_end is not None:
            self._on_end(self)
        error: BaseException | None = None
        try:
            self._writer.close()
        except BaseException as exc:
            error = exc
            if status == FINISHED:
                status = FAILED
        self.backend.update_run(self.id, status=status, end_time=_time_ns() // 1_000_000)
        self.status = status
        if self._mirror is not None:
            pending = self._mirror.finish()
            if pending:
                print(pending, file=sys.stderr)
        if error is not None:
            if _raise_errors:
                raise error
            warnings.warn(f"run {self.id}: {error}", stacklevel=2)
