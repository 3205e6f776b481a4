"""Which workspace a ``[databricks]`` config names, resolved without the network or the SDK.

The sync ledger keys a destination by it, so it must not change when the SDK client is built
(which resolves the same host) nor between processes. The host comes from, in the SDK's
order: ``host`` in the config, ``DATABRICKS_HOST``, then the profile (``profile``,
``DATABRICKS_CONFIG_PROFILE``, else ``DEFAULT``) of ``DATABRICKS_CONFIG_FILE`` or
``~/.databrickscfg``. It is normalised as the SDK normalises it.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from .settings import Settings


def normalise_host(host: str) -> str:
    """``adb-1.net/`` -> ``https://adb-1.net``: scheme added, trailing slash and port 443 removed."""
    if "://" not in host:
        host = f"https://{host}"
    url = urlparse(host)
    netloc = url.netloc.rsplit(":", 1)[0] if url.port == 443 else url.netloc
    return urlunparse((url.scheme, netloc, url.path.rstrip("/"), url.params, url.query,
                       url.fragment))


def profile_name(settings: Settings) -> str:
    return settings.profile or os.environ.get("DATABRICKS_CONFIG_PROFILE") or "DEFAULT"


def _profile_host(profile: str) -> str | None:
    path = Path(os.environ.get("DATABRICKS_CONFIG_FILE") or "~/.databrickscfg").expanduser()
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except (OSError, configparser.Error):
        return None
    if profile == "DEFAULT":
        return parser.defaults().get("host")
    return parser.get(profile, "host", fallback=None) if parser.has_section(profile) else None


def workspace_host(settings: Settings) -> str | None:
    """The workspace URL this config reaches, or None when nothing names one."""
    host = settings.host
    if not host and not settings.profile:
        host = os.environ.get("DATABRICKS_HOST")
    if not host:
        host = _profile_host(profile_name(settings))
    return normalise_host(host) if host else None
