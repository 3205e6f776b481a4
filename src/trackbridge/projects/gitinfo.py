"""The git commit a project runs from, and whether its tracked files were changed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def git_state(directory: Path) -> tuple[str | None, bool | None]:
    """``(HEAD commit, dirty)`` of the repository holding ``directory``; ``(None, None)``
    outside a repository or without git. Dirty means a tracked file under ``directory``
    differs from HEAD (staged or not); untracked files (outputs, stores) do not count."""
    git = shutil.which("git")
    if git is None:
        return None, None
    head = _git(git, directory, "rev-parse", "--verify", "HEAD")
    if head is None:
        return None, None
    status = _git(git, directory, "status", "--porcelain", "--untracked-files=no", "--", ".")
    return head, None if status is None else bool(status)


def _git(git: str, cwd: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run([git, *args], cwd=cwd, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None
