"""Datasets for ``run.log_input``: ``tb.data.from_pandas``, ``from_numpy``, ``from_path``.

Each returns a :class:`~trackbridge.entities.Dataset` in MLflow's representation, so a synced
run shows it as a native dataset input: ``name`` (default ``"dataset"``), ``digest`` (8 hex
digits of an MD5 over the content, computed the way ``mlflow.data`` does for DataFrames and
arrays: the first 10,000 rows plus the shape and column names), ``source_type`` and ``source``
(where it came from: ``code`` with the script by default, ``local`` for a path, ``http`` for
a URL), ``schema`` (MLflow's ``mlflow_colspec`` / ``mlflow_tensorspec``) and ``profile``
(rows and elements, or shapes and sizes).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from .entities import TAG_DATASET_CONTEXT, TAG_SOURCE_NAME, TAG_SOURCE_TYPE, Dataset, DatasetInput
from .errors import ValidationError

MAX_ROWS = 10_000
#: MLflow's limits on a dataset's fields (mlflow/utils/validation.py)
MAX_NAME, MAX_DIGEST, MAX_SCHEMA, MAX_PROFILE = 500, 36, 1_048_575, 16_777_215


def _md5_8(parts: list[Any]) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    for part in parts:
        md5.update(part)
    return md5.hexdigest()[:8]


def _source(source: str | os.PathLike[str] | None) -> tuple[str, str]:
    if source is None:  # the code that logged it, as MLflow's CodeDatasetSource
        script = str(Path(sys.argv[0]).resolve()) if sys.argv and sys.argv[0] else "<interactive>"
        return "code", json.dumps({"tags": {TAG_SOURCE_NAME: script, TAG_SOURCE_TYPE: "LOCAL"}})
    text = os.fspath(source)
    if text.startswith(("http://", "https://")):
        return "http", json.dumps({"url": text})
    if "://" in text or text.startswith(("dbfs:", "s3:", "gs:", "abfss:", "wasbs:")):
        return text.split(":", 1)[0], json.dumps({"uri": text})
    return "local", json.dumps({"uri": str(Path(text).expanduser().resolve())})


def _dataset(name: str | None, digest: str, source: Any, schema: Any, profile: Any) -> Dataset:
    name = name or "dataset"
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise ValidationError(f"dataset name must be a string of at most {MAX_NAME} characters, "
                              f"got {name!r}")
    source_type, source_json = _source(source)
    schema_json = None if schema is None else json.dumps(schema)
    if schema_json is not None and len(schema_json) > MAX_SCHEMA:
        schema_json = None  # MLflow refuses bigger schemas; the dataset is still recorded
    profile_json = None if profile is None else json.dumps(profile)
    return Dataset(name, digest[:MAX_DIGEST], source_type, source_json, schema_json, profile_json)


def from_pandas(df: Any, source: str | os.PathLike[str] | None = None, name: str | None = None,
                targets: str | None = None, digest: str | None = None) -> Dataset:
    """A dataset of a pandas DataFrame (``targets``: the label column, noted in the profile)."""
    import numpy as np
    import pandas as pd

    from .models.signature import infer_schema

    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"from_pandas takes a pandas.DataFrame, got {type(df).__name__}")
    if targets is not None and targets not in df.columns:
        raise ValidationError(f"targets column {targets!r} is not a column of the DataFrame")
    if digest is None:
        head = df.head(MAX_ROWS)
        types = df.map(type) if hasattr(df, "map") else df.applymap(type)  # pandas < 2.1
        wanted = head.columns[(types == str).all(axis=0)].union(  # noqa: E721 (elementwise)
            head.select_dtypes(include=[np.number]).columns)
        digest = _md5_8([pd.util.hash_pandas_object(head[wanted]).values, np.int64(len(df)),
                         *(str(c).encode() for c in df.columns)])
    columns = infer_schema(df)
    profile: dict[str, Any] = {"num_rows": len(df), "num_elements": int(df.size)}
    if targets is not None:
        profile["targets"] = targets
    return _dataset(name, digest, source, None if columns is None else {"mlflow_colspec": columns},
                    profile)


def from_numpy(features: Any, source: str | os.PathLike[str] | None = None,
               targets: Any = None, name: str | None = None, digest: str | None = None) -> Dataset:
    """A dataset of a numpy array of features (and optionally one of targets)."""
    import numpy as np
    import pandas as pd

    from .models.signature import infer_schema

    arrays = [a for a in (features, targets) if a is not None]
    for array in arrays:
        if not isinstance(array, np.ndarray):
            raise ValidationError(f"from_numpy takes numpy arrays, got {type(array).__name__}")
    if digest is None:
        parts: list[Any] = []
        for array in arrays:
            flat = array.flatten()[:MAX_ROWS]
            try:
                parts.append(pd.util.hash_array(flat))
            except TypeError:
                parts.append(np.int64(flat.size))
            parts.extend(np.int64(x) for x in array.shape)
        digest = _md5_8(parts)
    schema: dict[str, Any] | None = None
    feature_spec = infer_schema(features if features.ndim > 1 else features.reshape(-1, 1))
    if feature_spec is not None:
        target_spec = None if targets is None else infer_schema(
            targets if targets.ndim > 1 else targets.reshape(-1, 1))
        schema = {"mlflow_tensorspec": {
            "features": json.dumps(feature_spec),
            "targets": None if target_spec is None else json.dumps(target_spec)}}
    profile = {"features_shape": list(features.shape), "features_size": int(features.size),
               "features_nbytes": int(features.nbytes)}
    if targets is not None:
        profile.update(targets_shape=list(targets.shape), targets_size=int(targets.size),
                       targets_nbytes=int(targets.nbytes))
    return _dataset(name, digest, source, schema, profile)


def from_path(path: str | os.PathLike[str], name: str | None = None) -> Dataset:
    """A dataset of a file or a directory of files, digested by content (source ``local``)."""
    root = Path(path)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    if not root.exists():
        raise ValidationError(f"dataset path {str(root)!r} does not exist")
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    for file in files:
        md5.update(file.relative_to(root).as_posix().encode() if file != root else b"")
        with file.open("rb") as f:
            while chunk := f.read(1 << 20):
                md5.update(chunk)
                size += len(chunk)
    return _dataset(name or root.name, md5.hexdigest()[:8], root, None,
                    {"num_files": len(files), "num_bytes": size})


ACCEPTED = "a trackbridge.data Dataset (tb.data.from_pandas/from_numpy/from_path), a pandas " \
           "DataFrame, a numpy array or a path"


def to_input(dataset: Any, context: str | None, tags: Any) -> DatasetInput:
    """The input ``run.log_input`` records: ``dataset`` converted, ``context`` as the
    ``mlflow.data.context`` tag, ``tags`` (str -> str) added."""
    if not isinstance(dataset, Dataset):
        module = type(dataset).__module__.split(".")[0]
        if module == "pandas" and hasattr(dataset, "columns"):
            dataset = from_pandas(dataset)
        elif module == "numpy" and hasattr(dataset, "shape"):
            dataset = from_numpy(dataset)
        elif isinstance(dataset, (str, os.PathLike)):
            dataset = from_path(dataset)
        else:
            raise ValidationError(f"log_input got a {type(dataset).__module__}."
                                  f"{type(dataset).__qualname__}; it takes {ACCEPTED}")
    all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
    if context is not None:
        all_tags[TAG_DATASET_CONTEXT] = str(context)
    return DatasetInput(dataset, all_tags)


__all__ = ["Dataset", "DatasetInput", "from_numpy", "from_pandas", "from_path", "to_input"]
