"""``LoadedModel.predict`` enforces the signature by MLflow's rules (the server shares it)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from serving_support import save_churn, save_tensor

from trackbridge.models import load_model
from trackbridge.models.errors import SchemaEnforcementError
from trackbridge.models.schema_enforcement import ExtraInputsWarning, enforce_schema

COLUMNS = [{"name": "n", "type": "long", "required": True},
           {"name": "x", "type": "double", "required": True},
           {"name": "f", "type": "float", "required": True},
           {"name": "s", "type": "string", "required": True},
           {"name": "opt", "type": "double", "required": False}]


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    pipeline, X, path = save_churn(tmp_path_factory.mktemp("schema") / "model")
    return pipeline, X, load_model(path)


def frame(**overrides):
    base = {"n": np.array([1, 2], dtype="int32"), "x": np.array([1, 2], dtype="int64"),
            "f": np.array([1, 2], dtype="int16"), "s": ["a", "b"]}
    return pd.DataFrame({**base, **overrides})


def test_safe_conversions_are_applied_in_signature_order():
    out = enforce_schema(frame()[["s", "f", "x", "n"]], COLUMNS)
    assert list(out.columns) == ["n", "x", "f", "s"]  # optional 'opt' absent: fine
    assert [str(t) for t in out.dtypes[:3]] == ["int64", "float64", "float32"]
    assert out["s"].tolist() == ["a", "b"]  # strings stay as they are (object or str dtype)
    floats = enforce_schema(frame(x=np.array([1.5, 2.5], dtype="float32")), COLUMNS)
    assert floats["x"].dtype == np.float64


def test_missing_required_columns_are_all_named():
    with pytest.raises(SchemaEnforcementError, match=r"Model is missing inputs \['n', 's'\]"):
        enforce_schema(frame().drop(columns=["n", "s"]), COLUMNS)


@pytest.mark.parametrize("column,values,given,wanted", [
    ("n", np.array([1.5, 2.0]), "float64", "long"),
    ("n", np.array([1, 2], dtype="uint64"), "uint64", "long"),
    ("x", ["1", "2"], "str", "double"),
    ("f", np.array([1, 2], dtype="int64"), "int64", "float"),
    ("f", np.array([1.0, 2.0]), "float64", "float"),
    ("s", np.array([1, 2]), "int64", "string"),
])
def test_unsafe_conversions_name_the_column_and_both_types(column, values, given, wanted):
    with pytest.raises(SchemaEnforcementError) as raised:
        enforce_schema(frame(**{column: values}), COLUMNS)
    assert f"Incompatible input types for column {column}. Can not safely convert {given} to " \
           f"{wanted}" in str(raised.value)
    assert "n (long), x (double), f (float), s (string), opt (double, optional)" in str(raised.value)


def test_extra_columns_are_dropped_with_a_warning():
    with pytest.warns(ExtraInputsWarning, match=r"\['zip', 'city'\]"):
        out = enforce_schema(frame(zip=["1", "2"], city=["a", "b"]), COLUMNS)
    assert "zip" not in out.columns and "city" not in out.columns


def test_dicts_and_records_become_frames():
    one = enforce_schema({"n": 1, "x": 2.0, "f": np.float32(1), "s": "a"}, COLUMNS)
    assert len(one) == 1 and one["n"].dtype == np.int64
    rows = enforce_schema([{"n": 1, "x": 1, "f": np.int8(1), "s": "a"}] * 3, COLUMNS)
    assert len(rows) == 3


def test_predict_enforces_before_the_model_runs(churn):
    pipeline, X, loaded = churn
    ints = X.head(5).assign(visits=X["visits"].head(5).astype("int8"))
    np.testing.assert_array_equal(loaded.predict(ints), pipeline.predict(X.head(5)))
    with pytest.raises(SchemaEnforcementError, match="missing inputs \\['plan'\\]"):
        loaded.predict(X.drop(columns=["plan"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for a clean frame
        loaded.predict(X.head(2))


def test_predict_without_a_signature_checks_nothing(tmp_path, churn):
    from trackbridge.models import save_model

    pipeline, X, _ = churn
    save_model(pipeline, tmp_path / "bare")
    loaded = load_model(tmp_path / "bare")
    assert loaded.input_schema is None
    assert list(loaded.predict(X.head(3))) == list(pipeline.predict(X.head(3)))


def test_tensor_specs_check_dimensions_and_dtype(tmp_path):
    model, X, path = save_tensor(tmp_path / "tensor")
    loaded = load_model(path)
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))
    with pytest.raises(SchemaEnforcementError, match=r"Shape of input \(4, 2\) does not match "
                                                     r"expected shape \(-1, 3\)"):
        loaded.predict(X[:4, :2])
    with pytest.raises(SchemaEnforcementError, match=r"Shape of input \(3,\)"):
        loaded.predict(X[0])
    with pytest.raises(SchemaEnforcementError, match="dtype of input float32 does not match "
                                                     "expected dtype float64"):
        loaded.predict(X.astype("float32"))
    frame_input = pd.DataFrame(X)
    np.testing.assert_allclose(loaded.predict(frame_input), model.predict(X))


def test_a_plain_list_is_checked_but_given_to_the_model_as_it_is():
    schema = [{"type": "double", "required": True}]
    values = [0.2, 1, 3.5]
    assert enforce_schema(values, schema) is values
    with pytest.raises(SchemaEnforcementError, match="column 0. Can not safely convert object to "
                                                     "double"):
        enforce_schema([0.2, "x"], schema)


def test_duplicate_columns_are_named():
    doubled = pd.concat([frame(), frame()[["n"]]], axis=1)
    with pytest.raises(SchemaEnforcementError, match=r"duplicate columns \['n'\]"):
        enforce_schema(doubled, COLUMNS)
