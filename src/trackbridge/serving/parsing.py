"""MLflow's scoring request formats -> the pandas / numpy input of ``predict``.

``POST /invocations`` bodies, as ``mlflow models serve`` and Databricks Model Serving take them:

* ``application/json``: an object with exactly one of ``dataframe_split`` (``{"columns",
  "data", "index"}``), ``dataframe_records`` (a list of records), ``instances`` or ``inputs``
  (TF-serving style: a list of rows, a list of records, or a dict of column -> values), plus an
  optional ``params`` object;
* ``text/csv`` (a header row; columns the signature says are strings are read as strings);
* ``application/vnd.apache.parquet``.

JSON numbers carry no width, so parsing gives them the signature's type where that loses
nothing (an integer for a ``float`` column or tensor becomes a float); what is left to check
is :mod:`trackbridge.models.schema_enforcement`'s job. Given the model's
:class:`~.layout.ColumnLayout`, a ``dataframe_split`` body already in the signature's layout
comes back as the conforming frame itself (``Parsed.conforming``). Every failure is a
:class:`RequestError` carrying MLflow's status and error code.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..models.schema_enforcement import is_tensor_schema
from . import json_body

if TYPE_CHECKING:
    from .layout import ColumnLayout

JSON, CSV, PARQUET = "application/json", "text/csv", "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
PARAMS = "params"
BAD_REQUEST, INVALID_PARAMETER_VALUE = "BAD_REQUEST", "INVALID_PARAMETER_VALUE"
REQUIRED_FORMAT = (f"The input must be a JSON object with exactly one of the input fields "
                   f"{', '.join(FORMATS)} (and optionally {PARAMS})")


class RequestError(Exception):
    """A request the server refuses: ``status``, MLflow ``error_code`` (None: a plain-text
    answer, as MLflow gives for 415) and ``message``."""

    def __init__(self, status: int, message: str, error_code: str | None = BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


class Parsed(NamedTuple):
    data: Any
    params: dict[str, Any] | None
    #: True when ``data`` already has exactly the signature's columns and types (the
    #: :class:`~.layout.ColumnLayout` fast path): enforcing the schema would change nothing
    conforming: bool = False


def _invalid(message: str) -> RequestError:
    return RequestError(400, f"Invalid input. {message}")


def check_content_type(header: str | None) -> str:
    """The media type of a ``Content-Type`` header; 415 for anything the server cannot read."""
    parts = [p.strip() for p in (header or "").split(";")]
    mime = parts[0].lower()
    options = dict(p.partition("=")[::2] for p in parts[1:] if p)
    charset = options.pop("charset", "utf-8").strip('"').lower()
    if charset != "utf-8":
        raise RequestError(415, "The scoring server only supports UTF-8", None)
    if options:
        raise RequestError(415, f"Unrecognized content type parameters: {', '.join(options)}",
                           None)
    if mime not in CONTENT_TYPES:
        raise RequestError(415, f"This predictor only supports the following content types: "
                                f"{', '.join(CONTENT_TYPES)}. Got {header or 'no Content-Type'!r}.",
                           None)
    return mime


def parse_request(body: bytes, mime: str, schema: Sequence[Mapping[str, Any]] | None,
                  layout: ColumnLayout | None = None) -> Parsed:
    """The model input (and params) of one request body of media type ``mime``; ``layout``
    (of ``schema``) enables the ``dataframe_split`` fast path."""
    if mime == JSON:
        return parse_json(body, schema, layout)
    if mime == CSV:
        return Parsed(parse_csv(body, schema), None)
    return Parsed(parse_parquet(body), None)


# -- JSON -----------------------------------------------------------------------------------
def parse_json(body: bytes | str, schema: Sequence[Mapping[str, Any]] | None,
               layout: ColumnLayout | None = None) -> Parsed:
    try:
        document = json_body.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _invalid(f"Ensure that input is a valid JSON formatted string. Error: {exc}") from None
    if not isinstance(document, dict):
        raise _invalid(f"{REQUIRED_FORMAT}. Received a {type(document).__name__}.")
    return parse_document(document, schema, layout)


def parse_document(document: Mapping[str, Any], schema: Sequence[Mapping[str, Any]] | None,
                   layout: ColumnLayout | None = None) -> Parsed:
    """The model input of an already decoded JSON request object."""
    found = [k for k in FORMATS if k in document]
    unknown = sorted(set(document) - set(FORMATS) - {PARAMS})
    if len(found) != 1 or unknown:
        raise RequestError(400, f"{REQUIRED_FORMAT}. Received fields: {sorted(document)}.")
    params = document.get(PARAMS)
    if params is not None and not isinstance(params, dict):
        raise RequestError(400, f"params must be a JSON object, got {type(params).__name__}",
                           INVALID_PARAMETER_VALUE)
    key = found[0]
    value = document[key]
    if key == "dataframe_split":
        if layout is not None and type(value) is dict and "index" not in value and \
                value.keys() <= {"columns", "data"}:
            frame = layout.frame(value.get("columns"), value.get("data"))
            if frame is not None:
                return Parsed(frame, params, True)
        data = _split(value, schema)
    elif key == "dataframe_records":
        data = _records(value)
    else:
        data = _tensor_input(value, key, schema)
    return Parsed(fit_numbers(data, schema), params)


#: numpy dtypes that JSON values of a signature column are read as directly (fast path)
_DIRECT = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32",
           "boolean": "bool", "string": "object"}


def _columns_directly(columns: Any, rows: Any, schema: Any) -> Any:
    """The frame of a split table built column by column with the signature's dtypes, or
    None when any column needs pandas' own inference (a mismatch, a null, an odd shape): then
    the result, and so every error message, is exactly what inference gives."""
    import numpy as np
    import pandas as pd

    types = {s.get("name"): s.get("type") for s in schema or ()}
    if not (isinstance(columns, list) and isinstance(rows, list) and rows and types
            and all(isinstance(c, str) for c in columns)
            and all(isinstance(r, list) and len(r) == len(columns) for r in rows)
            and all(types.get(c) in _DIRECT for c in columns) and len(set(columns)) == len(columns)):
        return None
    data = {}
    for name, values in zip(columns, zip(*rows)):
        kind = types[name]
        python = {"double": (int, float), "float": (int, float), "long": int, "integer": int,
                  "boolean": bool, "string": str}[kind]
        if any(v is None or not isinstance(v, python) or (kind in ("long", "integer", "double",
               "float") and isinstance(v, bool)) for v in values):
            return None
        try:
            data[name] = np.array(values, dtype=_DIRECT[kind])
        except (OverflowError, ValueError):
            return None
    return pd.DataFrame(data, copy=False)


def _split(value: Any, schema: Any = None) -> Any:
    import pandas as pd

    if not isinstance(value, dict):
        raise _invalid(f"Dataframe split format must be a dictionary. Got {type(value).__name__}.")
    extra = set(value) - {"columns", "data", "index"}
    if "data" not in value or extra:
        raise _invalid(f"Dataframe split format must have 'data' field and optionally 'columns' "
                       f"and 'index' fields. Got {sorted(value)}.")
    if "index" not in value:
        fast = _columns_directly(value.get("columns"), value["data"], schema)
        if fast is not None:
            return fast
    try:
        return pd.DataFrame(data=value["data"], columns=value.get("columns"),
                            index=value.get("index"))
    except (ValueError, TypeError) as exc:
        raise _invalid(f"Provided dataframe_split field is not a valid dataframe representation "
                       f"in 'split' format. Error: '{exc}'") from None


def _records(value: Any) -> Any:
    import pandas as pd

    if not isinstance(value, list):
        raise _invalid(f"Dataframe records format must be a list of records. Got "
                       f"{type(value).__name__}.")
    try:
        return pd.DataFrame(data=value)
    except (ValueError, TypeError) as exc:
        raise _invalid(f"Provided dataframe_records field is not a valid dataframe "
                       f"representation in 'records' format. Error: '{exc}'") from None


def _array(values: Any, where: str) -> Any:
    import numpy as np

    try:
        return np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged rows
        raise _invalid(f"{where} is not a valid array: {exc}") from None


def _tensor_input(value: Any, key: str, schema: Sequence[Mapping[str, Any]] | None) -> Any:
    """``instances`` / ``inputs``: rows -> an array; records -> columns; a dict -> columns."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        if key == "inputs":
            return _records(value)
        names = list(dict.fromkeys(k for row in value for k in row))
        return {n: _array([row.get(n) for row in value], f"{key} column {n!r}") for n in names}
    if isinstance(value, dict):
        return {str(k): _array(v, f"{key} field {k!r}") for k, v in value.items()}
    named = [s["name"] for s in schema or () if s.get("name") is not None]
    if isinstance(value, list) and len(named) == 1 and not is_tensor_schema(schema or ()):
        return {named[0]: _array(value, f"{key}")}
    return _array(value, key)


