"""The bundled scikit-learn data sets the entry points can use."""

from __future__ import annotations

from sklearn.datasets import load_breast_cancer, load_iris, load_wine

DATASETS = {"iris": load_iris, "wine": load_wine, "breast_cancer": load_breast_cancer}


def load(name: str):
    """``(X, y)`` of a bundled data set; an unknown name exits with a clear message."""
    if name not in DATASETS:
        raise SystemExit(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    data = DATASETS[name]()
    return data.data, data.target
