"""The ``sklearn`` flavor: scikit-learn estimators and pipelines.

Saved with skops by default (a format that is read without running code from the file);
``SklearnFlavor(serialization="pickle" | "cloudpickle")`` saves a pickle instead, with an
:class:`~trackbridge.models.errors.UnsafeFormatWarning`, and loading that needs
``allow_pickle=True``. The layout is MLflow's (``model.skops`` or ``model.pkl``, the
``python_function`` loader ``mlflow.sklearn``), so ``mlflow.pyfunc.load_model`` reads it.

Loading a skops file checks every type it names that skops does not trust by itself
(``skops.io.get_untrusted_types``): classes defined in scikit-learn, numpy and scipy, named
by their defining module, are accepted (not classes those packages merely import from
elsewhere); anything else only when the caller lists it in ``trusted_types``. The list recorded in
``MLmodel`` (for MLflow's loader) is never trusted: a tampered file could extend it.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..environment import modules_of
from ..errors import ModelError, UnsafeFormatWarning, UnsafeModelError
from . import Flavor, SavedFlavor

SKOPS, PICKLE, CLOUDPICKLE = "skops", "pickle", "cloudpickle"
FILES = {SKOPS: "model.skops", PICKLE: "model.pkl", CLOUDPICKLE: "model.pkl"}
#: packages whose *classes* a skops file may name without the caller trusting them
TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")


def _is_trusted_class(type_name: str, packages: Sequence[str] = TRUSTED_PACKAGES) -> bool:
    """True for a class *defined* in one of ``packages``, named by the module that defines it.
    A class merely reachable there (``sklearn.datasets._covtype.TemporaryDirectory`` is
    ``tempfile.TemporaryDirectory``) is not trusted."""
    module_name, _, attr = type_name.rpartition(".")
    if module_name.split(".")[0] not in packages or not attr:
        return False
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return False
    return (inspect.isclass(found) and getattr(found, "__module__", None) == module_name
            and getattr(found, "__qualname__", None) == attr)


class SklearnFlavor(Flavor):
    name: ClassVar[str] = "sklearn"
    priority: ClassVar[int] = 10

    def __init__(self, serialization: str = SKOPS) -> None:
        if serialization not in FILES:
            raise ModelError(f"sklearn serialization must be one of {', '.join(FILES)}, "
                             f"got {serialization!r}")
        self.serialization = serialization

    def can_save(self, model: Any) -> bool:
        base = sys.modules.get("sklearn.base")
        return base is not None and isinstance(model, base.BaseEstimator) and \
            callable(getattr(model, "predict", None))

    def save(self, model: Any, path: Path) -> SavedFlavor:
        import sklearn

        file = path / FILES[self.serialization]
        trusted, library = dump(model, file, self.serialization)
        config = {"pickled_model": file.name, "serialization_format": self.serialization,
                  "sklearn_version": sklearn.__version__, "code": None,
                  "skops_trusted_types": trusted}
        pyfunc = {"loader_module": "mlflow.sklearn", "model_path": file.name, "predict_fn": "predict"}
        return SavedFlavor(config, pyfunc, modules_of(model) | {"sklearn"},
                           {"scikit-learn"} | ({library} if library else set()))

    def load(self, path: Path, flavors: Mapping[str, Any], *, allow_pickle: bool,
             trusted_types: Sequence[str]) -> Any:
        config = flavors[self.name]
        file = path / config.get("pickled_model", "model.pkl")
        return load(file, config.get("serialization_format", PICKLE), allow_pickle=allow_pickle,
                    trusted_types=trusted_types)


def dump(model: Any, file: Path, serialization: str) -> tuple[list[str] | None, str | None]:
    """Write ``model`` to ``file`` with skops, pickle or cloudpickle (the last two warn).

    Returns the types skops will not trust by itself (for ``MLmodel``) and the serialisation
    library to pin in the requirements (None for the stdlib's pickle)."""
    if serialization == SKOPS:
        import skops.io

        skops.io.dump(model, file)
        return skops.io.get_untrusted_types(file=file) or None, "skops"
    warnings.warn(
        f"saving the model with {serialization}: loading it runs code from the file, "
        f"so it needs load_model(..., allow_pickle=True); skops (the default) does not",
        UnsafeFormatWarning, stacklevel=5)
    import pickle

    if serialization == CLOUDPICKLE:
        import cloudpickle as pickle  # noqa: F811
    with open(file, "wb") as out:
        pickle.dump(model, out)
    return None, "cloudpickle" if serialization == CLOUDPICKLE else None


def load(file: Path, fmt: str, *, allow_pickle: bool, trusted_types: Sequence[str],
         trusted_packages: Sequence[str] = TRUSTED_PACKAGES) -> Any:
    """Read a model file written by :func:`dump`. A skops file may name classes of
    ``trusted_packages`` and the ``trusted_types`` the caller lists; pickles need
    ``allow_pickle``. Anything else raises :class:`UnsafeModelError` naming what is refused."""
    if not file.is_file():
        raise ModelError(f"the model file {file.name} is missing")
    if fmt == SKOPS:
        import skops.io

        untrusted = skops.io.get_untrusted_types(file=file)
        refused = [t for t in untrusted
                   if t not in trusted_types and not _is_trusted_class(t, trusted_packages)]
        if refused:
            raise UnsafeModelError(
                f"refusing to load {file.name}: it names type(s) that are not trusted: "
                f"{', '.join(refused)}. If you made this model and know these types, pass "
                f"load_model(..., trusted_types={refused!r})")
        return skops.io.load(file, trusted=untrusted)
    if fmt not in (PICKLE, CLOUDPICKLE):
        raise ModelError(f"unknown serialization_format {fmt!r} of {file.name}")
    if not allow_pickle:
        raise UnsafeModelError(
            f"refusing to load {file.name}: it is a {fmt} file, and unpickling runs code from the "
            f"file. Load it only if you trust where it came from, with "
            f"load_model(..., allow_pickle=True)")
    import pickle

    if fmt == CLOUDPICKLE:
        import cloudpickle as pickle  # noqa: F811
    with open(file, "rb") as f:
        return pickle.load(f)
