"""Models: save a trained model in the MLflow model format, load it back, register it.

* :mod:`.saving` writes the model directory (``MLmodel``, flavor files, requirements,
  environments, input example); ``ActiveRun.log_model`` logs it to a run.
* :mod:`.flavors` defines the :class:`~.flavors.Flavor` plugin interface; built in are
  ``sklearn`` (skops by default) and ``python_function`` (cloudpickle).
* :mod:`.loading` reads a model directory (``LoadedModel.predict`` enforces the signature with
  :mod:`.schema_enforcement`); :mod:`.api` holds ``load_model``,
  ``register_model``, ``set_model_alias`` and ``list_model_versions``.
* :mod:`.registry` is the registry interface backends implement; :mod:`.local_registry`
  is the local store's.
"""

from __future__ import annotations

from .api import (
    get_model_version,
    list_model_versions,
    list_models,
    load_model,
    register_model,
    set_model_alias,
)
from .errors import (
    ModelError,
    ModelVersionNotFoundError,
    SchemaEnforcementError,
    UnsafeFormatWarning,
    UnsafeModelError,
)
from .flavors import Flavor, SavedFlavor
from .loading import LoadedModel
from .registry import ModelRegistry, ModelSource, ModelVersion
from .saving import ModelInfo, read_mlmodel, save_model

__all__ = ["Flavor", "LoadedModel", "ModelError", "ModelInfo", "ModelRegistry", "ModelSource",
           "ModelVersion", "ModelVersionNotFoundError", "SavedFlavor", "SchemaEnforcementError",
           "UnsafeFormatWarning",
           "UnsafeModelError", "get_model_version", "list_model_versions", "list_models",
           "load_model", "read_mlmodel", "register_model", "save_model", "set_model_alias"]
