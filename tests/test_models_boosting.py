"""The xgboost and lightgbm flavors: picked by log_model by themselves, written the way MLflow
writes them, so MLflow's own loaders (mlflow.xgboost, mlflow.lightgbm, mlflow.pyfunc) read
what trackbridge wrote and predict exactly what the trained model predicts."""

from __future__ import annotations

import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml

import trackbridge as tb
from trackbridge.models import UnsafeFormatWarning, UnsafeModelError
from trackbridge.models.errors import ModelError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.uniform(0, 5, 300),
                      "c": rng.integers(0, 4, 300).astype("float64")})
    y = ((X["a"] + X["b"] / 2 - X["c"] / 3) > 0.8).astype(int)
    return X, y


@pytest.fixture
def mlflow_may_load(monkeypatch):
    """MLflow's switch for deserialising models (skops included): set, not left to its default."""
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")


def log_and_fetch(store, tmp_path, model, **options):
    with tb.start_run(experiment="boost", config=store) as run:
        info = run.log_model(model, input_example=options.pop("example", None), **options)
    path = tb.download_artifacts(run.id, "model", tmp_path, config=store)
    return info, path, yaml.safe_load((path / "MLmodel").read_text())


def mlflow_pyfunc(path):
    import mlflow.pyfunc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mlflow.pyfunc.load_model(str(path))


def test_xgboost_booster_native_ubj_read_by_mlflow(store, tmp_path, data, mlflow_may_load):
    import mlflow.xgboost

    X, y = data
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(X, label=y),
                        num_boost_round=15)
    expected = booster.predict(xgb.DMatrix(X))
    info, path, mlmodel = log_and_fetch(store, tmp_path, booster, example=X.head(4))
    assert info.flavor == "xgboost"
    conf = mlmodel["flavors"]["xgboost"]
    assert conf["model_class"] == "xgboost.core.Booster"
    assert conf["model_format"] == "ubj" and conf["data"] == "model.ubj"
    assert conf["xgb_version"] == xgb.__version__
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.xgboost"
    assert (path / "model.ubj").is_file()
    assert any(line.startswith("xgboost") for line in (path / "requirements.txt").read_text().split())

    ours = tb.load_model(info.model_uri, config=store)  # no allow_pickle: nothing is pickled
    assert isinstance(ours.raw_model, xgb.Booster)
    np.testing.assert_allclose(ours.predict(X), expected, rtol=0, atol=0)
    theirs = mlflow.xgboost.load_model(str(path))
    np.testing.assert_allclose(theirs.predict(xgb.DMatrix(X)), expected, rtol=0, atol=0)
    np.testing.assert_allclose(np.asarray(mlflow_pyfunc(path).predict(X)), expected, rtol=0, atol=0)
    # the signature's output came from the booster (through a DMatrix), like MLflow's
    assert mlmodel["signature"]["outputs"] is not None


