"""Post-training metrics, as ``mlflow.sklearn.autolog`` logs them.

After an autologged fit, the estimator remembers its run. Its ``predict``-like calls note which
result came from which dataset (the caller's variable name, e.g. ``X_test``); a later call of a
``sklearn.metrics`` function on such a result logs ``<metric>_<dataset>`` (``accuracy_score_X_test``;
a second call of the same metric gets ``-2``: ``accuracy_score-2_X_test``), and
``model.score(X_test, y_test)`` logs ``<Estimator>_score_X_test``. They go to the fit's run
even when it has ended (straight into its store), with ``metric_info.json`` saying which call
produced each key. Only ids and names are kept, never the data.
"""

from __future__ import annotations

import inspect
import json
import tempfile
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RUN_ATTR = "_trackbridge_run_id"


def variable_name(value: Any, fallback: str) -> str:
    """The name the first caller outside the call chain gave ``value`` (MLflow's rule)."""
    try:
        frame = inspect.currentframe()
        frame = frame.f_back if frame is not None else None
        while frame is not None:
            info = inspect.getargvalues(frame)
            passed = [info.locals[a] for a in info.args if a in info.locals]
            if info.varargs:
                passed += list(info.locals.get(info.varargs, ()))
            if info.keywords:
                passed += list(info.locals.get(info.keywords, {}).values())
            if any(value is p for p in passed):
                frame = frame.f_back
                continue
            for name, local in frame.f_locals.items():
                if local is value:
                    return name
            return fallback
    except Exception:
        pass
    return fallback


def _is_number(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class PostTrainingMetrics:
    """The bookkeeping of one process (not thread-safe, like MLflow's)."""

    def __init__(self) -> None:
        self._results: dict[int, tuple[str, str]] = {}  # id(prediction) -> (run id, dataset)
        self._datasets: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        self._calls: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(
            lambda: defaultdict(list))
        self._backends: dict[str, Any] = {}
        self._local = threading.local()

    # -- state ----------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        from .patching import active_session

        return not getattr(self._local, "suspended", False) and active_session() is None

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """No post-training logging inside (a metric computed by ``score`` itself, ...)."""
        old = getattr(self._local, "suspended", False)
        self._local.suspended = True
        try:
            yield
        finally:
            self._local.suspended = old

    def remember(self, estimator: Any, run: Any) -> None:
        """After a fit: ``estimator``'s later metrics belong to ``run``."""
        setattr(estimator, RUN_ATTR, run.id)
        self._backends[run.id] = run.backend

    # -- predictions ----------------------------------------------------------------------
    def dataset_name(self, run_id: str, dataset: Any) -> str:
        name = variable_name(dataset, "unknown_dataset")
        seen = self._datasets[run_id][name]
        if id(dataset) not in seen:
            seen.append(id(dataset))
        index = seen.index(id(dataset))
        return name if index == 0 else f"{name}-{index + 1}"

    def note_prediction(self, run_id: str, dataset_name: str, result: Any) -> None:
        key = id(result)
        self._results[key] = (run_id, dataset_name)
        try:
            weakref.finalize(result, self._results.pop, key, None)
        except TypeError:  # not weak-referenceable (a list): kept until the process ends
            pass

    def source_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str] | None:
        for value in (*args, *kwargs.values()):
            if value is not None and id(value) in self._results:
                return self._results[id(value)]
        return None

    # -- logging --------------------------------------------------------------------------
    def log(self, run_id: str, metric: str, dataset: str, value: float, command: str) -> str:
        """Log ``value`` as ``<metric>[-n]_<dataset>`` to the run; returns the key."""
        calls = self._calls[run_id][metric]
        name = metric if not calls else f"{metric}-{len(calls) + 1}"
        key = f"{name}_{dataset}"
        calls.append((key, command))
        info = dict(sorted(kv for per in self._calls[run_id].values() for kv in per))
        _log_to_run(run_id, self._backends.get(run_id), {key: float(value)}, info)
        return key

    def log_input(self, run_id: str, dataset: Any, context: str) -> None:
        """Record a dataset input of the run (live, or ended: straight into its store)."""
        from ..data import to_input

        live = _live(run_id)
        if live is not None:
            live.log_input(dataset, context=context)
        elif run_id in self._backends:
            self._backends[run_id].log_inputs(run_id, [to_input(dataset, context, None)])


def _live(run_id: str) -> Any:
    from .. import fluent

    return next((r for r in fluent.live_runs() if r.id == run_id), None)


def _log_to_run(run_id: str, backend: Any, metrics: dict[str, float], info: dict[str, str]) -> None:
    from ..entities import Metric

    live = _live(run_id)
    if live is not None:
        live.log_metrics(metrics, step=0)
        live.log_dict(info, "metric_info.json")
        return
    if backend is None:
        return
    now = time.time_ns() // 1_000_000
    backend.log_batch(run_id, [Metric(k, v, now, 0) for k, v in metrics.items()])
    with tempfile.TemporaryDirectory(prefix="trackbridge-") as tmp:
        path = Path(tmp) / "metric_info.json"
        path.write_text(json.dumps(info, indent=2))
        backend.upload_artifact(run_id, path, "metric_info.json")


def call_command(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 owner: Any = None) -> str:
    """``accuracy_score(y_true=y_test, y_pred=<ndarray>)``: what metric_info.json records."""
    def show(value: Any) -> str:
        if value is None or isinstance(value, (str, int, float, bool)):
            text = repr(value)
            return text if len(text) <= 34 else text[:32] + "...'"
        return variable_name(value, f"<{type(value).__name__}>")

    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        names = []
    if owner is not None and names:
        names = names[1:]
    parts = [f"{n}={show(v)}" for n, v in zip(names, args)]
    parts += [f"{n}={show(v)}" for n, v in kwargs.items()]
    head = f"{type(owner).__name__}.{fn.__name__}" if owner is not None else fn.__name__
    return f"{head}({', '.join(parts)})"


MANAGER = PostTrainingMetrics()
__all__ = ["MANAGER", "RUN_ATTR", "PostTrainingMetrics", "call_command", "variable_name",
           "_is_number"]
