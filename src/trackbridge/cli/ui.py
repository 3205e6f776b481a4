"""``trackbridge ui``: serve the local web UI of the configured backend (or a store directory).

Starlette, uvicorn and jinja2 are imported inside the command, so ``trackbridge --help`` and
``import trackbridge`` stay fast; without the ``ui`` extra the command says what to install.
"""

from __future__ import annotations

import socket
from pathlib import Path

import click

from ..errors import ConfigError
from . import cli
from .output import config_option

UI_PACKAGES = ("starlette", "uvicorn", "jinja2", "numpy")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _check_extra() -> None:
    import importlib.util

    missing = [name for name in UI_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise click.ClickException(
            f'the web UI needs the ui extra (missing: {", ".join(missing)}): '
            'pip install "trackbridge[ui]"')


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                                   "pick another --port") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _open_store(store: str):
    from ..local.store import LocalBackend

    if not (Path(store) / "trackbridge.db").is_file():
        raise ConfigError(f"--store {store}: no trackbridge store there (no trackbridge.db)")
    return LocalBackend(store)


@cli.command("ui")
@click.option("--store", type=click.Path(file_okay=False),
              help="Show this local store directory instead of the config's backend.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The UI has no login: keep it on loopback.")
@click.option("--port", default=5005, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: any free port).")
@click.option("--allow-host", "allow_hosts", multiple=True,
              help="Another Host header to accept (a name this machine is reached by).")
@config_option
def ui(store: str | None, host: str, port: int, allow_hosts: tuple[str, ...], config) -> None:
    """Serve the web UI: runs, charts, artifacts, models (read-only). Ctrl-C stops it."""
    _check_extra()
    from ..registry import open_backend
    from ..ui.app import create_app

    backend = _open_store(store) if store else open_backend(config)
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    app = create_app(backend, host=host, port=port, allow_hosts=allow_hosts)
    bound = f"[{host}]" if ":" in host else host
    # a wildcard address is no place to browse to (and no Host header the UI accepts)
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, bound)
    if host not in LOOPBACK:
        click.echo(f"warning: the UI has no login: anyone who can reach {bound}:{port} can read "
                   "every run it shows", err=True)
        if shown != bound and not allow_hosts:
            click.echo("note: other machines reach it by a name of this one only with "
                       "--allow-host NAME (any other Host header gets 403)", err=True)
    click.echo(f"trackbridge ui: {backend.describe()} at http://{shown}:{port} (Ctrl-C to stop)")
    _serve(app, sock)


def _serve(app, sock: socket.socket) -> None:
    """Serve ``app`` on the bound ``sock`` until Ctrl-C (uvicorn, one process)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=2))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: a normal stop
        pass
    finally:
        sock.close()
