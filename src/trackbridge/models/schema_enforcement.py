"""Check model input against the model's signature, MLflow's way: one implementation for
``LoadedModel.predict``, the scoring server and batch scoring, so the messages are the same.

Column schemas (``[{"name": "age", "type": "double", "required": true}, ...]``):

* a required column that is missing is an error naming every missing column;
* columns the signature does not name are dropped, with an :class:`ExtraInputsWarning`;
* safe conversions are applied: integer -> long / double (and to a wider integer), float ->
  double, object -> string, datetime64 of any unit -> datetime; anything else is an error
  naming the column and both types;
* the result is a DataFrame with the signature's columns in the signature's order (dicts
  and lists of records become one); a plain list (of values or of rows) is checked the same
  way but handed to the model as it was given, so a ``python_function`` model written for
  lists keeps receiving lists.

A signature without names checks the number of columns and converts them by position.
Tensor schemas (``[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]``)
check the number of dimensions, every fixed dimension and the exact dtype.

Deliberate difference from MLflow: MLflow's ``_enforce_mlflow_datatype`` refuses int64 ->
double (precision above 2**53), yet its scoring server casts JSON integers to the schema's
types before enforcing; here int64 -> double is a safe conversion everywhere, so a JSON ``1``
for a double column works the same in ``predict`` and in the server.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import SchemaEnforcementError

#: MLflow column types -> numpy dtype names (string and binary columns hold Python objects)
NUMPY_TYPES = {"boolean": "bool", "integer": "int32", "long": "int64", "float": "float32",
               "double": "float64", "string": "object", "binary": "object",
               "datetime": "datetime64[ns]"}


class ExtraInputsWarning(UserWarning):
    """The input had columns the model's signature does not name; they were dropped."""


