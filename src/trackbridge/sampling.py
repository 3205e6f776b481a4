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
MAX_STEP = 2**63 - 1


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
        if value is not None and not 0 <= value <= MAX_STEP:
            raise ValidationError(f"{name}={value} is out of range: steps are 0 to {MAX_STEP} "
                                  "(64-bit, as MLflow's)")
    if start_step is not None and end_step is not None and start_step > end_step:
        raise ValidationError(f"start_step={start_step} is after end_step={end_step}")


def sample(arrays: MetricArrays, max_points: int = DEFAULT_MAX_POINTS,
           start_step: int | None = None, end_step: int | None = None) -> SampledHistory:
    """The M4 sample of ``arrays`` (sorted by step) restricted to the step range."""
    np = require_numpy()
    check_request(max_points, start_step, end_step)
    part = step_range(arrays, start_step, end_step)
    v = part.value
    odd = None  # indices of the NaN, +inf and -inf points, when there are any
    # a finite sum proves every value finite without a temporary array (NaN and +/-inf
    # propagate); a sum that overflowed is checked point by point
    with np.errstate(over="ignore", invalid="ignore"):
        total = v.sum()
    if not np.isfinite(total) and not np.isfinite(v).all():
        odd = (np.flatnonzero(np.isnan(v)), np.flatnonzero(v == np.inf),
               np.flatnonzero(v == -np.inf))
    common = {"key": arrays.key, "total": len(v), "max_points": max_points,
              "start_step": start_step, "end_step": end_step,
              **dict(zip(("nan", "pos_inf", "neg_inf"), (len(i) for i in odd) if odd else (0, 0, 0)))}
    if len(v) <= max_points:
        return SampledHistory(step=part.step, timestamp=part.timestamp, value=v, bucket_min=None,
                              bucket_max=None, sampled=False, **common)
    buckets = max_points // 4
    while True:
        keep, starts, low, high = _m4(np, part.step, v, odd, buckets)
        if len(keep) <= max_points:
            break
        buckets = max(1, min(buckets - 1, buckets * max_points // len(keep)))
    bucket = np.searchsorted(starts, keep, "right") - 1
    return SampledHistory(step=part.step[keep], timestamp=part.timestamp[keep], value=v[keep],
                          bucket_min=low[bucket], bucket_max=high[bucket], sampled=True, **common)


def bucket_starts(np, x: np.ndarray, buckets: int) -> np.ndarray:
    """Index of the first point of each non-empty bucket. Bucket of a point: floor((step -
    first) * buckets / (last - first + 1)); by position when every step is equal. ``x`` is
    sorted, so each bucket is a slice and its start is found by binary search."""
    n, lo, hi = len(x), int(x[0]), int(x[-1])
    k = np.arange(buckets, dtype=np.int64)
    if hi == lo:  # first i with i * buckets // n >= k
        starts = (k * n + buckets - 1) // buckets
    else:
        span = hi - lo + 1
        if span * buckets < 2**62:  # first step s with (s - lo) * buckets // span >= k
            edges = lo + (k * span + buckets - 1) // buckets
        else:
            edges = lo + np.ceil(k * (span / buckets)).astype(np.int64)
        starts = np.searchsorted(x, edges, "left")
    return np.unique(starts[starts < n])


def _first_in_bucket(np, where: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Of the sorted indices ``where``, the first one falling in each bucket."""
    if len(where) == 0:
        return where
    bucket = np.searchsorted(starts, where, "right")
    return where[np.concatenate(([True], bucket[1:] != bucket[:-1]))]


#: Points compared at once when looking for each bucket's min and max: the temporaries stay
#: small and are reused (a 1M-point series made ~20 MB of them; a fresh server process paid
#: a page fault for each of their pages).
BLOCK = 1 << 16


def _first_equal(np, v: np.ndarray, target: np.ndarray, starts: np.ndarray,
                 sizes: np.ndarray) -> np.ndarray:
    """Per bucket, the first index whose value equals the bucket's ``target`` (its min or
    max; a bucket whose target is NaN has none), buckets taken a block of points at a time."""
    found, first, count = [], 0, len(starts)
    while first < count:
        last = max(int(np.searchsorted(starts, starts[first] + BLOCK, "left")), first + 1)
        lo = int(starts[first])
        hi = int(starts[last]) if last < count else len(v)
        hits = np.flatnonzero(v[lo:hi] == np.repeat(target[first:last], sizes[first:last])) + lo
        found.append(_first_in_bucket(np, hits, starts[first:last]))
        first = last
    return np.concatenate(found) if found else np.empty(0, np.int64)


def _m4(np, x: np.ndarray, v: np.ndarray, odd: tuple | None, buckets: int
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(indices kept, bucket starts, finite min and max per bucket: NaN for a bucket without
    a finite value). ``odd`` holds the NaN, +inf, -inf indices, or is None if there are none."""
    n = len(v)
    starts = bucket_starts(np, x, buckets)
    sizes = np.diff(np.append(starts, n))
    low = np.fmin.reduceat(v, starts)  # fmin/fmax skip NaN; an all-NaN bucket gives NaN
    high = np.fmax.reduceat(v, starts)
    if odd is not None:  # buckets holding an infinity: their finite min / max, one by one
        for b in np.flatnonzero(np.isinf(low) | np.isinf(high)):
            part = v[starts[b]:starts[b] + sizes[b]]
            finite = part[np.isfinite(part)]
            low[b], high[b] = (finite.min(), finite.max()) if len(finite) else (np.nan, np.nan)
    parts = [starts, starts + sizes - 1, _first_equal(np, v, low, starts, sizes),
             _first_equal(np, v, high, starts, sizes)]
    if odd is not None:
        parts += [_first_in_bucket(np, where, starts) for where in odd]
    return np.unique(np.concatenate(parts)), starts, low, high
