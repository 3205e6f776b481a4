"""A reusable pytest contract suite for backends.

Plugin authors subclass :class:`BackendContract` in their test module and provide a
``backend`` fixture; every test below then runs against their backend::

    from trackbridge.testing import BackendContract

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def backend(self):
            return MyBackend(...)

Each test creates its own experiment (``unique_name``), so a backend may be shared across
tests (e.g. one server per session). The suite talks to the backend through the interface
only, exactly as the core does.
"""

from __future__ import annotations

import math
import time
import uuid
from pathlib import Path

import pytest

from .backend import Backend
from .batching import pack
from .entities import FINISHED, KILLED, RUNNING, Limits, Metric, Param, RunTag
from .errors import ArtifactNotFoundError, ParamConflictError, RunNotFoundError, TrackbridgeError


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class BackendContract:
    """Round-trips of every write through every read, limits, errors, idempotency."""

    @pytest.fixture
    def backend(self) -> Backend:  # pragma: no cover - subclasses provide it
        raise NotImplementedError("subclass BackendContract and provide a `backend` fixture")

    @pytest.fixture
    def unique_name(self) -> str:
        """An experiment name nobody used before; override when names need a prefix."""
        return f"contract-{uuid.uuid4().hex[:12]}"

    @pytest.fixture
    def run(self, backend: Backend, unique_name: str):
        exp = backend.get_or_create_experiment(unique_name)
        return backend.create_run(
            exp.id, run_name="contract", start_time=now_ms(), tags={"origin": "contract"}
        )

    # -- experiments ----------------------------------------------------------------------
    def test_get_or_create_experiment_is_idempotent(self, backend, unique_name):
        first = backend.get_or_create_experiment(unique_name)
        second = backend.get_or_create_experiment(unique_name)
        assert first.id == second.id
        assert first.name == unique_name
        assert backend.get_experiment(unique_name).id == first.id
        assert unique_name in {e.name for e in backend.list_experiments()}

    def test_unknown_experiment_is_none(self, backend, unique_name):
        assert backend.get_experiment(unique_name + "-missing") is None

    # -- runs -----------------------------------------------------------------------------
    def test_create_run_round_trip(self, backend, unique_name):
        exp = backend.get_or_create_experiment(unique_name)
        start = now_ms()
        created = backend.create_run(
            exp.id, run_name="first", start_time=start, tags={"team": "ml"}
        )
        got = backend.get_run(created.id)
        assert got.id == created.id
        assert got.experiment_id == exp.id
        assert got.experiment == unique_name
        assert got.name == "first"
        assert got.status == RUNNING
        assert got.start_time == start
        assert got.end_time is None
        assert got.tags["team"] == "ml"

    def test_update_run_sets_status_and_end_time(self, backend, run):
        end = now_ms()
        backend.update_run(run.id, status=FINISHED, end_time=end)
        got = backend.get_run(run.id)
        assert (got.status, got.end_time) == (FINISHED, end)
        backend.update_run(run.id, status=KILLED, end_time=end + 1)
        assert backend.get_run(run.id).status == KILLED

    def test_nested_run_keeps_parent(self, backend, run):
        child = backend.create_run(
            run.experiment_id, run_name="child", start_time=now_ms(),
            tags={"mlflow.parentRunId": run.id}, parent_run_id=run.id,
        )
        assert backend.get_run(child.id).parent_run_id == run.id

    def test_unknown_run_raises_run_not_found(self, backend):
        with pytest.raises(RunNotFoundError):
            backend.get_run(uuid.uuid4().hex)

    def test_search_runs_filters_and_orders_newest_first(self, backend, unique_name):
        exp = backend.get_or_create_experiment(unique_name)
        t0 = now_ms()
        older = backend.create_run(exp.id, run_name="a", start_time=t0, tags={})
        newer = backend.create_run(exp.id, run_name="b", start_time=t0 + 10, tags={})
        backend.log_batch(older.id, metrics=[Metric("acc", 0.5, t0, 0)], params=[Param("d", "3")])
        backend.log_batch(newer.id, metrics=[Metric("acc", 0.9, t0, 0)], params=[Param("d", "5")])
        assert [r.id for r in backend.search_runs([exp.id])] == [newer.id, older.id]
        assert [r.id for r in backend.search_runs([exp.id], "metrics.acc > 0.7")] == [newer.id]
        assert [r.id for r in backend.search_runs([exp.id], "params.d = '3'")] == [older.id]

    # -- metrics, params, tags ------------------------------------------------------------
    def test_log_batch_round_trip(self, backend, run):
        t = now_ms()
        points = [Metric("loss", 1.0 / (i + 1), t + i, i) for i in range(50)]
        points += [Metric("odd", v, t, i) for i, v in
                   enumerate([float("nan"), float("inf"), float("-inf"), -0.5, 1e300])]
        backend.log_batch(
            run.id, metrics=points, params=[Param("lr", "0.1"), Param("depth", "3")],
            tags=[RunTag("stage", "dev")],
        )
        got = backend.get_run(run.id)
        assert got.params == {"lr": "0.1", "depth": "3"}
        assert got.tags["stage"] == "dev"
        assert got.metrics["loss"] == pytest.approx(1.0 / 50)
        history = backend.get_metric_history(run.id, "loss")
        assert [(m.key, m.value, m.timestamp, m.step) for m in history] == \
            [(m.key, m.value, m.timestamp, m.step) for m in points[:50]]
        odd = backend.get_metric_history(run.id, "odd")
        assert math.isnan(odd[0].value)
        assert [m.value for m in odd[1:]] == [float("inf"), float("-inf"), -0.5, 1e300]

    def test_metrics_are_appended_not_overwritten(self, backend, run):
        t = now_ms()
        backend.log_batch(run.id, metrics=[Metric("m", 1.0, t, 0)])
        backend.log_batch(run.id, metrics=[Metric("m", 2.0, t + 1, 0)])
        assert [m.value for m in backend.get_metric_history(run.id, "m")] == [1.0, 2.0]

    def test_history_is_ordered_by_step_then_timestamp(self, backend, run):
        t = now_ms()
        backend.log_batch(run.id, metrics=[
            Metric("m", 3.0, t + 5, 2), Metric("m", 1.0, t + 9, 0), Metric("m", 2.0, t + 1, 1),
            Metric("m", 0.5, t, 0),
        ])
        assert [(m.step, m.value) for m in backend.get_metric_history(run.id, "m")] == \
            [(0, 0.5), (0, 1.0), (1, 2.0), (2, 3.0)]

    def test_latest_metric_is_highest_step(self, backend, run):
        t = now_ms()
        backend.log_batch(run.id, metrics=[Metric("m", 9.0, t, 5), Metric("m", 1.0, t + 1, 2)])
        assert backend.get_run(run.id).metrics["m"] == 9.0

    def test_relogging_same_param_is_a_no_op(self, backend, run):
        backend.log_batch(run.id, params=[Param("lr", "0.1")])
        backend.log_batch(run.id, params=[Param("lr", "0.1")])
        assert backend.get_run(run.id).params == {"lr": "0.1"}

    def test_changing_a_param_raises_param_conflict(self, backend, run):
        backend.log_batch(run.id, params=[Param("lr", "0.1")])
        with pytest.raises(ParamConflictError, match="lr"):
            backend.log_batch(run.id, params=[Param("lr", "0.2")])
        assert backend.get_run(run.id).params["lr"] == "0.1"

    def test_tags_are_overwritten(self, backend, run):
        backend.log_batch(run.id, tags=[RunTag("stage", "dev")])
        backend.log_batch(run.id, tags=[RunTag("stage", "prod")])
        assert backend.get_run(run.id).tags["stage"] == "prod"

    def test_log_batch_to_unknown_run_is_an_error(self, backend):
        with pytest.raises(TrackbridgeError):
            backend.log_batch(uuid.uuid4().hex, metrics=[Metric("m", 1.0, now_ms(), 0)])

    # -- limits ---------------------------------------------------------------------------
    def test_limits_are_declared(self, backend):
        limits = backend.limits
        assert isinstance(limits, Limits)
        per_batch = (limits.max_metrics_per_batch, limits.max_params_per_batch,
                     limits.max_tags_per_batch, limits.max_entities_per_batch)
        assert all(isinstance(n, int) and n > 0 for n in per_batch)
        assert limits.max_entities_per_batch >= max(per_batch[:3])

    def test_a_batch_packed_to_the_limits_is_accepted(self, backend, run):
        """The largest batches the core will ever send must be accepted, whole."""
        limits = backend.limits
        n_metrics = min(limits.max_metrics_per_batch, 1200) + 7
        n_params = min(limits.max_params_per_batch, 150) + 3
        t = now_ms()
        metrics = [Metric(f"k{i % 5}", float(i), t, i) for i in range(n_metrics)]
        params = [Param(f"p{i}", "v" * 20) for i in range(n_params)]
        batches = list(pack(metrics, params, [], limits))
        for batch in batches:
            backend.log_batch(run.id, batch.metrics, batch.params, batch.tags)
        got = backend.get_run(run.id)
        assert len(got.params) == n_params
        total = sum(len(backend.get_metric_history(run.id, f"k{i}")) for i in range(5))
        assert total == n_metrics

    def test_longest_allowed_values_round_trip(self, backend, run):
        limits = backend.limits
        key = "k" * min(limits.max_param_key_length, 250)
        value = "v" * min(limits.max_param_value_length, 6000)
        tag_value = "t" * min(limits.max_tag_value_length, 8000)
        backend.log_batch(run.id, params=[Param(key, value)], tags=[RunTag("long", tag_value)])
        got = backend.get_run(run.id)
        assert got.params[key] == value
        assert got.tags["long"] == tag_value

    # -- artifacts ------------------------------------------------------------------------
    def test_artifact_round_trip(self, backend, run, tmp_path: Path):
        files = {"model.bin": bytes(range(256)) * 4096, "plots/a.txt": b"alpha",
                 "plots/deep/b.txt": b"beta", "empty.txt": b""}
        for rel, data in files.items():
            src = tmp_path / "src" / rel
            src.parent.mkdir(parents=True, exist_ok=True)
            src.write_bytes(data)
            backend.upload_artifact(run.id, src, rel)
        root = {(e.path, e.is_dir) for e in backend.list_artifacts(run.id)}
        assert root == {("model.bin", False), ("plots", True), ("empty.txt", False)}
        sizes = {e.path: e.size for e in backend.list_artifacts(run.id) if not e.is_dir}
        assert sizes["model.bin"] == len(files["model.bin"])
        plots = {(e.path, e.is_dir) for e in backend.list_artifacts(run.id, "plots")}
        assert plots == {("plots/a.txt", False), ("plots/deep", True)}
        for rel, data in files.items():
            dst = tmp_path / "dst" / rel
            backend.download_artifact(run.id, rel, dst)
            assert dst.read_bytes() == data

    def test_artifact_overwrite_replaces_content(self, backend, run, tmp_path: Path):
        src = tmp_path / "f.txt"
        src.write_bytes(b"one")
        backend.upload_artifact(run.id, src, "f.txt")
        src.write_bytes(b"two!")
        backend.upload_artifact(run.id, src, "f.txt")
        backend.download_artifact(run.id, "f.txt", tmp_path / "out.txt")
        assert (tmp_path / "out.txt").read_bytes() == b"two!"

    def test_missing_artifact_raises(self, backend, run, tmp_path: Path):
        with pytest.raises(ArtifactNotFoundError):
            backend.download_artifact(run.id, "nope.txt", tmp_path / "x")
