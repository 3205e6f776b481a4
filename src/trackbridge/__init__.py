"""trackbridge: log ML experiments once; store them locally; sync them to the cloud.

>>> import trackbridge as tb
>>> with tb.start_run(experiment="churn") as run:
...     run.log_metric("loss", 0.5, step=1)
"""

from .entities import ArtifactEntry, Experiment, Limits, Metric, Run
from .errors import (
    ConfigError,
    ParamConflictError,
    RunNotFoundError,
    TrackbridgeError,
    ValidationError,
)
from .fluent import (
    active_run,
    end_run,
    flush,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_image,
    log_input,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_table,
    log_text,
    set_tag,
    set_tags,
    start_run,
)
from .reading import (
    download_artifacts,
    get_metric_history,
    get_run,
    list_artifacts,
    search_runs,
)
from .run import ActiveRun
from .version import __version__

_MODEL_CALLS = ("load_model", "register_model", "set_model_alias", "list_model_versions")
#: submodules imported on first use: ``tb.data``, ``tb.sklearn.autolog()``, ...
_LAZY_MODULES = {"data": ".data", "sklearn": ".autologging.sklearn",
                 "xgboost": ".autologging.xgboost", "lightgbm": ".autologging.lightgbm"}


def __getattr__(name: str):  # ``tb.hookimpl`` without importing pluggy at ``import trackbridge``
    if name == "hookimpl":
        from .hookspecs import hookimpl

        return hookimpl
    if name in _MODEL_CALLS:  # the models package is imported on first use
        from .models import api

        return getattr(api, name)
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(_LAZY_MODULES[name], __name__)
    if name == "autolog":
        from .autologging import autolog

        return autolog
    raise AttributeError(f"module 'trackbridge' has no attribute {name!r}")


__all__ = [
    "ActiveRun", "ArtifactEntry", "ConfigError", "Experiment", "Limits", "Metric",
    "ParamConflictError", "Run", "RunNotFoundError", "TrackbridgeError", "ValidationError",
    "__version__", "active_run", "autolog", "data", "download_artifacts", "end_run", "flush",
    "get_metric_history", "get_run", "hookimpl", "lightgbm", "list_artifacts", "list_model_versions",
    "load_model", "log_artifact", "log_artifacts", "log_dict", "log_figure", "log_image",
    "log_input", "log_metric", "log_metrics", "log_param", "log_params", "log_table", "log_text",
    "register_model", "search_runs", "set_model_alias", "set_tag", "set_tags", "sklearn",
    "start_run", "xgboost",
]
