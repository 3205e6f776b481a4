"""Columnar metric reads: ``tb.get_metric_history(..., as_arrays=True)``, the Backend default
built on ``get_metric_history``, and the local store's decoding of its chunks."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import trackbridge as tb
from trackbridge.backend import Backend
from trackbridge.local.store import LocalBackend
from trackbridge.metric_arrays import MetricArrays


def same(arrays: MetricArrays, metrics) -> bool:
    values = [m.value for m in metrics]
    return (arrays.step.tolist() == [m.step for m in metrics]
            and arrays.timestamp.tolist() == [m.timestamp for m in metrics]
            and all((math.isnan(a) and math.isnan(b)) or a == b
                    for a, b in zip(arrays.value.tolist(), values, strict=True)))


def test_as_arrays_equals_the_metric_list_for_mixed_flushes_and_out_of_order_steps(store):
    with tb.start_run(experiment="arr", config=store) as run:
        for step in (5, 1, 3):  # out of order, in separate flushes
            run.log_metrics({"loss": step / 10, "acc": -step}, step=step)
            run.flush()
        run.log_metric("loss", math.nan, step=2, timestamp=7)
        run.log_metric("loss", math.inf, step=2, timestamp=7)  # a tie: logged order kept
        run.log_metric("loss", -math.inf, step=9)
    history = tb.get_metric_history(run.id, "loss", config=store)
    arrays = tb.get_metric_history(run.id, "loss", config=store, as_arrays=True)
    assert isinstance(arrays, MetricArrays) and len(arrays) == len(history) == 6
    assert arrays.step.dtype == np.int64 and arrays.value.dtype == np.float64
    assert same(arrays, history)
    assert arrays.step.tolist() == [1, 2, 2, 3, 5, 9]
    assert math.isnan(arrays.value[1]) and arrays.value[2] == math.inf
    assert len(tb.get_metric_history(run.id, "nope", config=store, as_arrays=True)) == 0


def test_the_backend_default_builds_the_same_arrays_from_get_metric_history(store, tmp_path):
    with tb.start_run(experiment="arr", config=store) as run:
        for step in range(300):
            run.log_metrics({"a": math.sin(step), "b": step}, step=step % 7)
    local = LocalBackend(store["local"]["path"])
    fast = local.get_metric_arrays(run.id, "a")
    default = Backend.get_metric_arrays(local, run.id, "a")  # the base class's method
    assert same(fast, local.get_metric_history(run.id, "a"))
    assert same(default, local.get_metric_history(run.id, "a"))
    via_default = Backend.sample_metric_history(local, run.id, "a", max_points=20)
    direct = local.sample_metric_history(run.id, "a", max_points=20)
    assert via_default.step.tolist() == direct.step.tolist() and via_default.total == 300


def test_without_numpy_the_error_names_what_to_install(tmp_path):
    code = ("import sys; sys.modules['numpy'] = None\n"
            "from trackbridge.metric_arrays import require_numpy\n"
            "try:\n    require_numpy()\nexcept Exception as e:\n    print(type(e).__name__, e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ("TrackbridgeError columnar metric reads need numpy: "
                                  'pip install numpy (or "trackbridge[ui]")')


def test_import_trackbridge_loads_neither_numpy_nor_the_ui_stack():
    code = ("import sys, trackbridge, trackbridge.cli\n"
            "print(sorted(m for m in ('numpy', 'starlette', 'uvicorn', 'jinja2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("n", [0, 1, 50_001])
def test_chunk_decoding_handles_empty_single_and_multi_chunk_series(store, n):
    with tb.start_run(experiment="arr", config=store) as run:
        for step in range(n):
            run.log_metric("x", float(step), step=step)
        run.log_metric("other", 1.0)
    arrays = tb.get_metric_history(run.id, "x", config=store, as_arrays=True)
    assert arrays.step.tolist() == list(range(n)) and arrays.value.sum() == sum(range(n))


def test_several_keys_in_one_pass_equal_one_key_at_a_time(store):
    with tb.start_run(experiment="arr", config=store) as run:
        for step in range(500):
            run.log_metrics({f"k{i}": step * i + 0.5 for i in range(5)}, step=step)
            if step % 100 == 0:
                run.flush()
    local = LocalBackend(store["local"]["path"])
    together = local.get_metric_arrays_of(run.id, ["k0", "k3", "nope"])
    for key in ("k0", "k3", "nope"):  # against the row-by-row decoding of get_metric_history
        assert same(together[key], local.get_metric_history(run.id, key))
    assert len(together["k3"]) == 500 and local.get_metric_arrays_of(run.id, []) == {}


def test_summaries_read_a_chunk_at_a_time_agree_with_the_history(store):
    with tb.start_run(experiment="arr", config=store) as run:
        for step in (9, 3, 7, 1):  # out of order, each its own flush, keys mixed in a chunk
            run.log_metrics({"a": step / 2, "b": -step}, step=step)
            run.flush()
        run.log_metric("a", math.nan, step=4)
        run.log_metric("a", math.inf, step=12)
        run.log_metric("only_odd", -math.inf, step=2)
    local = LocalBackend(store["local"]["path"])
    found = local.metric_summaries(run.id, ["a", "b", "only_odd", "nope"])
    for key in ("a", "b", "only_odd", "nope"):  # a reference from get_metric_history
        points = local.get_metric_history(run.id, key)
        finite = [p.value for p in points if math.isfinite(p.value)]
        assert tuple(found[key]) == (
            len(points), min(finite) if finite else None, max(finite) if finite else None,
            max((p.step for p in points), default=None),
            sum(not math.isfinite(p.value) for p in points)), key
    assert local.metric_summaries(run.id, []) == {}


def test_the_run_page_summarises_without_keeping_any_run_columns(store, monkeypatch):
    from starlette.testclient import TestClient

    from trackbridge.ui.app import create_app

    with tb.start_run(experiment="arr", config=store) as run:
        for step in range(2000):
            run.log_metrics({f"k{i}": step * i for i in range(5)}, step=step)
    app = create_app(LocalBackend(store["local"]["path"]))
    series = app.state.ui._series
    reads = []
    real = series.store.metric_summaries
    monkeypatch.setattr(series.store, "metric_summaries",
                        lambda run_id, keys: reads.append(list(keys)) or real(run_id, keys))
    with TestClient(app, base_url="http://127.0.0.1:5005") as client:
        page = client.get(f"/api/runs/{run.id}").json()
        assert [(m["key"], m["count"], m["max"]) for m in page["metrics"]] == [
            (f"k{i}", 2000, 1999.0 * i) for i in range(5)]
        assert series._entries == {} and series._bytes == 0  # nothing decoded and kept
        client.get(f"/api/runs/{run.id}")
        assert reads == [[f"k{i}" for i in range(5)]]  # the second view: from the cache
