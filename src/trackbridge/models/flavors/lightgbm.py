"""The ``lightgbm`` flavor: native boosters (``lightgbm.Booster``) and the scikit-learn wrappers
(``LGBMClassifier``, ``LGBMRegressor``, ``LGBMRanker``).

A booster is saved as LightGBM's text model (``model.lgb``), read back without running code
from the file. A wrapper holds more than the booster (classes, label encoder, fit params), so it
is saved like an sklearn model: with skops by default (``model.skops``; loading trusts the
classes of lightgbm, scikit-learn, numpy and scipy, and ``collections.OrderedDict``), or with
``LightGBMFlavor(serialization="pickle" | "cloudpickle")`` (``model.pkl``, which warns and loads
only with ``allow_pickle=True``). The layout is MLflow's (``data``, ``model_class``,
``lgb_version``, ``serialization_format``, ``skops_trusted_types``; the ``python_function``
loader ``mlflow.lightgbm``), so ``mlflow.lightgbm.load_model`` and ``mlflow.pyfunc.load_model``
read it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..environment import modules_of
from ..errors import ModelError
from . import Flavor, SavedFlavor
from .sklearn import FILES, SKOPS, TRUSTED_PACKAGES, dump, load

BOOSTER_FILE = "model.lgb"
BOOSTER_CLASS = "lightgbm.basic.Booster"
#: besides classes of these packages, what a skops file of a wrapper may name
TRUSTED_NAMES = ("collections.OrderedDict",)


class LightGBMFlavor(Flavor):
    name: ClassVar[str] = "lightgbm"
    priority: ClassVar[int] = 20  # before sklearn: the wrappers are sklearn estimators too

    def __init__(self, serialization: str = SKOPS) -> None:
        if serialization not in FILES:
            raise ModelError(f"lightgbm serialization must be one of {', '.join(FILES)}, "
                             f"got {serialization!r}")
        self.serialization = serialization

    def can_save(self, model: Any) -> bool:
        lgb = sys.modules.get("lightgbm")
        return lgb is not None and isinstance(model, (lgb.Booster, lgb.LGBMModel))

    def save(self, model: Any, path: Path) -> SavedFlavor:
        import lightgbm as lgb

        if not self.can_save(model):
            raise ModelError(f"the lightgbm flavor saves lightgbm.Booster and LGBMModel objects, "
                             f"not {type(model).__module__}.{type(model).__qualname__}")
        config: dict[str, Any] = {"lgb_version": lgb.__version__,
                                  "model_class": f"{type(model).__module__}.{type(model).__name__}",
                                  "code": None}
        if isinstance(model, lgb.Booster):
            model.save_model(str(path / BOOSTER_FILE))
            config.update(data=BOOSTER_FILE, serialization_format=None, skops_trusted_types=None)
            modules, libraries = {"lightgbm"}, set()
        else:
            file = FILES[self.serialization]
            trusted, library = dump(model, path / file, self.serialization)
            config.update(data=file, serialization_format=self.serialization,
                          skops_trusted_types=trusted)
            modules, libraries = modules_of(model) | {"lightgbm"}, {library} - {None}
        pyfunc = {"loader_module": "mlflow.lightgbm", "data": config["data"]}
        return SavedFlavor(config, pyfunc, modules, libraries)

    def load(self, path: Path, flavors: Mapping[str, Any], *, allow_pickle: bool,
             trusted_types: Sequence[str]) -> Any:
        import lightgbm as lgb

        config = flavors[self.name]
        file = path / str(config.get("data", BOOSTER_FILE))
        if config.get("model_class", BOOSTER_CLASS) == BOOSTER_CLASS:
            if not file.is_file():
                raise ModelError(f"the lightgbm model file {file.name} is missing")
            return lgb.Booster(model_file=str(file))
        return load(file, str(config.get("serialization_format") or "cloudpickle"),
                    allow_pickle=allow_pickle, trusted_types=[*trusted_types, *TRUSTED_NAMES],
                    trusted_packages=(*TRUSTED_PACKAGES, "lightgbm"))
