"""The dataset inputs autologging records: a DataFrame, a numpy array (with its targets) or a
scipy sparse matrix (densified when small enough), as ``mlflow.sklearn.autolog`` does."""

from __future__ import annotations

from typing import Any

#: sparse inputs bigger than this (cells) are not densified to digest them
MAX_DENSE_CELLS = 10_000_000


def dataset_of(X: Any, y: Any = None, name: str | None = None) -> Any:
    """A :class:`~trackbridge.entities.Dataset` of training or evaluation data, or None."""
    from .. import data

    module = type(X).__module__.split(".")[0]
    if module == "pandas" and hasattr(X, "columns"):
        return data.from_pandas(X, name=name)
    if module == "scipy" and hasattr(X, "toarray"):
        if X.shape[0] * X.shape[1] > MAX_DENSE_CELLS:
            return None
        X = X.toarray()
        module = "numpy"
    if module == "numpy" and hasattr(X, "shape"):
        targets = y if type(y).__module__.split(".")[0] == "numpy" and hasattr(y, "shape") else None
        return data.from_numpy(X, targets=targets, name=name)
    return None


def log_dataset(run: Any, X: Any, y: Any, context: str, name: str | None = None) -> None:
    dataset = dataset_of(X, y, name)
    if dataset is not None:
        run.log_input(dataset, context=context)
