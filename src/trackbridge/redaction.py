"""Mask secrets in text we show: config values, error messages, logs.

Secret-named config keys (``token``, ``client_secret``, ...) are masked whole by
:func:`trackbridge.config.is_secret_key`. This module masks secrets *inside* any text, by
shape: credentials in a URL's userinfo (``https://user:pass@host``), bearer tokens and
``Authorization`` values, Databricks personal access tokens (``dapi...``), JWTs, and the
signatures of signed storage URLs (Azure SAS, AWS and GCP presigned). Both cloud plugins and
the CLI use it, so every printed message is masked the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@'\"]+@"), rf"\1{MASK}@"),  # URL userinfo
    (re.compile(r"(?i)\b(bearer\s+)[^\s'\"]+"), rf"\1{MASK}"),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?!bearer\s)[^\s'\",}]+"), rf"\1{MASK}"),
    (re.compile(r"\bdapi[0-9a-f]{32}(?:-\d+)?"), MASK),  # Databricks personal access tokens
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+"), MASK),  # JWTs
    (re.compile(r"(?i)\b((?:sig|skoid|sktid|saoid|suoid|x-amz-signature|x-amz-security-token"
                r"|x-amz-credential|x-goog-signature|x-goog-credential)=)[^&\s'\"<>]+"), rf"\1{MASK}"),
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with the given secret values, and anything secret-shaped, masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """A config value with :func:`redact` applied to every string in it (lists, tables)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    return value