def test_xgboost_sklearn_wrapper_json_read_by_mlflow(store, tmp_path, data, mlflow_may_load):
    import mlflow.xgboost

    from trackbridge.models.flavors.xgboost import XGBoostFlavor

    X, y = data
    model = xgb.XGBClassifier(n_estimators=12, max_depth=3).fit(X, y)
    info, path, mlmodel = log_and_fetch(store, tmp_path, model,
                                        flavor=XGBoostFlavor(model_format="json"))
    assert info.flavor == "xgboost"
    assert mlmodel["flavors"]["xgboost"]["model_class"] == "xgboost.sklearn.XGBClassifier"
    assert (path / "model.json").is_file() and "sklearn" not in mlmodel["flavors"]

    ours = tb.load_model(info.model_uri, config=store)
    assert isinstance(ours.raw_model, xgb.XGBClassifier)
    np.testing.assert_array_equal(ours.predict(X), model.predict(X))
    np.testing.assert_array_equal(ours.raw_model.predict_proba(X), model.predict_proba(X))
    theirs = mlflow.xgboost.load_model(str(path))
    assert isinstance(theirs, xgb.XGBClassifier)
    np.testing.assert_array_equal(theirs.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(np.asarray(mlflow_pyfunc(path).predict(X)), model.predict(X))


def test_log_model_picks_xgboost_for_the_wrapper_by_itself(store, tmp_path, data):
    X, y = data
    model = xgb.XGBRegressor(n_estimators=5).fit(X, y)
    info, path, mlmodel = log_and_fetch(store, tmp_path, model)
    assert info.flavor == "xgboost"
    assert mlmodel["flavors"]["xgboost"]["model_format"] == "ubj"


def test_xgboost_model_class_outside_xgboost_is_refused(store, tmp_path, data):
    X, y = data
    booster = xgb.train({}, xgb.DMatrix(X, label=y), num_boost_round=2)
    _, path, mlmodel = log_and_fetch(store, tmp_path, booster)
    mlmodel["flavors"]["xgboost"]["model_class"] = "subprocess.Popen"
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(ModelError, match="'subprocess.Popen'"):
        tb.load_model(path)


def test_lightgbm_booster_native_text_read_by_mlflow(store, tmp_path, data, mlflow_may_load):
    import mlflow.lightgbm

    X, y = data
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7},
                        lgb.Dataset(X, label=y), num_boost_round=10)
    expected = booster.predict(X)
    info, path, mlmodel = log_and_fetch(store, tmp_path, booster, example=X.head(3))
    assert info.flavor == "lightgbm"
    conf = mlmodel["flavors"]["lightgbm"]
    assert conf["model_class"] == "lightgbm.basic.Booster" and conf["data"] == "model.lgb"
    assert conf["lgb_version"] == lgb.__version__
    assert (path / "model.lgb").read_text().startswith("tree")  # LightGBM's text model
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.lightgbm"

    ours = tb.load_model(info.model_uri, config=store)
    assert isinstance(ours.raw_model, lgb.Booster)
    np.testing.assert_allclose(ours.predict(X), expected, rtol=0, atol=0)
    np.testing.assert_allclose(mlflow.lightgbm.load_model(str(path)).predict(X), expected,
                               rtol=0, atol=0)
    np.testing.assert_allclose(np.asarray(mlflow_pyfunc(path).predict(X)), expected, rtol=0, atol=0)


def test_lightgbm_sklearn_wrapper_skops_read_by_mlflow(store, tmp_path, data, mlflow_may_load):
    import mlflow.lightgbm

    X, y = data
    model = lgb.LGBMClassifier(n_estimators=8, num_leaves=7, verbose=-1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnsafeFormatWarning)  # skops: nothing unsafe is written
        info, path, mlmodel = log_and_fetch(store, tmp_path, model)
    conf = mlmodel["flavors"]["lightgbm"]
    assert info.flavor == "lightgbm" and "sklearn" not in mlmodel["flavors"]
    assert conf["model_class"] == "lightgbm.sklearn.LGBMClassifier"
    assert conf["serialization_format"] == "skops" and conf["data"] == "model.skops"
    assert "lightgbm.sklearn.LGBMClassifier" in conf["skops_trusted_types"]

    ours = tb.load_model(info.model_uri, config=store)  # skops: no allow_pickle needed
    np.testing.assert_array_equal(ours.predict(X), model.predict(X))
    theirs = mlflow.lightgbm.load_model(str(path))
    np.testing.assert_array_equal(theirs.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(np.asarray(mlflow_pyfunc(path).predict(X)), model.predict(X))


def test_lightgbm_pickled_wrapper_needs_allow_pickle(store, tmp_path, data, mlflow_may_load):
    import mlflow.lightgbm

    from trackbridge.models.flavors.lightgbm import LightGBMFlavor

    X, y = data
    model = lgb.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, y)
    with pytest.warns(UnsafeFormatWarning):
        info, path, mlmodel = log_and_fetch(store, tmp_path, model,
                                            flavor=LightGBMFlavor(serialization="cloudpickle"))
    assert mlmodel["flavors"]["lightgbm"]["serialization_format"] == "cloudpickle"
    with pytest.raises(UnsafeModelError, match="allow_pickle=True"):
        tb.load_model(info.model_uri, config=store)
    ours = tb.load_model(info.model_uri, config=store, allow_pickle=True)
    np.testing.assert_array_equal(ours.predict(X), model.predict(X))
    np.testing.assert_array_equal(mlflow.lightgbm.load_model(str(path)).predict(X), model.predict(X))
