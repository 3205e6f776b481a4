"""Train a classifier on scikit-learn's bundled breast-cancer data set, logging to trackbridge.

    python examples/train_sklearn.py --config configs/local.toml [--epochs 30]

Logs params, per-epoch metrics (train/validation loss, accuracy, F1), tags, a confusion
matrix plot, a classification report and the fitted pipeline (MLflow model format, skops),
which it loads back to check its predictions. Prints the run id as the last line.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.linear_model import SGDClassifier  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    ConfusionMatrixDisplay,
    accuracy_score,
    classification_report,
    f1_score,
    log_loss,
)
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import trackbridge as tb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="trackbridge config file")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    data = load_breast_cancer()
    raw_train, raw_val, y_train, y_val = train_test_split(
        data.data, data.target, test_size=0.25, random_state=args.seed, stratify=data.target
    )
    scaler = StandardScaler().fit(raw_train)
    x_train, x_val = scaler.transform(raw_train), scaler.transform(raw_val)
    model = SGDClassifier(loss="log_loss", alpha=args.alpha, random_state=args.seed)
    classes = np.unique(data.target)

    with tb.start_run(run_name="sgd-breast-cancer", config=args.config,
                      tags={"dataset": "sklearn.breast_cancer", "model": "SGDClassifier"}) as run:
        run.log_params({"epochs": args.epochs, "alpha": args.alpha, "seed": args.seed,
                        "loss": "log_loss", "n_train": len(x_train), "n_val": len(x_val)})
        for epoch in range(args.epochs):
            model.partial_fit(x_train, y_train, classes=classes)
            for split, x, y in (("train", x_train, y_train), ("val", x_val, y_val)):
                proba = model.predict_proba(x)
                pred = classes[proba.argmax(axis=1)]
                run.log_metrics({
                    f"{split}_loss": log_loss(y, proba, labels=classes),
                    f"{split}_accuracy": accuracy_score(y, pred),
                    f"{split}_f1": f1_score(y, pred),
                }, step=epoch)
        run.set_tag("stage", "quickstart")

        pred = model.predict(x_val)
        with tempfile.TemporaryDirectory() as tmp:
            fig, ax = plt.subplots(figsize=(4, 4))
            ConfusionMatrixDisplay.from_predictions(y_val, pred, display_labels=data.target_names,
                                                    ax=ax, colorbar=False)
            ax.set_title("validation confusion matrix")
            plot = Path(tmp) / "confusion_matrix.png"
            fig.savefig(plot, dpi=100, bbox_inches="tight")
            plt.close(fig)
            run.log_artifact(plot, artifact_path="plots")
        run.log_text(classification_report(y_val, pred, target_names=data.target_names),
                     "reports/classification_report.txt")
        run.log_dict({"coef_norm": float(np.linalg.norm(model.coef_)),
                      "intercept": float(model.intercept_[0])}, "reports/summary.json")
        pipeline = make_pipeline(scaler, model)  # what serving needs: scale, then classify
        info = run.log_model(pipeline, name="model", input_example=data.data[:3])
        print(f"validation accuracy {accuracy_score(y_val, pred):.3f} after {args.epochs} epochs")
    reloaded = tb.load_model(info.model_uri, config=args.config)
    assert (reloaded.predict(raw_val) == pred).all(), "the logged model predicts differently"
    print(f"model logged as {info.model_uri} and loaded back: same predictions")
    print(run.id)


if __name__ == "__main__":
    main()
