"""Flavors: how one kind of model is written to and read from a model directory.

A flavor is a plugin (hook ``trackbridge_register_flavors``). ``log_model`` asks every
registered flavor, highest :attr:`Flavor.priority` first, whether it can save the model
(or uses the one named by ``flavor=``); loading uses the first registered flavor that
recognises the ``flavors`` table of the ``MLmodel`` file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ModelError


@dataclass
class SavedFlavor:
    """What :meth:`Flavor.save` wrote, for the ``MLmodel`` file and the requirements."""

    #: this flavor's table under ``flavors:`` (None: the model has no framework flavor)
    config: dict[str, Any] | None
    #: the ``python_function`` table (``loader_module``, ``model_path``/``data``, ...)
    pyfunc: dict[str, Any]
    #: top-level modules the saved model needs at load time
    modules: set[str] = field(default_factory=set)
    #: distributions needed to load it (serialisation libraries), pinned like the modules
    distributions: set[str] = field(default_factory=set)


class Flavor(ABC):
    """One kind of model. Subclasses set :attr:`name` and implement the four methods.

    Import the framework inside the methods: flavors are registered on every plugin load.
    """

    #: the key under ``flavors:`` in ``MLmodel`` (and the value of ``log_model(flavor=...)``)
    name: ClassVar[str] = ""
    #: higher is asked first when ``log_model`` picks a flavor by itself
    priority: ClassVar[int] = 0

    @abstractmethod
    def can_save(self, model: Any) -> bool:
        """True when this flavor knows how to save ``model`` (must not import a framework
        that the caller has not imported: check ``sys.modules`` first)."""

    @abstractmethod
    def save(self, model: Any, path: Path) -> SavedFlavor:
        """Write the model's files into the directory ``path``; say what was written."""

    def can_load(self, flavors: Mapping[str, Any]) -> bool:
        """True when this flavor reads a model whose ``MLmodel`` has these ``flavors``."""
        return self.name in flavors

    @abstractmethod
    def load(self, path: Path, flavors: Mapping[str, Any], *, allow_pickle: bool,
             trusted_types: Sequence[str]) -> Any:
        """Return the model (an object with ``predict``) from the directory ``path``.

        A format whose loading runs code from the files (pickle) must raise
        :class:`~trackbridge.models.errors.UnsafeModelError` unless ``allow_pickle``.
        """

    def predict(self, model: Any, data: Any) -> Any:
        """Predict with a model this flavor loaded (override when the framework object needs
        its input converted first, like an XGBoost booster's ``DMatrix``)."""
        return model.predict(data)


def flavor_classes() -> dict[str, type[Flavor]]:
    """Registered flavors: name -> class, from every plugin's ``trackbridge_register_flavors``."""
    from ...plugins import collect_classes

    return collect_classes("trackbridge_register_flavors", "name", "flavor")


def flavor_for_saving(model: Any, flavor: str | Flavor | None) -> Flavor:
    """The flavor named (or given), else the highest-priority one that can save ``model``."""
    if isinstance(flavor, Flavor):
        return flavor
    classes = flavor_classes()
    if flavor is not None:
        if flavor not in classes:
            raise ModelError(f"unknown flavor {flavor!r}; installed flavors: "
                             f"{', '.join(sorted(classes))}")
        return classes[flavor]()
    for cls in sorted(classes.values(), key=lambda c: -c.priority):
        candidate = cls()
        if candidate.can_save(model):
            return candidate
    raise ModelError(f"no installed flavor can save a {type(model).__module__}."
                     f"{type(model).__qualname__} (it needs a predict method); installed "
                     f"flavors: {', '.join(sorted(classes))}")


def flavor_for_loading(flavors: Mapping[str, Any]) -> Flavor:
    """The registered flavor that reads a model with these ``MLmodel`` flavors."""
    classes = flavor_classes()
    for cls in sorted(classes.values(), key=lambda c: -c.priority):
        candidate = cls()
        if candidate.can_load(flavors):
            return candidate
    raise ModelError(f"no installed trackbridge flavor reads a model with flavors "
                     f"{', '.join(sorted(flavors))}; installed flavors: "
                     f"{', '.join(sorted(classes))} (mlflow.pyfunc.load_model may load it)")


__all__ = ["Flavor", "SavedFlavor", "flavor_classes", "flavor_for_loading", "flavor_for_saving"]
