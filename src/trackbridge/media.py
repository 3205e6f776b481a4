"""Figures, images and tables as run artifacts, in the layout MLflow's UI reads.

* :func:`log_figure`: a matplotlib figure (``.png``, ``.svg``, ``.pdf``, ``.jpg`` by the file's
  extension) or a plotly figure (``.html``; ``.png``/``.svg``/``.pdf``/``.jpg`` need kaleido).
* :func:`log_image`: a numpy array (HxW, HxWx1, HxWx3, HxWx4; uint8, integers in [0, 255] or
  floats in [0, 1]) or a PIL image, either to a file (``artifact_file``) or as a step of an
  image series (``key`` + ``step``): ``images/<key>+step+<step>+timestamp+<ms>+<uuid>.png`` and
  a thumbnail ``...+compressed.webp`` (at most 256 px a side), ``/`` in the key written ``~``,
  and the tag ``mlflow.loggedImages``, exactly as MLflow 2.x+ stores them (its UI shows a step
  slider for them).
* :func:`log_table`: a dict of columns or a DataFrame in MLflow's table JSON (``columns`` +
  ``data``, pandas' ``split`` orient); logging to the same file again appends the rows (new
  columns are added, missing cells are null), and the tag ``mlflow.loggedArtifacts`` lists it.

Bad input raises :class:`~trackbridge.errors.ValidationError` at the caller's line, naming the
type (or shape, dtype, range) it got and what is accepted.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ArtifactNotFoundError, ValidationError
from .validation import check_artifact_path

if TYPE_CHECKING:
    from .run import ActiveRun

TAG_LOGGED_IMAGES = "mlflow.loggedImages"
TAG_LOGGED_ARTIFACTS = "mlflow.loggedArtifacts"
THUMBNAIL_SIZE = 256
MATPLOTLIB_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")
PLOTLY_IMAGE_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")
_IMAGE_KEY = re.compile(r"^[a-zA-Z0-9_\-./ ]+$")


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _extension(artifact_file: str) -> str:
    return artifact_file.rsplit(".", 1)[-1].lower() if "." in artifact_file.rsplit("/", 1)[-1] \
        else ""


# -- figures ----------------------------------------------------------------------------
def log_figure(run: ActiveRun, figure: Any, artifact_file: str) -> None:
    """Store a matplotlib or plotly figure as ``artifact_file`` (format from the extension)."""
    ext = _extension(artifact_file)
    mpl = sys.modules.get("matplotlib.figure")
    plotly = sys.modules.get("plotly.basedatatypes")
    if mpl is not None and isinstance(figure, mpl.Figure):
        if ext not in MATPLOTLIB_FORMATS:
            raise ValidationError(f"log_figure of a matplotlib figure to {artifact_file!r}: the "
                                  f"extension must be one of {', '.join(MATPLOTLIB_FORMATS)}")
        run._write_artifact(artifact_file, lambda path: figure.savefig(path, format=ext))
    elif plotly is not None and isinstance(figure, plotly.BaseFigure):
        if ext == "html":
            run._write_artifact(artifact_file,
                    lambda path: figure.write_html(path, include_plotlyjs="cdn", auto_open=False))
        elif ext in PLOTLY_IMAGE_FORMATS:
            try:
                import kaleido  # noqa: F401
            except ImportError:
                raise ValidationError(f"log_figure of a plotly figure to {artifact_file!r} needs "
                                      f"kaleido (pip install kaleido); .html needs nothing"
                                      ) from None
            run._write_artifact(artifact_file, lambda path: figure.write_image(path, format=ext))
        else:
            raise ValidationError(f"log_figure of a plotly figure to {artifact_file!r}: the "
                                  f"extension must be html or one of {', '.join(PLOTLY_IMAGE_FORMATS)}")
    else:
        raise ValidationError(f"log_figure got a {_type_name(figure)}; it takes a "
                              f"matplotlib.figure.Figure or a plotly figure")


# -- images -----------------------------------------------------------------------------
def to_pil(image: Any) -> Any:
    """A PIL image of ``image`` (a PIL image or a numpy array as the module doc says)."""
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(image, pil.Image):
        return image
    if type(image).__module__.split(".")[0] != "numpy" or not hasattr(image, "ndim"):
        raise ValidationError(f"log_image got a {_type_name(image)}; it takes a numpy array "
                              f"(HxW, HxWx3, HxWx4) or a PIL.Image.Image")
    import numpy as np

    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))) or 0 in image.shape:
        raise ValidationError(f"log_image got an array of shape {image.shape}; it takes HxW "
                              f"(grey), HxWx1, HxWx3 (RGB) or HxWx4 (RGBA)")
    kind = image.dtype.kind
    if kind in "iu":
        if image.min() < 0 or image.max() > 255:
            raise ValidationError(f"log_image got {image.dtype} pixels from {image.min()} to "
                                  f"{image.max()}; integer pixels must be in [0, 255]")
        image = image.astype(np.uint8)
    elif kind == "f":
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise ValidationError(f"log_image got {image.dtype} pixels from {np.nanmin(image)} to "
                                  f"{np.nanmax(image)}; float pixels must be in [0, 1]")
        image = (image * 255).round().astype(np.uint8)
    else:
        raise ValidationError(f"log_image got an array of dtype {image.dtype}; it takes uint8 "
                              f"(or integers in [0, 255]) or floats in [0, 1]")
    try:
        from PIL import Image
    except ImportError:
        raise ValidationError("log_image needs Pillow: pip install 'trackbridge[media]'") from None
    return Image.fromarray(image)


def log_image(run: ActiveRun, image: Any, artifact_file: str | None = None, *,
              key: str | None = None, step: int | None = None, timestamp: int | None = None) -> None:
    """Store an image as ``artifact_file``, or as step ``step`` of the image series ``key``."""
    if (artifact_file is None) == (key is None):
        raise ValidationError("log_image takes exactly one of artifact_file (a static image) and "
                              "key (with step: an image series)")
    if artifact_file is not None and (step is not None or timestamp is not None):
        raise ValidationError("log_image: step and timestamp go with key=, not artifact_file=")
    picture = to_pil(image)
    if artifact_file is not None:
        def save(path: Path) -> None:
            try:
                picture.save(path)
            except (ValueError, KeyError, OSError) as exc:
                raise ValidationError(f"log_image cannot write a {picture.mode} image to "
                                      f"{artifact_file!r}: {exc} (use .png)") from None

        run._write_artifact(artifact_file, save)
        return
    if not isinstance(key, str) or not _IMAGE_KEY.match(key):
        raise ValidationError(f"image key {key!r} may only have letters, digits, '_', '-', '.', "
                              f"' ' and '/'")
    from .validation import check_step, check_timestamp

    step = check_step(key, 0 if step is None else step)
    timestamp = time.time_ns() // 1_000_000 if timestamp is None else check_timestamp(key, timestamp)
    stem = f"images/{key.replace('/', '~')}+step+{step}+timestamp+{timestamp}+{uuid.uuid4()}"
    run._write_artifact(f"{stem}.png", picture.save)
    thumbnail = picture.copy()
    thumbnail.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    run._write_artifact(f"{stem}+compressed.webp", thumbnail.save)
    run.set_tag(TAG_LOGGED_IMAGES, "True")


# -- tables -----------------------------------------------------------------------------
def _cell(value: Any) -> Any:
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # a numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # as pandas writes NaN / inf: null
    return value


def table_of(data: Any) -> tuple[list[str], list[list[Any]]]:
    """(columns, rows) of a dict of columns or a DataFrame; ragged columns are an error."""
    if type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "to_json"):
        split = json.loads(data.to_json(orient="split", index=False, date_format="iso"))
        return [str(c) for c in split["columns"]], split["data"]
    if not isinstance(data, Mapping):
        raise ValidationError(f"log_table got a {_type_name(data)}; it takes a dict of columns "
                              f"(name -> list of values) or a pandas DataFrame")
    columns = [str(name) for name in data]
    values = [v.tolist() if hasattr(v, "tolist") else v for v in data.values()]
    if all(not isinstance(v, (list, tuple)) for v in values):  # all scalars: one row, as MLflow
        return columns, [[_cell(v) for v in values]]
    lengths = {name: len(v) if isinstance(v, (list, tuple)) else None
               for name, v in zip(columns, values)}
    if len(set(lengths.values())) != 1:
        raise ValidationError(f"log_table got ragged columns (lengths {lengths}); every column "
                              f"must be a list of the same length")
    return columns, [[_cell(v) for v in row] for row in zip(*values)]


def log_table(run: ActiveRun, data: Any, artifact_file: str) -> None:
    """Store ``data`` as the table ``artifact_file`` (.json); an existing one gets the rows appended."""
    if not artifact_file.endswith(".json"):
        raise ValidationError(f"log_table writes MLflow's table JSON: {artifact_file!r} must end "
                              f"with .json")
    columns, rows = table_of(data)
    target = check_artifact_path(artifact_file, "artifact file")
    old_columns, old_rows = _existing_table(run, target)
    all_columns = old_columns + [c for c in columns if c not in old_columns]
    merged = [[dict(zip(old_columns, r)).get(c) for c in all_columns] for r in old_rows]
    merged += [[dict(zip(columns, r)).get(c) for c in all_columns] for r in rows]
    body = json.dumps({"columns": all_columns, "data": merged}, allow_nan=False, default=str)
    run._write_artifact(target, lambda path: path.write_text(body))
    logged = json.loads(run._tags.get(TAG_LOGGED_ARTIFACTS, "[]"))
    entry = {"path": target, "type": "table"}
    if entry not in logged:
        run.set_tag(TAG_LOGGED_ARTIFACTS, json.dumps([*logged, entry]))


def _existing_table(run: ActiveRun, path: str) -> tuple[list[str], list[list[Any]]]:
    with tempfile.TemporaryDirectory(prefix="trackbridge-") as tmp:
        local = Path(tmp) / "table.json"
        try:
            run.backend.download_artifact(run.id, path, local)
        except ArtifactNotFoundError:
            return [], []
        table = json.loads(local.read_text())
    return list(table.get("columns", [])), list(table.get("data", []))
