"""Model signatures and input examples in MLflow's format.

A signature is ``{"inputs": <json>, "outputs": <json or None>, "params": None}`` where each
``<json>`` is a JSON *string* (that is how MLflow stores it in ``MLmodel``) holding either a
column schema, ``[{"type": "double", "name": "age", "required": true}, ...]``, or one tensor
spec, ``[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]``.

Inferred from: pandas DataFrames and Series, numpy arrays (2-D and up: tensors; 1-D: one
unnamed column), dicts of column -> values, lists of records (dicts), lists of scalars and
lists of rows (a tensor). Anything else gives no signature rather than a wrong one.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"

_NUMPY_KINDS = {"b": "boolean", "U": "string", "S": "binary", "M": "datetime"}
_NUMPY_SIZES = {("i", 1): "integer", ("i", 2): "integer", ("i", 4): "integer", ("i", 8): "long",
                ("u", 1): "integer", ("u", 2): "integer", ("u", 4): "long",
                ("f", 2): "float", ("f", 4): "float", ("f", 8): "double"}


def _python_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bytes, bytearray)):
        return "binary"
    if isinstance(value, dt.datetime):
        return "datetime"
    dtype = getattr(value, "dtype", None)  # a numpy scalar
    return _dtype_type(dtype) if dtype is not None and getattr(value, "ndim", 1) == 0 else None


def _dtype_type(dtype: Any) -> str | None:
    kind, size = getattr(dtype, "kind", None), getattr(dtype, "itemsize", 0)
    if kind in _NUMPY_KINDS:
        return _NUMPY_KINDS[kind]
    return _NUMPY_SIZES.get((kind, size))


def _values_type(values: list[Any]) -> str | None:
    types = {_python_type(v) for v in values if v is not None}
    if types == {"long", "double"}:
        return "double"
    return types.pop() if len(types) == 1 else None


def _column(type_: str | None, name: Any, required: bool) -> dict[str, Any]:
    if type_ is None:
        raise _NoSchema
    spec: dict[str, Any] = {"type": type_}
    if name is not None:
        spec["name"] = str(name)
    spec["required"] = required
    return spec


class _NoSchema(Exception):
    pass


def _pandas_column(series: Any, name: Any) -> dict[str, Any]:
    required = not bool(series.isna().any())
    type_ = _dtype_type(series.dtype)
    if type_ is None:  # object / string / extension dtypes: look at the values
        type_ = _values_type([v for v in series.tolist() if v == v])  # v == v drops NaN
    return _column(type_, name, required)


def infer_schema(data: Any) -> list[dict[str, Any]] | None:
    """The MLflow schema (a list of column or tensor specs) of ``data``, or None."""
    try:
        return _infer(data)
    except _NoSchema:
        return None


def _infer(data: Any) -> list[dict[str, Any]]:
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        if hasattr(data, "columns"):
            return [_pandas_column(data[c], c) for c in data.columns]
        if hasattr(data, "dtype"):
            return [_pandas_column(data, data.name)]
    if module == "numpy" and hasattr(data, "shape"):
        if data.ndim == 1:
            return [_column(_dtype_type(data.dtype), None, True)]
        if _dtype_type(data.dtype) is None or data.dtype.kind == "M":
            raise _NoSchema
        return [{"type": "tensor",
                 "tensor-spec": {"dtype": str(data.dtype), "shape": [-1, *data.shape[1:]]}}]
    if isinstance(data, Mapping):
        columns = []
        for name, values in data.items():
            items = values.tolist() if hasattr(values, "tolist") else values
            items = list(items) if isinstance(items, (list, tuple)) else [items]
            columns.append(_column(_values_type(items), name, None not in items))
        return columns
    if isinstance(data, (list, tuple)) and data:
        if all(isinstance(r, Mapping) for r in data):
            names = list(dict.fromkeys(k for r in data for k in r))
            return [_column(_values_type([r.get(n) for r in data]), n,
                            all(r.get(n) is not None for r in data)) for n in names]
        if all(isinstance(r, (list, tuple)) for r in data):
            import numpy as np

            return _infer(np.asarray(data))
        return [_column(_values_type(list(data)), None, None not in data)]
    raise _NoSchema


def infer_signature(input_example: Any, output: Any = None) -> dict[str, Any] | None:
    """The signature (as stored in ``MLmodel``) of an input example and its predictions."""
    inputs = infer_schema(input_example)
    if inputs is None:
        return None
    outputs = infer_schema(output) if output is not None else None
    return {"inputs": json.dumps(inputs), "outputs": None if outputs is None else json.dumps(outputs),
            "params": None}


def normalize_signature(signature: Any) -> dict[str, Any] | None:
    """Accept a signature as the MLmodel dict (JSON strings or lists), or an
    ``mlflow.models.ModelSignature``; return the MLmodel dict."""
    if signature is None:
        return None
    if hasattr(signature, "to_dict"):  # mlflow.models.ModelSignature
        signature = signature.to_dict()
    if not isinstance(signature, Mapping) or "inputs" not in signature:
        raise TypeError("signature must be a dict with 'inputs' (and 'outputs') or an "
                        "mlflow ModelSignature")
    out: dict[str, Any] = {}
    for key in ("inputs", "outputs", "params"):
        value = signature.get(key)
        out[key] = value if value is None or isinstance(value, str) else json.dumps(value)
    return out


# -- input examples ------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def serialize_example(example: Any) -> tuple[dict[str, Any], str, str]:
    """(``saved_input_example_info`` for MLmodel, input_example.json, serving_input_example.json)."""
    module = type(example).__module__.split(".")[0]
    if module == "pandas" and not hasattr(example, "columns"):
        example = example.to_frame()
    if module == "pandas":
        split = {"columns": [str(c) for c in example.columns],
                 "data": _jsonable(example.astype(object).where(example.notna(), None).values)}
        info = {"artifact_path": EXAMPLE_FILE, "type": "dataframe", "pandas_orient": "split"}
        serving = {"dataframe_split": split}
        body = split
    elif module == "numpy" and hasattr(example, "shape"):
        info = {"artifact_path": EXAMPLE_FILE, "type": "ndarray"}
        body = _jsonable(example)
        serving = {"inputs": body}
    elif isinstance(example, (Mapping, list, tuple, str, int, float, bool)):
        info = {"artifact_path": EXAMPLE_FILE, "type": "json_object"}
        body = _jsonable(example)
        serving = {"inputs": body}
    else:
        raise TypeError(f"input_example must be a pandas DataFrame or Series, a numpy array, a "
                        f"dict, a list or a scalar, got {type(example).__name__}")
    info["serving_input_path"] = SERVING_EXAMPLE_FILE
    return info, json.dumps(body), json.dumps(serving, indent=2)


def read_example(text: str, info: Mapping[str, Any]) -> Any:
    """The input example from its JSON text, as the type it was saved from (DataFrame,
    ndarray, or plain JSON)."""
    data = json.loads(text)
    if info.get("type") == "dataframe":
        import pandas as pd

        return pd.DataFrame(data["data"], columns=data["columns"])
    if info.get("type") == "ndarray":
        import numpy as np

        if isinstance(data, dict):
            return {k: np.asarray(v) for k, v in data.items()}
        return np.asarray(data)
    return data
