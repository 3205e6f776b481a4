"""Pipelined sync: up to ``max_in_flight`` metric batches of a run at once, the cursor over the
contiguous acknowledged prefix only, doubt settled by reconciliation, the fewest requests."""

from __future__ import annotations

import threading

import pytest
from test_sync_engine import Destination, assert_identical, log_run, plan_for

import trackbridge as tb
from trackbridge.errors import ConfigError
from trackbridge.sync import select_runs, sync
from trackbridge.sync.ledger import Ledger


class Concurrent(Destination):
    """Records how many log_batch calls overlap. ``barrier``: the first calls wait there for
    each other; ``hold[n]``: call n waits for that event; ``after(n)`` runs once call n applied."""

    def __init__(self, path):
        super().__init__(path)
        self.lock = threading.Lock()
        self.now = self.peak = self.calls = 0
        self.barrier: threading.Barrier | None = None
        self.hold: dict[int, threading.Event] = {}
        self.after = lambda number: None

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        with self.lock:
            self.calls += 1
            number = self.calls
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            if self.barrier is not None and number <= self.barrier.parties:
                self.barrier.wait()
            gate = self.hold.get(number)
            if gate is not None:
                assert gate.wait(30), f"call {number} was never released"
            super().log_batch(run_id, metrics, params, tags)
            self.after(number)
        finally:
            with self.lock:
                self.now -= 1


@pytest.fixture
def source(store):
    return store


@pytest.fixture
def dest(tmp_path):
    backend = Concurrent(tmp_path / "dest")
    yield backend
    backend.close()


@pytest.mark.parametrize("width", [1, 4])
def test_at_most_max_in_flight_batches_at_once_and_the_fewest_requests(source, dest, width):
    run = log_run(source, n_points=9500)  # + 150 params: 10 log-batch requests
    plan = plan_for(source, dest)
    plan.max_in_flight = width
    dest.barrier = threading.Barrier(width, timeout=30)  # broken unless `width` run together
    [report] = sync(plan, select_runs(plan.source))
    assert report.error is None and not report.reconciled
    assert dest.peak == width
    assert dest.writes.count("log_batch") == 10 == report.write_requests - 2
    assert_identical(plan.source, dest, run.id, report.remote_run_id)


def test_the_cursor_never_passes_a_batch_still_in_flight(source, dest):
    """Batch 1 is held until batch 2 has landed: meanwhile the ledger keeps the cursor before
    batch 1 and stays in doubt; once batch 1 lands the cursor moves past both."""
    run = log_run(source, n_points=4000, keys=("loss",))
    plan = plan_for(source, dest)
    plan.max_in_flight = 2
    ledger = Ledger.of(plan.ledger_store, dest)
    release = dest.hold[1] = threading.Event()
    seen = {}

    def peek_then_release(number):
        if number == 2:  # batch 2 landed while batch 1 is held back
            threading.Timer(0.3, release.set).start()  # the engine handles batch 2's answer
            seen["during"] = []

    dest.after = peek_then_release
    original_ack = Ledger.ack_batch

    def record(self, run_id, entry, **kwargs):
        if "during" in seen and not release.is_set():
            seen["during"].append(kwargs["cursor"])
        return original_ack(self, run_id, entry, **kwargs)

    Ledger.ack_batch = record
    try:
        [report] = sync(plan, select_runs(plan.source))
    finally:
        Ledger.ack_batch = original_ack
    assert seen["during"] == []  # batch 2 alone acknowledged nothing: batch 1 was in flight
    entry = ledger.load(run.id)
    assert entry.cursor == 4000 and not entry.in_doubt and len(entry.params) == 150
    assert_identical(plan.source, dest, run.id, report.remote_run_id)


@pytest.mark.parametrize("faults", [
    ["lose", None, None, None],        # applied, answer lost, while later ones succeed
    [None, "half", None, None, None],  # half applied
    [None, None, "refuse", None],      # refused, later ones already in flight succeed
])
def test_an_ambiguous_failure_in_the_pipeline_is_reconciled_exactly_once(source, dest, faults):
    run = log_run(source, n_points=7000)
    dest.faults = list(faults)
    plan = plan_for(source, dest)
    [report] = sync(plan, select_runs(plan.source), backoff=0.01)
    assert report.error is None and report.reconciled
    assert_identical(plan.source, dest, run.id, report.remote_run_id)
    before = list(dest.writes)
    [again] = sync(plan, select_runs(plan.source))
    assert again.write_requests == 0 and dest.writes == before


@pytest.mark.parametrize("value", [0, 65, -1, "four", 2.5, True])
def test_a_bad_max_in_flight_is_a_config_error_naming_key_value_and_range(value):
    with pytest.raises(ConfigError) as info:
        tb.config.load_config({"max_in_flight": value})
    message = str(info.value)
    assert "max_in_flight" in message and repr(value) in message and "1 to 64" in message


def test_max_in_flight_comes_from_the_destination_config():
    assert tb.config.load_config({}).max_in_flight == 4
    assert tb.config.load_config({"max_in_flight": 16}).max_in_flight == 16


def test_the_next_batch_goes_out_before_the_ledger_records_an_answer():
    """An answer frees a slot: the next request is sent first, then the (fsynced) ledger
    write, so the ledger's latency overlaps the requests in flight instead of idling a slot."""
    from trackbridge.sync.pipeline import send_pipelined

    events: list[tuple] = []
    second = threading.Event()

    def send(i):
        if i == 1:
            assert second.wait(30), "batch 1 was never released"

    def acknowledge(start, stop, busy):
        events.append(("ack", start, stop, busy))
        second.set()  # batch 1 answers only once batch 0's answer was recorded

    send_pipelined(3, send, acknowledge, width=2, before_send=lambda: events.append(("send",)))
    assert events[:4] == [("send",), ("send",), ("send",), ("ack", 0, 1, True)]
    assert events[-1] == ("ack", events[-1][1], 3, False)
