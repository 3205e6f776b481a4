"""A fault-injecting HTTP proxy on 127.0.0.1, between a client and a real upstream server.

Every request is forwarded unless a fault is scheduled for its path. Faults are consumed in
order, one per matching request:

* ``"429"``: answer 429 with ``Retry-After: 1`` without forwarding (the service refused).
* ``"503"``: answer 503 without forwarding.
* ``"reset"``: read the request, then reset the connection without forwarding.
* ``"drop"``: forward, let the upstream apply it, then close the connection without
  answering (the ambiguous case: the client cannot know that it landed).
* ``None``: forward normally.

``wait_idle()`` waits until no request is being handled: after a client is SIGKILLed, the
requests it had sent are still forwarded and applied (as a load balancer would); a rerun
that reconciles before they land cannot see them, so tests wait for them first.

``counts`` records every request seen, as ``(method, path)`` without the query string, and
``applied_metrics`` every metric point of every log-batch the upstream accepted (answered 200),
whether or not the answer reached the client. The open-source MLflow server silently drops a
point identical to one it holds, so its history cannot show a duplicate: compare what was
*applied* with the source instead.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import struct
import threading
from collections import Counter, defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection", "content-length", "host"}


def _value(value: object) -> object:
    """NaN as a comparable token (JSON may carry it as the string "NaN")."""
    number = float(value)  # type: ignore[arg-type]
    return "nan" if math.isnan(number) else number


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.upstream_host, self.upstream_port = target.hostname, target.port
        self.counts: Counter[tuple[str, str]] = Counter()
        self.faults: dict[str, deque[str | None]] = defaultdict(deque)
        self.lock = threading.Lock()
        #: while True every request is reset (the network is down)
        self.down = False
        #: (key, value, timestamp, step) of every metric point the upstream applied
        self.applied_metrics: list[tuple] = []
        #: requests being handled right now
        self.in_flight = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return bytes(data)
                        data += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                with proxy.lock:
                    proxy.in_flight += 1
                try:
                    self._handle_one()
                finally:
                    with proxy.lock:
                        proxy.in_flight -= 1

            def _handle_one(self) -> None:
                path = self.path.split("?", 1)[0]
                body = self._body()
                fault = proxy.take(self.command, path)
                if fault in ("429", "503"):
                    payload = (b'{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"injected"}'
                               if fault == "429" else
                               b'{"error_code":"TEMPORARILY_UNAVAILABLE","message":"injected"}')
                    self.send_response(int(fault))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    if fault == "429":
                        self.send_header("Retry-After", "1")
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault == "reset":
                    self._reset()
                    return
                status, reason, headers, data = proxy.forward(self.command, self.path,
                                                              self.headers, body)
                if path.endswith("/runs/log-batch") and status == 200:
                    proxy.record_applied(body)
                if fault == "drop":
                    self._reset()
                    return
                self.send_response(status, reason)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _reset(self) -> None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def take(self, method: str, path: str) -> str | None:
        with self.lock:
            self.counts[(method, path)] += 1
            if self.down:
                return "reset"
            queue = self.faults.get(path)
            return queue.popleft() if queue else None

    def record_applied(self, body: bytes) -> None:
        metrics = json.loads(body or b"{}").get("metrics", [])
        points = [(m["key"], _value(m["value"]), int(m["timestamp"]), int(m.get("step", 0)))
                  for m in metrics]
        with self.lock:
            self.applied_metrics.extend(points)

    def inject(self, path: str, *faults: str | None) -> None:
        with self.lock:
            self.faults[path].extend(faults)

    def forward(self, method: str, path: str, headers, body: bytes):
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=120)
        try:
            out = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(method, path, body=body or None, headers=out)
            response = conn.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            conn.close()

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Return once no request is being handled (raise after ``timeout`` seconds)."""
        import time

        deadline = time.monotonic() + timeout
        while self.in_flight:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.in_flight} request(s) still in flight")
            time.sleep(0.02)

    def writes(self) -> Counter[str]:
        """Requests that change data (everything but GET), by path."""
        return Counter({path: n for (method, path), n in self.counts.items() if method != "GET"})

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
