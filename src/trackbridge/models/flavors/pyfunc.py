"""The ``python_function`` flavor: any object with a ``predict(data)`` method.

The object is saved with cloudpickle (``python_model.pkl``): a class defined in a script or
notebook travels with the model. Its module is pickled *by value* when it is not part of an
installed distribution (a ``models.py`` next to the training script), so loading does not
need that file; classes from installed packages are pickled by reference and their
distributions go to ``requirements.txt``. Saving warns, and loading needs
``allow_pickle=True``: unpickling runs code from the file.

``MLmodel`` names the loader ``trackbridge_pyfunc_loader`` shipped in the model's ``code/``
directory, so ``mlflow.pyfunc.load_model`` loads it without trackbridge installed.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..environment import distributions_for, modules_of
from ..errors import ModelError, UnsafeFormatWarning, UnsafeModelError
from . import Flavor, SavedFlavor

LOADER_MODULE = "trackbridge_pyfunc_loader"
DATA_FILE = "python_model.pkl"


class PythonFunctionFlavor(Flavor):
    name: ClassVar[str] = "python_function"
    priority: ClassVar[int] = -100  # the fallback for anything with predict

    def can_save(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None)) and not isinstance(model, type)

    def save(self, model: Any, path: Path) -> SavedFlavor:
        import cloudpickle

        if not self.can_save(model):
            raise ModelError(f"a python_function model needs a predict method; "
                             f"{type(model).__qualname__} has none")
        warnings.warn(
            f"saving {type(model).__qualname__} with cloudpickle: loading it runs code from the "
            f"file, so it needs load_model(..., allow_pickle=True)", UnsafeFormatWarning,
            stacklevel=4)
        module_name = type(model).__module__
        module = sys.modules.get(module_name)
        by_value = (module is not None and module_name != "__main__"
                    and not distributions_for([module_name.split(".")[0]])
                    and module_name.split(".")[0] not in sys.stdlib_module_names)
        if by_value:
            cloudpickle.register_pickle_by_value(module)
        try:
            with open(path / DATA_FILE, "wb") as out:
                cloudpickle.dump(model, out)
        finally:
            if by_value:
                cloudpickle.unregister_pickle_by_value(module)
        code = path / "code"
        code.mkdir()
        shutil.copyfile(Path(__file__).parent.parent / "mlflow_loader.py",
                        code / f"{LOADER_MODULE}.py")
        pyfunc = {"loader_module": LOADER_MODULE, "code": "code", "data": DATA_FILE,
                  "cloudpickle_version": cloudpickle.__version__}
        return SavedFlavor(None, pyfunc, modules_of(model), {"cloudpickle"})

    def can_load(self, flavors: Mapping[str, Any]) -> bool:
        conf = flavors.get(self.name)
        return isinstance(conf, Mapping) and conf.get("loader_module") == LOADER_MODULE

    def load(self, path: Path, flavors: Mapping[str, Any], *, allow_pickle: bool,
             trusted_types: Sequence[str]) -> Any:
        file = path / flavors[self.name].get("data", DATA_FILE)
        if not allow_pickle:
            raise UnsafeModelError(
                f"refusing to load {file.name}: python_function models are cloudpickle files, and "
                f"unpickling runs code from the file. Load it only if you trust where it came "
                f"from, with load_model(..., allow_pickle=True)")
        import cloudpickle

        with open(file, "rb") as f:
            return cloudpickle.load(f)
