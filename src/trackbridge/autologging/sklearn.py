"""``tb.sklearn.autolog()``: scikit-learn estimators, pipelines and parameter searches.

``fit``, ``fit_transform`` and ``fit_predict`` of every estimator of ``sklearn.utils.all_estimators``
(and ``Pipeline``, ``GridSearchCV``, ``RandomizedSearchCV``; preprocessing, imputation and feature
extraction/selection only inside a pipeline, as in MLflow) log into the run:

* params: ``get_params(deep=True)`` (``deep=False`` for a search), stringified and cut to the
  backend's value limit; tags ``estimator_name`` and ``estimator_class``;
* the training dataset (context ``train``), the training metrics of :mod:`.sklearn_metrics`
  with its plots, ``estimator.html`` and the fitted model (``model/``, with a signature);
* a search: ``best_<param>`` params, ``best_cv_score``, the best estimator (``best_estimator/``),
  ``cv_results.csv`` and a child run for each of the ``max_tuning_runs`` best candidates (their
  params and mean/std/rank scores);
* afterwards, post-training metrics (:mod:`.post_training`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .evaluation import Integration, patch_estimator
from .patching import Settings, no_logging, safely, training
from .post_training import MANAGER, _is_number

FLAVOR = "sklearn"
FIT_METHODS = ("fit", "fit_transform", "fit_predict")
EXCLUDED_MODULES = ("sklearn.preprocessing", "sklearn.impute", "sklearn.feature_extraction",
                    "sklearn.feature_selection")
EXCLUDED_CLASSES = ("sklearn.compose._column_transformer.ColumnTransformer",)
NOT_AUTOLOGGED = ("cross_validate", "cross_val_predict", "cross_val_score", "learning_curve",
                  "permutation_test_score", "validation_curve")
SAMPLE_ROWS = 5

_on = Integration(FLAVOR)


def autolog(log_models: bool = True, log_datasets: bool = True, disable: bool = False,
            silent: bool = False, max_tuning_runs: int | None = 5) -> None:
    """Autolog scikit-learn (see the module doc); ``disable=True`` restores every method."""
    from ..errors import ValidationError

    if max_tuning_runs is not None and max_tuning_runs < 0:
        raise ValidationError(f"max_tuning_runs must be None or >= 0, got {max_tuning_runs}")
    if not _on.reset(disable, Settings(log_models, log_datasets, silent, max_tuning_runs)):
        return
    import sklearn.model_selection

    for cls in estimators_to_patch():
        for name in FIT_METHODS:
            if hasattr(cls, name):
                _on.patches.patch(cls, name, _fit_wrapper)
        patch_estimator(_on.patches, cls, _on.settings)
    for name in NOT_AUTOLOGGED:
        if hasattr(sklearn.model_selection, name):
            _on.patches.patch(sklearn.model_selection, name, _without_autolog)


def estimators_to_patch() -> list[type]:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    found = {cls for _, cls in all_estimators()} | {GridSearchCV, RandomizedSearchCV, Pipeline}
    return sorted((c for c in found if not c.__module__.startswith(EXCLUDED_MODULES)
                   and f"{c.__module__}.{c.__qualname__}" not in EXCLUDED_CLASSES),
                  key=lambda c: (len(c.__mro__), c.__module__, c.__qualname__))


def _without_autolog(original: Any) -> Any:
    def patched(*args: Any, **kwargs: Any) -> Any:
        with no_logging():
            return original(*args, **kwargs)
    return patched


def _fit_wrapper(original: Any) -> Any:
    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        settings = _on.settings
        with training(FLAVOR, settings) as run:
            if run is None:
                return original(self, *args, **kwargs)
            X, y, weight = fit_data(args, kwargs)
            safely(settings, f"log the params of {type(self).__name__}", log_params_and_tags,
                   run, self, _is_search(self))
            if settings.log_datasets:
                from .datasets import log_dataset

                safely(settings, "log the training dataset", log_dataset, run, X, y, "train")
            result = original(self, *args, **kwargs)
            safely(settings, f"log the fitted {type(self).__name__}", _after_fit, run, self, X, y,
                   weight, settings)
            MANAGER.remember(self, run)
            return result
    return patched


def fit_data(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(X, y, sample_weight) of a ``fit(X, y, sample_weight=...)`` call."""
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y", kwargs.get("Y"))
    return X, y, kwargs.get("sample_weight")


def _is_search(estimator: Any) -> bool:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    return isinstance(estimator, (GridSearchCV, RandomizedSearchCV))


