"""Is a run's writer (or a run's syncer) alive? Across PID namespaces, as in containers.

A reader on the host sees other PIDs than a trainer inside ``unshare --pid`` (a k8s pod with a
sidecar, a container sharing the store's volume): the trainer's PID may be absent on the host,
or belong to another process. A live writer must never be reported, let alone stored, KILLED;
a live syncer's lease must never be taken over, however long its pass.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import trackbridge as tb
from trackbridge.local.store import LocalBackend
from trackbridge.sync import SyncPlan, select_runs, sync

#: A trainer that logs ``n`` points, one every ``pause`` seconds, flushing each, and then waits
#: for a line on stdin before it ends the run (so the test decides when it stops).
TRAINER = textwrap.dedent("""
    import sys, time, trackbridge as tb
    root, n, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    run = tb.start_run(experiment="pod", config={"local": {"path": root, "flush_interval": 0.05}})
    print(run.id, flush=True)
    for i in range(n):
        run.log_metric("loss", 1.0 / (i + 1), step=i)
        run.flush()
        time.sleep(pause)
    print("logged", flush=True)
    sys.stdin.readline()
    run.end()
""")

#: A syncer that holds the lease on a run (as a long pass does) until stdin closes.
LEASE_HOLDER = textwrap.dedent("""
    import sys
    from trackbridge.local.store import LocalBackend
    from trackbridge.sync.ledger import Ledger
    ledger = Ledger(LocalBackend(sys.argv[1]), sys.argv[3])
    assert ledger.acquire(sys.argv[2], "the-other-syncer")
    print("holding", flush=True)
    sys.stdin.readline()
""")


def _start(script: str, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen([*prefix, sys.executable, "-c", script, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _stored_status(root, run_id: str) -> str:
    return LocalBackend(root).connection().execute(
        "SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0]


def _finish(proc: subprocess.Popen) -> None:
    if proc.returncode is not None:
        return
    try:
        proc.communicate("\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_live_writer_whose_pid_the_reader_cannot_see_stays_running(tmp_path):
    """What a reader in another PID namespace sees: the run's recorded PID is not the writer
    (here: a PID that has exited). Only the writer's death may make the run KILLED."""
    root = tmp_path / "store"
    proc = _start(TRAINER, str(root), "3", "0")
    try:
        run_id = proc.stdout.readline().strip()
        assert proc.stdout.readline().strip() == "logged", proc.stderr.read()
        store = LocalBackend(root)
        with store.transaction() as conn:
            conn.execute("UPDATE runs SET pid = ?, pid_started = NULL WHERE run_id = ?",
                         (_dead_pid(), run_id))
        assert store.get_run(run_id).status == "RUNNING"
        assert _stored_status(root, run_id) == "RUNNING"
    finally:
        _finish(proc)
    assert proc.returncode == 0, proc.stderr
    assert LocalBackend(root).get_run(run_id).status == "FINISHED"


def _killed_writer(root) -> str:
    """The id of a run whose writer logged two points and was then killed (-9)."""
    proc = _start(TRAINER, str(root), "2", "0")
    run_id = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "logged", proc.stderr.read()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    return run_id


def test_a_killed_writer_is_reported_and_stored_killed(tmp_path):
    root = tmp_path / "store"
    run_id = _killed_writer(root)
    assert LocalBackend(root).get_run(run_id).status == "KILLED"
    assert _stored_status(root, run_id) == "KILLED"


def test_the_web_ui_shows_a_killed_writers_run_killed_without_storing_it(tmp_path):
    """The UI is read-only: it reports what any reader would, and writes nothing."""
    from starlette.testclient import TestClient

    from trackbridge.ui.app import create_app

    root = tmp_path / "store"
    run_id = _killed_writer(root)
    app = create_app(LocalBackend(root), host="127.0.0.1", port=5005)
    with TestClient(app, base_url="http://127.0.0.1:5005") as client:
        assert client.get(f"/api/runs/{run_id}").json()["run"]["status"] == "KILLED"
        table = client.get("/api/experiments/pod").json()
        assert [(r["status"], r["end_time"]) for r in table["runs"]] == [("KILLED", None)]
        assert client.get("/api/experiments").json()["experiments"][0]["status"]["KILLED"] == 1
    assert _stored_status(root, run_id) == "RUNNING"  # nothing written
    assert LocalBackend(root).get_run(run_id).status == "KILLED"  # another reader stores it
    assert _stored_status(root, run_id) == "KILLED"


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                          capture_output=True).returncode == 0


