"""The buffered hot path: background flushing, backpressure, errors never swallowed."""

from __future__ import annotations

import threading
import time

import pytest

import trackbridge as tb
from trackbridge.errors import StoreError, TrackbridgeError
from trackbridge.local.store import LocalBackend


def test_background_flush_without_explicit_flush(store):
    store["local"]["flush_interval"] = 0.05
    with tb.start_run(config=store) as run:
        run.log_metric("m", 1.0)
        reader = LocalBackend(store["local"]["path"])  # another connection: sees only what's stored
        deadline = time.monotonic() + 5
        while not reader.get_metric_history(run.id, "m") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [p.value for p in reader.get_metric_history(run.id, "m")] == [1.0]


def test_flush_makes_points_durable_immediately(store):
    store["local"]["flush_interval"] = 3600
    with tb.start_run(config=store) as run:
        for i in range(10):
            run.log_metric("m", float(i), step=i)
        reader = LocalBackend(store["local"]["path"])
        assert reader.get_metric_history(run.id, "m") == []
        run.flush()
        assert len(reader.get_metric_history(run.id, "m")) == 10


def test_bounded_buffer_blocks_instead_of_dropping(store):
    store["local"].update(buffer_size=100, flush_interval=3600)
    with tb.start_run(config=store) as run:
        for i in range(1050):
            run.log_metric("m", float(i), step=i)
            assert len(run._writer.points) <= 4 * 100  # never more buffered than the bound
    history = tb.get_metric_history(run.id, "m", config=store)
    assert [p.step for p in history] == list(range(1050))


class FlakyBackend(LocalBackend):
    """Fails the first ``failures`` writes, like a full disk that is then freed."""

    failures = 0

    def _fail(self):
        if self.failures:
            self.failures -= 1
            raise StoreError("disk full (simulated)")

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        self._fail()
        super().log_batch(run_id, metrics, params, tags)

    def append(self, run_id, flat, params=(), tags=(), **kwargs):
        self._fail()
        return super().append(run_id, flat, params, tags, **kwargs)


def _run_on(backend: LocalBackend, flush_interval: float = 3600, journal: bool = False):
    from trackbridge.run import ActiveRun
    from trackbridge.sinks import BackendSink, JournalSink
    from trackbridge.writer import RunWriter

    exp = backend.get_or_create_experiment("flaky")
    info = backend.create_run(exp.id, run_name="r", start_time=0, tags={})
    sink = JournalSink(backend) if journal else BackendSink(backend)
    writer = RunWriter(sink, info.id, flush_interval=flush_interval, buffer_size=10_000,
                       batch_size=1000)
    return ActiveRun(info, backend, writer)


@pytest.mark.parametrize("journal", [True, False], ids=["journal", "backend"])
def test_failed_write_is_raised_and_the_data_is_kept(tmp_path, journal):
    backend = FlakyBackend(tmp_path)
    run = _run_on(backend, journal=journal)
    run.log_metric("m", 1.0, step=0)
    run.log_param("p", "v")
    backend.failures = 1
    with pytest.raises(StoreError, match="disk full"):
        run.flush()
    run.log_metric("m", 2.0, step=1)
    run.flush()  # the disk is back: everything lands, in order
    run.end()
    assert [(p.step, p.value) for p in backend.get_metric_history(run.id, "m")] == [(0, 1.0), (1, 2.0)]
    assert backend.get_run(run.id).params == {"p": "v"}


def test_background_error_is_raised_on_the_next_call(tmp_path):
    backend = FlakyBackend(tmp_path)
    run = _run_on(backend, flush_interval=0.02, journal=True)
    backend.failures = 1
    run.log_metric("m", 1.0)
    deadline = time.monotonic() + 5
    while run._writer.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(StoreError, match="disk full"):
        run.log_metric("m", 2.0, step=1)
    run.end()  # the failed point was kept, so was the one whose call raised: both written
    assert [p.value for p in backend.get_metric_history(run.id, "m")] == [1.0, 2.0]


def test_unexpected_background_exception_is_wrapped_with_context(tmp_path):
    class Broken(LocalBackend):
        def log_batch(self, *args, **kwargs):
            raise RuntimeError("boom")

    backend = Broken(tmp_path)
    run = _run_on(backend)
    run.log_metric("m", 1.0)
    with pytest.raises(TrackbridgeError, match=f"writing run {run.id}.*boom.*still buffered"):
        run.flush()
    assert run._writer.points == ["m", 1.0, run._writer.points[2], 0]
    with pytest.raises(TrackbridgeError):
        run.end()
    assert backend.get_run(run.id).status == "FAILED"


def test_many_threads_logging_to_one_run(store):
    with tb.start_run(config=store) as run:
        def worker(k):
            for i in range(2000):
                run.log_metric(f"t{k}", float(i), step=i)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for k in range(4):
        history = tb.get_metric_history(run.id, f"t{k}", config=store)
        assert [p.step for p in history] == list(range(2000))


def test_chunks_of_both_timestamp_layouts_read_back_as_whole_ms(tmp_path):
    """Chunks written by trackbridge 0.1 (int64 ms) and now (float64 ms from the clock) are
    read back alike: whole ms, logged order kept, nothing lost across the schema migration."""
    import json
    import struct

    store = LocalBackend(tmp_path)
    exp = store.get_or_create_experiment("x")
    run = store.create_run(exp.id, run_name="r", start_time=0, tags={})
    with store.transaction() as conn:  # a chunk as trackbridge 0.1 wrote it
        pk = conn.execute("SELECT run_pk FROM runs WHERE run_id = ?", (run.id,)).fetchone()[0]
        cur = conn.execute(
            "INSERT INTO metric_chunks(run_pk, n, keys, key_index, vals, timestamps, steps) "
            "VALUES (?, 2, ?, NULL, ?, ?, ?)",
            (pk, json.dumps(["m"]), struct.pack("<2d", 1.0, 2.0),
             struct.pack("<2q", 1_700_000_000_001, 1_700_000_000_002), struct.pack("<2q", 0, 1)))
        conn.execute("INSERT INTO metric_chunk_keys VALUES (?, 'm', ?)", (pk, cur.lastrowid))
    store.append(run.id, ["m", 3.0, 1_700_000_000_003.75, 2, "m", 4.0, 1_700_000_000_004, 3])
    history = store.get_metric_history(run.id, "m")
    assert [(p.value, p.timestamp, p.step) for p in history] == [
        (1.0, 1_700_000_000_001, 0), (2.0, 1_700_000_000_002, 1),
        (3.0, 1_700_000_000_003, 2), (4.0, 1_700_000_000_004, 3)]
    assert all(type(p.timestamp) is int for p in history)
    arrays = store.get_metric_arrays(run.id, "m")  # the columnar read (blob I/O) agrees
    assert arrays.timestamp.tolist() == [p.timestamp for p in history]
    assert arrays.value.tolist() == [1.0, 2.0, 3.0, 4.0] and arrays.step.tolist() == [0, 1, 2, 3]
    points, end = store.points_since(run.id, 1)
    assert end == 4 and [p.timestamp for p in points] == [1_700_000_000_002, 1_700_000_000_003,
                                                         1_700_000_000_004]
    assert store.get_run(run.id).metrics == {"m": 4.0}
