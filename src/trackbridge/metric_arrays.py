"""A metric's history as columns (numpy arrays) instead of one ``Metric`` object per point.

``tb.get_metric_history(run_id, key, as_arrays=True)`` returns :class:`MetricArrays`; the
backends' :meth:`~trackbridge.backend.Backend.get_metric_arrays` and the UI's sampled reads
work on it. numpy is imported on first use, so ``import trackbridge`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import TrackbridgeError

if TYPE_CHECKING:
    import numpy as np

    from .entities import Metric

NUMPY_MISSING = 'columnar metric reads need numpy: pip install numpy (or "trackbridge[ui]")'


def require_numpy() -> Any:
    """The numpy module, or a one-line :class:`TrackbridgeError` saying what to install."""
    try:
        import numpy
    except ImportError:
        raise TrackbridgeError(NUMPY_MISSING) from None
    return numpy


@dataclass(frozen=True)
class MetricArrays:
    """Every point of one metric key as three aligned arrays, ordered by step then timestamp
    (logged order on ties), like ``get_metric_history``. ``value`` is float64 (NaN and +/-inf
    kept), ``step`` and ``timestamp`` (ms since the epoch) int64. ``len()`` is the number of
    points."""

    key: str
    step: np.ndarray
    timestamp: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.value)


def empty(key: str) -> MetricArrays:
    np = require_numpy()
    return MetricArrays(key, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))


def from_metrics(key: str, points: Sequence[Metric]) -> MetricArrays:
    """Arrays from ``Metric`` points (the default for backends without a columnar read)."""
    np = require_numpy()
    n = len(points)
    return ordered(MetricArrays(
        key,
        np.fromiter((p.step for p in points), np.int64, n),
        np.fromiter((p.timestamp for p in points), np.int64, n),
        np.fromiter((p.value for p in points), np.float64, n),
    ))


def ordered(arrays: MetricArrays) -> MetricArrays:
    """``arrays`` sorted by (step, timestamp), stable; returned as is when already sorted."""
    np = require_numpy()
    step, ts = arrays.step, arrays.timestamp
    if len(step) < 2:
        return arrays
    later, earlier = step[1:], step[:-1]  # views: only boolean temporaries are allocated
    if (later > earlier).all():  # the common case, one step per point: no look at the timestamps
        return arrays
    if (later >= earlier).all() and ((later > earlier) | (ts[1:] >= ts[:-1])).all():
        return arrays
    order = np.lexsort((ts, step))  # stable: logged order on ties
    return MetricArrays(arrays.key, step[order], ts[order], arrays.value[order])


def step_range(arrays: MetricArrays, start_step: int | None, end_step: int | None) -> MetricArrays:
    """The points with ``start_step <= step <= end_step`` (either bound may be None)."""
    np = require_numpy()
    lo = 0 if start_step is None else int(np.searchsorted(arrays.step, start_step, "left"))
    hi = len(arrays.step) if end_step is None else int(np.searchsorted(arrays.step, end_step, "right"))
    if lo == 0 and hi == len(arrays.step):
        return arrays
    return MetricArrays(arrays.key, arrays.step[lo:hi], arrays.timestamp[lo:hi], arrays.value[lo:hi])


class MetricSummary(NamedTuple):
    """What a table of a run's metrics shows of one key: its number of points, smallest and
    largest finite value (None when it has none), last step (the largest) and how many of
    its values are NaN or infinite."""

    count: int
    min: float | None
    max: float | None
    last_step: int | None
    non_finite: int


NO_POINTS = MetricSummary(0, None, None, None, 0)


def summarize(step: np.ndarray, value: np.ndarray) -> MetricSummary:
    """The summary of the points ``(step, value)`` (in any order)."""
    np = require_numpy()
    if not len(value):
        return NO_POINTS
    finite = value[np.isfinite(value)]
    return MetricSummary(len(value), float(finite.min()) if len(finite) else None,
                         float(finite.max()) if len(finite) else None, int(step.max()),
                         int(len(value) - len(finite)))


def merge(a: MetricSummary, b: MetricSummary) -> MetricSummary:
    """The summary of the points of ``a`` and ``b`` together."""
    def pick(f, x, y):  # noqa: ANN001, ANN202 - min or max of two optional numbers
        return y if x is None else x if y is None else f(x, y)

    return MetricSummary(a.count + b.count, pick(min, a.min, b.min), pick(max, a.max, b.max),
                         pick(max, a.last_step, b.last_step), a.non_finite + b.non_finite)
