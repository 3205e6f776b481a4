"""The ``trackbridge`` command line. Errors print one line and exit non-zero (``--debug`` for
the traceback); every command takes ``--config`` and most ``--json``."""

from __future__ import annotations

import click

from ..errors import TrackbridgeError
from ..version import __version__


class _Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except TrackbridgeError as exc:
            if ctx.find_root().params.get("debug"):
                raise
            raise click.ClickException(str(exc)) from None  # messages are redacted: errors.py


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="trackbridge")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Config file (default: TRACKBRIDGE_CONFIG, ./trackbridge.toml, pyproject.toml).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, config_path: str | None) -> None:
    """Track ML experiments locally; sync them to Databricks or Azure ML."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path


def main() -> None:
    cli(prog_name="trackbridge")


from . import info, models, project, runs, sync  # noqa: E402,F401  (each module adds its commands to `cli`)
