"""Test helpers shared by the Azure ML plugin's test modules."""

from __future__ import annotations

import time

from azure.core.credentials import AccessToken

TOKEN = "test-token-7f3a9c"  # a made-up bearer token; tests check it never leaks


class FakeCredential:
    """Any object with get_token() is an azure credential; this one records the scopes asked."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes, **kwargs):
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)
