"""What the XGBoost and LightGBM integrations share, in MLflow's shapes.

* :func:`train_params`: the booster ``params`` dict plus every other argument of ``train``
  (defaults filled in) except the data, callbacks and other objects (``unlogged``).
* :func:`with_callback`: the ``train`` arguments with one more callback.
* :func:`log_early_stopping`: ``stopped_iteration``, ``best_iteration`` and the best
  iteration's eval metrics again at the step after the last one.
* :func:`log_importance`: ``feature_importance_<type>.json`` and a bar chart ``.png``.
* :func:`train_wrapper`: the patched ``train`` of either framework.
* :func:`wrapper_fit`: the patched ``fit`` of the scikit-learn wrappers (``XGBClassifier``,
  ``LGBMRegressor``, ...): a session whose inner ``train`` logs params and metrics, then the
  model in the framework's flavor, then post-training metrics as for scikit-learn.
"""

from __future__ import annotations

import inspect
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .patching import Settings, active_session, safely, training
from .post_training import MANAGER


def train_params(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 unlogged: tuple[str, ...]) -> dict[str, Any]:
    signature = inspect.signature(original)
    bound = signature.bind_partial(*args, **kwargs)
    params = dict(bound.arguments.get("params") or {})
    for name, parameter in signature.parameters.items():
        if name in unlogged or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        value = bound.arguments.get(name, parameter.default)
        if value is not inspect.Parameter.empty:
            params[name] = value
    return params


def with_callback(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                  callback: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``args, kwargs`` of a ``train`` call with ``callback`` appended to its ``callbacks``."""
    names = list(inspect.signature(original).parameters)
    index = names.index("callbacks")
    if len(args) > index:
        args = (*args[:index], [*(args[index] or []), callback], *args[index + 1:])
    else:
        kwargs = {**kwargs, "callbacks": [*(kwargs.get("callbacks") or []), callback]}
    return args, kwargs


def argument(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
             name: str) -> Any:
    bound = inspect.signature(original).bind_partial(*args, **kwargs)
    return bound.arguments.get(name)


def log_early_stopping(run: Any, results: list[dict[str, float]], stopped: int, best: int,
                       best_results: dict[str, float]) -> None:
    run.log_metrics({"stopped_iteration": stopped, "best_iteration": best})
    if best_results:
        run.log_metrics(best_results, step=len(results))


def log_importance(run: Any, importance: dict[str, float], kind: str) -> None:
    with tempfile.TemporaryDirectory(prefix="trackbridge-autolog-") as tmp:
        path = Path(tmp) / f"feature_importance_{kind}.json"
        path.write_text(json.dumps(importance))
        run.log_artifact(path)
        try:
            import matplotlib

            matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError:
            return
        ordered = sorted(importance.items(), key=lambda kv: kv[1])
        fig, ax = plt.subplots(figsize=(6.4, 4.8 + (0.1 * len(ordered) if len(ordered) > 10 else 0)))
        try:
            ax.barh(range(len(ordered)), [v for _, v in ordered], align="center", height=0.5)
            ax.set_yticks(range(len(ordered)))
            ax.set_yticklabels([k for k, _ in ordered])
            ax.set_xlabel("Importance")
            ax.set_title(f"Feature Importance ({kind})")
            fig.tight_layout()
            png = Path(tmp) / f"feature_importance_{kind}.png"
            fig.savefig(png)
            run.log_artifact(png)
        finally:
            plt.close(fig)


def wrapper_fit(flavor: str, settings_of: Callable[[], Settings]) -> Callable[[Any], Any]:
    """The patch factory for a wrapper class's ``fit`` (see the module doc)."""
    from .sklearn import fit_data, log_fitted_model

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
            settings = settings_of()
            with training(flavor, settings, children=(f"{flavor}-train",)) as run:
                if run is None:
                    return original(self, *args, **kwargs)
                result = original(self, *args, **kwargs)
                if settings.log_models:
                    safely(settings, f"log the fitted {type(self).__name__}", log_fitted_model,
                           run, self, "model", fit_data(args, kwargs)[0])
                MANAGER.remember(self, run)
                return result
        return patched
    return make


def train_wrapper(flavor: str, settings_of: Callable[[], Settings], unlogged: tuple[str, ...],
                  make_callback: Callable[..., Any], log_datasets: Callable[..., Any],
                  after_train: Callable[..., Any]) -> Callable[[Any], Any]:
    """The patch factory for ``<framework>.train``: params, datasets, the per-iteration
    callback, then ``after_train(run, model, results, original, args, kwargs, settings,
    log_model)`` (``log_model`` is False inside a wrapper's ``fit``, which logs the wrapper)."""
    from .sklearn import stringified

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def patched(*args: Any, **kwargs: Any) -> Any:
            settings = settings_of()
            outer = active_session()
            inside_wrapper = outer is not None and outer.flavor == flavor
            with training(f"{flavor}-train", settings) as run:
                if run is None:
                    return original(*args, **kwargs)
                params = stringified(run, train_params(original, args, kwargs, unlogged))
                safely(settings, "log the training params", run.log_params, params)
                if settings.log_datasets:
                    safely(settings, "log the datasets", log_datasets, run, original, args, kwargs)
                results: list[dict[str, float]] = []
                callback = safely(settings, "add the metrics callback", make_callback, run,
                                  results, settings)
                if callback is not None:
                    args, kwargs = with_callback(original, args, kwargs, callback)
                model = original(*args, **kwargs)
                safely(settings, "log the training results", after_train, run, model, results,
                       original, args, kwargs, settings, not inside_wrapper)
                return model
        return patched
    return make
