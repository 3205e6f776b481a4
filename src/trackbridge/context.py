"""The default run-context provider: who, where and what code produced a run."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import sys
from pathlib import Path

from .entities import TAG_GIT_COMMIT, TAG_SOURCE_NAME, TAG_SOURCE_TYPE, TAG_USER
from .hookspecs import hookimpl
from .version import __version__


def _git_commit(start: Path) -> str | None:
    """HEAD's commit of the repository holding ``start``, read from .git without running git."""
    for folder in (start, *start.parents):
        git = folder / ".git"
        if git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = git.read_text().strip()
            if not text.startswith("gitdir:"):
                return None
            git = (folder / text.split(":", 1)[1].strip()).resolve()
        if not git.is_dir():
            continue
        try:
            head = (git / "HEAD").read_text().strip()
        except OSError:
            return None
        if not head.startswith("ref:"):
            return head or None
        ref = head.split(":", 1)[1].strip()
        common = git
        if (git / "commondir").is_file():
            common = (git / (git / "commondir").read_text().strip()).resolve()
        for base in (git, common):
            ref_file = base / ref
            if ref_file.is_file():
                return ref_file.read_text().strip()
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
        return None  # a branch without commits yet
    return None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


@hookimpl
def trackbridge_run_context():
    source = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    tags = {
        TAG_USER: _user(),
        TAG_SOURCE_TYPE: "LOCAL",
        "trackbridge.host": socket.gethostname(),
        "trackbridge.python_version": platform.python_version(),
        "trackbridge.version": __version__,
    }
    if source is not None and source.name not in ("-c", ""):
        tags[TAG_SOURCE_NAME] = str(source)
    commit = _git_commit(source.parent if source is not None and source.exists() else Path.cwd())
    if commit:
        tags[TAG_GIT_COMMIT] = commit
    return tags
