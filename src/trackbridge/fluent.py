"""``tb.start_run`` and the module-level logging calls that act on the active run."""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from .config import Config, load_config
from .entities import (
    FAILED,
    FINISHED,
    KILLED,
    RUNNING,
    TAG_PARENT_RUN_ID,
    TAG_RUN_NAME,
)
from .errors import RunStateError
from .run import ActiveRun
from .validation import check_tags
from .writer import RunWriter

#: Set by ``trackbridge run`` for its child: start_run() attaches to this run.
RUN_ID_ENV = "TRACKBRIDGE_RUN_ID"
ConfigArg = str | os.PathLike[str] | Mapping[str, Any] | Config | None

_stack: list[ActiveRun] = []  # runs started and not ended, innermost last
_stack_lock = threading.Lock()
_uncaught: list[type[BaseException]] = []
_samplers: dict[str, Any] = {}  # run id -> its system metrics sampler

_ADJECTIVES = ("brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucky",
               "merry", "nimble", "proud", "quick", "silent", "sunny", "tidy", "vivid", "witty")
_NOUNS = ("otter", "falcon", "panda", "lynx", "heron", "koala", "mole", "newt", "orca", "puma",
          "raven", "seal", "tapir", "wolf", "yak", "zebra", "bison", "crane")


def _random_name() -> str:
    import random

    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(100, 999)}"


def _context_tags() -> dict[str, str]:
    from .plugins import load_plugins

    tags: dict[str, str] = {}
    for result in reversed(load_plugins().hook.trackbridge_run_context()):
        if result:
            tags.update({k: str(v) for k, v in result.items()})
    return tags


