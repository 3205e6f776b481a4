"""The UI's read caches of the local store never show stale data: a commit by any process
invalidates the runs, a new chunk invalidates a series, a RUNNING run is always re-read."""

from __future__ import annotations

import math

import pytest

import trackbridge as tb
from trackbridge.errors import ValidationError
from trackbridge.local.store import LocalBackend
from trackbridge.ui.caches import RunCache, SeriesCache


def test_runs_are_reread_after_any_commit_and_never_cached_while_running(store):
    with tb.start_run(experiment="c", run_name="one", config=store) as first:
        first.log_metric("m", 1.0)
    backend = LocalBackend(store["local"]["path"])
    cache = RunCache(backend)
    exp = backend.get_experiment("c").id
    assert [r.name for r in cache.search(exp)] == ["one"]
    assert cache.search(exp)[0] is cache.search(exp)[0]  # unchanged store: the same objects
    with tb.start_run(experiment="c", run_name="two", config=store) as second:
        assert {r.name: r.status for r in cache.search(exp)} == {"one": "FINISHED", "two": "RUNNING"}
        second.set_tag("t", "1")
        second.flush()
        assert cache.search(exp, "tags.t = '1'")[0].name == "two"
    assert {r.name: r.status for r in cache.search(exp)}["two"] == "FINISHED"
    assert [r.name for r in cache.search(exp, "attributes.run_name = 'one'")] == ["one"]


FILTERS = [
    None, "metrics.acc > 0.5", "metrics.loss >= 0.5 and params.depth = '2'", "params.lr != '0.1'",
    "tags.team LIKE 'm%'", "tags.team = 'cv' and attributes.run_name != 'r0'",
    "metrics.nope < 1", "attributes.status = 'FINISHED'", "params.`depth` IN ('1', '3')",
    "metrics.loss != 0.25",
]


@pytest.fixture
def many(store):
    for i in range(6):
        with tb.start_run(experiment="f", run_name=f"r{i}", config=store,
                          tags={"team": "ml" if i % 2 else "cv"}) as run:
            run.log_params({"depth": i % 4, **({"lr": 0.1 * (i % 3)} if i != 4 else {})})
            run.log_metrics({"acc": i / 5, "loss": math.nan if i == 3 else 1 - i / 4})
    backend = LocalBackend(store["local"]["path"])
    return backend, backend.get_experiment("f").id


@pytest.mark.parametrize("where", FILTERS)
def test_search_reading_only_the_filters_keys_matches_the_stores_search(many, where):
    backend, exp = many
    cache = RunCache(backend)
    expected = [r.id for r in backend.search_runs([exp], where)]
    assert [r.id for r in cache.search(exp, where)] == expected
    assert all(r.params == r.metrics == r.tags == {} for r in cache.search(exp, where))
    assert [r.id for r in cache.whole(cache.search(exp, where))] == expected


def test_a_bad_filter_is_the_cores_error(many):
    backend, exp = many
    with pytest.raises(ValidationError, match="bad operator"):
        RunCache(backend).search(exp, "metrics.acc >> 1")


def test_values_and_keys_are_reused_until_a_commit(many, store):
    backend, exp = many
    cache = RunCache(backend)
    acc = cache.values(exp, "metrics", "acc")
    assert cache.values(exp, "metrics", "acc") is acc and len(acc) == 6
    assert cache.keys(exp) is cache.keys(exp)
    with tb.start_run(experiment="f", run_name="new", config=store) as run:
        run.log_metric("acc", 7.0)
        run.log_param("fresh", 1)
    assert cache.values(exp, "metrics", "acc")[run.id] == 7.0
    assert "fresh" in cache.keys(exp)["params"]


def test_a_series_is_reread_when_the_key_gets_a_new_chunk(store):
    with tb.start_run(experiment="c", config=store) as run:
        run.log_metric("m", 1.0, step=0)
        run.flush()
        backend = LocalBackend(store["local"]["path"])
        cache = SeriesCache(backend)
        first = cache.arrays(run.id, "m")
        assert cache.arrays(run.id, "m") is first
        run.log_metric("other", 5.0)
        run.flush()
        assert cache.arrays(run.id, "m") is first  # another key's chunk: still current
        run.log_metric("m", 2.0, step=1)
        run.flush()
        assert cache.arrays(run.id, "m").value.tolist() == [1.0, 2.0]


def test_the_series_cache_stays_within_its_byte_budget(store):
    with tb.start_run(experiment="c", config=store) as run:
        for step in range(1000):
            run.log_metrics({"a": 1.0, "b": 2.0, "c": 3.0}, step=step)
    cache = SeriesCache(LocalBackend(store["local"]["path"]), max_bytes=2 * 24_000)
    for key in ("a", "b", "c"):
        assert len(cache.arrays(run.id, key)) == 1000
    assert cache._bytes <= 2 * 24_000 and list(k for _, k in cache._entries) == ["b", "c"]
