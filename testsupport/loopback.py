"""A WSGI app served on 127.0.0.1 by a daemon thread: the base of the loopback stand-ins."""

from __future__ import annotations

import logging
import os
import signal
import ssl
import subprocess
import threading

from werkzeug.serving import make_server


class LoopbackService:
    """Subclasses are WSGI apps (``__call__(environ, start_response)``); ``start`` serves them
    on a free port of 127.0.0.1 (over TLS with ``ssl_context``), ``stop`` shuts it down."""

    scheme = "http"
    _server = None

    def start(self, ssl_context: ssl.SSLContext | None = None):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self._server = make_server("127.0.0.1", 0, self, threaded=True, ssl_context=ssl_context)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_port}"


def stop_job_process(proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    """Stop a job's process group as a platform does: SIGTERM, then SIGKILL after ``grace``."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
