"""Write a model directory in the MLflow model format, and log one to a run.

The directory holds ``MLmodel`` (YAML: ``flavors`` with ``python_function`` and the framework
flavor, ``model_uuid``, ``utc_time_created``, ``run_id``, ``artifact_path``, ``signature``,
``saved_input_example_info``), the flavor's files, ``requirements.txt``, ``python_env.yaml``,
``conda.yaml``, ``input_example.json`` (+ ``serving_input_example.json``) when an example is
given, and ``extra_files/``. Databricks Model Serving, Azure ML no-code deployment and
``mlflow.pyfunc.load_model`` read this format.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import environment
from . import signature as signatures
from .errors import ModelError
from .flavors import Flavor, flavor_for_saving

if TYPE_CHECKING:
    from ..run import ActiveRun

MLMODEL = "MLmodel"
REQUIREMENTS = "requirements.txt"
PYTHON_ENV = "python_env.yaml"
CONDA_ENV = "conda.yaml"
EXTRA_DIR = "extra_files"


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` wrote: load it with ``tb.load_model(info.model_uri)``."""

    model_uri: str  # runs:/<run id>/<artifact path> (or the directory for save_model)
    run_id: str | None
    artifact_path: str | None
    flavor: str
    model_uuid: str
    utc_time_created: str
    signature: dict[str, Any] | None
    requirements: list[str]


def write_yaml(path: Path, data: Any) -> None:
    import yaml

    path.write_text(yaml.safe_dump(data, default_flow_style=False, sort_keys=False))


def read_mlmodel(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``MLmodel`` file of a model directory."""
    import yaml

    path = Path(model_dir) / MLMODEL
    if not path.is_file():
        raise ModelError(f"{model_dir} is not a model directory: it has no {MLMODEL} file")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise ModelError(f"{path} has no 'flavors' table")
    return data


def _requirements(given: Sequence[str] | str | os.PathLike[str] | None) -> list[str] | None:
    if given is None:
        return None
    is_file = isinstance(given, (str, os.PathLike))
    lines = Path(given).read_text().splitlines() if is_file else list(given)
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _output_of(flavor: Flavor, model: Any, example: Any) -> Any:
    try:
        return flavor.predict(model, example)
    except Exception:  # the example may be partial: no output schema then
        return None


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    flavor: str | Flavor | None = None,
    input_example: Any = None,
    signature: Any = None,
    pip_requirements: Sequence[str] | str | os.PathLike[str] | None = None,
    extra_files: Sequence[str | os.PathLike[str]] | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
) -> ModelInfo:
    """Write ``model`` to the new (or empty) directory ``path`` in the MLflow model format."""
    target = Path(path)
    if target.exists() and any(target.iterdir()):
        raise ModelError(f"cannot save a model into {target}: the directory is not empty")
    target.mkdir(parents=True, exist_ok=True)
    chosen = flavor_for_saving(model, flavor)
    saved = chosen.save(model, target)

    sig = signatures.normalize_signature(signature)
    example_info = None
    if input_example is not None:
        example_info, body, serving = signatures.serialize_example(input_example)
        (target / signatures.EXAMPLE_FILE).write_text(body)
        (target / signatures.SERVING_EXAMPLE_FILE).write_text(serving)
        if sig is None:
            sig = signatures.infer_signature(input_example, _output_of(chosen, model, input_example))

    own_table = saved.config if saved.config is not None else saved.pyfunc
    if extra_files:
        (target / EXTRA_DIR).mkdir()
        own_table["extra_files"] = []
        for item in extra_files:
            source = Path(item)
            if not source.is_file():
                raise ModelError(f"extra file {source} is not a file")
            shutil.copyfile(source, target / EXTRA_DIR / source.name)
            own_table["extra_files"].append({"path": f"{EXTRA_DIR}/{source.name}"})

    requirements = _requirements(pip_requirements)
    if requirements is None:
        requirements = environment.model_requirements(saved.modules, saved.distributions)
    (target / REQUIREMENTS).write_text("\n".join(requirements) + "\n")
    write_yaml(target / PYTHON_ENV, environment.python_env(REQUIREMENTS))
    write_yaml(target / CONDA_ENV, environment.conda_env(requirements))

    from ..version import __version__

    flavors: dict[str, Any] = {"python_function": {
        **saved.pyfunc, "env": {"conda": CONDA_ENV, "virtualenv": PYTHON_ENV},
        "python_version": environment.python_version()}}
    if saved.config is not None:
        flavors[chosen.name] = saved.config
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    mlmodel: dict[str, Any] = {
        "artifact_path": artifact_path, "flavors": flavors, "model_uuid": uuid.uuid4().hex,
        "run_id": run_id, "utc_time_created": created,
    }
    if sig is not None:
        mlmodel["signature"] = sig
    if example_info is not None:
        mlmodel["saved_input_example_info"] = example_info
    mlmodel["model_size_bytes"] = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    mlmodel["trackbridge_version"] = __version__
    write_yaml(target / MLMODEL, mlmodel)
    return ModelInfo(model_uri=str(target), run_id=run_id, artifact_path=artifact_path,
                     flavor=chosen.name, model_uuid=mlmodel["model_uuid"],
                     utc_time_created=created, signature=sig, requirements=requirements)


def log_model(run: ActiveRun, model: Any, name: str = "model", **options: Any) -> ModelInfo:
    """Save ``model`` to a temp directory and log it as the artifacts ``<name>/`` of ``run``."""
    from ..validation import check_artifact_path

    artifact_path = check_artifact_path(name, "model name")
    if not artifact_path:
        raise ModelError("the model name (its artifact path in the run) must not be empty")
    with tempfile.TemporaryDirectory(prefix="trackbridge-model-") as tmp:
        info = save_model(model, Path(tmp) / "model", run_id=run.id, artifact_path=artifact_path,
                          **options)
        run.log_artifacts(Path(tmp) / "model", artifact_path=artifact_path)
    return ModelInfo(**{**info.__dict__, "model_uri": f"runs:/{run.id}/{artifact_path}"})
