"""Every URL of the UI, top to bottom. Each HTML page has a JSON twin: the same path under
``/api`` with the same query (``/runs/<id>`` -> ``/api/runs/<id>``); the home page's twin is
``/api/experiments``. All routes are GET (HEAD): nothing here changes data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import ValidationError
from . import rendering
from .data import artifacts, compare, experiments, models, run_page, runs_table, series
from .security import ARTIFACT_CSP
from .state import UIState

STATIC_DIR = Path(__file__).with_name("static")
View = Callable[[UIState, Request], dict[str, Any]]


def _int(request: Request, name: str, default: int | None = None) -> int | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ValidationError(f"{name}={text!r} is not an integer") from None


def home(state: UIState, request: Request) -> dict[str, Any]:
    return experiments.experiments_page(state)


def experiment(state: UIState, request: Request) -> dict[str, Any]:
    q = request.query_params
    return runs_table.runs_table(
        state, request.path_params["name"], filter=q.get("filter") or None,
        sort=q.get("sort") or runs_table.DEFAULT_SORT, order=q.get("order") or "desc",
        offset=_int(request, "offset", 0), limit=_int(request, "limit", runs_table.DEFAULT_LIMIT),
        columns=",".join(q.getlist("columns")) or None, parent=q.get("parent") or None)


def run(state: UIState, request: Request) -> dict[str, Any]:
    return run_page.run_page(state, request.path_params["run_id"])


def artifact(state: UIState, request: Request) -> dict[str, Any]:
    return run_page.artifact_page(state, request.path_params["run_id"], request.path_params["path"])


def metric(state: UIState, request: Request) -> dict[str, Any]:
    return series.metric_series(
        state, request.path_params["run_id"], request.path_params["key"],
        max_points=_int(request, "max_points", series.DEFAULT_MAX_POINTS),
        start_step=_int(request, "start_step"), end_step=_int(request, "end_step"))


def compare_runs(state: UIState, request: Request) -> dict[str, Any]:
    q = request.query_params
    return compare.compare_page(state, compare.parse_run_ids(q.getlist("runs") + q.getlist("run")))


def model_list(state: UIState, request: Request) -> dict[str, Any]:
    return models.models_page(state)


def model(state: UIState, request: Request) -> dict[str, Any]:
    return models.model_page(state, request.path_params["name"])


def page(view: View, template: str) -> Callable[[Request], Response]:
    """The HTML page of ``view`` (sync: Starlette runs it in a worker thread)."""
    def endpoint(request: Request) -> Response:
        return rendering.html(template, view(request.app.state.ui, request), request=request)
    return endpoint


def api(view: View) -> Callable[[Request], Response]:
    """The JSON twin of ``view``."""
    def endpoint(request: Request) -> Response:
        return rendering.json(view(request.app.state.ui, request))
    return endpoint


def artifact_file(request: Request) -> Response:
    """The bytes of one artifact, sandboxed: it can never script the UI's origin."""
    state: UIState = request.app.state.ui
    run_id, path = request.path_params["run_id"], request.path_params["path"]
    file, temporary = artifacts.local_copy(state, run_id, path)
    download = request.query_params.get("download") == "1"
    return FileResponse(
        file, media_type=artifacts.media_type(path),
        filename=path.rsplit("/", 1)[-1] if download else None,
        headers={"Content-Security-Policy": ARTIFACT_CSP},
        background=BackgroundTask(file.unlink, missing_ok=True) if temporary else None)


def artifact_zip(request: Request) -> Response:
    """A folder of artifacts ('' for all of the run's) as one zip download."""
    state: UIState = request.app.state.ui
    run_id, folder = request.path_params["run_id"], request.path_params.get("path", "")
    file = artifacts.zip_folder(state, run_id, folder)
    name = f"{run_id[:8]}-{folder.replace('/', '-') or 'artifacts'}.zip"
    return FileResponse(file, media_type="application/zip", filename=name,
                        headers={"Content-Security-Policy": ARTIFACT_CSP},
                        background=BackgroundTask(file.unlink, missing_ok=True))


def twin(path: str, view: View, template: str, api_path: str | None = None) -> list[Route]:
    """The page at ``path`` and its JSON twin at ``/api`` + ``path`` (or ``api_path``)."""
    return [Route(path, page(view, template)), Route(api_path or f"/api{path}", api(view))]


ROUTES = [
    *twin("/", home, "home.html", api_path="/api/experiments"),
    *twin("/experiments/{name:path}", experiment, "experiment.html"),
    *twin("/runs/{run_id}", run, "run.html"),
    *twin("/runs/{run_id}/artifacts/{path:path}", artifact, "artifact.html"),
    Route("/api/runs/{run_id}/metrics/{key:path}", api(metric)),
    Route("/files/{run_id}/{path:path}", artifact_file),
    Route("/zip/{run_id}", artifact_zip),
    Route("/zip/{run_id}/{path:path}", artifact_zip),
    *twin("/compare", compare_runs, "compare.html"),
    *twin("/models", model_list, "models.html"),
    *twin("/models/{name:path}", model, "model.html"),
    Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
]
