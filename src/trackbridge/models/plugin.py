"""Default plugin: the built-in flavors and the local store's model registry, registered
through the same hooks as external plugins."""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def trackbridge_register_flavors(register):
    from .flavors.lightgbm import LightGBMFlavor
    from .flavors.pyfunc import PythonFunctionFlavor
    from .flavors.sklearn import SklearnFlavor
    from .flavors.xgboost import XGBoostFlavor

    register(XGBoostFlavor)
    register(LightGBMFlavor)
    register(SklearnFlavor)
    register(PythonFunctionFlavor)


@hookimpl
def trackbridge_register_model_registries(register):
    from .local_registry import LocalModelRegistry

    register(LocalModelRegistry)
