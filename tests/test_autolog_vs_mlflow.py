"""Side by side with MLflow: the same estimators on the same data, once under MLflow's
``autolog()`` of scikit-learn, XGBoost and LightGBM (into a temporary MLflow store) and once
under ``tb.autolog()``, each in its own process. The param keys, the metric keys (training,
post-training, search parent and children) and the dataset inputs must be the same sets."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from testsupport.children import child_env

#: The training script; {setup} makes the run (a context manager) and {read} reads one back.
SCENARIO = '''
import json, sys, warnings
warnings.simplefilter("ignore")
{setup}
import sklearn.metrics
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
Xd, yd = load_diabetes(return_X_y=True)
out = {{}}
with run("classifier") as r:
    model = LogisticRegression(max_iter=500).fit(X_train, y_train)
    model.score(X_test, y_test)
    sklearn.metrics.accuracy_score(y_test, model.predict(X_test))
    sklearn.metrics.f1_score(y_test, model.predict(X_test), average="macro")
    sklearn.metrics.f1_score(y_test, model.predict(X_test), average="micro")
out["classifier"] = read(r)
with run("regressor") as r:
    LinearRegression().fit(Xd, yd)
out["regressor"] = read(r)
with run("pipeline") as r:  # SVC without probability: no predict_proba, so no log loss
    make_pipeline(StandardScaler(), SVC()).fit(X_train, y_train)
out["pipeline"] = read(r)
with run("search") as r:
    GridSearchCV(LogisticRegression(max_iter=500), {{"C": [0.1, 1.0, 10.0]}}, cv=3).fit(X, y)
out["search"] = read(r)
out["search_children"] = children(r)
import lightgbm as lgb, xgboost as xgb
with run("xgboost") as r:
    dtrain, dval = xgb.DMatrix(Xd[:300], label=yd[:300]), xgb.DMatrix(Xd[300:], label=yd[300:])
    xgb.train({{"max_depth": 2}}, dtrain, 30, evals=[(dtrain, "train"), (dval, "val")],
              early_stopping_rounds=2, verbose_eval=False)
out["xgboost"] = read(r)
with run("xgboost_wrapper") as r:
    xgb.XGBClassifier(n_estimators=4).fit(X_train, y_train, eval_set=[(X_test, y_test)],
                                           verbose=False)
out["xgboost_wrapper"] = read(r)
with run("lightgbm") as r:
    lgb.train({{"objective": "regression", "verbose": -1}}, lgb.Dataset(Xd, label=yd), 5,
              valid_sets=[lgb.Dataset(Xd[:100], label=yd[:100])], valid_names=["val"])
out["lightgbm"] = read(r)
with run("lightgbm_wrapper") as r:
    lgb.LGBMClassifier(n_estimators=4, verbose=-1).fit(X_train, y_train,
                                                       eval_set=[(X_test, y_test)])
out["lightgbm_wrapper"] = read(r)
print("RESULT " + json.dumps(out))
'''

MLFLOW_SETUP = '''
import mlflow, mlflow.lightgbm, mlflow.sklearn, mlflow.xgboost
mlflow.set_tracking_uri("sqlite:///" + sys.argv[1] + "/mlflow.db")
for flavor in (mlflow.sklearn, mlflow.xgboost, mlflow.lightgbm):  # models: not compared, slow
    flavor.autolog(log_models=False)
client = mlflow.MlflowClient()
def run(name):
    return mlflow.start_run(run_name=name)
def keys(run_id):
    got = client.get_run(run_id)
    inputs = sorted((d.dataset.name, d.dataset.digest,
                     [t.value for t in d.tags if t.key == "mlflow.data.context"][0])
                    for d in got.inputs.dataset_inputs)
    return {"params": sorted(got.data.params), "metrics": sorted(got.data.metrics),
            "inputs": inputs}
def read(r):
    return keys(r.info.run_id)
def children(r):
    found = client.search_runs([r.info.experiment_id],
                               f"tags.mlflow.parentRunId = '{r.info.run_id}'")
    return [keys(c.info.run_id) for c in found]
'''

TRACKBRIDGE_SETUP = '''
import trackbridge as tb
from trackbridge.config import load_config
from trackbridge.registry import open_backend
config = {"local": {"path": sys.argv[1] + "/tbruns"}}
tb.autolog(log_models=False)
def run(name):
    return tb.start_run(run_name=name, config=config)
def keys(run_id):
    got = tb.get_run(run_id, config=config)
    inputs = sorted((i.dataset.name, i.dataset.digest, i.context)
                    for i in open_backend(load_config(config)).get_inputs(run_id))
    return {"params": sorted(got.params), "metrics": sorted(got.metrics), "inputs": inputs}
def read(r):
    return keys(r.id)
def children(r):
    return [keys(c.id) for c in tb.search_runs(config=config) if c.parent_run_id == r.id]
'''


def run_scenario(setup: str, tmp_path) -> dict:
    script = tmp_path / "scenario.py"
    script.write_text(SCENARIO.format(setup=textwrap.dedent(setup)))
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=600,
                          env=child_env(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_same_param_metric_and_dataset_keys_as_mlflow_sklearn_autolog(tmp_path):
    (tmp_path / "mlflow").mkdir()
    (tmp_path / "tb").mkdir()
    theirs = run_scenario(MLFLOW_SETUP, tmp_path / "mlflow")
    ours = run_scenario(TRACKBRIDGE_SETUP, tmp_path / "tb")
    assert set(ours) == set(theirs)
    for scenario in ("classifier", "regressor", "pipeline", "search", "xgboost", "xgboost_wrapper",
                     "lightgbm", "lightgbm_wrapper"):
        for kind in ("params", "metrics", "inputs"):
            assert ours[scenario][kind] == theirs[scenario][kind], (scenario, kind)
    # what the comparison covers, so it cannot pass on two empty runs
    assert "LogisticRegression_score_X_test" in ours["classifier"]["metrics"]
    assert {"f1_score_X_test", "f1_score-2_X_test", "accuracy_score_X_test"} <= \
        set(ours["classifier"]["metrics"])
    assert "training_log_loss" not in ours["pipeline"]["metrics"]
    assert "svc__C" in ours["pipeline"]["params"]
    assert {"val-rmse", "best_iteration", "stopped_iteration"} <= set(ours["xgboost"]["metrics"])
    assert "validation_0-mlogloss" in ours["xgboost_wrapper"]["metrics"]
    assert "val-l2" in ours["lightgbm"]["metrics"]
    assert "best_C" in ours["search"]["params"] and "best_cv_score" in ours["search"]["metrics"]
    assert len(ours["search_children"]) == len(theirs["search_children"]) == 3
    child_keys = {kind: sorted({k for c in ours["search_children"] for k in c[kind]})
                  for kind in ("params", "metrics")}
    assert child_keys == {kind: sorted({k for c in theirs["search_children"] for k in c[kind]})
                          for kind in ("params", "metrics")}