def log_params_and_tags(run: Any, estimator: Any, shallow: bool = False) -> None:
    run.log_params(stringified(run, estimator.get_params(deep=not shallow)))
    run.set_tags({"estimator_name": type(estimator).__name__,
                  "estimator_class": f"{type(estimator).__module__}.{type(estimator).__name__}"})


def stringified(run: Any, params: dict[str, Any]) -> dict[str, str]:
    """Params as strings, cut to the destination's value limit (as MLflow truncates them)."""
    limit = run._limits.max_param_value_length
    return {str(k): str(v)[:limit] for k, v in params.items()}


def log_fitted_model(run: Any, model: Any, name: str, X: Any) -> None:
    """``run.log_model`` with a signature inferred from the first rows of ``X``."""
    from ..models.signature import infer_signature

    signature = None
    try:
        sample = X.iloc[:SAMPLE_ROWS] if hasattr(X, "iloc") else X[:SAMPLE_ROWS]
        signature = infer_signature(sample, model.predict(sample))
    except Exception:
        pass
    run.log_model(model, name=name, signature=signature)


def _after_fit(run: Any, estimator: Any, X: Any, y: Any, weight: Any, settings: Settings) -> None:
    from .sklearn_metrics import classifier_plots, training_metrics

    if settings.log_models:
        safely(settings, "log the model", log_fitted_model, run, estimator, "model", X)
    metrics = training_metrics(estimator, X, y, weight)
    if metrics:
        run.log_metrics(metrics)
    with tempfile.TemporaryDirectory(prefix="trackbridge-autolog-") as tmp:
        for path in classifier_plots(estimator, X, y, Path(tmp)):
            run.log_artifact(path)
    safely(settings, "log estimator.html", _log_html, run, estimator)
    if _is_search(estimator):
        _after_search(run, estimator, X, y, settings)


def _log_html(run: Any, estimator: Any) -> None:
    from sklearn.utils import estimator_html_repr

    run.log_text('<!DOCTYPE html>\n<html lang="en">\n  <head>\n    <meta charset="UTF-8"/>\n'
                 f"  </head>\n  <body>\n    {estimator_html_repr(estimator)}\n  </body>\n</html>\n",
                 "estimator.html")


def _after_search(run: Any, search: Any, X: Any, y: Any, settings: Settings) -> None:
    import pandas as pd

    if hasattr(search, "best_estimator_") and settings.log_models:
        safely(settings, "log the best estimator", log_fitted_model, run, search.best_estimator_,
               "best_estimator", X)
    if hasattr(search, "best_score_"):
        run.log_metrics({"best_cv_score": float(search.best_score_)})
    if hasattr(search, "best_params_"):
        run.log_params(stringified(run, {f"best_{k}": v for k, v in search.best_params_.items()}))
    if not hasattr(search, "cv_results_"):
        return
    results = pd.DataFrame.from_dict(search.cv_results_)
    safely(settings, "create the child runs of the search", _child_runs, run, search, results,
           X, y, settings)
    with tempfile.TemporaryDirectory(prefix="trackbridge-autolog-") as tmp:
        path = Path(tmp) / "cv_results.csv"
        results.to_csv(path, index=False)
        run.log_artifact(path)


def _child_runs(run: Any, search: Any, results: Any, X: Any, y: Any, settings: Settings) -> None:
    from .. import fluent

    rank = "rank_test_score" if "rank_test_score" in results.columns else \
        next((c for c in results.columns if "rank_test_" in c), None)
    best = results if settings.max_tuning_runs is None or rank is None else \
        results.nsmallest(settings.max_tuning_runs, rank)
    seed = search.estimator
    base = seed.get_params(deep=not _is_search(seed))
    tags = {"estimator_name": type(seed).__name__,
            "estimator_class": f"{type(seed).__module__}.{type(seed).__name__}"}
    for _, row in best.iterrows():
        child = fluent.start_run(config=run.config, parent_run_id=run.id, tags=tags,
                                 log_system_metrics=False)  # a record, not a process
        try:
            child.log_params(stringified(child, {**base, **row.get("params", {})}))
            child.log_metrics({k: float(v) for k, v in row.items()
                               if not str(k).startswith(("param", "split")) and _is_number(v)})
            if settings.log_datasets:
                from .datasets import log_dataset

                safely(settings, "log the training dataset", log_dataset, child, X, y, "train")
        finally:
            child.end()
