"""Model URIs: ``runs:/<run id>/<path>``, ``models:/<name>/<version>``, ``models:/<name>@<alias>``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..validation import check_artifact_path
from .errors import ModelUriError

FORMS = ("runs:/<run id>/<path>", "models:/<name>/<version>", "models:/<name>@<alias>",
         "a local model directory")


@dataclass(frozen=True)
class RunModelUri:
    run_id: str
    path: str

    def __str__(self) -> str:
        return f"runs:/{self.run_id}/{self.path}"


@dataclass(frozen=True)
class RegistryUri:
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.alias else f"models:/{self.name}/{self.version}"


def _bad(uri: str, why: str) -> ModelUriError:
    return ModelUriError(f"bad model URI {uri!r}: {why}; use one of {', '.join(FORMS)}")


def parse_model_uri(uri: str | Path) -> RunModelUri | RegistryUri | Path:
    """Parse ``uri``; a string that is not a ``runs:``/``models:`` URI must be a directory."""
    if isinstance(uri, Path):
        text = str(uri)
    elif isinstance(uri, str):
        text = uri
    else:
        raise ModelUriError(f"a model URI must be a string or a path, got {type(uri).__name__}")
    if text.startswith("runs:/"):
        run_id, _, path = text[len("runs:/"):].strip("/").partition("/")
        if not run_id or not path:
            raise _bad(text, "it needs a run id and the model's artifact path")
        return RunModelUri(run_id, check_artifact_path(path, "model path"))
    if text.startswith("models:/"):
        rest = text[len("models:/"):].strip("/")
        if "@" in rest:
            name, _, alias = rest.partition("@")
            if not name or not alias or "/" in name or "/" in alias:
                raise _bad(text, "expected models:/<name>@<alias>")
            return RegistryUri(name, alias=alias)
        name, _, version = rest.rpartition("/")
        if not name or "/" in name or not version.isdigit() or int(version) < 1:
            raise _bad(text, "expected models:/<name>/<version> with a version number >= 1")
        return RegistryUri(name, version=int(version))
    if "://" in text or text.startswith(("runs:", "models:")):
        raise _bad(text, "unknown scheme")
    path = Path(text).expanduser()
    if not path.is_dir():
        raise _bad(text, "no such directory")
    return path
