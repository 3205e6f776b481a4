"""Several processes on one store root, and a training process killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from trackbridge.local.store import LocalBackend

WRITER = textwrap.dedent("""
    import sys, trackbridge as tb
    root, rank, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    config = {"experiment": "ddp", "local": {"path": root, "flush_interval": 0.05}}
    with tb.start_run(run_name=f"rank{rank}", config=config) as run:
        run.log_param("rank", rank)
        for i in range(n):
            run.log_metric("loss", rank + i / n, step=i)
    print(run.id)
""")

KILLED = textwrap.dedent("""
    import sys, time, trackbridge as tb
    config = {"local": {"path": sys.argv[1], "flush_interval": 0.05}}
    run = tb.start_run(experiment="crash", config=config)
    run.log_param("lr", 0.1)
    for i in range(1000):
        run.log_metric("loss", 1.0 / (i + 1), step=i)
    run.flush()
    print(run.id, flush=True)
    while True:  # training goes on (and keeps buffering) until the node dies
        run.log_metric("late", 1.0)
        time.sleep(0.001)
""")


@pytest.mark.slow
def test_four_processes_fifty_thousand_points_each(tmp_path):
    root = tmp_path / "store"
    n = 50_000
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(rank), str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in range(4)]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err
    store = LocalBackend(root)
    run_ids = [out.strip() for out, _ in results]
    for rank, run_id in enumerate(run_ids):
        run = store.get_run(run_id)
        assert (run.status, run.params, run.name) == ("FINISHED", {"rank": str(rank)}, f"rank{rank}")
        history = store.get_metric_history(run_id, "loss")
        assert [p.step for p in history] == list(range(n))
        assert [p.value for p in history] == [rank + i / n for i in range(n)]
    assert len({r.id for r in store.search_runs([store.get_experiment("ddp").id])}) == 4


def test_sigkill_mid_run_keeps_flushed_data_and_reports_killed(tmp_path):
    root = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.stderr.read()
    time.sleep(0.3)  # let it write some more in the background
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    store = LocalBackend(root)  # opens cleanly after the kill
    assert store.db_path.exists()
    run = store.get_run(run_id)
    assert run.status == "KILLED"
    assert run.end_time is not None and run.end_time >= run.start_time
    assert run.params == {"lr": "0.1"}
    history = store.get_metric_history(run_id, "loss")
    assert [p.step for p in history] == list(range(1000))
    assert history[-1].value == pytest.approx(1 / 1000)
    ok = store.connection().execute("PRAGMA integrity_check").fetchone()[0]
    assert ok == "ok"


def test_a_live_writer_is_not_reported_killed(tmp_path):
    root = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        run_id = proc.stdout.readline().strip()
        assert LocalBackend(root).get_run(run_id).status == "RUNNING"
    finally:
        proc.kill()
        proc.wait()


def test_flushed_points_and_stored_files_are_on_disk_not_only_in_the_page_cache(tmp_path, monkeypatch):
    """Power-safe durability: every commit is fsynced (SQLite synchronous=FULL in WAL mode), and
    a stored artifact's bytes and its directory entry are fsynced before it is recorded."""
    import stat as stat_module

    store = LocalBackend(tmp_path / "store")
    assert store.connection().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(stat_module.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    source = tmp_path / "weights.bin"
    source.write_bytes(b"w" * 1000)
    store.blobs.put(source)
    assert False in synced and True in synced  # the file, then its directory