def start_run(
    experiment: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    config: ConfigArg = None,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    nested: bool = False,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start (or with ``run_id``, resume) a run and make it the active run.

    ``experiment`` defaults to the config's ``experiment``, then ``"Default"``.
    ``parent_run_id`` makes a nested run; ``nested=True`` nests under the active run.
    Starting a second run while one is active needs ``nested=True`` or ``parent_run_id``.
    When ``TRACKBRIDGE_RUN_ID`` is set (``trackbridge run`` sets it for the script it starts),
    the first top-level ``start_run()`` without ``run_id`` resumes that run instead of creating
    one, and removes the variable from the environment (as MLflow does with ``MLFLOW_RUN_ID``):
    later top-level runs, and processes started afterwards, make new runs.
    ``log_system_metrics`` samples CPU/memory/disk/network/GPU metrics while the run lives
    (None: ``TRACKBRIDGE_SYSTEM_METRICS``, else the config's ``system_metrics``).
    """
    from . import system_metrics
    from .registry import open_backend, open_journal  # loads plugins: deferred for a fast import
    from .sinks import sink_for  # imports sqlite3: deferred likewise

    cfg = load_config(config)
    # bad settings (or psutil missing) fail here, before a run exists
    sample = system_metrics.wanted_and_available(log_system_metrics, cfg)
    target = open_backend(cfg)  # where the run must end up
    store = target if target.is_local else open_journal(cfg)  # where it is journalled first
    with _stack_lock:
        active = _stack[-1] if _stack else None
    if run_id is None and active is None and parent_run_id is None and not nested:
        # attach to the run `trackbridge run` made: once; later top-level runs are new runs
        run_id = os.environ.pop(RUN_ID_ENV, None) or None
    if active is not None and parent_run_id is None and run_id is None:
        if not nested:
            raise RunStateError(
                f"run {active.id} is already active; end it first, or pass nested=True "
                f"(or parent_run_id=...) to start a child run"
            )
        parent_run_id = active.id
    limits, where = target.limits, target.describe()
    if run_id is not None:
        if store is not target:  # it may exist only remotely (a job started elsewhere made it)
            from .sync.attach import journal_run_id

            run_id = journal_run_id(store, target, run_id)
        info = store.get_run(run_id)
        store.update_run(run_id, status=RUNNING)
    else:
        if parent_run_id:  # it must exist (a run pointing nowhere could never sync)
            parent = store.get_run(parent_run_id)
            experiment = experiment or parent.experiment  # a child lives beside its parent
        name = experiment or cfg.experiment or "Default"
        target.check_experiment_name(name)
        exp = store.get_or_create_experiment(name)
        run_name = run_name or _random_name()
        all_tags = {**_context_tags(), **check_tags(tags or {}, limits, where)}
        all_tags[TAG_RUN_NAME] = run_name
        if parent_run_id:
            all_tags[TAG_PARENT_RUN_ID] = parent_run_id
        info = store.create_run(
            exp.id, run_name=run_name, start_time=time.time_ns() // 1_000_000, tags=all_tags,
            parent_run_id=parent_run_id,
        )
    settings = cfg.local_settings()
    writer = RunWriter(
        sink_for(store), info.id, flush_interval=float(settings["flush_interval"]),
        buffer_size=int(settings["buffer_size"]), batch_size=limits.max_metrics_per_batch,
    )
    mirror = None if store is target else _start_mirror(cfg, store, target, info.id)
    logged = store.count_points(info.id) if run_id and limits.max_metric_points_per_run else 0
    run = ActiveRun(info, store, writer, on_end=_forget, limits=limits, where=where, mirror=mirror,
                    points_logged=logged)
    run.config = cfg
    if run_id is not None and tags:
        run.set_tags(tags)
    if sample:
        _samplers[run.id] = system_metrics.start(run, cfg.system_metrics_interval)
    with _stack_lock:
        _stack.append(run)
    _install_exit_hooks()
    return run


def _start_mirror(cfg: Config, store: Any, target: Any, run_id: str) -> Any:
    """Online mode: a background worker that streams the journalled run to ``target``."""
    from .sync import SyncPlan
    from .sync.worker import SyncWorker

    plan = SyncPlan(source=store, destination=target, ledger_store=store,
                    max_in_flight=cfg.max_in_flight)
    config_hint = cfg.source if os.path.isfile(cfg.source) else "<your config file>"
    return SyncWorker(
        plan.engine(attempts=1), run_id, timeout=cfg.sync_timeout,
        resume_command=f"trackbridge sync --from {store.root} --to {config_hint} --run {run_id}",
    )


def _forget(run: ActiveRun) -> None:
    sampler = _samplers.pop(run.id, None)
    if sampler is not None:
        sampler.stop()
    with _stack_lock:
        if run in _stack:
            _stack.remove(run)


def active_run() -> ActiveRun | None:
    """The innermost run started and not yet ended, or None."""
    with _stack_lock:
        return _stack[-1] if _stack else None


def live_runs() -> list[ActiveRun]:
    with _stack_lock:
        return list(_stack)


def _require_active() -> ActiveRun:
    run = active_run()
    if run is None:
        raise RunStateError("no active run: call tb.start_run() first")
    return run


def log_param(key: str, value: Any) -> None:
    _require_active().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    _require_active().log_params(params)


def log_metric(key: str, value: float, step: int | None = 0, timestamp: int | None = None) -> None:
    _require_active().log_metric(key, value, step, timestamp)


def log_metrics(metrics: Mapping[str, float], step: int | None = 0,
                timestamp: int | None = None) -> None:
    _require_active().log_metrics(metrics, step, timestamp)


def set_tag(key: str, value: Any) -> None:
    _require_active().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    _require_active().set_tags(tags)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    _require_active().log_artifact(local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    _require_active().log_artifacts(local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    _require_active().log_text(text, artifact_file)


def log_dict(dictionary: Mapping[str, Any], artifact_file: str) -> None:
    _require_active().log_dict(dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    _require_active().log_figure(figure, artifact_file)


def log_image(image: Any, artifact_file: str | None = None, *, key: str | None = None,
              step: int | None = None, timestamp: int | None = None) -> None:
    _require_active().log_image(image, artifact_file, key=key, step=step, timestamp=timestamp)


def log_table(data: Any, artifact_file: str) -> None:
    _require_active().log_table(data, artifact_file)


def log_input(dataset: Any, context: str | None = "training",
              tags: Mapping[str, Any] | None = None) -> None:
    _require_active().log_input(dataset, context, tags)


def flush() -> None:
    """Flush every live run."""
    for run in live_runs():
        run.flush()


def end_run(status: str = FINISHED) -> None:
    """End the active run (a no-op when there is none)."""
    run = active_run()
    if run is not None:
        run.end(status)


# -- interpreter exit ---------------------------------------------------------------------
_hooks_installed = False


def _install_exit_hooks() -> None:
    """Once per process: remember an uncaught exception; at exit flush and end live runs."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    previous = sys.excepthook

    def excepthook(exc_type, exc, tb):  # type: ignore[no-untyped-def]
        _uncaught.append(exc_type)
        previous(exc_type, exc, tb)

    sys.excepthook = excepthook
    atexit.register(_end_all_at_exit)


def _end_all_at_exit() -> None:
    status = FINISHED
    if _uncaught:
        status = KILLED if issubclass(_uncaught[-1], KeyboardInterrupt) else FAILED
    for run in reversed(live_runs()):
        try:
            run.end(status)
        except Exception as exc:  # report, keep ending the others
            print(f"trackbridge: could not end run {run.id} at exit: {exc}", file=sys.stderr)

