"""``tb.lightgbm.autolog()``: ``lightgbm.train`` and the scikit-learn wrappers (``LGBMClassifier``, ...).

Logged as ``mlflow.lightgbm.autolog`` does: the booster params and ``train``'s other arguments
(``num_boost_round``, ``keep_training_booster``, ...); per iteration, through LightGBM's callback
API into the run's buffered ``log_metrics``, ``<valid set>-<metric>`` (``training-l2``,
``valid_0-multi_logloss``) at step = iteration; with early stopping ``stopped_iteration``,
``best_iteration`` and the best iteration's metrics again; the ``split`` and ``gain`` feature
importance as JSON and plots; the training and validation datasets; and the model in the
``lightgbm`` flavor. The wrappers also get post-training metrics, as scikit-learn estimators do.
"""

from __future__ import annotations

from typing import Any

from . import boosting
from .evaluation import Integration, patch_estimator
from .patching import Settings, safely

FLAVOR = "lightgbm"
UNLOGGED = ("params", "train_set", "valid_sets", "valid_names", "fobj", "feval", "init_model",
            "learning_rates", "callbacks")
IMPORTANCE_TYPES = ("split", "gain")

_on = Integration(FLAVOR)


def autolog(log_models: bool = True, log_datasets: bool = True, disable: bool = False,
            silent: bool = False, max_tuning_runs: int | None = 5) -> None:
    """Autolog LightGBM (see the module doc); ``disable=True`` restores every method."""
    if not _on.reset(disable, Settings(log_models, log_datasets, silent, max_tuning_runs)):
        return
    import lightgbm
    import lightgbm.sklearn

    train = boosting.train_wrapper(FLAVOR, lambda: _on.settings, UNLOGGED, _callback,
                                   _log_datasets, _after_train)
    _on.patches.patch(lightgbm, "train", train)
    _on.patches.patch(lightgbm.sklearn, "train", train)
    for cls in (lightgbm.LGBMModel, lightgbm.LGBMClassifier, lightgbm.LGBMRegressor,
                lightgbm.LGBMRanker):
        _on.patches.patch(cls, "fit", boosting.wrapper_fit(FLAVOR, lambda: _on.settings))
        patch_estimator(_on.patches, cls, _on.settings)


def _callback(run: Any, results: list[dict[str, float]], settings: Settings) -> Any:
    def autolog_callback(env: Any) -> None:
        values = {f"{item[0]}-{item[1]}".replace("@", "_at_"): float(item[2])
                  for item in env.evaluation_result_list}
        results.append(values)
        safely(settings, "log the iteration's metrics", run.log_metrics, values,
               step=env.iteration)

    return autolog_callback


def _log_datasets(run: Any, original: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    from .datasets import log_dataset

    train_set = boosting.argument(original, args, kwargs, "train_set")
    if train_set is not None:
        log_dataset(run, train_set.data, train_set.label, "train")
    names = boosting.argument(original, args, kwargs, "valid_names") or []
    for i, valid in enumerate(boosting.argument(original, args, kwargs, "valid_sets") or ()):
        log_dataset(run, valid.data, valid.label, "eval", name=names[i] if i < len(names) else None)


def _after_train(run: Any, model: Any, results: list[dict[str, float]], original: Any,
                 args: tuple[Any, ...], kwargs: dict[str, Any], settings: Settings,
                 log_model: bool) -> None:
    best = int(model.best_iteration or 0)
    if best > 0 and results:
        boosting.log_early_stopping(run, results, len(results), best,
                                    results[best - 1] if best <= len(results) else {})
    names = model.feature_name()
    for kind in IMPORTANCE_TYPES:
        values = safely(settings, f"compute the {kind} importance", model.feature_importance,
                        importance_type=kind)
        if values is not None:
            safely(settings, f"log the {kind} importance", boosting.log_importance, run,
                   dict(zip(names, map(float, values))), kind)
    if log_model and settings.log_models:
        safely(settings, "log the model", run.log_model, model, name="model")