def fit_numbers(data: Any, schema: Sequence[Mapping[str, Any]] | None) -> Any:
    """Integers where the signature wants floats become floats (JSON and CSV numbers have no
    width); everything else is left for the schema check."""
    import numpy as np
    import pandas as pd

    if not schema:
        return data
    if is_tensor_schema(schema):
        specs = {s.get("name"): np.dtype(s["tensor-spec"]["dtype"]) for s in schema}
        if isinstance(data, dict):
            return {k: _to_float(v, specs.get(k)) for k, v in data.items()}
        if isinstance(data, pd.DataFrame):
            data = data.to_numpy()
        return _to_float(data, specs[next(iter(specs))])
    floats = {s["name"]: s["type"] for s in schema if s.get("type") in ("float", "double")
              and s.get("name") is not None}
    if isinstance(data, pd.DataFrame):
        dtypes = dict(zip(data.columns, data.dtypes))  # one lookup, not a Series per column
        for name, type_name in floats.items():
            if name in dtypes and dtypes[name].kind in "iu":
                data[name] = data[name].astype("float32" if type_name == "float" else "float64")
    elif isinstance(data, dict):
        for name, type_name in floats.items():
            if name in data and getattr(data[name], "dtype", None) is not None:
                data[name] = _to_float(data[name], np.dtype("float32" if type_name == "float"
                                                             else "float64"))
    return data


