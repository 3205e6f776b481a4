"""Predictions -> JSON the way MLflow's scoring server writes them.

A DataFrame becomes a list of records, a Series or an array a (nested) list, numpy scalars
plain numbers, datetimes ISO strings, bytes base64. NaN and infinities are written as
``NaN`` / ``Infinity`` like Python's ``json`` (and MLflow) do.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any


def jsonable(predictions: Any) -> Any:
    """``predictions`` as plain lists, dicts and scalars."""
    module = type(predictions).__module__.split(".")[0]
    if module == "pandas":
        if hasattr(predictions, "columns"):
            return [{str(k): _scalar(v) for k, v in row.items()}
                    for row in predictions.to_dict(orient="records")]
        return jsonable(predictions.to_numpy())
    if module == "numpy" and hasattr(predictions, "tolist"):
        if getattr(predictions, "dtype", None) is not None and predictions.dtype.kind in "OMmS":
            return [jsonable(v) for v in predictions.tolist()] if predictions.ndim else \
                _scalar(predictions.item())
        return predictions.tolist()
    if isinstance(predictions, dict):
        return {str(k): jsonable(v) for k, v in predictions.items()}
    if isinstance(predictions, (list, tuple)):
        return [jsonable(v) for v in predictions]
    return _scalar(predictions)


def _scalar(value: Any) -> Any:
    if hasattr(value, "tolist") and not isinstance(value, (list, dict)):
        value = value.tolist()  # numpy scalars and arrays
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if isinstance(value, (list, tuple, dict)):
        return jsonable(value)
    return value


def predictions_body(predictions: Any) -> bytes:
    """The ``{"predictions": ...}`` answer of ``POST /invocations``."""
    return json.dumps({"predictions": jsonable(predictions)}, separators=(",", ":")).encode()


def error_body(error_code: str, message: str) -> bytes:
    return json.dumps({"error_code": error_code, "message": message}).encode()
