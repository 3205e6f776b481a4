"""What scikit-learn autologging computes after a fit, with MLflow's names and arguments.

* :func:`training_metrics`: classifiers get ``training_precision_score``, ``..._recall_score``,
  ``..._f1_score`` (weighted averages), ``..._accuracy_score`` and, with ``predict_proba``,
  ``training_log_loss`` and ``training_roc_auc`` (weighted, one-vs-one); regressors
  ``training_mean_squared_error``, ``..._root_mean_squared_error``,
  ``..._mean_absolute_error``, ``..._r2_score``; any estimator with ``score``:
  ``training_score``. A metric that cannot be computed is left out.
* :func:`classifier_plots`: ``training_confusion_matrix.png`` and, for binary classifiers,
  ``training_roc_curve.png`` and ``training_precision_recall_curve.png``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

PREFIX = "training_"


def _try(out: dict[str, float], name: str, fn: Callable[..., Any], **kwargs: Any) -> None:
    try:
        out[name] = float(fn(**kwargs))
    except Exception:
        pass


def _accepts_sample_weight(fn: Callable[..., Any]) -> bool:
    try:
        return "sample_weight" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def training_metrics(estimator: Any, X: Any, y: Any, sample_weight: Any = None,
                     prefix: str = PREFIX) -> dict[str, float]:
    """MLflow's training metrics of a fitted estimator on its training data (empty without y)."""
    import numpy as np
    import sklearn.base
    import sklearn.metrics as m

    out: dict[str, float] = {}
    if y is None:
        return out
    w = {"sample_weight": sample_weight}
    if sklearn.base.is_classifier(estimator):
        y_pred = estimator.predict(X)
        for name in ("precision_score", "recall_score", "f1_score"):
            _try(out, prefix + name, getattr(m, name), y_true=y, y_pred=y_pred, pos_label=None,
                 average="weighted", **w)
        _try(out, prefix + "accuracy_score", m.accuracy_score, y_true=y, y_pred=y_pred,
             normalize=True, **w)
        if hasattr(estimator, "predict_proba"):
            try:
                proba = estimator.predict_proba(X)
            except Exception:
                proba = None
            if proba is not None:
                _try(out, prefix + "log_loss", lambda **kw: m.log_loss(y, proba, **kw), **w)
                score = proba[:, 1] if proba.shape[1] == 2 else proba
                _try(out, prefix + "roc_auc", m.roc_auc_score, y_true=y, y_score=score,
                     average="weighted", multi_class="ovo", **w)
    elif sklearn.base.is_regressor(estimator):
        y_pred = estimator.predict(X)
        kw = {"y_true": y, "y_pred": y_pred, "multioutput": "uniform_average", **w}
        _try(out, prefix + "mean_squared_error", m.mean_squared_error, **kw)
        _try(out, prefix + "mean_absolute_error", m.mean_absolute_error, **kw)
        _try(out, prefix + "r2_score", m.r2_score, **kw)
        if prefix + "mean_squared_error" in out:
            out[prefix + "root_mean_squared_error"] = float(
                np.sqrt(out[prefix + "mean_squared_error"]))
    if hasattr(estimator, "score"):
        args = (X, y, sample_weight) if _accepts_sample_weight(estimator.score) else (X, y)
        try:
            out[prefix + "score"] = float(estimator.score(*args))
        except Exception:
            pass
    return out


def classifier_plots(estimator: Any, X: Any, y: Any, folder: Any, prefix: str = PREFIX
                     ) -> list[Any]:
    """Write MLflow's classifier plots into ``folder``; returns the files (none without
    matplotlib or labels)."""
    import sklearn.base

    if y is None or not sklearn.base.is_classifier(estimator):
        return []
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        from sklearn import metrics
    except ImportError:
        return []
    plots = [("confusion_matrix", metrics.ConfusionMatrixDisplay.from_estimator, "Normalized")]
    classes = getattr(estimator, "classes_", ())
    if len(classes) == 2:
        plots += [("roc_curve", metrics.RocCurveDisplay.from_estimator, "ROC curve"),
                  ("precision_recall_curve", metrics.PrecisionRecallDisplay.from_estimator,
                   "Precision recall curve")]
    written = []
    with matplotlib.rc_context({"savefig.dpi": 175, "figure.autolayout": True, "font.size": 8}):
        for name, make, title in plots:
            try:
                options = {"normalize": "true"} if name == "confusion_matrix" else {}
                display = make(estimator, X, y, **options)
                display.ax_.set_title(title)
                path = folder / f"{prefix}{name}.png"
                display.figure_.savefig(path, format="png")
                plt.close(display.figure_)
                written.append(path)
            except Exception:
                plt.close("all")
    return written
