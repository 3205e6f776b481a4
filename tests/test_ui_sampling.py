"""M4 sampling (trackbridge.sampling): spikes survive, limits hold, ranges cut, NaN/inf kept.

Expected answers come from a plain-Python reference written from the definition (bucket =
floor((step - first) * B / (last - first + 1)); keep each bucket's first, last, finite min
and max, first NaN / +inf / -inf), not from the code under test.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from trackbridge import sampling
from trackbridge.errors import ValidationError
from trackbridge.metric_arrays import MetricArrays, ordered
from trackbridge.sampling import MAX_MAX_POINTS, MIN_MAX_POINTS, sample


def arrays(steps, values, timestamps=None):
    timestamps = timestamps if timestamps is not None else [1_000 + s for s in steps]
    return MetricArrays("m", np.array(steps, np.int64), np.array(timestamps, np.int64),
                        np.array(values, np.float64))


def reference_keep(steps, values, buckets):
    """Indices the definition keeps (no reduction of the bucket count)."""
    lo, hi = steps[0], steps[-1]
    if hi == lo:
        bucket_of = [i * buckets // len(steps) for i in range(len(steps))]
    else:
        bucket_of = [(s - lo) * buckets // (hi - lo + 1) for s in steps]
    groups: dict[int, list[int]] = {}
    for i, b in enumerate(bucket_of):
        groups.setdefault(b, []).append(i)
    keep = set()
    for members in groups.values():
        keep |= {members[0], members[-1]}
        finite = [i for i in members if math.isfinite(values[i])]
        if finite:
            keep.add(min(finite, key=lambda i: (values[i], i)))
            keep.add(max(finite, key=lambda i: (values[i], -i)))
        for test in (math.isnan, lambda v: v == math.inf, lambda v: v == -math.inf):
            odd = [i for i in members if test(values[i])]
            if odd:
                keep.add(odd[0])
    return sorted(keep)


def test_a_spike_between_evenly_spaced_steps_survives_a_million_points():
    n = 1_000_000
    rng = np.random.default_rng(7)
    values = 0.5 + 0.01 * rng.standard_normal(n)
    values[777_777] = 100.0  # one step: MLflow's 320 evenly spaced steps would skip it
    values[123_457] = -30.0
    out = sample(MetricArrays("loss", np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64),
                              values), max_points=2000)
    assert out.sampled and out.total == n and len(out.value) <= 2000
    kept = dict(zip(out.step.tolist(), out.value.tolist()))
    assert kept[777_777] == 100.0 and kept[123_457] == -30.0
    assert out.value.max() == 100.0 and out.value.min() == -30.0
    assert np.all(np.diff(out.step) > 0)


@pytest.mark.parametrize("block", [None, 37])  # 37: the min/max search in many small blocks
@pytest.mark.parametrize("seed", range(6))
def test_matches_the_definition_on_random_series(seed, block, monkeypatch):
    if block is not None:
        monkeypatch.setattr(sampling, "BLOCK", block)
    rnd = random.Random(seed)
    steps = sorted(rnd.sample(range(50_000), rnd.randint(500, 3000)))
    values = [rnd.gauss(0, 1) for _ in steps]
    for _ in range(rnd.randint(0, 5)):  # a few non-finite values
        values[rnd.randrange(len(values))] = rnd.choice([math.nan, math.inf, -math.inf])
    max_points = rnd.choice([40, 100, 400])
    out = sample(arrays(steps, values), max_points=max_points)
    expected = reference_keep(steps, values, max_points // 4)
    if len(expected) <= max_points:  # else the sampler used fewer buckets: see the next test
        assert out.step.tolist() == [steps[i] for i in expected]
        got, want = out.value.tolist(), [values[i] for i in expected]
        assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(got, want))
    assert len(out.value) <= max_points
    finite = [v for v in values if math.isfinite(v)]
    assert min(finite) in out.value.tolist() and max(finite) in out.value.tolist()


def test_many_non_finite_points_still_fit_max_points_and_are_counted():
    n = 20_000
    values = [math.nan if i % 3 == 0 else (math.inf if i % 3 == 1 else float(i)) for i in range(n)]
    values[5] = -math.inf
    out = sample(arrays(list(range(n)), values), max_points=64)
    assert len(out.value) <= 64
    assert (out.nan, out.pos_inf, out.neg_inf) == (sum(1 for i in range(n) if i % 3 == 0),
                                                 sum(1 for i in range(n) if i % 3 == 1), 1)
    assert np.isnan(out.value).any() and np.isposinf(out.value).any() and np.isneginf(out.value).any()
    assert float(max(v for v in values if math.isfinite(v))) in out.value.tolist()


def test_short_series_are_returned_whole_and_unsampled():
    steps, values = [0, 1, 2, 5], [0.1, math.nan, math.inf, 0.4]
    out = sample(arrays(steps, values), max_points=8)
    assert not out.sampled and out.bucket_min is None and out.total == 4
    assert out.step.tolist() == steps and out.nan == 1 and out.pos_inf == 1


def test_step_range_cuts_and_resamples_at_full_resolution():
    n = 100_000
    values = [float(i % 1000) for i in range(n)]
    values[50_123] = 5_000.0
    whole = arrays(list(range(n)), values)
    part = sample(whole, max_points=200, start_step=50_000, end_step=50_999)
    assert part.total == 1000 and part.sampled
    assert part.step.min() >= 50_000 and part.step.max() <= 50_999
    assert 5_000.0 in part.value.tolist()
    exact = sample(whole, max_points=2000, start_step=50_100, end_step=50_150)
    assert not exact.sampled and exact.step.tolist() == list(range(50_100, 50_151))


def test_bucket_min_and_max_describe_the_bucket_of_each_point():
    steps = list(range(1000))
    values = [float((i * 37) % 101) for i in steps]
    out = sample(arrays(steps, values), max_points=40)  # 10 buckets of 100 steps
    for step, low, high in zip(out.step.tolist(), out.bucket_min.tolist(), out.bucket_max.tolist()):
        bucket = step // 100
        members = values[bucket * 100:(bucket + 1) * 100]
        assert (low, high) == (min(members), max(members))


def test_equal_steps_are_bucketed_by_position():
    values = [0.0] * 10_000
    values[6_789] = 9.0
    out = sample(arrays([0] * 10_000, values, timestamps=list(range(10_000))), max_points=100)
    assert len(out.value) <= 100 and 9.0 in out.value.tolist()
    assert out.timestamp.tolist() == sorted(out.timestamp.tolist())


@pytest.mark.parametrize("kwargs, word", [
    ({"max_points": MIN_MAX_POINTS - 1}, "max_points=7"),
    ({"max_points": MAX_MAX_POINTS + 1}, f"max_points={MAX_MAX_POINTS + 1}"),
    ({"start_step": -1}, "start_step=-1"),
    ({"start_step": 10, "end_step": 9}, "start_step=10 is after end_step=9"),
])
def test_bad_requests_name_the_value(kwargs, word):
    with pytest.raises(ValidationError, match=word):
        sample(arrays([0, 1], [0.0, 1.0]), **{"max_points": 100, **kwargs})


def test_ordered_sorts_by_step_then_timestamp_keeping_logged_order_on_ties():
    a = arrays([3, 1, 1, 2], [30.0, 10.0, 11.0, 20.0], timestamps=[5, 7, 7, 1])
    got = ordered(a)
    assert got.step.tolist() == [1, 1, 2, 3] and got.value.tolist() == [10.0, 11.0, 20.0, 30.0]
