"""What keeps the UI safe to run: a Host-header allow-list (against DNS rebinding), GET only,
and headers on every response (a Content-Security-Policy that allows no inline script).

Artifacts are served by their own endpoint with ``Content-Security-Policy: sandbox``, which
this middleware leaves in place: such a document runs no script and has an opaque origin.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'self'"
)
ARTIFACT_CSP = "sandbox"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"SAMEORIGIN"))


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """Host header values accepted for a server bound to ``host:port``: the bound name and
    the loopback names (each bare or with ``:port``), plus ``extra`` given as is."""
    names = {host if ":" not in host or host.startswith("[") else f"[{host}]", *LOOPBACK_NAMES}
    names.discard("0.0.0.0")
    names.discard("[::]")
    out = {n.lower() for n in names} | {f"{n.lower()}:{port}" for n in names}
    for name in extra:
        out |= {name.lower(), f"{name.lower()}:{port}"}
    return frozenset(out)


class GuardMiddleware:
    """Pure ASGI: 403 for a Host header not in ``hosts``; security headers on every answer."""

    def __init__(self, app: Any, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hosts = [v.decode("latin-1").lower() for k, v in scope["headers"] if k == b"host"]
        if len(hosts) > 1:  # which one would a proxy have routed by? (RFC 9112: 400)
            await _refuse(send, 400, "400: more than one Host header")
            return
        host = hosts[0] if hosts else ""
        if host not in self.hosts:
            await _refuse(send, 403, f"403: Host {host!r} is not one this server was started "
                                     f"for; start trackbridge ui with --allow-host to accept it")
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                headers.extend(h for h in _HEADERS if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(send: Any, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *_HEADERS]})
    await send({"type": "http.response.body", "body": body})
