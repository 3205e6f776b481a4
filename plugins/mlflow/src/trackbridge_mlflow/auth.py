"""Auth and TLS from MLflow's own environment variables, so existing setups work unchanged.

* ``MLFLOW_TRACKING_USERNAME`` + ``MLFLOW_TRACKING_PASSWORD``: HTTP basic auth (wins, as in
  MLflow's client, when a token is set too);
* ``MLFLOW_TRACKING_TOKEN``: ``Authorization: Bearer <token>``;
* ``MLFLOW_TRACKING_INSECURE_TLS=true``: do not verify the server's certificate;
* ``MLFLOW_TRACKING_SERVER_CERT_PATH``: a CA bundle to verify it with (not with the above);
* ``MLFLOW_TRACKING_CLIENT_CERT_PATH``: a client certificate (.pem) to present.

The secrets live only in the :class:`MlflowAuth` object, whose ``repr`` never shows them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from trackbridge.errors import ConfigError

USERNAME = "MLFLOW_TRACKING_USERNAME"
PASSWORD = "MLFLOW_TRACKING_PASSWORD"
TOKEN = "MLFLOW_TRACKING_TOKEN"
INSECURE_TLS = "MLFLOW_TRACKING_INSECURE_TLS"
SERVER_CERT = "MLFLOW_TRACKING_SERVER_CERT_PATH"
CLIENT_CERT = "MLFLOW_TRACKING_CLIENT_CERT_PATH"


class MlflowAuth:
    """A ``requests`` auth hook: adds the Authorization header to each request."""

    def __init__(self, username: str | None = None, password: str | None = None,
                 token: str | None = None) -> None:
        self.username = username
        self._password = password
        self._token = token

    @property
    def method(self) -> str:
        """How requests authenticate, in words (no secret): for messages and doctor."""
        if self.username and self._password:
            return f"basic auth as {self.username!r} ({USERNAME}/{PASSWORD})"
        if self._token:
            return f"a bearer token ({TOKEN})"
        return "no credentials"

    def secrets(self) -> list[str]:
        return [s for s in (self._password, self._token) if s]

    def __call__(self, request: Any) -> Any:
        if self.username and self._password:
            import base64

            pair = f"{self.username}:{self._password}".encode()
            request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        elif self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return f"MlflowAuth({self.method})"


class Tls(NamedTuple):
    verify: bool | str = True
    cert: str | None = None


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def from_environment(env: Mapping[str, str] | None = None) -> tuple[MlflowAuth, Tls]:
    """The auth and TLS settings MLflow's client would use in this environment."""
    env = os.environ if env is None else env
    user, password = env.get(USERNAME) or None, env.get(PASSWORD) or None
    if bool(user) != bool(password):
        given, missing = (USERNAME, PASSWORD) if user else (PASSWORD, USERNAME)
        raise ConfigError(f"{given} is set but {missing} is not: basic auth needs both "
                          f"(or set {TOKEN} for a bearer token)")
    insecure = _flag(env.get(INSECURE_TLS, ""))
    server_cert = env.get(SERVER_CERT) or None
    if insecure and server_cert:
        raise ConfigError(f"{INSECURE_TLS}=true and {SERVER_CERT} are both set: either skip "
                          f"verifying the server's certificate or verify it with a CA bundle")
    for name, path in ((SERVER_CERT, server_cert), (CLIENT_CERT, env.get(CLIENT_CERT))):
        if path and not os.path.isfile(path):
            raise ConfigError(f"{name} names {path!r}, which is not a file")
    verify: bool | str = False if insecure else (server_cert or True)
    return MlflowAuth(user, password, env.get(TOKEN) or None), \
        Tls(verify, env.get(CLIENT_CERT) or None)
