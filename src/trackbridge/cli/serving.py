"""``trackbridge models serve`` (the local scoring server) and ``trackbridge models predict``
(batch scoring of a file)."""

from __future__ import annotations

import click

from .models import models
from .output import config_option, json_option, print_json

PICKLE_HINT = "pass --allow-pickle if you trust where the model came from"


def _load_options(func):
    func = click.option("--trusted-type", "trusted_types", multiple=True, metavar="TYPE",
                        help="A type a skops file may name (repeatable), as load_model's "
                             "trusted_types.")(func)
    return click.option("--allow-pickle", is_flag=True,
                        help="Load pickle/cloudpickle models (runs code from the files).")(func)


def _explain_unsafe(exc: Exception) -> click.ClickException:
    return click.ClickException(f"{exc} ({PICKLE_HINT}; --trusted-type T for skops types)")


@models.command("serve")
@click.argument("model_uri")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", "-p", default=5001, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes; each loads the model once.")
@_load_options
@click.option("--max-body-mb", default=50.0, show_default=True, type=click.FloatRange(min=0.001),
              help="Largest request body accepted (413 above).")
@click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds a request may take (504 after).")
@json_option
@config_option
def serve(model_uri: str, host: str, port: int, workers: int, allow_pickle: bool,
          trusted_types: tuple[str, ...], max_body_mb: float, timeout: float, as_json: bool,
          config) -> None:
    """Serve MODEL_URI over HTTP with MLflow's scoring protocol (POST /invocations)."""
    try:
        from ..serving.server import ServeOptions
        from ..serving.server import serve as run
    except ImportError as exc:
        raise click.ClickException(f"serving needs the serve extra: pip install "
                                   f"'trackbridge[serve]' ({exc})") from None
    from ..models.errors import UnsafeModelError

    options = ServeOptions(host=host, port=port, workers=workers, allow_pickle=allow_pickle,
                           trusted_types=trusted_types, max_body_bytes=int(max_body_mb * (1 << 20)),
                           timeout=timeout)

    def announce(line: str) -> None:
        if as_json:
            print_json({"model_uri": model_uri, "url": f"http://{host}:{port}",
                        "workers": workers})
        else:
            click.echo(line, err=True)

    try:
        run(model_uri, config, options, announce=announce)
    except UnsafeModelError as exc:
        raise _explain_unsafe(exc) from None


@models.command("predict")
@click.argument("model_uri")
@click.option("--input", "-i", "input_path", required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Rows to score: .csv, .parquet, .json (records or split) or .jsonl.")
@click.option("--output", "-o", "output_path", required=True, type=click.Path(dir_okay=False),
              help="Where predictions go: .json (one JSON document), .jsonl or .csv.")
@click.option("--chunk-rows", default=10_000, show_default=True, type=click.IntRange(min=1),
              help="Rows read and scored at a time.")
@_load_options
@json_option
@config_option
def predict(model_uri: str, input_path: str, output_path: str, chunk_rows: int,
            allow_pickle: bool, trusted_types: tuple[str, ...], as_json: bool, config) -> None:
    """Score a file with MODEL_URI in chunks (files larger than memory work)."""
    from ..models import api
    from ..models.errors import UnsafeModelError
    from ..serving.batch import score_file

    try:
        model = api.load_model(model_uri, config, allow_pickle=allow_pickle,
                               trusted_types=trusted_types)
    except UnsafeModelError as exc:
        raise _explain_unsafe(exc) from None
    summary = score_file(model, input_path, output_path, chunk_rows=chunk_rows,
                         progress=not as_json)
    if as_json:
        print_json(summary)
    else:
        click.echo(f"Scored {summary['rows']} row(s) of {input_path} in {summary['chunks']} "
                   f"chunk(s) -> {output_path}", err=True)
