"""Downsample a metric's history for a chart without losing its spikes (M4-style).

The steps of the requested range are cut into equal-width buckets; from each bucket the
first and last points and the points holding its smallest and largest finite value are
kept (Jugel et al., "M4", VLDB 2014: a line drawn through them looks like the full series
at that many pixel columns). So the global minimum and maximum of any range are always in
the answer. Non-finite values are never dropped silently: each bucket also keeps its first
NaN, +inf and -inf point, and the answer counts them over the whole range.

Everything is vectorised numpy over :class:`~trackbridge.metric_arrays.MetricArrays`: no
Python object per point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ValidationError
from .metric_arrays import MetricArrays, require_numpy, step_range

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MAX_POINTS = 2000
#: bounds of ``max_points``: a bucket can yield up to 7 points (4 + one NaN, +inf, -inf)
MIN_MAX_POINTS, MAX_MAX_POINTS = 8, 20_000


@dataclass(frozen=True)
class SampledHistory:
    """At most ``max_points`` points of one key in ``[start_step, end_step]``, by step.

    ``bucket_min`` / ``bucket_max`` (only when ``sampled``) give, per returned point, the
    smallest and largest finite value of the bucket it was chosen from (NaN when the bucket
    holds no finite value). ``total``, ``nan``, ``pos_inf`` and ``neg_inf`` count the points
    of the whole range, returned or not.
    """

    key: str
    step: np.ndarray
    timestamp: np.ndarray
    value: np.ndarray
    bucket_min: np.ndarray | None
    bucket_max: np.ndarray | None
    total: int
    sampled: bool
    nan: int
    pos_inf: int
    neg_inf: int
    max_points: int
    start_step: int | None = None
    end_step: int | None = None


def check_request(max_points: int, start_step: int | None, end_step: int | None) -> None:
    """Raise :class:`ValidationError` naming the bad value of a sampled read."""
    if not MIN_MAX_POINTS <= max_points <= MAX_MAX_POINTS:
        raise ValidationError(
            f"max_points={max_points} is out of range: give {MIN_MAX_POINTS} to {MAX_MAX_POINTS}")
    for name, value in (("start_step", start_step), ("end_step", end_step)):
        if value is not None and value < 0:
            raise ValidationError(f"{name}={value} is negative: steps are >= 0")
    if start_step is not None and end_step is not None and start_step > end_step:
        raise ValidationError(f"start_step={start_step} is after end_step={end_step}")


def sample(arrays: MetricArrays, max_points: int = DEFAULT_MAX_POINTS,
           start_step: int | None = None, end_step: int | None = None) -> SampledHistory:
    """The M4 sample of ``arrays`` (sorted by step) restricted to the step range."""
    np = require_numpy()
    check_request(max_points, start_step, end_step)
    part = step_range(arrays, start_step, end_step)
    v = part.value
    counts = {"nan": int(np.isnan(v).sum()), "pos_inf": int(np.isposinf(v).sum()),
              "neg_inf": int(np.isneginf(v).sum())}
    common = {"key": arrays.key, "total": len(v), "max_points": max_points,
              "start_step": start_step, "end_step": end_step, **counts}
    if len(v) <= max_points:
        return SampledHistory(step=part.step, timestamp=part.timestamp, value=v, bucket_min=None,
                              bucket_max=None, sampled=False, **common)
    buckets = max_points // 4
    while True:
        keep, seg, low, high = _m4(part.step, v, buckets)
        if len(keep) <= max_points:
            break
        buckets = max(1, min(buckets - 1, buckets * max_points // len(keep)))
    return SampledHistory(step=part.step[keep], timestamp=part.timestamp[keep], value=v[keep],
                          bucket_min=low[seg[keep]], bucket_max=high[seg[keep]], sampled=True,
                          **common)


def _bucket_ids(np, x: np.ndarray, buckets: int) -> np.ndarray:
    """Bucket of each point: equal-width step ranges, or equal counts when every step is equal."""
    lo, hi = int(x[0]), int(x[-1])
    if hi == lo:
        return np.arange(len(x), dtype=np.int64) * buckets // len(x)
    span = hi - lo + 1
    if span * buckets < 2**62:  # exact: floor((step - lo) * buckets / span)
        return (x - lo) * buckets // span
    return np.minimum(((x - lo) / (span / buckets)).astype(np.int64), buckets - 1)


def _first_per_segment(np, mask: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Index of the first True of ``mask`` in each segment that has one."""
    where = np.flatnonzero(mask)
    if len(where) == 0:
        return where
    s = seg[where]
    return where[np.concatenate(([True], s[1:] != s[:-1]))]


def _m4(x: np.ndarray, v: np.ndarray, buckets: int
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(indices kept, segment of every point, finite min and max per segment)."""
    np = require_numpy()
    n = len(v)
    ids = _bucket_ids(np, x, buckets)
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    ends = np.append(starts[1:], n) - 1
    seg = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))
    finite = np.isfinite(v)
    low = np.minimum.reduceat(np.where(finite, v, np.inf), starts)
    high = np.maximum.reduceat(np.where(finite, v, -np.inf), starts)
    keep = np.unique(np.concatenate((
        starts, ends,
        _first_per_segment(np, finite & (v == low[seg]), seg),
        _first_per_segment(np, finite & (v == high[seg]), seg),
        _first_per_segment(np, np.isnan(v), seg),
        _first_per_segment(np, np.isposinf(v), seg),
        _first_per_segment(np, np.isneginf(v), seg),
    )))
    no_finite = np.isinf(low)  # a bucket of NaN/inf only
    low[no_finite] = np.nan
    high[no_finite] = np.nan
    return keep, seg, low, high
