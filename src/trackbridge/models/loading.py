"""``tb.load_model``: fetch a model directory by URI and read it with its flavor."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ModelError
from .flavors import flavor_for_loading
from .saving import read_mlmodel
from .schema_enforcement import enforce_schema, input_schema
from .signature import read_example


class LoadedModel:
    """A loaded model: call :meth:`predict`. The framework object is :attr:`raw_model`.

    ``predict`` enforces the signature (see :mod:`.schema_enforcement`) before calling the
    model, exactly as the scoring server does.
    """

    def __init__(self, model: Any, mlmodel: Mapping[str, Any], flavor: str,
                 input_example: Any = None, predict_fn: Callable[[Any], Any] | None = None
                 ) -> None:
        self.raw_model = model
        self._predict = predict_fn or model.predict
        self.metadata: dict[str, Any] = dict(mlmodel)
        self.flavor = flavor
        self.input_example = input_example
        #: the signature's input specs (None: the model has no signature; nothing is checked)
        self.input_schema = input_schema(self.metadata.get("signature"))
        self._takes_params = _accepts_params(model)

    @property
    def signature(self) -> dict[str, Any] | None:
        return self.metadata.get("signature")

    @property
    def run_id(self) -> str | None:
        return self.metadata.get("run_id")

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Predictions for ``data`` after checking and converting it against the signature
        (raises :class:`~.errors.SchemaEnforcementError`). ``params`` go to a model whose
        ``predict`` takes ``params``; other models ignore them with a warning."""
        return self._call(enforce_schema(data, self.input_schema), params)

    def predict_conforming(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        """:meth:`predict` for a DataFrame that already has exactly the signature's columns,
        in order, each of its type (the scoring server built it so): the check is skipped
        because it would return ``data`` unchanged."""
        return self._call(data, params)

    def _call(self, data: Any, params: Mapping[str, Any] | None) -> Any:
        if params:
            if self._takes_params:
                return self._predict(data, params=dict(params))
            import warnings

            warnings.warn(f"the model's predict takes no params; ignoring {sorted(params)}",
                          UserWarning, stacklevel=3)
        return self._predict(data)

    def __repr__(self) -> str:
        return f"<LoadedModel flavor={self.flavor} model={type(self.raw_model).__qualname__} " \
               f"run_id={self.run_id}>"


def _accepts_params(model: Any) -> bool:
    import inspect

    try:
        found = inspect.signature(model.predict).parameters.get("params")
    except (TypeError, ValueError, AttributeError):
        return False
    # a named argument, not sklearn's ``**params`` (metadata routing to the steps)
    return found is not None and found.kind in (found.POSITIONAL_OR_KEYWORD, found.KEYWORD_ONLY)


def load_model_dir(path: str | os.PathLike[str], *, allow_pickle: bool = False,
                   trusted_types: Sequence[str] = (), label: str | None = None) -> LoadedModel:
    """Load the model in the local directory ``path`` (everything is read into memory);
    ``label`` names it in errors (its URI)."""
    root = Path(path)
    mlmodel = read_mlmodel(root)
    flavor = flavor_for_loading(mlmodel["flavors"])
    try:
        model = flavor.load(root, mlmodel["flavors"], allow_pickle=allow_pickle,
                            trusted_types=list(trusted_types))
    except ModelError as exc:
        raise type(exc)(f"cannot load the model {label or root}: {exc}") from None
    example = None
    info = mlmodel.get("saved_input_example_info")
    if isinstance(info, Mapping) and (root / info.get("artifact_path", "")).is_file():
        example = read_example((root / info["artifact_path"]).read_text(), info)
    return LoadedModel(model, mlmodel, flavor.name, example,
                       predict_fn=lambda data: flavor.predict(model, data))
