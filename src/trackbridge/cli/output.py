"""Shared CLI plumbing: the ``--config``/``--json`` options, tables and JSON output."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import click

from .. import strict_json
from ..config import Config, load_config


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--config PATH`` to a command and pass the resolved ``Config`` as ``config``."""

    @click.option("--config", "config_path", type=click.Path(dir_okay=False),
                  help="Config file to use (overrides the global --config).")
    @click.pass_context
    @functools.wraps(func)
    def wrapper(ctx: click.Context, *args: Any, config_path: str | None, **kwargs: Any) -> Any:
        path = config_path or (ctx.obj or {}).get("config")
        return func(*args, config=load_config(path), **kwargs)

    return wrapper


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def print_json(data: Any) -> None:
    """Strict JSON (NaN and infinities as strings, see ``trackbridge.strict_json``)."""
    click.echo(strict_json.dumps(data, indent=2, sort_keys=False))


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    import sys

    # in a pipe, don't fold long ids to 80 columns: scripts grep this output
    Console(soft_wrap=False, width=None if sys.stdout.isatty() else 250).print(table)


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return ""
    seconds = (end - start) / 1000
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def fmt_number(value: float) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def config_dict(config: Config) -> dict[str, Any]:
    return {"source": config.source, **config.redacted()}
