"""The ``xgboost`` flavor: native boosters (``xgboost.Booster``) and the scikit-learn wrappers
(``XGBClassifier``, ``XGBRegressor``, ``XGBRanker``, ...).

Both are saved in XGBoost's own format (``model.ubj`` by default, ``model.json`` with
``XGBoostFlavor(model_format="json")``), which holds the wrapper's attributes too, so nothing
is pickled and loading runs no code from the file. The layout is MLflow's (``data``,
``model_class``, ``model_format``, ``xgb_version``; the ``python_function`` loader
``mlflow.xgboost``), so ``mlflow.xgboost.load_model`` and ``mlflow.pyfunc.load_model`` read it.

Loading instantiates ``model_class`` from ``MLmodel`` only when it is a class of the xgboost
package deriving from ``Booster`` or ``XGBModel``: a tampered file cannot name anything else.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..environment import modules_of
from ..errors import ModelError
from . import Flavor, SavedFlavor

FORMATS = ("ubj", "json")


def _class_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__name__}"


class XGBoostFlavor(Flavor):
    name: ClassVar[str] = "xgboost"
    priority: ClassVar[int] = 20  # before sklearn: the wrappers are sklearn estimators too

    def __init__(self, model_format: str = "ubj") -> None:
        if model_format not in FORMATS:
            raise ModelError(f"xgboost model_format must be one of {', '.join(FORMATS)}, "
                             f"got {model_format!r}")
        self.model_format = model_format

    def can_save(self, model: Any) -> bool:
        xgb = sys.modules.get("xgboost")
        return xgb is not None and isinstance(model, (xgb.Booster, xgb.XGBModel))

    def save(self, model: Any, path: Path) -> SavedFlavor:
        import xgboost as xgb

        if not self.can_save(model):
            raise ModelError(f"the xgboost flavor saves xgboost.Booster and XGBModel objects, "
                             f"not {_class_name(model)}")
        file = f"model.{self.model_format}"
        model.save_model(str(path / file))
        config = {"xgb_version": xgb.__version__, "data": file, "model_class": _class_name(model),
                  "model_format": self.model_format, "code": None}
        pyfunc = {"loader_module": "mlflow.xgboost", "data": file}
        modules = {"xgboost"} if isinstance(model, xgb.Booster) else modules_of(model) | {"xgboost"}
        return SavedFlavor(config, pyfunc, modules, set())

    def load(self, path: Path, flavors: Mapping[str, Any], *, allow_pickle: bool,
             trusted_types: Sequence[str]) -> Any:
        import xgboost as xgb

        config = flavors[self.name]
        file = path / str(config.get("data", "model.xgb"))
        if not file.is_file():
            raise ModelError(f"the xgboost model file {file.name} is missing")
        cls = _model_class(str(config.get("model_class", "xgboost.core.Booster")), xgb)
        model = cls()
        model.load_model(str(file))
        return model

    def predict(self, model: Any, data: Any) -> Any:
        """A booster predicts from a ``DMatrix``: data is wrapped as MLflow's pyfunc does."""
        import xgboost as xgb

        if isinstance(model, xgb.Booster) and not isinstance(data, xgb.DMatrix):
            data = xgb.DMatrix(data)
        return model.predict(data)


def _model_class(name: str, xgb: Any) -> type:
    module_name, _, attr = name.rpartition(".")
    refused = ModelError(f"MLmodel names model_class {name!r}; the xgboost flavor loads only "
                         f"xgboost.Booster and xgboost's scikit-learn model classes")
    if module_name.split(".")[0] != "xgboost":
        raise refused
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        raise refused from None
    if not (isinstance(cls, type) and issubclass(cls, (xgb.Booster, xgb.XGBModel))):
        raise refused
    return cls
