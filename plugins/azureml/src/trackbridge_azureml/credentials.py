"""Azure credentials by config name, and a credential wrapping a pre-fetched token.

``azure.identity`` is imported only when a credential is built, never at plugin load.
"""

from __future__ import annotations

import time
from typing import Any

from trackbridge.library_logs import quiet_logger

#: The token scope Azure ML's tracking and history services (and ARM) accept.
SCOPE = "https://management.azure.com/.default"


class StaticTokenCredential:
    """A credential that always returns the ``access_token`` from config (CI, pipelines).

    The token cannot be refreshed: when it expires the service answers 401 and the error
    says to fetch a new one.
    """

    def __init__(self, token: str, expires_on: int | None = None) -> None:
        self._token = token
        self._expires_on = expires_on or int(time.time()) + 3600

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, self._expires_on)

    def __repr__(self) -> str:  # never the token
        return "StaticTokenCredential(access_token=***)"




def build_credential(kind: str, *, managed_identity_client_id: str | None = None,
                     access_token: str | None = None) -> Any:
    """The credential for ``credential = kind``; ``access_token`` overrides ``kind``."""
    if access_token:
        return StaticTokenCredential(access_token)
    import azure.identity as identity

    # azure-identity logs each failed attempt as a warning: kept off the terminal
    quiet_logger("azure.identity")

    client_id = managed_identity_client_id
    if kind == "default":
        return identity.DefaultAzureCredential(managed_identity_client_id=client_id)
    if kind == "cli":
        return identity.AzureCliCredential()
    if kind == "managed_identity":
        return identity.ManagedIdentityCredential(client_id=client_id)
    if kind == "environment":
        return identity.EnvironmentCredential()
    if kind == "workload_identity":
        return identity.WorkloadIdentityCredential(client_id=client_id) if client_id \
            else identity.WorkloadIdentityCredential()
    raise ValueError(f"unknown credential kind {kind!r}")


def credential_name(credential: Any) -> str:
    """Which credential produced tokens: for DefaultAzureCredential, the one that answered."""
    inner = getattr(credential, "_successful_credential", None)
    name = type(credential).__name__
    return f"{name} via {type(inner).__name__}" if inner is not None else name
