"""Autologging on real training (scikit-learn, XGBoost, LightGBM) in a fresh process, read back
through the API; disable=True restores the original methods; a logger that fails never breaks
the user's fit."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

import trackbridge as tb
from testsupport.children import child_env

TRAINING = '''
import json, sys, warnings
warnings.simplefilter("ignore")
import trackbridge as tb
enabled = tb.autolog()
import lightgbm as lgb, xgboost as xgb
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X_train, y_train)  # no run
Xd, yd = load_diabetes(return_X_y=True)
dtrain, dval = xgb.DMatrix(Xd[:300], label=yd[:300]), xgb.DMatrix(Xd[300:], label=yd[300:])
booster = xgb.train({"max_depth": 2, "eta": 0.3}, dtrain, 200, evals=[(dtrain, "train"),
                    (dval, "val")], early_stopping_rounds=3, verbose_eval=False)
with tb.start_run(run_name="lgb") as run:  # inside the user's own run
    gbm = lgb.LGBMClassifier(n_estimators=7, verbose=-1).fit(X_train, y_train,
                                                               eval_set=[(X_test, y_test)])
print("RESULT " + json.dumps({
    "enabled": enabled, "lgb_run": run.id, "forest_pred": forest.predict(X_test).tolist(),
    "xgb_best": booster.best_iteration, "xgb_rounds": booster.num_boosted_rounds(),
    "xgb_pred": booster.predict(dval).tolist(), "xgb_weight": booster.get_score(),
    "gbm_proba": gbm.predict_proba(X_test).tolist()}))
'''


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("autolog")
    (root / "trackbridge.toml").write_text(f'[local]\npath = "{root / "tbruns"}"\n')
    script = root / "train.py"
    script.write_text(TRAINING)
    proc = subprocess.run([sys.executable, str(script)], cwd=root, capture_output=True, text=True,
                          timeout=600, env=child_env(root))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))[7:])
    config = {"local": {"path": str(root / "tbruns")}}
    runs = {r.tags.get("estimator_name") or r.name: r for r in tb.search_runs(config=config)}
    return result, config, runs, root


def names(run, config, folder=None):
    return {a.path for a in tb.list_artifacts(run.id, folder, config=config)}


def inputs(run, config):
    from trackbridge.config import load_config
    from trackbridge.registry import open_backend

    return [(i.dataset.name, i.context) for i in open_backend(load_config(config)).get_inputs(run.id)]


def test_sklearn_fit_without_a_run_starts_and_ends_one(trained):
    result, config, runs, _ = trained
    assert result["enabled"] == ["sklearn", "xgboost", "lightgbm"]
    run = runs["RandomForestClassifier"]
    assert run.status == "FINISHED" and run.end_time is not None
    assert run.params["n_estimators"] == "5" and run.params["random_state"] == "0"
    assert run.tags["estimator_class"] == "sklearn.ensemble._forest.RandomForestClassifier"
    assert 0.9 <= run.metrics["training_accuracy_score"] <= 1.0
    assert {"training_score", "training_f1_score", "training_log_loss", "training_roc_auc"} <= \
        set(run.metrics)
    assert {"model", "estimator.html", "training_confusion_matrix.png"} <= names(run, config)
    assert ("dataset", "train") in inputs(run, config)
    model = tb.load_model(f"runs:/{run.id}/model", config=config)
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True, as_frame=True)
    X_test = train_test_split(X, y, random_state=0)[1]
    assert model.predict(X_test).tolist() == result["forest_pred"]


def test_xgboost_train_logs_each_iteration_early_stopping_importance_and_model(trained):
    result, config, runs, _ = trained
    [run] = [r for r in runs.values() if "eta" in r.params]
    rounds, best = result["xgb_rounds"], result["xgb_best"]
    assert rounds < 200  # early stopping did stop it
    assert run.params["max_depth"] == "2" and run.params["num_boost_round"] == "200"
    assert run.params["early_stopping_rounds"] == "3"
    history = tb.get_metric_history(run.id, "val-rmse", config=config)
    assert [m.step for m in history] == [*range(rounds), rounds]  # + the best again, after
    assert history[-1].value == history[best].value
    assert run.metrics["best_iteration"] == best and run.metrics["stopped_iteration"] == rounds - 1
    assert len(tb.get_metric_history(run.id, "train-rmse", config=config)) == rounds + 1
    path = tb.download_artifacts(run.id, "feature_importance_weight.json", config["local"]["path"],
                                 config=config)
    assert json.loads(path.read_text()) == result["xgb_weight"]
    assert "feature_importance_weight.png" in names(run, config)
    assert ("dataset", "train") in inputs(run, config) and ("val", "eval") in inputs(run, config)
    model = tb.load_model(f"runs:/{run.id}/model", config=config)
    assert model.flavor == "xgboost"
    from sklearn.datasets import load_diabetes

    # a DMatrix holds float32: the signature says so, and load_model enforces it (as MLflow)
    assert model.signature and "float32" in str(model.signature["inputs"])
    rows = load_diabetes(return_X_y=True)[0][300:].astype(np.float32)
    np.testing.assert_allclose(model.predict(rows), result["xgb_pred"], rtol=1e-6)


def test_lightgbm_wrapper_logs_into_the_users_run(trained):
    result, config, runs, _ = trained
    run = runs["lgb"]
    assert run.id == result["lgb_run"] and run.status == "FINISHED"
    history = tb.get_metric_history(run.id, "valid_0-multi_logloss", config=config)
    assert [m.step for m in history] == list(range(7))
    assert run.params["num_boost_round"] == "7"  # n_estimators, as train() got it (as MLflow)
    assert {"feature_importance_split.json", "feature_importance_gain.json",
            "feature_importance_split.png", "model"} <= names(run, config)
    model = tb.load_model(f"runs:/{run.id}/model", config=config)
    assert model.flavor == "lightgbm"
    np.testing.assert_allclose(model.raw_model.predict_proba(_iris_test()), result["gbm_proba"],
                               rtol=1e-6)


def _iris_test():
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True, as_frame=True)
    return train_test_split(X, y, random_state=0)[1]


# -- in this process: patching and undoing it ---------------------------------------------
@pytest.fixture
def autologged():
    yield
    for name in ("sklearn", "xgboost", "lightgbm"):
        getattr(tb, name).autolog(disable=True)


def test_disable_restores_exactly_what_was_there(autologged):
    import lightgbm as lgb
    import sklearn.metrics
    import xgboost as xgb
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    before = {"fit": LogisticRegression.fit, "own": set(vars(LogisticRegression)),
              "predict_proba_fn": inspect.getattr_static(SVC, "predict_proba").fn,
              "accuracy": sklearn.metrics.accuracy_score, "xgb_train": xgb.train,
              "xgb_fit": xgb.XGBClassifier.fit, "lgb_train": lgb.train,
              "lgb_fit": lgb.LGBMRegressor.fit}
    tb.autolog()
    assert LogisticRegression.fit is not before["fit"]
    assert inspect.getattr_static(SVC, "predict_proba").fn is not before["predict_proba_fn"]
    assert not hasattr(SVC(), "predict_proba")  # available_if still answers as before
    assert sklearn.metrics.accuracy_score is not before["accuracy"]
    assert xgb.train is not before["xgb_train"] and lgb.train is not before["lgb_train"]
    tb.autolog(disable=True)
    after = {"fit": LogisticRegression.fit, "own": set(vars(LogisticRegression)),
             "predict_proba_fn": inspect.getattr_static(SVC, "predict_proba").fn,
             "accuracy": sklearn.metrics.accuracy_score, "xgb_train": xgb.train,
             "xgb_fit": xgb.XGBClassifier.fit, "lgb_train": lgb.train,
             "lgb_fit": lgb.LGBMRegressor.fit}
    assert all(after[k] is before[k] or after[k] == before[k] for k in before), \
        [k for k in before if after[k] is not before[k] and after[k] != before[k]]


def test_a_failing_logger_warns_and_fit_returns_as_usual(store, autologged, monkeypatch):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from trackbridge.autologging import AutologWarning, sklearn_metrics

    def broken(*args, **kwargs):
        raise RuntimeError("metrics backend exploded")

    monkeypatch.setattr(sklearn_metrics, "training_metrics", broken)
    X, y = load_iris(return_X_y=True)
    tb.sklearn.autolog(log_models=False)
    with tb.start_run(config=store) as run:
        with pytest.warns(AutologWarning, match="metrics backend exploded"):
            model = LogisticRegression(max_iter=300).fit(X, y)
    assert isinstance(model, LogisticRegression) and model.predict(X[:3]).shape == (3,)
    got = tb.get_run(run.id, config=store)
    assert got.params["max_iter"] == "300"  # what could be logged was logged
    tb.sklearn.autolog(log_models=False, silent=True)
    with tb.start_run(config=store):
        with warnings.catch_warnings():
            warnings.simplefilter("error", AutologWarning)
            LogisticRegression(max_iter=300).fit(X, y)


def test_the_fits_own_error_propagates_and_its_run_ends_failed(store, autologged, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setenv("TRACKBRIDGE_CONFIG", _config_file(store))
    tb.sklearn.autolog(log_models=False)
    with pytest.raises(ValueError):
        LogisticRegression().fit([[1.0], [2.0]], ["only-one-class", "only-one-class"])
    [run] = tb.search_runs(config=store)
    assert run.status == "FAILED"
    assert tb.active_run() is None


def _config_file(store):
    from pathlib import Path

    path = Path(store["local"]["path"]).parent / "tb.toml"
    path.write_text(f'[local]\npath = "{store["local"]["path"]}"\nflush_interval = 0.05\n')
    return str(path)
