"""Why the SDK could not set up auth, said in one line: what is missing, and the fix.

databricks-sdk's error for a config without credentials is generic ("cannot configure default
credentials, please check <docs>") and followed by a dump of its config ("Config: host=...,
config_file=... Env: ..."). The workspace and profile are resolved here as the SDK resolves
them (:mod:`.workspace`), to name what is missing instead: the profile, the host, or the
credentials.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

from trackbridge.library_logs import quiet_logger
from trackbridge.redaction import redact

from .settings import Settings
from .workspace import profile_name, workspace_host

_NO_CREDENTIALS = "cannot configure default credentials"


def quiet_sdk_logs() -> None:
    """Keep databricks-sdk's warnings off the terminal: with no handler anywhere, Python prints
    a library's warnings to stderr, and the SDK warns on every client it builds for a workspace
    without host metadata ("Failed to automatically resolve config from host metadata ...").
    (:func:`trackbridge.library_logs.quiet_logger`)."""
    quiet_logger("databricks.sdk")


def config_file() -> Path:
    return Path(os.environ.get("DATABRICKS_CONFIG_FILE") or "~/.databrickscfg").expanduser()


def _profiles(path: Path) -> set[str] | None:
    parser = configparser.ConfigParser()
    try:
        if not parser.read(path):
            return None
    except (OSError, configparser.Error):
        return None
    return {*parser.sections(), *(["DEFAULT"] if parser.defaults() else [])}


def auth_failure(settings: Settings, sdk_error: str, secrets: list[str] | None = None) -> str:
    """The one-line error for ``sdk_error``, the SDK's message when it found no auth."""
    reason = " ".join(redact(sdk_error.split(" Config: ")[0], secrets or []).split())
    reason = reason.removeprefix("default auth: ").rstrip(".")
    path = config_file()
    named = settings.profile or os.environ.get("DATABRICKS_CONFIG_PROFILE")
    profile = profile_name(settings)
    host = workspace_host(settings)
    login = f"`databricks auth login --host {host or '<workspace-url>'}`"
    if named and named not in (_profiles(path) or set()):
        return (f"cannot set up Databricks auth: profile {named!r} is not in {path}; add it "
                f"({login[:-1]} --profile {named}`), name an existing profile in "
                f"[databricks] profile, or drop the profile and set DATABRICKS_HOST and "
                f"DATABRICKS_TOKEN")
    if host is None:
        return (f"cannot set up Databricks auth: no workspace named (no host in [databricks], "
                f"no DATABRICKS_HOST, no host in profile {profile!r} of {path}); set host = "
                f"\"https://<workspace-url>\" in [databricks] and DATABRICKS_TOKEN, or name a "
                f"profile of {path} in [databricks] profile")
    if _NO_CREDENTIALS in reason:
        return (f"cannot set up Databricks auth for {host}: no credentials (no DATABRICKS_TOKEN "
                f"or DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET in the environment, no token "
                f"in profile {profile!r} of {path}, no CLI login); set DATABRICKS_TOKEN, name a "
                f"profile that has one in [databricks] profile, or run {login}")
    return (f"cannot set up Databricks auth for {host}: {reason}; set DATABRICKS_TOKEN, name a "
            f"profile of {path} in [databricks] profile, or run {login}")