def _to_float(array: Any, dtype: Any) -> Any:
    kind = getattr(getattr(array, "dtype", None), "kind", None)
    if dtype is None or dtype.kind != "f" or kind not in ("i", "u", "f") or array.dtype == dtype:
        return array
    return array.astype(dtype)


# -- CSV and parquet --------------------------------------------------------------------------
def parse_csv(body: bytes | str | io.IOBase, schema: Sequence[Mapping[str, Any]] | None) -> Any:
    import pandas as pd

    strings = {s["name"]: object for s in schema or ()
               if s.get("type") == "string" and s.get("name") is not None}
    try:
        source = io.StringIO(body.decode("utf-8") if isinstance(body, bytes) else body) \
            if isinstance(body, (bytes, str)) else body
        frame = pd.read_csv(source, dtype=strings or None)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise _invalid(f"Failed to parse input as a Pandas DataFrame. Ensure that the input is a "
                       f"valid CSV-formatted Pandas DataFrame produced using the "
                       f"`pandas.DataFrame.to_csv()` method. Error: '{exc}'") from None
    return fit_numbers(frame, schema)


def parse_parquet(body: bytes) -> Any:
    import pandas as pd

    try:
        return pd.read_parquet(io.BytesIO(body))
    except ImportError as exc:
        raise RequestError(415, f"parquet input needs pyarrow on the server: {exc}", None) from None
    except Exception as exc:  # pyarrow raises its own ArrowInvalid (a ValueError) and OSErrors
        raise _invalid(f"Failed to parse input as a Pandas DataFrame. Ensure that the input is a "
                       f"valid Parquet file produced using the `pandas.DataFrame.to_parquet()` "
                       f"method. Error: '{exc}'") from None
