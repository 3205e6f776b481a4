"""The core packs batches to a backend's limits, in the fewest requests, order kept."""

from __future__ import annotations

import json
import math
import random

import pytest

from trackbridge.batching import pack
from trackbridge.entities import Limits, Metric, Param, RunTag

MLFLOW = Limits()  # 1000 metrics / 100 params / 100 tags / 1000 entities / 1 MB
AZURE = Limits(max_metrics_per_batch=250, max_entities_per_batch=250)


def make(n_metrics: int, n_params: int = 0, n_tags: int = 0, key_len: int = 4):
    metrics = [Metric(f"m{i % 7}".ljust(key_len, "x"), i * 0.5, 1_700_000_000_000 + i, i)
               for i in range(n_metrics)]
    params = [Param(f"p{i}", f"v{i}") for i in range(n_params)]
    tags = [RunTag(f"t{i}", f"v{i}") for i in range(n_tags)]
    return metrics, params, tags


def body_size(run_id, batch) -> int:
    """The real JSON body an MLflow client would send for this batch."""
    return len(json.dumps({
        "run_id": run_id,
        "metrics": [m._asdict() for m in batch.metrics],
        "params": [p._asdict() for p in batch.params],
        "tags": [t._asdict() for t in batch.tags],
    }).encode())


def lower_bound(nm, np_, nt, limits):
    return max(math.ceil(nm / limits.max_metrics_per_batch), math.ceil(np_ / limits.max_params_per_batch),
               math.ceil(nt / limits.max_tags_per_batch),
               math.ceil((nm + np_ + nt) / limits.max_entities_per_batch))


@pytest.mark.parametrize(("limits", "n_metrics", "n_params", "n_tags", "expected"), [
    (MLFLOW, 2500, 150, 0, 3),
    (MLFLOW, 100_000, 0, 0, 100),
    (MLFLOW, 1000, 0, 0, 1),
    (MLFLOW, 1001, 0, 0, 2),
    (MLFLOW, 0, 250, 0, 3),
    (MLFLOW, 0, 100, 100, 1),
    (MLFLOW, 900, 100, 0, 1),
    (MLFLOW, 901, 100, 0, 2),
    (MLFLOW, 0, 0, 0, 0),
    (AZURE, 1000, 0, 0, 4),
    (AZURE, 100_000, 0, 0, 400),
    (AZURE, 1000, 100, 50, 5),
])
def test_minimal_number_of_batches(limits, n_metrics, n_params, n_tags, expected):
    metrics, params, tags = make(n_metrics, n_params, n_tags)
    batches = list(pack(metrics, params, tags, limits))
    assert len(batches) == expected == lower_bound(n_metrics, n_params, n_tags, limits)
    for batch in batches:
        assert len(batch.metrics) <= limits.max_metrics_per_batch
        assert len(batch.params) <= limits.max_params_per_batch
        assert len(batch.tags) <= limits.max_tags_per_batch
        assert len(batch.metrics) + len(batch.params) + len(batch.tags) <= limits.max_entities_per_batch
    assert [m for b in batches for m in b.metrics] == metrics  # order kept, nothing lost
    assert [p for b in batches for p in b.params] == params
    assert [t for b in batches for t in b.tags] == tags


def test_byte_limit_is_respected_with_real_json():
    limits = Limits(max_batch_bytes=20_000)
    metrics, _, _ = make(3000, key_len=240)
    params = [Param(f"p{i}", "é" * 3000) for i in range(20)]  # non-ASCII escapes grow in JSON
    batches = list(pack(metrics, params, [], limits))
    assert len(batches) > 3
    for batch in batches:
        assert body_size("0" * 32, batch) <= 20_000
    assert [m for b in batches for m in b.metrics] == metrics


def test_a_single_entity_larger_than_the_byte_limit_still_goes_alone():
    limits = Limits(max_batch_bytes=1000)
    params = [Param("big", "x" * 5000), Param("small", "y")]
    batches = list(pack([], params, [], limits))
    assert [b.params for b in batches] == [[params[0]], [params[1]]]


def test_random_inputs_never_exceed_limits():
    rng = random.Random(1234)
    for _ in range(200):
        limits = Limits(
            max_metrics_per_batch=rng.randint(1, 50), max_params_per_batch=rng.randint(1, 10),
            max_tags_per_batch=rng.randint(1, 10), max_entities_per_batch=rng.randint(20, 60),
            max_batch_bytes=rng.choice([None, 3000, 10_000]),
        )
        metrics, params, tags = make(rng.randint(0, 300), rng.randint(0, 30), rng.randint(0, 30))
        batches = list(pack(metrics, params, tags, limits))
        for b in batches:
            assert 0 < len(b.metrics) + len(b.params) + len(b.tags) <= limits.max_entities_per_batch
            assert len(b.metrics) <= limits.max_metrics_per_batch
            assert len(b.params) <= limits.max_params_per_batch
            assert len(b.tags) <= limits.max_tags_per_batch
            if limits.max_batch_bytes:
                assert body_size("0" * 32, b) <= limits.max_batch_bytes
        assert [m for b in batches for m in b.metrics] == metrics
        assert [p for b in batches for p in b.params] == params
        assert [t for b in batches for t in b.tags] == tags
        if limits.max_batch_bytes is None:
            assert len(batches) == lower_bound(len(metrics), len(params), len(tags), limits)
