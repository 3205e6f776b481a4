"""``tb.xgboost.autolog()``: ``xgboost.train`` and the scikit-learn wrappers (``XGBClassifier``, ...).

Logged as ``mlflow.xgboost.autolog`` does: the booster params and ``train``'s other arguments
(``num_boost_round``, ``early_stopping_rounds``, ...); per iteration, through XGBoost's callback
API into the run's buffered ``log_metrics``, ``<eval set>-<metric>`` of every eval set
(``train-rmse``, ``validation_0-logloss``; ``@`` written ``_at_``) at step = iteration; with early
stopping ``stopped_iteration``, ``best_iteration`` and the best iteration's metrics again; the
feature importance (``importance_types``, default ``["weight"]``) as JSON and a plot; the
training and eval datasets; and the model in the ``xgboost`` flavor. The wrappers also get
post-training metrics, as scikit-learn estimators do.
"""

from __future__ import annotations

from typing import Any

from . import boosting
from .evaluation import Integration, patch_estimator
from .patching import Settings, safely

FLAVOR = "xgboost"
UNLOGGED = ("params", "dtrain", "evals", "obj", "feval", "evals_result", "xgb_model", "callbacks",
            "learning_rates")

_on = Integration(FLAVOR)


def autolog(log_models: bool = True, log_datasets: bool = True, disable: bool = False,
            silent: bool = False, max_tuning_runs: int | None = 5,
            importance_types: list[str] | None = None) -> None:
    """Autolog XGBoost (see the module doc); ``disable=True`` restores every method."""
    if not _on.reset(disable, Settings(log_models, log_datasets, silent, max_tuning_runs,
                         {"importance_types": list(importance_types or ["weight"])})):
        return
    import xgboost
    import xgboost.sklearn

    train = boosting.train_wrapper(FLAVOR, lambda: _on.settings, UNLOGGED, _callback,
                                   _log_datasets, _after_train)
    _on.patches.patch(xgboost, "train", train)
    _on.patches.patch(xgboost.sklearn, "train", train)
    classes = [xgboost.XGBModel, *_subclasses(xgboost.XGBModel)]
    for cls in classes:
        _on.patches.patch(cls, "fit", boosting.wrapper_fit(FLAVOR, lambda: _on.settings))
        patch_estimator(_on.patches, cls, _on.settings)


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _callback(run: Any, results: list[dict[str, float]], settings: Settings) -> Any:
    import xgboost

    class AutologCallback(xgboost.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            values = {f"{data}-{metric}".replace("@", "_at_"): float(history[-1])
                      for data, metrics in evals_log.items() for metric, history in metrics.items()}
            results.append(values)
            safely(settings, "log the iteration's metrics", run.log_metrics, values, step=epoch)
            return False

    return AutologCallback()


def _log_datasets(run: Any, original: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    from .datasets import log_dataset

    dtrain = boosting.argument(original, args, kwargs, "dtrain")
    if dtrain is not None:
        log_dataset(run, dtrain.get_data(), None, "train")
    for matrix, name in boosting.argument(original, args, kwargs, "evals") or ():  # dtrain too
        log_dataset(run, matrix.get_data(), None, "eval", name=name)


def _after_train(run: Any, model: Any, results: list[dict[str, float]], original: Any,
                 args: tuple[Any, ...], kwargs: dict[str, Any], settings: Settings,
                 log_model: bool) -> None:
    if boosting.argument(original, args, kwargs, "early_stopping_rounds") and results:
        best = int(model.best_iteration)
        boosting.log_early_stopping(run, results, len(results) - 1, best,
                                    results[best] if best < len(results) else {})
    for kind in (settings.extra or {}).get("importance_types", ["weight"]):
        importance = safely(settings, f"compute the {kind} importance", model.get_score,
                            importance_type=kind)
        if importance:
            safely(settings, f"log the {kind} importance", boosting.log_importance, run,
                   {k: float(v) for k, v in importance.items()}, kind)
    if log_model and settings.log_models:
        safely(settings, "log the model", _log_booster, run, model, original, args, kwargs)


def _log_booster(run: Any, model: Any, original: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
    import xgboost

    from ..models.signature import infer_signature

    dtrain = boosting.argument(original, args, kwargs, "dtrain")
    signature = None
    try:
        data = dtrain.get_data()
        sample = data[:5].toarray() if hasattr(data, "toarray") else data[:5]
        signature = infer_signature(sample, model.predict(xgboost.DMatrix(sample)))
    except Exception:
        pass
    run.log_model(model, name="model", signature=signature)
