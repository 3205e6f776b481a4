"""Entry point `validate`: k-fold cross-validation, one `cv_accuracy` point per fold."""

from __future__ import annotations

import argparse
import statistics

from data import load
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import trackbridge as tb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="wine")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--C", type=float, default=1.0)
    args = parser.parse_args()

    x, y = load(args.dataset)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=1000))
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=0)
    with tb.start_run() as run:
        scores = cross_val_score(model, x, y, cv=folds)
        for fold, score in enumerate(scores):
            run.log_metric("cv_accuracy", float(score), step=fold)
        run.log_metrics({"cv_accuracy_mean": statistics.fmean(scores),
                         "cv_accuracy_std": statistics.pstdev(scores)})
        print(f"run {run.id}: {args.folds}-fold accuracy {statistics.fmean(scores):.3f} "
              f"on {args.dataset}")


if __name__ == "__main__":
    main()
