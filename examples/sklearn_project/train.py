"""Entry point `main`: fit a logistic regression on a bundled data set and log it.

Run by `trackbridge run`, `tb.start_run()` attaches to the run trackbridge created (the
parameters it logged and the ones below agree); run by hand, it creates a run of its own.
"""

from __future__ import annotations

import argparse

from data import load
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import trackbridge as tb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="iris")
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--max-iter", type=int, default=500)
    parser.add_argument("--test-size", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--min-accuracy", type=float, default=0.0)
    args = parser.parse_args()

    x, y = load(args.dataset)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=args.test_size, random_state=args.seed, stratify=y)
    model = make_pipeline(StandardScaler(),
                          LogisticRegression(C=args.C, max_iter=args.max_iter))
    with tb.start_run() as run:
        run.log_params({"dataset": args.dataset, "C": args.C, "max_iter": args.max_iter,
                        "test_size": args.test_size, "seed": args.seed,
                        "n_train": len(x_train), "n_features": x.shape[1]})
        model.fit(x_train, y_train)
        scores = {}
        for split, xs, ys in (("train", x_train, y_train), ("test", x_test, y_test)):
            pred = model.predict(xs)
            scores[f"{split}_accuracy"] = accuracy_score(ys, pred)
            scores[f"{split}_f1_macro"] = f1_score(ys, pred, average="macro")
        run.log_metrics(scores)
        run.log_dict({"classes": sorted(int(c) for c in set(y)),
                      "coef_shape": list(model[-1].coef_.shape)}, "model/summary.json")
        print(f"run {run.id}: test accuracy {scores['test_accuracy']:.3f} on {args.dataset}")
    if scores["test_accuracy"] < args.min_accuracy:
        print(f"test accuracy {scores['test_accuracy']:.3f} is below {args.min_accuracy}",
              file=__import__("sys").stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
