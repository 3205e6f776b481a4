"""The user-facing API: every write read back through every read."""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pytest

import trackbridge as tb
from trackbridge.errors import ArtifactNotFoundError, RunStateError, ValidationError


def test_round_trip_of_every_write_through_every_read(store, tmp_path):
    (tmp_path / "reports" / "deep").mkdir(parents=True)
    (tmp_path / "reports" / "summary.md").write_text("# summary")
    (tmp_path / "reports" / "deep" / "data.csv").write_bytes(b"a,b\n1,2\n")
    png = tmp_path / "confusion.png"
    png.write_bytes(os.urandom(5000))

    with tb.start_run(experiment="churn", run_name="baseline", tags={"team": "ml"},
                      config=store) as run:
        run.log_param("lr", 0.1)
        run.log_params({"depth": 3, "loss": "log_loss"})
        for epoch in range(100):
            run.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
            run.log_metrics({"acc": epoch / 100, "f1": epoch / 200}, step=epoch)
        run.set_tag("stage", "dev")
        run.set_tags({"data": "v2"})
        run.log_artifact(png, artifact_path="plots")
        run.log_artifacts(tmp_path / "reports", artifact_path="reports")
        run.log_text("notes", "notes.txt")
        run.log_dict({"a": 1}, "cfg/params.json")

    assert re.fullmatch(r"[0-9a-f]{32}", run.id)
    got = tb.get_run(run.id, config=store)
    assert (got.id, got.experiment, got.name, got.status) == (run.id, "churn", "baseline", "FINISHED")
    assert got.start_time <= got.end_time
    assert got.params == {"lr": "0.1", "depth": "3", "loss": "log_loss"}
    assert got.metrics == {"loss": 0.01, "acc": 0.99, "f1": 0.495}
    assert {"team": "ml", "stage": "dev", "data": "v2"}.items() <= got.tags.items()
    assert got.tags["mlflow.runName"] == "baseline"

    history = tb.get_metric_history(run.id, "loss", config=store)
    assert [(p.key, p.step, p.value) for p in history] == \
        [("loss", e, 1.0 / (e + 1)) for e in range(100)]
    assert all(isinstance(p.timestamp, int) and p.timestamp >= got.start_time for p in history)

    root = {(e.path, e.is_dir, e.size) for e in tb.list_artifacts(run.id, config=store)}
    assert root == {("plots", True, None), ("reports", True, None), ("notes.txt", False, 5),
                    ("cfg", True, None)}
    assert {e.path for e in tb.list_artifacts(run.id, "reports", config=store)} == \
        {"reports/summary.md", "reports/deep"}

    out = tb.download_artifacts(run.id, "", tmp_path / "all", config=store)
    assert (out / "plots" / "confusion.png").read_bytes() == png.read_bytes()
    assert (out / "reports" / "deep" / "data.csv").read_bytes() == b"a,b\n1,2\n"
    assert (out / "notes.txt").read_text() == "notes"
    assert (out / "cfg" / "params.json").read_text().replace(" ", "").replace("\n", "") == '{"a":1}'
    one = tb.download_artifacts(run.id, "reports/summary.md", tmp_path / "one", config=store)
    assert one.read_text() == "# summary"

    found = tb.search_runs(experiment="churn", filter="metrics.acc > 0.5", config=store)
    assert [r.id for r in found] == [run.id]
    assert tb.search_runs(experiment="churn", filter="params.depth = '4'", config=store) == []


def test_module_level_twins_act_on_the_active_run(store):
    assert tb.active_run() is None
    run = tb.start_run(experiment="e", config=store)
    assert tb.active_run() is run
    tb.log_param("p", 1)
    tb.log_params({"q": 2})
    tb.log_metric("m", 1.5)
    tb.log_metrics({"n": 2.5}, step=3)
    tb.set_tag("t", "x")
    tb.set_tags({"u": "y"})
    tb.log_text("hello", "hello.txt")
    tb.end_run(status="FINISHED")
    assert tb.active_run() is None
    got = tb.get_run(run.id, config=store)
    assert got.params == {"p": "1", "q": "2"}
    assert got.metrics == {"m": 1.5, "n": 2.5}
    assert tb.get_metric_history(run.id, "m", config=store)[0].step == 0  # step defaults to 0
    assert tb.get_metric_history(run.id, "n", config=store)[0].step == 3
    assert (got.tags["t"], got.tags["u"], got.status) == ("x", "y", "FINISHED")


def test_module_level_call_without_active_run_is_a_clear_error():
    with pytest.raises(RunStateError, match="no active run"):
        tb.log_metric("m", 1.0)


@pytest.mark.parametrize(("exc", "status"), [(ValueError, "FAILED"), (KeyboardInterrupt, "KILLED")])
def test_exception_in_with_sets_status(store, exc, status):
    with pytest.raises(exc):
        with tb.start_run(config=store) as run:
            run.log_metric("m", 1.0)
            raise exc()
    got = tb.get_run(run.id, config=store)
    assert got.status == status
    assert got.metrics == {"m": 1.0}  # buffered data is written before the run ends


