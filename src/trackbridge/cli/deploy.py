"""``trackbridge models deploy`` and ``trackbridge models endpoints list|show|query|delete``:
serving endpoints on the platform of a config's backend (its deploy-target plugin)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..config import load_config
from .models import models
from .output import config_option, json_option, print_json, print_table


def _target(config: Any, to: str | None) -> Any:
    from ..deploy import open_target

    return open_target(load_config(to) if to else config)


def _to_option(func: Any) -> Any:
    return click.option("--to", "to", type=click.Path(dir_okay=False),
                        help="Config whose backend hosts the endpoints (default: --config).")(func)


def _progress(as_json: bool) -> Any:
    def show(line: str) -> None:
        if not as_json:
            click.echo(line, err=True)

    return show


def _show(endpoint: Any) -> None:
    click.echo(f"Endpoint {endpoint.name}: {endpoint.state}")
    for label, value in (("url", endpoint.url), ("serves", ", ".join(endpoint.served)),
                         ("traffic", ", ".join(f"{k} {v}%" for k, v in endpoint.traffic.items()))):
        if value:
            click.echo(f"  {label:<9}{value}")


@models.command("deploy")
@click.argument("model_uri")
@_to_option
@click.option("--endpoint", "-e", required=True, help="Endpoint name (created when missing).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until the endpoint serves the new model.")
@click.option("--traffic", type=click.IntRange(0, 100),
              help="Percent of traffic for the new deployment (Azure ML; default 100).")
@json_option
@config_option
def deploy(model_uri: str, to: str | None, endpoint: str, wait: bool, traffic: int | None,
           as_json: bool, config) -> None:
    """Deploy MODEL_URI (runs:/... or models:/...) to a serving endpoint on --to's platform."""
    from ..deploy import resolve_deploy_source

    target_config = load_config(to) if to else config
    target = _target(target_config, None)
    source = resolve_deploy_source(model_uri, target_config)
    found = target.deploy(source, endpoint, wait=wait, traffic=traffic,
                          progress=_progress(as_json))
    if as_json:
        print_json(found.as_dict())
    else:
        _show(found)


@models.group("endpoints")
def endpoints() -> None:
    """Serving endpoints of a platform: list, show, query, delete."""


@endpoints.command("list")
@_to_option
@json_option
@config_option
def list_endpoints(to: str | None, as_json: bool, config) -> None:
    """Every endpoint."""
    found = _target(config, to).list_endpoints()
    if as_json:
        print_json([e.as_dict() for e in found])
        return
    print_table(f"{len(found)} endpoint(s)", ["name", "state", "serves"],
                [(e.name, e.state, ", ".join(e.served)) for e in found])


@endpoints.command("show")
@click.argument("name")
@_to_option
@json_option
@config_option
def show_endpoint(name: str, to: str | None, as_json: bool, config) -> None:
    """One endpoint: state, URL, what it serves, traffic."""
    found = _target(config, to).get_endpoint(name)
    if as_json:
        print_json(found.as_dict())
    else:
        _show(found)


@endpoints.command("query")
@click.argument("name")
@click.option("--input", "-i", "input_path", type=click.File("r"), default="-",
              show_default=True, help="Request in MLflow's format (a file, or - for stdin).")
@_to_option
@json_option
@config_option
def query_endpoint(name: str, input_path: Any, to: str | None, as_json: bool, config) -> None:
    """Score a request (MLflow's JSON format) on endpoint NAME; prints {"predictions": ...}."""
    from ..deploy import check_payload
    from ..errors import ValidationError

    text = input_path.read()
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"the request in {input_path.name} is not JSON: {exc}") from None
    answer = _target(config, to).query(name, check_payload(payload))
    if as_json or not sys.stdout.isatty():
        click.echo(json.dumps(answer))
    else:
        print_json(answer)


@endpoints.command("delete")
@click.argument("name")
@_to_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@config_option
def delete_endpoint(name: str, to: str | None, yes: bool, as_json: bool, config) -> None:
    """Delete endpoint NAME and what it serves."""
    if not yes:
        click.confirm(f"Delete endpoint {name}?", abort=True)
    _target(config, to).delete_endpoint(name)
    if as_json:
        print_json({"deleted": name})
    else:
        click.echo(f"Deleted endpoint {name}")
