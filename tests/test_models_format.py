"""log_model writes the MLflow model format: tb.load_model and mlflow.pyfunc.load_model read it
back with identical predictions; signature, input example and requirements are right."""

from __future__ import annotations

import importlib.metadata
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import trackbridge as tb
from trackbridge.models import UnsafeFormatWarning


@pytest.fixture(scope="module")
def churn():
    rng = np.random.default_rng(7)
    n = 200
    X = pd.DataFrame({
        "age": rng.uniform(18, 80, n),
        "visits": rng.integers(0, 30, n),
        "plan": rng.choice(["basic", "pro", "team"], n),
    })
    y = ((X["age"] > 40) ^ (X["plan"] == "pro")).astype(int)
    pipeline = make_pipeline(
        make_column_transformer((StandardScaler(), ["age", "visits"]), (OneHotEncoder(), ["plan"])),
        RandomForestClassifier(n_estimators=10, random_state=0),
    ).fit(X, y)
    return pipeline, X


def test_pipeline_logged_and_loaded_predicts_the_same(store, churn):
    pipeline, X = churn
    with tb.start_run(experiment="models", config=store) as run:
        info = run.log_model(pipeline, input_example=X.head(5))
    assert info.model_uri == f"runs:/{run.id}/model"
    assert info.flavor == "sklearn"
    names = {a.path for a in tb.list_artifacts(run.id, "model", config=store)}
    for file in ("MLmodel", "model.skops", "requirements.txt", "python_env.yaml", "conda.yaml",
                 "input_example.json"):
        assert f"model/{file}" in names

    loaded = tb.load_model(info.model_uri, config=store)
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    assert type(loaded.raw_model) is type(pipeline)


def test_mlmodel_fields(store, churn, tmp_path):
    pipeline, X = churn
    with tb.start_run(experiment="models", config=store) as run:
        run.log_model(pipeline, name="churn_model", input_example=X.head(3))
    path = tb.download_artifacts(run.id, "churn_model", tmp_path, config=store)
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    assert mlmodel["run_id"] == run.id
    assert mlmodel["artifact_path"] == "churn_model"
    assert len(mlmodel["model_uuid"]) == 32 and int(mlmodel["model_uuid"], 16) >= 0
    assert mlmodel["utc_time_created"][:4].isdigit()
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.sklearn"
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    sk = mlmodel["flavors"]["sklearn"]
    assert sk["serialization_format"] == "skops"
    assert sk["sklearn_version"] == importlib.metadata.version("scikit-learn")
    env = yaml.safe_load((path / "python_env.yaml").read_text())
    assert env["dependencies"] == ["-r requirements.txt"]
    conda = yaml.safe_load((path / "conda.yaml").read_text())
    pip_section = next(d for d in conda["dependencies"] if isinstance(d, dict))["pip"]
    assert pip_section == (path / "requirements.txt").read_text().split()


def test_mlflow_pyfunc_loads_the_same_directory(store, churn, tmp_path, monkeypatch):
    import mlflow.pyfunc

    pipeline, X = churn
    with tb.start_run(experiment="models", config=store) as run:
        run.log_model(pipeline, input_example=X.head(5))
    path = tb.download_artifacts(run.id, "model", tmp_path, config=store)
    # MLflow's switch for deserialising models (skops included): set, not left to its default
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_mlflow = mlflow.pyfunc.load_model(str(path))
    np.testing.assert_array_equal(np.asarray(by_mlflow.predict(X)), pipeline.predict(X))


def test_mlflow_pyfunc_loads_a_python_function_model(store, tmp_path, monkeypatch):
    import mlflow.pyfunc

    class Doubler:
        def predict(self, data):
            return np.asarray(data["x"]) * 2

    frame = pd.DataFrame({"x": [1.0, 2.5, -4.0]})
    with tb.start_run(experiment="models", config=store) as run:
        with pytest.warns(UnsafeFormatWarning):
            run.log_model(Doubler(), name="doubler", input_example=frame)
    path = tb.download_artifacts(run.id, "doubler", tmp_path, config=store)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_mlflow = mlflow.pyfunc.load_model(str(path))
    np.testing.assert_array_equal(np.asarray(by_mlflow.predict(frame)), [2.0, 5.0, -8.0])
    ours = tb.load_model(f"runs:/{run.id}/doubler", config=store, allow_pickle=True)
    np.testing.assert_array_equal(ours.predict(frame), [2.0, 5.0, -8.0])


def test_signature_inferred_from_a_dataframe_matches_mlflow(store, tmp_path):
    from mlflow.models import Model, infer_signature

    frame = pd.DataFrame({"f": [0.5, 1.5, 2.5, 3.5], "i": np.array([1, 2, 3, 4], dtype="int64"),
                          "s": ["a", "b", "a", "b"], "b": [True, False, True, True]})
    y = [0, 1, 0, 1]
    model = make_pipeline(
        make_column_transformer((StandardScaler(), ["f", "i"]), (OneHotEncoder(), ["s", "b"])),
        LogisticRegression()).fit(frame, y)
    with tb.start_run(experiment="models", config=store) as run:
        info = run.log_model(model, input_example=frame)
    path = tb.download_artifacts(run.id, "model", tmp_path, config=store)
    ours = Model.load(str(path / "MLmodel")).signature
    expected_inputs = [{"type": "double", "name": "f", "required": True},
                       {"type": "long", "name": "i", "required": True},
                       {"type": "string", "name": "s", "required": True},
                       {"type": "boolean", "name": "b", "required": True}]
    assert json.loads(info.signature["inputs"]) == expected_inputs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = infer_signature(frame, model.predict(frame))
    assert ours.inputs.to_dict() == theirs.inputs.to_dict()
    # 1-D predictions: one unnamed column, as mlflow.sklearn.save_model writes them
    assert ours.outputs.to_dict() == [{"type": "long", "required": True}]


