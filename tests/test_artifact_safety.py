"""Artifact paths that come FROM a store or a server are checked as strictly as paths going in:
nothing is written outside the destination, no walk loops, and a symlink swapped in while
``log_artifacts`` runs cannot leak a file from outside the directory."""

from __future__ import annotations

import subprocess
import sys

import pytest

import trackbridge as tb
from trackbridge.entities import ArtifactEntry
from trackbridge.errors import UnsafePathError
from trackbridge.local.store import LocalBackend
from trackbridge.sync import SyncPlan, select_runs, sync


def _run_with_rows(store, rows: dict[str, str]) -> str:
    """A run whose artifact manifest holds ``rows`` (path -> content), as a tampered or
    corrupted store would: every row points at a real blob."""
    with tb.start_run(config=store) as run:
        run.log_text("fine", "ok.txt")
    backend = LocalBackend(store["local"]["path"])
    with backend.transaction() as conn:
        pk = conn.execute("SELECT run_pk FROM runs WHERE run_id = ?", (run.id,)).fetchone()[0]
        for path, text in rows.items():
            blob = backend.blobs.root.parent / "incoming.txt"
            blob.write_text(text)
            sha, size = backend.blobs.put(blob)
            conn.execute("INSERT INTO artifacts VALUES (?, ?, ?, ?)", (pk, path, sha, size))
    return run.id


@pytest.mark.parametrize("bad", ["../escaped.txt", "a/../../escaped.txt", "/etc/escaped.txt",
                                 "a//b.txt", "./a.txt", "a\\..\\b.txt"])
def test_download_refuses_a_manifest_path_that_leaves_the_destination(store, tmp_path, bad):
    run_id = _run_with_rows(store, {bad: "pwned"})
    dst = tmp_path / "deep" / "dst"
    with pytest.raises(UnsafePathError, match="local store") as caught:
        tb.download_artifacts(run_id, "", dst, config=store)
    assert repr(bad)[1:-1] in str(caught.value)
    assert not (tmp_path / "deep" / "escaped.txt").exists()
    assert not list(tmp_path.rglob("escaped.txt"))


def test_a_leading_slash_row_does_not_make_runs_show_loop(store, tmp_path):
    run_id = _run_with_rows(store, {"/abs.txt": "x"})
    config = tmp_path / "tb.toml"
    config.write_text(f'[local]\npath = "{store["local"]["path"]}"\n')
    done = subprocess.run([sys.executable, "-m", "trackbridge", "runs", "show", run_id, "--config",
                           str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "'/abs.txt'" in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(UnsafePathError, match="/abs.txt"):
        tb.list_artifacts(run_id, config=store)


class Listing(LocalBackend):
    """A source backend (a server, in real life) whose listing holds an escaping path."""

    bad = "../../escaped.txt"

    def list_artifacts(self, run_id, path=None):
        return [*super().list_artifacts(run_id, path), ArtifactEntry(self.bad, False, 5)]

    def download_artifact(self, run_id, path, dst):
        if path == self.bad:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text("pwned")
            return
        super().download_artifact(run_id, path, dst)


def test_a_migration_never_writes_outside_its_temporary_directory(store, tmp_path):
    with tb.start_run(config=store) as run:
        run.log_text("fine", "ok.txt")
    source = Listing(store["local"]["path"])
    dest = LocalBackend(tmp_path / "dest")
    plan = SyncPlan(source=source, destination=dest, ledger_store=LocalBackend(tmp_path / "ledger"))
    [report] = sync(plan, select_runs(source), backoff=0.001)
    assert report.error and "../../escaped.txt" in report.error
    assert not list(tmp_path.parent.rglob("escaped.txt"))
    import tempfile
    from pathlib import Path

    assert not list(Path(tempfile.gettempdir()).glob("escaped.txt"))


def test_load_model_refuses_a_model_directory_listing_that_escapes(store, tmp_path):
    run_id = _run_with_rows(store, {"model/MLmodel": "flavors: {}\n", "model/../../../x.py": "1"})
    with pytest.raises(UnsafePathError, match="x.py"):
        tb.load_model(f"runs:/{run_id}/model", config=store)


def test_a_symlink_swapped_in_during_log_artifacts_does_not_leak_the_target(store, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    root = tmp_path / "outputs"
    root.mkdir()
    (root / "a.txt").write_text("alpha")
    (root / "b.txt").write_text("beta")
    with tb.start_run(config=store) as run:
        original = run.backend.upload_artifact

        def swap_then_upload(run_id, local_path, artifact_path):
            if artifact_path == "b.txt":  # the attacker wins the race: b.txt now links out
                (root / "b.txt").unlink()
                (root / "b.txt").symlink_to(secret)
            return original(run_id, local_path, artifact_path)

        run.backend.upload_artifact = swap_then_upload
        run.log_artifacts(root)
        run.backend.upload_artifact = original
    out = tb.download_artifacts(run.id, "b.txt", tmp_path / "dl", config=store)
    assert out.read_text() == "beta"


def test_symlinks_inside_the_directory_are_followed_and_links_out_are_skipped(store, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("nope")
    root = tmp_path / "outputs"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "real.txt").write_text("real")
    (root / "alias.txt").symlink_to(root / "sub" / "real.txt")
    (root / "out.txt").symlink_to(outside)
    (root / "linked_dir").symlink_to(tmp_path, target_is_directory=True)
    with tb.start_run(config=store) as run:
        with pytest.warns(UserWarning, match="out.txt"):
            run.log_artifacts(root)
    files = {e.path for e in tb.list_artifacts(run.id, config=store) if not e.is_dir}
    assert files == {"alias.txt"}
    assert {e.path for e in tb.list_artifacts(run.id, "sub", config=store)} == {"sub/real.txt"}