def input_schema(signature: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """The input specs of a signature as stored in ``MLmodel`` (None: nothing to enforce)."""
    if not signature or not signature.get("inputs"):
        return None
    inputs = signature["inputs"]
    specs = json.loads(inputs) if isinstance(inputs, str) else inputs
    return list(specs) if specs else None


def is_tensor_schema(schema: Sequence[Mapping[str, Any]]) -> bool:
    return bool(schema) and schema[0].get("type") == "tensor"


def describe_schema(schema: Sequence[Mapping[str, Any]]) -> str:
    """``age (double), plan (string, optional)`` or ``tensor float64 [-1, 4]``."""
    parts = []
    for spec in schema:
        if spec.get("type") == "tensor":
            tensor = spec["tensor-spec"]
            name = f"{spec['name']}: " if spec.get("name") else ""
            parts.append(f"{name}tensor {tensor['dtype']} {list(tensor['shape'])}")
        else:
            optional = "" if spec.get("required", True) else ", optional"
            parts.append(f"{spec.get('name', '<unnamed>')} ({spec['type']}{optional})")
    return ", ".join(parts)


def _fail(detail: str, schema: Sequence[Mapping[str, Any]]) -> SchemaEnforcementError:
    return SchemaEnforcementError(f"Failed to enforce schema of the input data: {detail} "
                                  f"(model signature inputs: {describe_schema(schema)})")


def enforce_schema(data: Any, schema: Sequence[Mapping[str, Any]] | None) -> Any:
    """``data`` checked and converted for a model whose signature inputs are ``schema``.

    Raises :class:`~.errors.SchemaEnforcementError` (a ``ValidationError``) on a mismatch.
    """
    if not schema:
        return data
    if is_tensor_schema(schema):
        return _enforce_tensors(data, schema)
    checked = _enforce_columns(_as_frame(data, schema), schema)
    if isinstance(data, (list, tuple)) and not any(isinstance(r, Mapping) for r in data):
        return data  # a plain list is checked, then given to the model as the caller made it
    return checked


# -- columns ------------------------------------------------------------------------------
def _as_frame(data: Any, schema: Sequence[Mapping[str, Any]]) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    try:
        if isinstance(data, Mapping):
            scalars = all(np.isscalar(v) or v is None for v in data.values())
            return pd.DataFrame([data] if scalars else data)
        if np.isscalar(data):
            return pd.DataFrame([data])
        if isinstance(data, (list, tuple, np.ndarray)):
            return pd.DataFrame(data)
    except (ValueError, TypeError) as exc:
        raise _fail(f"the input cannot be read as a DataFrame: {exc}", schema) from None
    raise _fail(f"a model with a column-based signature takes a DataFrame (or a dict, a list "
                f"of records, an array), got {type(data).__name__}", schema)


def _enforce_columns(frame: Any, schema: Sequence[Mapping[str, Any]]) -> Any:
    import pandas as pd

    named = all(spec.get("name") is not None for spec in schema)
    if not named:
        if len(frame.columns) < len(schema):
            raise _fail(f"the signature declares {len(schema)} unnamed inputs but the input has "
                        f"{len(frame.columns)} column(s)", schema)
        columns = list(frame.columns[:len(schema)])
        converted = {c: _convert(c, frame[c], spec["type"], schema)
                     for c, spec in zip(columns, schema)}
        return pd.DataFrame(converted, index=frame.index)
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise _fail(f"the input has duplicate columns {duplicated}", schema)
    if _conforms(frame, schema):
        return frame  # the common case (and the server's hot path): nothing to convert or drop
    present = {str(c): c for c in frame.columns}
    missing = [s["name"] for s in schema if s.get("required", True) and s["name"] not in present]
    if missing:
        raise _fail(f"Model is missing inputs {missing}", schema)
    wanted = {s["name"] for s in schema}
    extra = [name for name in present if name not in wanted]
    if extra:
        warnings.warn(f"Found extra inputs in the model input that are not defined in the model "
                      f"signature: {extra}. These inputs will be ignored.", ExtraInputsWarning,
                      stacklevel=4)
    converted = {s["name"]: _convert(s["name"], frame[present[s["name"]]], s["type"], schema)
                 for s in schema if s["name"] in present}
    return pd.DataFrame(converted, index=frame.index)


def _conforms(frame: Any, schema: Sequence[Mapping[str, Any]]) -> bool:
    """True when ``frame`` has exactly the signature's columns, in order, each already of its
    type (strings as object / str columns): enforcing would change nothing."""
    import numpy as np
    import pandas as pd

    if list(frame.columns) != [s["name"] for s in schema]:
        return False
    for spec, dtype in zip(schema, frame.dtypes):
        type_name = spec["type"]
        if type_name == "string":
            if not (dtype.kind == "O" or isinstance(dtype, pd.StringDtype)):
                return False
        elif type_name not in NUMPY_TYPES or type_name == "binary" or \
                dtype != np.dtype(NUMPY_TYPES[type_name]):
            return False
    return True


def _convert(name: Any, values: Any, type_name: str, schema: Sequence[Mapping[str, Any]]) -> Any:
    """One column converted to ``type_name`` by the safe rules, or an error naming both types."""
    import numpy as np
    import pandas as pd

    if type_name not in NUMPY_TYPES:  # arrays, objects, maps: passed through as MLflow's do
        return values
    dtype = values.dtype
    if type_name in ("string", "binary"):
        if dtype.kind == "O" or isinstance(dtype, pd.StringDtype):
            return values
        if type_name == "binary" and dtype.kind == "S":
            return values
        raise _incompatible(name, dtype, type_name, schema)
    if dtype.kind == "O":
        values = values.infer_objects()
        dtype = values.dtype
        if dtype.kind == "O" and type_name == "boolean":
            return values  # booleans with None: converting would turn None into False
    target = np.dtype(NUMPY_TYPES[type_name])
    if dtype == target:
        return values
    if type_name == "datetime":
        if dtype.kind == "M":
            return values.astype(target)
        raise _incompatible(name, dtype, type_name, schema)
    kind, size = getattr(dtype, "kind", "O"), getattr(dtype, "itemsize", 0)
    safe = ((kind == target.kind and size <= target.itemsize)
            or (kind == "u" and target.kind == "i" and size < target.itemsize)
            or (kind in "iu" and target == np.float64)
            or (kind in "iu" and target == np.float32 and size <= 2))
    if not safe:
        raise _incompatible(name, dtype, type_name, schema)
    return values.astype(target)


def _incompatible(name: Any, dtype: Any, type_name: str,
                  schema: Sequence[Mapping[str, Any]]) -> SchemaEnforcementError:
    return _fail(f"Incompatible input types for column {name}. Can not safely convert {dtype} "
                 f"to {type_name}", schema)


# -- tensors ------------------------------------------------------------------------------
def _enforce_tensors(data: Any, schema: Sequence[Mapping[str, Any]]) -> Any:
    import numpy as np
    import pandas as pd

    if schema[0].get("name") is not None and len(schema) > 1 or isinstance(data, Mapping):
        if not isinstance(data, Mapping):
            raise _fail(f"a model with named tensor inputs takes a dict of name -> array, got "
                        f"{type(data).__name__}", schema)
        missing = [s["name"] for s in schema if s.get("name") not in data]
        if missing:
            raise _fail(f"Model is missing inputs {missing}", schema)
        return {s["name"]: _check_tensor(np.asarray(data[s["name"]]), s, schema) for s in schema}
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise _fail("the input DataFrame is empty", schema)
        data = data.to_numpy()
    if not isinstance(data, np.ndarray):
        raise _fail(f"a model with a tensor signature takes a numpy array, got "
                    f"{type(data).__name__}", schema)
    return _check_tensor(data, schema[0], schema)


def _check_tensor(values: Any, spec: Mapping[str, Any],
                  schema: Sequence[Mapping[str, Any]]) -> Any:
    import numpy as np

    tensor = spec["tensor-spec"]
    expected = tuple(tensor["shape"])
    shape = values.shape
    if len(shape) != len(expected) or any(e not in (-1, a) for e, a in zip(expected, shape)):
        label = f" {spec['name']}" if spec.get("name") else ""
        raise _fail(f"Shape of input{label} {shape} does not match expected shape {expected}", schema)
    if values.dtype != np.dtype(tensor["dtype"]):
        raise _fail(f"dtype of input {values.dtype} does not match expected dtype "
                    f"{tensor['dtype']}", schema)
    return values


__all__ = ["ExtraInputsWarning", "NUMPY_TYPES", "describe_schema", "enforce_schema",
           "input_schema", "is_tensor_schema"]
