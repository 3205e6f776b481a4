"""The patches behind post-training metrics (see :mod:`.post_training`): ``predict``-like
methods and ``score`` of fitted estimators, and the functions of ``sklearn.metrics``. Shared by
the scikit-learn, XGBoost and LightGBM integrations (their wrappers are sklearn estimators)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .patching import Patches, Settings, safely
from .post_training import MANAGER, RUN_ATTR, _is_number, call_command

PREDICT_METHODS = ("predict", "predict_proba", "transform", "predict_log_proba")
#: sklearn.metrics callables that are not metrics (MLflow's list)
NOT_METRICS = ("check_scoring", "get_scorer", "make_scorer", "get_scorer_names")


def _first_arg(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if args:
        return args[0]
    try:
        names = [n for n in inspect.signature(original).parameters if n != "self"]
    except (TypeError, ValueError):
        return None
    return kwargs.get(names[0]) if names else None


def _fitted_method(settings: Settings, what: str, after: Callable[..., Any]
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A patch factory for a method of fitted estimators: a call on an estimator an autologged
    fit remembered runs unobserved, then ``after(model, original, run_id, value, data, args,
    kwargs, settings)`` (``data``: the first argument, passed along so its name is found)."""
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
            run_id = getattr(self, RUN_ATTR, None)
            if run_id is None or not MANAGER.enabled:
                return original(self, *args, **kwargs)
            with MANAGER.suspended():
                value = original(self, *args, **kwargs)
            safely(settings, what, after, self, original, run_id, value,
                   _first_arg(original, args, kwargs), args, kwargs, settings)
            return value
        return patched
    return make


def _note(model: Any, original: Any, run_id: str, result: Any, data: Any, args: Any, kwargs: Any,
          settings: Settings) -> None:
    name = MANAGER.dataset_name(run_id, data)
    MANAGER.note_prediction(run_id, name, result)
    if settings.log_datasets:
        from .datasets import dataset_of

        dataset = dataset_of(data, None, name=None)
        if dataset is not None:
            MANAGER.log_input(run_id, dataset, "eval")


def _log_score(model: Any, original: Any, run_id: str, value: Any, data: Any,
               args: tuple[Any, ...], kwargs: dict[str, Any], settings: Settings) -> None:
    if _is_number(value):
        name = MANAGER.dataset_name(run_id, data)
        MANAGER.log(run_id, f"{type(model).__name__}_score", name, value,
                    call_command(original, args, kwargs, owner=model))


def predict_wrapper(settings: Settings) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return _fitted_method(settings, "note a prediction for post-training metrics", _note)


def score_wrapper(settings: Settings) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return _fitted_method(settings, "log a post-training score", _log_score)


def metric_wrapper(settings: Settings) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def patched(*args: Any, **kwargs: Any) -> Any:
            if not MANAGER.enabled:
                return original(*args, **kwargs)
            with MANAGER.suspended():
                value = original(*args, **kwargs)
            source = MANAGER.source_of(args, kwargs) if _is_number(value) else None
            if source is not None:
                safely(settings, f"log post-training metric {original.__name__}", MANAGER.log,
                       source[0], original.__name__, source[1], value,
                       call_command(original, args, kwargs))
            return value
        return patched
    return make


def patch_estimator(patches: Patches, cls: type, settings: Settings) -> None:
    """Patch the predict-like methods and ``score`` of ``cls`` (where it has them)."""
    for name in PREDICT_METHODS:
        if hasattr(cls, name):
            patches.patch(cls, name, predict_wrapper(settings))
    if hasattr(cls, "score"):
        patches.patch(cls, "score", score_wrapper(settings))


#: ``sklearn.metrics`` is shared by the integrations: patched once while any of them wants it,
#: restored when the last one is disabled (restoring in another order would leave a wrapper)
_metric_patches = Patches("sklearn.metrics")
_metric_users: dict[str, Settings] = {}


def patch_metrics(flavor: str, settings: Settings) -> None:
    """Patch every metric function of ``sklearn.metrics`` (once for all integrations)."""
    import sklearn.metrics

    first = not _metric_users
    _metric_users[flavor] = settings
    if not first:
        return
    for name in sklearn.metrics.__all__:
        fn = getattr(sklearn.metrics, name, None)
        if name in NOT_METRICS or name.startswith("plot_") or inspect.isclass(fn) or \
                not callable(fn):
            continue
        _metric_patches.patch(sklearn.metrics, name, metric_wrapper(_any_settings))


def unpatch_metrics(flavor: str) -> None:
    """``flavor`` no longer wants metric patches; the last one out restores them."""
    _metric_users.pop(flavor, None)
    if not _metric_users:
        _metric_patches.restore()


class _AnySettings(Settings):
    """The settings of whichever integration is on (silent only when all of them are)."""

    @property  # type: ignore[override]
    def silent(self) -> bool:
        return all(s.silent for s in _metric_users.values())

    @silent.setter
    def silent(self, value: bool) -> None:
        pass


_any_settings = _AnySettings()


class Integration:
    """One framework's autologging: its patches, and the settings its patches read."""

    def __init__(self, flavor: str) -> None:
        self.flavor = flavor
        self.patches = Patches(flavor)
        self.settings = Settings()

    def reset(self, disable: bool, settings: Settings) -> bool:
        """Undo every patch; unless ``disable``, take ``settings`` and patch ``sklearn.metrics``.
        True when the caller patches its framework next."""
        self.patches.restore()
        unpatch_metrics(self.flavor)
        if disable:
            return False
        self.settings = settings
        patch_metrics(self.flavor, settings)
        return True
