"""Start the scoring server: fetch the model once, load it in every worker, run uvicorn.

The model is fetched (downloaded when the URI is not a local directory) and loaded once in
the starting process before any port is bound, so a bad URI, a refused pickle or a missing
trusted type fails the command at once with the loader's message. With ``workers > 1``
uvicorn starts that many processes; each loads the model from the fetched directory (passed
in ``TRACKBRIDGE_SERVE_SPEC``) exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SPEC_ENV = "TRACKBRIDGE_SERVE_SPEC"


@dataclass(frozen=True)
class ServeOptions:
    """What ``trackbridge models serve`` was asked for."""

    host: str = "127.0.0.1"
    port: int = 5001
    workers: int = 1
    allow_pickle: bool = False
    trusted_types: tuple[str, ...] = field(default_factory=tuple)
    max_body_bytes: int = 50 << 20
    timeout: float = 60.0


def _load(model_dir: Path, options: ServeOptions, label: str) -> Any:
    from ..models.loading import load_model_dir

    return load_model_dir(model_dir, allow_pickle=options.allow_pickle,
                          trusted_types=options.trusted_types, label=label)


def app_from_environment() -> Any:
    """uvicorn's app factory in each worker process (``workers > 1``)."""
    from .app import create_app

    spec = json.loads(os.environ[SPEC_ENV])
    options = ServeOptions(**{**spec["options"], "trusted_types": tuple(spec["options"]
                                                                       ["trusted_types"])})
    model = _load(Path(spec["model_dir"]), options, spec["label"])
    return create_app(model, max_body_bytes=options.max_body_bytes, timeout=options.timeout)


def _uvicorn_options(options: ServeOptions) -> dict[str, Any]:
    import importlib.util

    fast = importlib.util.find_spec("httptools") is not None
    return {"host": options.host, "port": options.port, "log_level": "warning",
            "access_log": False, "http": "httptools" if fast else "h11", "ws": "none",
            "timeout_graceful_shutdown": 5}


def serve(uri: str, config: Any, options: ServeOptions, *, announce: Any = print) -> None:
    """Serve ``uri`` until interrupted (blocks). ``announce`` gets the one-line ready message."""
    import uvicorn

    from ..models.api import fetch_model_dir
    from .app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="trackbridge-serve-"))
    try:
        model_dir = fetch_model_dir(uri, tmp, config)
        model = _load(model_dir, options, str(uri))  # fails here, before any port is bound
        where = f"http://{options.host}:{options.port}"
        announce(f"Serving {uri} ({model.flavor}) at {where}/invocations with "
                 f"{options.workers} worker(s); Ctrl-C stops")
        if options.workers == 1:
            app = create_app(model, max_body_bytes=options.max_body_bytes, timeout=options.timeout)
            uvicorn.run(app, **_uvicorn_options(options))
            return
        del model
        spec = {"model_dir": str(model_dir), "label": str(uri),
                "options": {**asdict(options), "trusted_types": list(options.trusted_types)}}
        os.environ[SPEC_ENV] = json.dumps(spec)
        uvicorn.run("trackbridge.serving.server:app_from_environment", factory=True,
                    workers=options.workers, **_uvicorn_options(options))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
