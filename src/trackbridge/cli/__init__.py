"""The ``trackbridge`` command line. Errors print one line and exit non-zero (``--debug`` for
the traceback); every command takes ``--config`` and most ``--json``."""

from __future__ import annotations

import click

from ..errors import TrackbridgeError
from ..version import __version__

CONFIG_HELP = "Config file (default: TRACKBRIDGE_CONFIG, ./trackbridge.toml, pyproject.toml)."


def _remember_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(dict)["config"] = value  # ctx.obj is shared down the command tree


def _with_config_option(command: click.Command) -> None:
    """Give ``command`` a ``--config`` unless it declares its own (``config_option`` does)."""
    if not any("--config" in getattr(p, "opts", ()) for p in command.params):
        command.params.append(click.Option(["--config"], type=click.Path(dir_okay=False),
                                           expose_value=False, callback=_remember_config,
                                           help=CONFIG_HELP))


class _Command(click.Command):
    """Every command takes ``--config`` after its name, as before it (see ``_Group``)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        _with_config_option(self)


class _Group(click.Group):
    """The trackbridge command groups: their commands and subgroups take ``--config`` too, and
    a TrackbridgeError becomes a one-line error (exit 1)."""

    command_class = _Command
    group_class = type  # subgroups are _Group as well

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        _with_config_option(self)

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
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.pass_context
def cli(ctx: click.Context, debug: bool, config_path: str | None) -> None:
    """Track ML experiments locally; sync them to Databricks or Azure ML."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path


def main() -> None:
    cli(prog_name="trackbridge")


# each module adds its commands to `cli`
from . import info, models, project, runs, sync, ui  # noqa: E402,F401
