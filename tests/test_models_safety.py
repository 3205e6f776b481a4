"""Loading never runs code from a model's files unless the caller opts in: pickles need
allow_pickle=True, skops files naming untrusted types are refused."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
import yaml
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline

import trackbridge as tb
from trackbridge.models import UnsafeFormatWarning, UnsafeModelError
from trackbridge.models.flavors.sklearn import SklearnFlavor

X = np.arange(40, dtype="float64").reshape(20, 2)
Y = X[:, 0] * 2 + X[:, 1]


class Shift(BaseEstimator, TransformerMixin):
    """A user-defined transformer: skops cannot trust it by itself."""

    def __init__(self, by=1.0):
        self.by = by

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X + self.by


class Trap:
    """Unpickling this creates a file: proof that code from the model ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("serialization", ["pickle", "cloudpickle"])
def test_a_pickled_sklearn_model_needs_the_opt_in(store, serialization):
    model = LinearRegression().fit(X, Y)
    with tb.start_run(experiment="models", config=store) as run:
        with pytest.warns(UnsafeFormatWarning, match=serialization):
            run.log_model(model, flavor=SklearnFlavor(serialization=serialization))
    uri = f"runs:/{run.id}/model"
    with pytest.raises(UnsafeModelError, match="allow_pickle=True") as caught:
        tb.load_model(uri, config=store)
    assert uri in str(caught.value)
    loaded = tb.load_model(uri, config=store, allow_pickle=True)
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))


def test_refusal_happens_before_anything_is_unpickled(store, tmp_path):
    model = LinearRegression().fit(X, Y)
    with tb.start_run(experiment="models", config=store) as run:
        with pytest.warns(UnsafeFormatWarning):
            run.log_model(model, flavor=SklearnFlavor(serialization="pickle"))
    path = tb.download_artifacts(run.id, "model", tmp_path / "m", config=store)
    import pickle

    marker = tmp_path / "code-ran"
    (path / "model.pkl").write_bytes(pickle.dumps(Trap(str(marker))))
    with pytest.raises(UnsafeModelError):
        tb.load_model(path)
    assert not marker.exists()


def test_a_python_function_model_needs_the_opt_in(store, tmp_path):
    class Constant:
        def predict(self, data):
            return [42] * len(data)

    with tb.start_run(experiment="models", config=store) as run:
        with pytest.warns(UnsafeFormatWarning, match="cloudpickle"):
            run.log_model(Constant(), name="const")
    with pytest.raises(UnsafeModelError, match="allow_pickle=True"):
        tb.load_model(f"runs:/{run.id}/const", config=store)
    assert tb.load_model(f"runs:/{run.id}/const", config=store,
                         allow_pickle=True).predict([1, 2]) == [42, 42]


def _tamper(skops_file, old_class, new_module, new_class):
    """Rewrite the skops schema so that the node of ``old_class`` names another type."""
    with zipfile.ZipFile(skops_file) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    schema = json.loads(members["schema.json"])

    def walk(node):
        if isinstance(node, dict):
            if node.get("__class__") == old_class:
                node["__module__"], node["__class__"] = new_module, new_class
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(skops_file, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_a_tampered_skops_file_naming_an_untrusted_type_is_refused(store, tmp_path):
    model = make_pipeline(LinearRegression()).fit(X, Y)
    with tb.start_run(experiment="models", config=store) as run:
        run.log_model(model)
    path = tb.download_artifacts(run.id, "model", tmp_path, config=store)
    assert tb.load_model(path).predict(X[:3]).shape == (3,)  # untouched: loads

    _tamper(path / "model.skops", "LinearRegression", "subprocess", "Popen")
    # a tamperer would also add the type to the list MLmodel records for MLflow's loader
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"]["skops_trusted_types"] = ["subprocess.Popen"]
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(UnsafeModelError, match=r"subprocess\.Popen"):
        tb.load_model(path)
    with pytest.raises(UnsafeModelError):
        tb.load_model(path, allow_pickle=True)  # the pickle opt-in does not trust skops types


def test_sklearn_classes_are_trusted_user_classes_must_be_named(store):
    forest = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, Y)  # sklearn.tree Tree
    custom = make_pipeline(Shift(by=3.0), LinearRegression()).fit(X, Y)
    with tb.start_run(experiment="models", config=store) as run:
        run.log_model(forest, name="forest")
        run.log_model(custom, name="custom")
    np.testing.assert_allclose(
        tb.load_model(f"runs:/{run.id}/forest", config=store).predict(X), forest.predict(X))
    shift = f"{Shift.__module__}.Shift"
    with pytest.raises(UnsafeModelError, match=f"trusted_types=\\['{shift}'\\]"):
        tb.load_model(f"runs:/{run.id}/custom", config=store)
    loaded = tb.load_model(f"runs:/{run.id}/custom", config=store, trusted_types=[shift])
    np.testing.assert_allclose(loaded.predict(X), custom.predict(X))


