"""The mlflow backend's connections, against a small HTTP/1.1 server on 127.0.0.1 that counts
the TCP connections it accepts: kept alive for as many requests at once as sync sends."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from mlflow_support import clean_mlflow_env
from trackbridge_mlflow.backend import MlflowBackend

RUN = "0123456789abcdef0123456789abcdef"
AT_ONCE = 16  # more than requests' default pool (10); sync sends up to 64 per run at once


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.connections = 0
        self.lock = threading.Lock()
        self.barrier: threading.Barrier | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client says close
    server: Server

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.server.barrier is not None:
            self.server.barrier.wait(30)  # every request of the round is in flight at once
        payload = json.dumps({}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def backend(server, monkeypatch) -> Iterator[MlflowBackend]:
    clean_mlflow_env(monkeypatch)
    b = MlflowBackend.from_config({"tracking_uri": server.url, "retry_timeout_seconds": 5})
    yield b
    b.close()


def test_as_many_requests_at_once_as_sync_sends_keep_their_connections(server, backend, caplog):
    server.barrier = threading.Barrier(AT_ONCE, timeout=30)

    def update(_: int) -> None:
        backend.update_run(RUN, status="RUNNING")

    with caplog.at_level(logging.WARNING), ThreadPoolExecutor(AT_ONCE) as pool:
        for _ in range(3):  # rounds of AT_ONCE requests in flight together
            list(pool.map(update, range(AT_ONCE)))
    assert "pool is full" not in caplog.text
    assert server.connections == AT_ONCE  # opened in the first round, reused after

