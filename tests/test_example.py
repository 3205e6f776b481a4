"""The Quickstart's training script really logs a run a user can inspect."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from trackbridge.local.store import LocalBackend

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_training_script(tmp_path):
    config = tmp_path / "local.toml"
    config.write_text(f'experiment = "quickstart"\n[local]\npath = "{tmp_path / "store"}"\n')
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train_sklearn.py"), "--config", str(config),
         "--epochs", "5"], capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip().splitlines()[-1]
    store = LocalBackend(tmp_path / "store")
    run = store.get_run(run_id)
    assert (run.status, run.experiment, run.params["epochs"]) == ("FINISHED", "quickstart", "5")
    for key in ("train_loss", "val_loss", "val_accuracy", "val_f1"):
        assert [p.step for p in store.get_metric_history(run_id, key)] == list(range(5))
    assert 0.8 < run.metrics["val_accuracy"] <= 1.0
    files = {e.path for e in store.list_artifacts(run_id, "plots")}
    assert files == {"plots/confusion_matrix.png"}
    png = tmp_path / "cm.png"
    store.download_artifact(run_id, "plots/confusion_matrix.png", png)
    assert png.read_bytes().startswith(b"\x89PNG")
    report = tmp_path / "report.txt"
    store.download_artifact(run_id, "reports/classification_report.txt", report)
    assert "malignant" in report.read_text()

    assert "loaded back: same predictions" in proc.stdout
    assert {e.path for e in store.list_artifacts(run_id, "model")} >= {"model/MLmodel"}
    import trackbridge as tb

    model = tb.load_model(f"runs:/{run_id}/model", config=str(config))
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    accuracy = (model.predict(data.data) == data.target).mean()
    assert accuracy > 0.9  # the model a user gets back really classifies

    shown = subprocess.run([sys.executable, "-m", "trackbridge", "runs", "show", run_id,
                            "--config", str(config)], capture_output=True, text=True, cwd=tmp_path)
    assert shown.returncode == 0 and "val_accuracy" in shown.stdout
