"""The UI's read caches of the local store never show stale data: a commit by any process
invalidates the runs, a new chunk invalidates a series, a RUNNING run is always re-read."""

from __future__ import annotations

import trackbridge as tb
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