UNSHARE = ("unshare", "--pid", "--fork", "--mount-proc")


@pytest.mark.skipif(not _unshare_works(), reason="needs unshare --pid (root)")
def test_a_trainer_in_its_own_pid_namespace_is_followed_to_the_end(tmp_path):
    """The reported case: the trainer in a container (same hostname), `sync --follow` on the
    host. The host must see the run RUNNING all along and the destination get every point."""
    root, dest_root = tmp_path / "store", tmp_path / "dest"
    proc = _start(TRAINER, str(root), "60", "0.01", prefix=UNSHARE)
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read()
        source, dest = LocalBackend(root), LocalBackend(dest_root)
        plan = SyncPlan(source=source, destination=dest, ledger_store=source)
        result: dict = {}
        follower = threading.Thread(target=lambda: result.update(reports=sync(
            plan, select_runs(source), follow=True, poll_seconds=0.05)))
        follower.start()
        assert proc.stdout.readline().strip() == "logged", proc.stderr.read()
        time.sleep(0.3)  # several follow passes while the run is alive and idle
        assert follower.is_alive(), "sync --follow stopped while the trainer was alive"
        assert source.get_run(run_id).status == "RUNNING"
        _finish(proc)
        follower.join(timeout=30)
        assert not follower.is_alive()
    finally:
        _finish(proc)
    [report] = result["reports"]
    assert source.get_run(run_id).status == "FINISHED"
    assert dest.get_run(report.remote_run_id).status == "FINISHED"
    assert len(dest.get_metric_history(report.remote_run_id, "loss")) == 60


def _lease_holder(tmp_path, prefix: tuple[str, ...] = ()):
    from trackbridge.sync.ledger import Ledger

    root = tmp_path / "store"
    with tb.start_run(config={"local": {"path": str(root)}}) as run:
        run.log_metric("loss", 1.0)
    ledger = Ledger(LocalBackend(root), "local:somewhere")
    proc = _start(LEASE_HOLDER, str(root), run.id, ledger.destination, prefix=prefix)
    assert proc.stdout.readline().strip() == "holding", proc.stderr.read()
    return ledger, run.id, proc


def test_a_live_syncers_lease_holds_whatever_pid_or_expiry_the_table_says(tmp_path, store):
    ledger, run_id, proc = _lease_holder(tmp_path)
    try:
        with ledger.store.transaction() as conn:  # what a reader in another namespace sees,
            conn.execute("UPDATE sync_leases SET pid = ?, pid_started = NULL, expires = 0",
                         (_dead_pid(),))  # and a pass that has run past any time-to-live
        assert not ledger.acquire(run_id, "this-syncer")
    finally:
        _finish(proc)
    assert ledger.acquire(run_id, "this-syncer")  # the holder is gone: the lease is free
    ledger.release(run_id, "this-syncer")


def test_a_killed_syncers_lease_is_free_at_once(tmp_path, store):
    ledger, run_id, proc = _lease_holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert ledger.acquire(run_id, "this-syncer")
    ledger.release(run_id, "this-syncer")


@pytest.mark.skipif(not _unshare_works(), reason="needs unshare --pid (root)")
def test_a_syncer_in_its_own_pid_namespace_keeps_its_lease(tmp_path, store):
    ledger, run_id, proc = _lease_holder(tmp_path, prefix=UNSHARE)
    try:
        assert not ledger.acquire(run_id, "this-syncer")
    finally:
        _finish(proc)