def test_resume_run_by_id(store):
    with tb.start_run(experiment="e", config=store) as first:
        first.log_param("lr", 0.1)
        first.log_metric("m", 1.0, step=0)
    with tb.start_run(run_id=first.id, config=store) as again:
        assert tb.get_run(first.id, config=store).status == "RUNNING"
        again.log_metric("m", 2.0, step=1)
        again.log_param("lr", 0.1)  # same value: fine
        with pytest.raises(tb.ParamConflictError):
            again.log_param("lr", 0.2)  # the resumed run remembers its params
    got = tb.get_run(first.id, config=store)
    assert got.status == "FINISHED"
    assert [p.value for p in tb.get_metric_history(first.id, "m", config=store)] == [1.0, 2.0]


def test_resume_unknown_run_is_an_error(store):
    with pytest.raises(tb.RunNotFoundError, match="deadbeef"):
        tb.start_run(run_id="deadbeef", config=store)


def test_nested_runs(store):
    with tb.start_run(experiment="sweep", config=store) as parent:
        with pytest.raises(RunStateError, match="already active"):
            tb.start_run(config=store)
        with tb.start_run(nested=True, config=store) as child:
            assert tb.active_run() is child
        assert tb.active_run() is parent
        other = tb.start_run(parent_run_id=parent.id, config=store)
        other.end()
    assert tb.get_run(child.id, config=store).parent_run_id == parent.id
    assert tb.get_run(child.id, config=store).tags["mlflow.parentRunId"] == parent.id
    assert tb.get_run(child.id, config=store).experiment == "sweep"
    assert tb.get_run(other.id, config=store).parent_run_id == parent.id


@pytest.mark.parametrize("experiment", [None, "sweep"])
def test_a_parent_run_that_does_not_exist_is_refused_at_start_run(store, experiment):
    with pytest.raises(tb.RunNotFoundError, match="doesnotexist"):
        tb.start_run(experiment=experiment, parent_run_id="doesnotexist", config=store)
    assert tb.active_run() is None
    assert tb.search_runs(config=store) == []  # no run was made that could never sync


def test_reads_see_unflushed_writes_of_a_live_run(store):
    store["local"]["flush_interval"] = 3600  # the background flusher will not help
    with tb.start_run(config=store) as run:
        run.log_metric("m", 7.0)
        assert tb.get_run(run.id, config=store).metrics == {"m": 7.0}


def test_nan_and_inf_round_trip(store):
    with tb.start_run(config=store) as run:
        for i, v in enumerate([float("nan"), float("inf"), float("-inf"), np.float32(0.5),
                               np.int64(3)]):
            run.log_metric("odd", v, step=i)
    values = [p.value for p in tb.get_metric_history(run.id, "odd", config=store)]
    assert math.isnan(values[0])
    assert values[1:] == [float("inf"), float("-inf"), 0.5, 3]


def test_history_ordered_by_step_then_timestamp(store):
    with tb.start_run(config=store) as run:
        run.log_metric("m", 3.0, step=2, timestamp=1000)
        run.log_metric("m", 2.0, step=1, timestamp=5000)
        run.log_metric("m", 1.5, step=1, timestamp=2000)
    history = tb.get_metric_history(run.id, "m", config=store)
    assert [(p.step, p.timestamp, p.value) for p in history] == \
        [(1, 2000, 1.5), (1, 5000, 2.0), (2, 1000, 3.0)]
    assert tb.get_run(run.id, config=store).metrics["m"] == 3.0  # latest = highest step


def test_ended_run_refuses_logging(store):
    with tb.start_run(config=store) as run:
        pass
    with pytest.raises(RunStateError, match="has ended"):
        run.log_metric("m", 1.0)
    run.end()  # ending twice is a no-op


def test_log_artifact_errors(store, tmp_path):
    with tb.start_run(config=store) as run:
        with pytest.raises(ValidationError, match="missing"):
            run.log_artifact(tmp_path / "nope.png")
        with pytest.raises(ValidationError, match="directory"):
            run.log_artifact(tmp_path)
        with pytest.raises(ValidationError, match="not a directory"):
            run.log_artifacts(tmp_path / "nope")
    with pytest.raises(ArtifactNotFoundError, match="nope.txt"):
        tb.download_artifacts(run.id, "nope.txt", tmp_path / "out", config=store)


def test_symlinks_out_of_a_logged_directory_are_not_followed(store, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not upload")
    logged = tmp_path / "logged"
    (logged / "sub").mkdir(parents=True)
    (logged / "ok.txt").write_text("ok")
    (logged / "inside.txt").symlink_to(logged / "ok.txt")
    (logged / "escape.txt").symlink_to(secret)
    (logged / "escape_dir").symlink_to(tmp_path)
    with tb.start_run(config=store) as run:
        with pytest.warns(UserWarning, match="escape.txt"):
            run.log_artifacts(logged)
    paths = {e.path for e in tb.list_artifacts(run.id, config=store)}
    assert paths == {"ok.txt", "inside.txt"}


def test_identical_files_are_stored_once(store, tmp_path):
    data = tmp_path / "weights.bin"
    data.write_bytes(os.urandom(100_000))
    for _ in range(2):
        with tb.start_run(config=store) as run:
            run.log_artifact(data)
            run.log_artifact(data, artifact_path="copy")
    root = tmp_path / "tbruns" / "artifacts"
    blobs = [p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != "tmp"]
    assert len(blobs) == 1
    assert blobs[0].read_bytes() == data.read_bytes()


def test_downloaded_files_get_ordinary_permissions(store, tmp_path):
    import os
    import stat

    with tb.start_run(config=store) as run:
        run.log_text("x", "a.txt")
    out = tb.download_artifacts(run.id, "a.txt", tmp_path / "dl", config=store)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
