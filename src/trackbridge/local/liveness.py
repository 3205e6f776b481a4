"""Tell whether the process that was writing a run is still alive."""

from __future__ import annotations

import os
import socket

HOST = socket.gethostname()


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def process_start_marker(pid: int) -> str | None:
    """A value that changes when ``pid`` is reused (Linux: start time in clock ticks)."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def is_alive(pid: int, marker: str | None) -> bool:
    """True when ``pid`` runs on this host and is the same process that wrote ``marker``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    if fields is None:
        return True  # no /proc: trust the signal check
    if fields[0] in ("Z", "X"):  # exited, not yet reaped
        return False
    return marker is None or fields[19] == marker
