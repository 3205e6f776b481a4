"""Turning a view's dict into a response: a Jinja2 page (autoescaped: every user string is
text) or its strict-JSON twin (NaN and infinities as strings, like the CLI's ``--json``)."""

from __future__ import annotations

import json as _json
import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.responses import HTMLResponse, Response

from .. import strict_json
from ..version import __version__

if TYPE_CHECKING:
    from jinja2 import Environment


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(ms: int | None) -> str:
    """``842 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 07 min``."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def fmt_number(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return "" if value is None else str(value)


def fmt_size(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def url_path(value: str) -> str:
    """A user string as a URL path part (``/`` kept: experiment names and keys may hold it)."""
    return quote(value, safe="/")


def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, select_autoescape  # on the first page: fast start

    env = Environment(loader=PackageLoader("trackbridge.ui", "templates"),
                      autoescape=select_autoescape(default=True), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(time=fmt_time, duration=fmt_duration, number=fmt_number, urlpath=url_path,
                       filesize=fmt_size)
    env.globals.update(version=__version__)
    return env


_env: Environment | None = None


def environment() -> Environment:
    """The templates' environment (made on first use: jinja2 is imported then)."""
    global _env
    if _env is None:
        _env = _environment()
    return _env


def html(template: str, data: dict[str, Any], status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``templates/<template>`` with the view's ``data`` (as ``d``)."""
    return HTMLResponse(environment().get_template(template).render(d=data, **context), status_code=status)


def json(data: Any, status: int = 200) -> Response:
    try:  # the usual case, at C speed: nothing non-finite in the data
        body = _json.dumps(data, allow_nan=False, separators=(",", ":"))
    except ValueError:
        body = strict_json.dumps(data, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json")
