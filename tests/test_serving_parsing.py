"""The scoring server's ``dataframe_split`` fast path (:class:`ColumnLayout`) gives the model
exactly what the general path (parse, then enforce the schema) gives, and every body it does
not take falls back to the general path's answer and messages."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from trackbridge.models.errors import SchemaEnforcementError
from trackbridge.models.schema_enforcement import enforce_schema
from trackbridge.serving.layout import ColumnLayout
from trackbridge.serving.parsing import JSON, RequestError, parse_request

NUMERIC = [{"name": n, "type": "double", "required": True} for n in "abcd"]
MIXED = [{"name": "age", "type": "double"}, {"name": "visits", "type": "long"},
         {"name": "plan", "type": "string"}, {"name": "small", "type": "float"},
         {"name": "n32", "type": "integer"}, {"name": "flag", "type": "boolean"}]
MIXED_ROW = [41.5, 3, "pro", 0.5, 7, True]
MIXED_NAMES = [s["name"] for s in MIXED]


def general(body: bytes, schema):
    """What the server did before the fast path: parse, then enforce the signature."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return enforce_schema(parse_request(body, JSON, schema).data, schema)


def fast(body: bytes, schema):
    parsed = parse_request(body, JSON, schema, ColumnLayout.of(schema))
    if parsed.conforming:
        return parsed.data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return enforce_schema(parsed.data, schema)


def outcome(path, body: bytes, schema):
    try:
        return path(body, schema)
    except (RequestError, SchemaEnforcementError) as exc:
        return type(exc), str(exc)


def split(columns, rows, **extra) -> bytes:
    return json.dumps({"dataframe_split": {"columns": columns, "data": rows, **extra}}).encode()


CASES = {
    "doubles": (NUMERIC, split(list("abcd"), [[0.1, -0.2, 0.3, 1.0]])),
    "100 rows": (NUMERIC, split(list("abcd"), [[i / 3, -i, 2.5, 1e300] for i in range(100)])),
    "ints for doubles": (NUMERIC, split(list("abcd"), [[1, 2, 3, 4], [5.5, 6, 7, 8]])),
    "a bool for a double": (NUMERIC, split(list("abcd"), [[True, 2.0, 3.0, 4.0]])),
    "a string for a double": (NUMERIC, split(list("abcd"), [["1.5", 2.0, 3.0, 4.0]])),
    "a null": (NUMERIC, split(list("abcd"), [[None, 2.0, 3.0, 4.0]])),
    "a nested value": (NUMERIC, split(list("abcd"), [[[1.0], 2.0, 3.0, 4.0]])),
    "an integer past float64": (NUMERIC, split(list("abcd"), [[10 ** 400, 2.0, 3.0, 4.0]])),
    "another order": (NUMERIC, split(list("badc"), [[0.1, -0.2, 0.3, 1.0]])),
    "an extra column": (NUMERIC, split(list("abcde"), [[0.1, -0.2, 0.3, 1.0, 9]])),
    "a missing column": (NUMERIC, split(list("abc"), [[0.1, -0.2, 0.3]])),
    "a short row": (NUMERIC, split(list("abcd"), [[0.1, -0.2, 0.3]])),
    "no rows": (NUMERIC, split(list("abcd"), [])),
    "rows not a list": (NUMERIC, split(list("abcd"), 5)),
    "an index": (NUMERIC, split(list("abcd"), [[0.1, -0.2, 0.3, 1.0]], index=[7])),
    "no columns": (NUMERIC, json.dumps({"dataframe_split": {"data": [[1.0, 2, 3, 4]]}}).encode()),
    "mixed": (MIXED, split(MIXED_NAMES, [MIXED_ROW, [1, -4, "basic", 2, -1, False]])),
    "a float for a long": (MIXED, split(MIXED_NAMES, [[41.5, 3.5, "pro", 0.5, 7, True]])),
    "a number for a string": (MIXED, split(MIXED_NAMES, [[41.5, 3, 4, 0.5, 7, True]])),
    "an int for a bool": (MIXED, split(MIXED_NAMES, [[41.5, 3, "pro", 0.5, 7, 1]])),
    "a long past int64": (MIXED, split(MIXED_NAMES, [[41.5, 2 ** 70, "pro", 0.5, 7, True]])),
    "an integer past int32": (MIXED, split(MIXED_NAMES, [[41.5, 3, "pro", 0.5, 2 ** 40, True]])),
    "mixed with a null": (MIXED, split(MIXED_NAMES, [[41.5, 3, None, 0.5, 7, True]])),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_fast_path_answers_like_the_general_path(case):
    schema, body = CASES[case]
    ours, before = outcome(fast, body, schema), outcome(general, body, schema)
    if isinstance(before, pd.DataFrame):
        assert isinstance(ours, pd.DataFrame), ours
        pd.testing.assert_frame_equal(ours, before, check_exact=True)
        assert list(ours.columns) == [s["name"] for s in schema]
    else:
        assert ours == before


def test_the_fast_path_is_taken_for_a_body_in_the_signature_layout():
    schema, body = CASES["mixed"]
    parsed = parse_request(body, JSON, schema, ColumnLayout.of(schema))
    assert parsed.conforming
    assert [str(t) for t in parsed.data.dtypes] == ["float64", "int64", "str", "float32",
                                                    "int32", "bool"]
    assert not parse_request(CASES["another order"][1], JSON, NUMERIC,
                             ColumnLayout.of(NUMERIC)).conforming


@pytest.mark.parametrize("schema", [
    None,
    [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}],
    [{"type": "double"}, {"type": "double"}],  # unnamed
    [{"name": "a", "type": "double"}, {"name": "a", "type": "double"}],  # duplicated
    [{"name": "a", "type": "datetime"}],
    [{"name": "a", "type": "binary"}],
])
def test_signatures_without_a_direct_layout_have_none(schema):
    assert ColumnLayout.of(schema) is None


