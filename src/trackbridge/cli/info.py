"""``trackbridge experiments list``, ``backends``, ``config show``, ``doctor``."""

from __future__ import annotations

import click

from ..config import KNOWN_PLUGINS
from . import cli
from .output import config_dict, config_option, json_option, print_json, print_table


@cli.group()
def experiments() -> None:
    """Experiments on the configured backend."""


@experiments.command("list")
@json_option
@config_option
def list_experiments(as_json: bool, config) -> None:
    """All experiments."""
    from ..registry import open_backend

    found = open_backend(config).list_experiments()
    if as_json:
        print_json([{"id": e.id, "name": e.name} for e in found])
        return
    print_table(f"{len(found)} experiment(s)", ["id", "name"], [(e.id, e.name) for e in found])


@cli.command()
@json_option
def backends(as_json: bool) -> None:
    """Installed backend plugins, with the distribution that provides each."""
    from ..plugins import load_plugins, plugin_distributions, plugin_errors
    from ..registry import backend_classes
    from ..version import __version__

    pm = load_plugins()
    rows = []
    for name, cls in sorted(backend_classes().items()):
        plugin_name = next(
            (pm.get_name(p) for p in pm.get_plugins()
             if getattr(p, "__name__", "").split(".")[0] == cls.__module__.split(".")[0]),
            None,
        )
        dist, version = plugin_distributions.get(plugin_name or "", ("trackbridge (built-in)",
                                                                     __version__))
        rows.append({"name": name, "distribution": dist, "version": version,
                     "class": f"{cls.__module__}.{cls.__qualname__}"})
    missing = sorted(set(KNOWN_PLUGINS) - {r["name"] for r in rows} - set(plugin_errors))
    if as_json:
        print_json(rows + [{"name": n, "error": e} for n, e in sorted(plugin_errors.items())])
        return
    print_table("Installed backends", ["backend", "distribution", "version"],
                [(r["name"], r["distribution"], r["version"]) for r in rows])
    for name, error in sorted(plugin_errors.items()):
        click.echo(f"failed to load: {name}: {error}")
    for name in missing:
        click.echo(f"not installed: {name} (pip install {KNOWN_PLUGINS[name]})")


@cli.group("config")
def config_group() -> None:
    """Inspect configuration."""


@config_group.command("show")
@json_option
@config_option
def show_config(as_json: bool, config) -> None:
    """The resolved config, secrets redacted."""
    from ..registry import check_config

    check_config(config)
    data = config_dict(config)
    if as_json:
        print_json(data)
        return
    click.echo(f"# resolved from: {data.pop('source')}")
    for key in ("backend", "experiment", "sync_timeout", "max_in_flight", "system_metrics",
                "system_metrics_interval"):
        click.echo(f"{key} = {data.pop(key)!r}".replace("None", "(not set)"))
    for name, table in data.items():
        click.echo(f"[{name}]")
        for key, value in table.items():
            click.echo(f"  {key} = {value!r}")


@cli.command()
@config_option
def doctor(config) -> None:
    """Check that the configured backend works; say how to fix what does not."""
    from ..doctor import run_checks

    checks = run_checks(config)
    for check in checks:
        mark = click.style("ok  ", fg="green") if check.ok else click.style("FAIL", fg="red")
        click.echo(f"{mark} {check.name}: {check.detail}")
        if not check.ok and check.fix:
            click.echo(f"     fix: {check.fix}")
    if not all(c.ok for c in checks):
        raise SystemExit(1)
