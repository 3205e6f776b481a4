"""Tell whether the process writing a run (or syncing one) is still alive.

The proof is an OS file lock the live process holds, under ``<root>/locks/``: the kernel
releases it when the process dies, however it dies, and whatever PID namespace, container or
host (a shared volume) the process and its readers are in. A PID is no such proof: a reader in
another PID namespace sees other PIDs (the writer's may be absent, or another process's).

* A **writer** holds a *shared* lock on ``locks/runs/<run id>`` from before its run is RUNNING
  until it ends it (several processes may write one run at once: ``trackbridge run`` and its
  script). A reader that can take the lock *exclusively* knows no writer is left.
* A **syncer** holds an *exclusive* lock on ``locks/sync/<hash of run and destination>`` for
  its whole pass: a second syncer cannot take it, and no lease ever expires under a live one.

Runs written by a trackbridge without these locks (no lock file) fall back to the old
same-host PID check, whose verdict is reported but never stored (it may be wrong).
Platforms without ``fcntl.flock`` (Windows) use that PID check for every run.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

HOST = socket.gethostname()

_held: dict[str, int] = {}  # lock path -> descriptor this process holds it through
_held_lock = threading.Lock()


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


def pid_alive(pid: int, marker: str | None) -> bool:
    """True when ``pid`` runs in this PID namespace and is the process that wrote ``marker``.
    Only meaningful for a process known to share this namespace (the legacy fallback)."""
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


class Locks:
    """The lock files of one store root."""

    def __init__(self, root: Path) -> None:
        self.root = root / "locks"

    def run_path(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def sync_path(self, run_id: str, destination: str) -> Path:
        digest = hashlib.sha256(f"{run_id}\0{destination}".encode()).hexdigest()[:32]
        return self.root / "sync" / digest

    # -- writers --------------------------------------------------------------------------
    def hold_run(self, run_id: str) -> None:
        """Take (once per process) the shared writer lock of ``run_id``; waits while a reader
        probes it (a probe lasts microseconds)."""
        if fcntl is not None:
            _hold(self.run_path(run_id), fcntl.LOCK_SH)

    def release_run(self, run_id: str) -> None:
        """This process no longer writes ``run_id``."""
        _release(self.run_path(run_id))

    def writer_alive(self, run_id: str) -> bool | None:
        """True while some process holds the run's writer lock, False when none does, None
        when the run has no lock file (written by a trackbridge without locks) or the platform
        has no flock: the caller must fall back to weaker evidence."""
        if fcntl is None:
            return None
        try:
            fd = os.open(self.run_path(run_id), os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the probe's lock, if it got it
        return False

    # -- syncers --------------------------------------------------------------------------
    def try_hold_sync(self, run_id: str, destination: str) -> bool:
        """Take the exclusive sync lock of (run, destination) without waiting; False while
        another syncer (thread or process) holds it."""
        if fcntl is None:  # pragma: no cover - Windows: one syncer per process
            return True
        return _hold(self.sync_path(run_id, destination), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release_sync(self, run_id: str, destination: str) -> None:
        _release(self.sync_path(run_id, destination))


def _hold(path: Path, how: int) -> bool:
    key = str(path)
    with _held_lock:
        if key in _held:
            return not how & fcntl.LOCK_EX  # shared locks are held once; exclusive ones once
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, how)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        _held[key] = fd
        return True


def _release(path: Path) -> None:
    with _held_lock:
        fd = _held.pop(str(path), None)
    if fd is not None:
        os.close(fd)