def _typed(value):
    """``value`` with every scalar's type kept, so 1 and 1.0 (and True) compare unequal."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return type(value).__name__, repr(value)


@pytest.mark.parametrize("body", [
    b'{"dataframe_split": {"columns": ["a"], "data": [[0.1], [1e-7], [-0.0], [3], [1E5]]}}',
    b"[18446744073709551615, 18446744073709551616, -9223372036854775809, 123456789012345678901234]",
    b"[0.00012345678901234567, 1e400, -1e400, 1e-400, 12345678901234567890.5, 1.5e+0000000000000000000001]",
    b'[1234567890123456789012, "12345678901234567890123", 0.1]',
    b"[0.1, 1234567890123456789012]",
    b"[1234567890123456789012e1, 1234567890123456789012E-3]",
    b'{"a": NaN, "b": Infinity, "c": -Infinity}',
    b'{"a": 1, "a": 2}',
    b'["\\ud800", "\\u00e9", "\xc3\xa9"]',
    '{"a": [1, 2]}'.encode("utf-16"),
    b'\xef\xbb\xbf{"a": 1}',
    b"[" * 2000 + b"]" * 2000,
    b"[" * 100_000 + b"]" * 100_000,
    b"{not json",
    b'{"a": "\xff"}',
    b" \t\n[true, false, null] \r\n",
    b"",
])
def test_json_bodies_decode_exactly_as_json_loads(body):
    from trackbridge.serving import json_body

    def decoded(loads):
        try:
            return _typed(loads(body))
        except (ValueError, RecursionError) as exc:
            return type(exc), str(exc)

    assert decoded(json_body.loads) == decoded(json.loads)


@pytest.mark.parametrize(("body", "long"), [
    (b"[0.00012345678901234567, -0.0015669331451969059, 12345678901234567890.5]", False),
    (b"[1.5e+0000000000000000000001, -123456789012345678]", False),
    (b"[1, 12345678901234567890]", True),
    (b"[-9223372036854775809]", True),
    (b"[0.5, 1234567890123456789012E3]", False),
    (b'["1234567890123456789012"]', True),  # a string: json.loads, needlessly but exactly
])
def test_only_integers_past_64_bits_leave_the_fast_decoder(body, long):
    from trackbridge.serving.json_body import _long_integer

    assert _long_integer(body) is long