def test_signature_of_a_numpy_example_is_a_tensor_and_given_signature_wins(store):
    X = np.arange(12, dtype="float64").reshape(6, 2)
    model = LinearRegression().fit(X, X[:, 0] * 3)
    given = {"inputs": '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}]',
             "outputs": None}
    with tb.start_run(experiment="models", config=store) as run:
        inferred = run.log_model(model, name="inferred", input_example=X[:2])
        kept = run.log_model(model, name="given", input_example=X[:2], signature=given)
    assert json.loads(inferred.signature["inputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2]}}]
    assert json.loads(inferred.signature["outputs"]) == [{"type": "double", "required": True}]
    assert kept.signature["inputs"] == given["inputs"]
    loaded = tb.load_model(f"runs:/{run.id}/inferred", config=store)
    np.testing.assert_array_equal(loaded.input_example, X[:2])
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))


def test_input_example_round_trips(store, churn, tmp_path):
    from mlflow.models import Model

    pipeline, X = churn
    example = X.head(4).reset_index(drop=True)
    with tb.start_run(experiment="models", config=store) as run:
        run.log_model(pipeline, input_example=example)
    loaded = tb.load_model(f"runs:/{run.id}/model", config=store)
    pd.testing.assert_frame_equal(loaded.input_example, example, check_dtype=False)
    path = tb.download_artifacts(run.id, "model", tmp_path, config=store)
    by_mlflow = Model.load(str(path / "MLmodel")).load_input_example(str(path))
    pd.testing.assert_frame_equal(by_mlflow, example, check_dtype=False)
    assert json.loads((path / "input_example.json").read_text())["columns"] == ["age", "visits", "plan"]


def test_requirements_pin_the_installed_versions(store, churn, tmp_path):
    pipeline, X = churn
    with tb.start_run(experiment="models", config=store) as run:
        run.log_model(pipeline)
    path = tb.download_artifacts(run.id, "model", tmp_path, config=store)
    lines = (path / "requirements.txt").read_text().split()
    pins = dict(line.split("==") for line in lines)
    assert len(pins) == len(lines), "every requirement is pinned (mlflow is installed here)"
    for dist in ("scikit-learn", "skops", "numpy", "mlflow"):
        assert pins[dist] == importlib.metadata.version(dist)
    for dist, version in pins.items():
        assert importlib.metadata.version(dist) == version
    assert "cloudpickle" not in pins  # not needed by a skops model
    assert "trackbridge" not in pins


def test_pip_requirements_and_extra_files_are_kept(store, churn, tmp_path):
    pipeline, _ = churn
    notes = tmp_path / "notes.md"
    notes.write_text("trained on churn v3")
    with tb.start_run(experiment="models", config=store) as run:
        run.log_model(pipeline, pip_requirements=["scikit-learn>=1.3", "skops"],
                      extra_files=[notes])
    path = tb.download_artifacts(run.id, "model", tmp_path / "dl", config=store)
    assert (path / "requirements.txt").read_text().split() == ["scikit-learn>=1.3", "skops"]
    assert (path / "extra_files" / "notes.md").read_text() == "trained on churn v3"
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    assert mlmodel["flavors"]["sklearn"]["extra_files"] == [{"path": "extra_files/notes.md"}]


def test_load_a_plain_directory_and_bad_uris(store, churn, tmp_path):
    pipeline, X = churn
    with tb.start_run(experiment="models", config=store) as run:
        run.log_model(pipeline)
    path = tb.download_artifacts(run.id, "model", tmp_path, config=store)
    np.testing.assert_array_equal(tb.load_model(str(path)).predict(X), pipeline.predict(X))
    np.testing.assert_array_equal(tb.load_model(path).predict(X), pipeline.predict(X))
    for bad in ("runs:/only-an-id", "models:/churn", "models:/churn/zero", "s3://bucket/m",
                str(tmp_path / "missing")):
        with pytest.raises(tb.ValidationError, match="model URI"):
            tb.load_model(bad, config=store)


def test_an_object_without_predict_is_refused(store):
    with tb.start_run(experiment="models", config=store) as run:
        with pytest.raises(tb.TrackbridgeError, match="no installed flavor can save"):
            run.log_model({"weights": [1, 2]})
        with pytest.raises(tb.TrackbridgeError, match="unknown flavor 'onnx'"):
            run.log_model(LinearRegression(), flavor="onnx")


def test_a_class_from_a_local_module_travels_with_the_model(store, tmp_path, monkeypatch):
    import sys

    code = tmp_path / "src"
    code.mkdir()
    (code / "churn_rules_local.py").write_text(
        "class Rules:\n"
        "    def __init__(self, cut):\n"
        "        self.cut = cut\n"
        "    def predict(self, data):\n"
        "        return [int(x > self.cut) for x in data]\n")
    monkeypatch.syspath_prepend(str(code))
    import churn_rules_local

    with tb.start_run(experiment="models", config=store) as run:
        with pytest.warns(UnsafeFormatWarning):
            run.log_model(churn_rules_local.Rules(0.5), name="rules", input_example=[0.1, 0.9])
    monkeypatch.delitem(sys.modules, "churn_rules_local")
    sys.path.remove(str(code))
    (code / "churn_rules_local.py").unlink()  # the model must not need the file any more
    loaded = tb.load_model(f"runs:/{run.id}/rules", config=store, allow_pickle=True)
    assert loaded.predict([0.2, 0.7, 1.5]) == [0, 1, 1]
    assert json.loads(loaded.signature["inputs"]) == [{"type": "double", "required": True}]
