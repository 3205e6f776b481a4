"""The local store's reads of many runs at once, as a table of 10,000 runs uses them: headers
without details, the values of chosen keys, the key names, whole runs by id. Each must agree
with what ``search_runs`` / ``get_run`` say of the same runs."""

from __future__ import annotations

import math

import pytest

import trackbridge as tb
from trackbridge.local import store as store_module
from trackbridge.local.store import LocalBackend


def comparable(run):
    """``run`` with NaN metrics as a string (NaN equals nothing, not even itself)."""
    return run._replace(metrics={k: "NaN" if math.isnan(v) else v for k, v in run.metrics.items()})


@pytest.fixture
def runs(store):
    """Five runs of "many" (params, metrics with a NaN, tags, a child) and one elsewhere."""
    ids = []
    for i in range(4):
        with tb.start_run(experiment="many", run_name=f"r{i}", config=store,
                          tags={"team": "ml" if i % 2 else "cv"}) as run:
            run.log_params({"depth": i, **({"lr": 0.1 * i} if i else {})})
            run.log_metrics({"acc": i / 4, "loss": math.nan if i == 2 else 1 - i / 4}, step=i)
            if i == 3:
                with tb.start_run(run_name="child", nested=True, config=store) as child:
                    child.log_metric("acc", 0.99)
                ids.append(child.id)
        ids.append(run.id)
    with tb.start_run(experiment="other", config=store) as other:
        other.log_param("elsewhere", 1)
    backend = LocalBackend(store["local"]["path"])
    return backend, backend.get_experiment("many").id, ids


def test_headers_are_search_runs_without_details_in_the_same_order(runs):
    backend, exp, ids = runs
    whole = list(backend.search_runs([exp]))
    headers = backend.run_headers(exp)
    assert [h.id for h in headers] == [r.id for r in whole] and sorted(ids) == sorted(
        h.id for h in headers)
    for header, run in zip(headers, whole):
        assert header == run._replace(params={}, metrics={}, tags={})
    assert {h.name: h.parent_run_id for h in headers}["child"] == \
        next(r.id for r in whole if r.name == "r3")


def test_values_of_keys_are_those_of_the_whole_runs(runs):
    backend, exp, _ = runs
    whole = list(backend.search_runs([exp]))
    for entity, key in [("params", "lr"), ("params", "depth"), ("metrics", "loss"),
                        ("metrics", "acc"), ("tags", "team"), ("tags", "nope")]:
        expected = {r.id: getattr(r, entity)[key] for r in whole if key in getattr(r, entity)}
        found = backend.run_values(exp, entity, [key])[key]
        assert found.keys() == expected.keys(), (entity, key)
        for run_id, value in expected.items():
            assert value == found[run_id] or (math.isnan(value) and math.isnan(found[run_id]))
    assert sum(math.isnan(v) for v in backend.run_values(exp, "metrics", ["loss"])["loss"].values()) == 1
    both = backend.run_values(exp, "params", ["lr", "depth"])
    assert set(both) == {"lr", "depth"} and len(both["depth"]) == 4 and len(both["lr"]) == 3


def test_keys_are_the_sorted_union_over_the_experiments_runs_only(runs):
    backend, exp, _ = runs
    whole = list(backend.search_runs([exp]))
    keys = backend.run_keys(exp)
    for entity in ("params", "metrics", "tags"):
        assert keys[entity] == sorted(set().union(*(getattr(r, entity) for r in whole)))
    assert "elsewhere" not in keys["params"]


def test_whole_runs_by_id_in_the_order_asked_unknown_ids_left_out(runs, monkeypatch):
    backend, _, ids = runs
    monkeypatch.setattr(store_module, "IDS_PER_QUERY", 2)  # several queries for five ids
    asked = [ids[3], "not-a-run", ids[0], ids[4], ids[1], ids[2]]
    assert [comparable(r) for r in backend.get_runs(asked)] == [
        comparable(backend.get_run(i)) for i in asked if i != "not-a-run"]
    assert backend.get_runs([]) == []
