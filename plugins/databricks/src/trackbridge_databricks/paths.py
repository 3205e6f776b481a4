"""Experiment names are workspace paths: the rules for them, without any I/O."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

from trackbridge.errors import ValidationError

#: Folders nobody creates: the workspace root, the user and shared roots, Repos.
PROTECTED_ROOTS = frozenset({
    "/", "/Users", "/Shared", "/Repos", "/Workspace", "/Workspace/Users", "/Workspace/Shared",
    "/Workspace/Repos",
})
_PARENT_MISSING = re.compile(r"(?i)parent (directory|folder)\b.*(does not exist|doesn't exist|not found)")


def check_experiment_name(name: str) -> None:
    """Raise :class:`ValidationError` unless ``name`` is ``~/...`` or an absolute, normalized
    workspace path. No network: ``~`` is not expanded here."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"experiment name must be a non-empty string, got {name!r}")
    given = name
    if name == "~" or name.startswith("~/"):
        if not name[2:].strip("/"):
            raise ValidationError(f"experiment name {name!r} names your home folder, not an "
                                  f"experiment; use e.g. '~/churn'")
        name = "/Users/me/" + name[2:]
    if not name.startswith("/"):
        raise ValidationError(
            f"Databricks experiment names are absolute workspace paths; {name!r} is relative. "
            f"Use '~/{name}' (your home folder) or e.g. '/Shared/{name}'"
        )
    normalized = posixpath.normpath(name)
    if normalized != name.rstrip("/") or ".." in name.split("/"):
        raise ValidationError(f"experiment path {given!r} is not normalized; use "
                              f"{posixpath.normpath(given)!r}")


def resolve_experiment_name(name: str, current_user: Callable[[], str]) -> str:
    """The absolute workspace path for ``name``: ``~/x`` becomes ``/Users/<me>/x``.

    ``current_user`` is called only for ``~`` names (it costs a request). A relative name
    is an error that suggests the ``~/`` form.
    """
    check_experiment_name(name)
    if name.startswith("~/"):
        name = f"/Users/{current_user()}/{name[2:].strip('/')}"
    return posixpath.normpath(name)


def parent_folder(path: str) -> str:
    return posixpath.dirname(path) or "/"


def is_missing_parent_error(exc: BaseException) -> bool:
    """True when a create failed because the experiment's parent folder does not exist."""
    from databricks.sdk import errors

    if not isinstance(exc, (errors.NotFound, errors.BadRequest)):
        return False
    return bool(_PARENT_MISSING.search(str(exc)))


def experiment_artifact_location(artifact_root: str | None, experiment_path: str) -> str | None:
    """Where a new experiment's artifacts go when ``artifact_root`` is configured."""
    if not artifact_root:
        return None
    return f"{artifact_root.rstrip('/')}/{experiment_path.strip('/')}"