def test_the_loader_shipped_for_mlflow_honours_mlflows_pickle_switch(store, tmp_path, monkeypatch):
    import mlflow.pyfunc

    class Echo:
        def predict(self, data):
            return data

    with tb.start_run(experiment="models", config=store) as run:
        with pytest.warns(UnsafeFormatWarning):
            run.log_model(Echo(), name="echo")
    path = tb.download_artifacts(run.id, "echo", tmp_path, config=store)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")  # MLflow's own switch
    for var in ("DATABRICKS_RUNTIME_VERSION", "IS_IN_DB_MODEL_SERVING_ENV"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(Exception, match="MLFLOW_ALLOW_PICKLE_DESERIALIZATION"):
        mlflow.pyfunc.load_model(str(path))
    assert os.path.isfile(path / "code" / "trackbridge_pyfunc_loader.py")


DANGEROUS = ("tempfile", "threading", "urllib", "subprocess", "ctypes", "_ctypes", "socket")


def _reexports_of_dangerous_classes() -> list[str]:
    """Names, inside sklearn / numpy / scipy, of classes defined in DANGEROUS modules (e.g.
    sklearn.datasets._covtype.TemporaryDirectory is tempfile.TemporaryDirectory)."""
    import inspect
    import sys

    import scipy.sparse  # noqa: F401
    import sklearn.datasets  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    found = {}
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("sklearn", "numpy", "scipy") and module is not None:
            for attr, value in list(vars(module).items()):
                if inspect.isclass(value) and \
                        (value.__module__ or "").split(".")[0] in DANGEROUS:
                    found.setdefault(f"{value.__module__}.{value.__qualname__}", f"{name}.{attr}")
    return sorted(found.values())


def test_a_tampered_file_naming_a_dangerous_class_by_a_trusted_path_is_refused(store, tmp_path):
    names = _reexports_of_dangerous_classes()
    assert names  # e.g. tempfile.TemporaryDirectory, threading.Thread, a ctypes function pointer
    model = make_pipeline(LinearRegression()).fit(X, Y)
    with tb.start_run(experiment="models", config=store) as run:
        run.log_model(model)
    for name in names[:8]:
        path = tb.download_artifacts(run.id, "model", tmp_path / name, config=store)
        module_name, _, attr = name.rpartition(".")
        _tamper(path / "model.skops", "LinearRegression", module_name, attr)
        with pytest.raises(UnsafeModelError, match=attr):
            tb.load_model(path)


def test_no_class_defined_outside_sklearn_numpy_scipy_is_trusted_through_a_reexport():
    """Every module of the trusted packages loaded here, every class attribute it re-exports
    from elsewhere (threading.Thread, urllib.request.Request, tempfile, ctypes, ...)."""
    import inspect
    import sys

    import scipy.sparse  # noqa: F401 - load what models typically pull in
    import sklearn.ensemble  # noqa: F401
    import sklearn.pipeline  # noqa: F401

    from trackbridge.models.flavors.sklearn import TRUSTED_PACKAGES, _is_trusted_class

    checked, foreign = 0, []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in TRUSTED_PACKAGES or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if not inspect.isclass(value):
                continue
            checked += 1
            defined_in = getattr(value, "__module__", "") or ""
            if defined_in.split(".")[0] not in TRUSTED_PACKAGES and _is_trusted_class(f"{name}.{attr}"):
                foreign.append(f"{name}.{attr} -> {defined_in}.{value.__qualname__}")
    assert checked > 1000 and not foreign, foreign[:20]
