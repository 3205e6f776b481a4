"""``trackbridge models list|show|register``: the model registry of the configured backend (serve,
predict: cli/serving.py; deploy, endpoints: cli/deploy.py)."""

from __future__ import annotations

import click

from . import cli
from .output import config_option, fmt_time, json_option, print_json, print_table


@cli.group()
def models() -> None:
    """List, show, register, serve, score and deploy models."""


def _tags(pairs: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--tag")
        tags[key] = value
    return tags


@models.command("list")
@click.argument("name", required=False)
@json_option
@config_option
def list_models(name: str | None, as_json: bool, config) -> None:
    """Registered models, or with NAME the versions of that model."""
    from ..models import api

    if name is None:
        names = api.list_models(config)
        if as_json:
            print_json(names)
            return
        rows = []
        for model in names:
            versions = api.list_model_versions(model, config)
            aliases = [f"{a}->{v.version}" for v in versions for a in v.aliases]
            rows.append((model, len(versions), versions[-1].version, ", ".join(aliases)))
        print_table(f"{len(names)} registered model(s)", ["name", "versions", "latest", "aliases"],
                    rows)
        return
    versions = api.list_model_versions(name, config)
    if as_json:
        print_json([v.as_dict() for v in versions])
        return
    print_table(f"{name}: {len(versions)} version(s)",
                ["version", "aliases", "created (UTC)", "source", "description"],
                [(v.version, ", ".join(v.aliases), fmt_time(v.created_time), v.source,
                  v.description) for v in versions])


@models.command("show")
@click.argument("name")
@click.option("--version", "version", type=int, help="Version number (default: the latest).")
@click.option("--alias", help="Version the alias points at.")
@json_option
@config_option
def show_model(name: str, version: int | None, alias: str | None, as_json: bool, config) -> None:
    """One version of a registered model."""
    from ..models import api

    if version is not None and alias is not None:
        raise click.UsageError("give --version or --alias, not both")
    if version is None and alias is None:
        found = api.list_model_versions(name, config)[-1]
    else:
        found = api.get_model_version(name, version=version, alias=alias, config=config)
    if as_json:
        print_json(found.as_dict())
        return
    click.echo(f"Model {found.name} version {found.version}")
    for label, value in (("aliases", ", ".join(found.aliases)), ("source", found.source),
                         ("run", found.run_id), ("created", fmt_time(found.created_time) + " UTC"),
                         ("status", found.status), ("storage", found.storage_location),
                         ("description", found.description)):
        if value:
            click.echo(f"  {label:<12}{value}")
    if found.tags:
        print_table("Tags", ["key", "value"], sorted(found.tags.items()))


@models.command("register")
@click.argument("model_uri")
@click.option("--name", "-n", required=True, help="Registered model name.")
@click.option("--description", help="Description of this version.")
@click.option("--tag", "tags", multiple=True, help="KEY=VALUE tag of this version (repeatable).")
@click.option("--alias", help="Also point this alias at the new version.")
@json_option
@config_option
def register(model_uri: str, name: str, description: str | None, tags: tuple[str, ...],
             alias: str | None, as_json: bool, config) -> None:
    """Register MODEL_URI (runs:/<run id>/<path>) as the next version of --name."""
    from ..models import api

    created = api.register_model(model_uri, name, config, description=description,
                                 tags=_tags(tags))
    if alias:
        api.set_model_alias(name, alias, created.version, config)
        created = api.get_model_version(name, version=created.version, config=config)
    if as_json:
        print_json(created.as_dict())
    else:
        click.echo(f"Registered {created.name} version {created.version} from {created.source}"
                   + (f" (alias {alias})" if alias else ""))
