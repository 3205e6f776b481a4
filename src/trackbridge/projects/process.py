"""Run a project's command: its own process group, output read as it comes, stopped cleanly.

The command runs under ``bash -c`` (``sh`` without bash) in a new session, so a Ctrl-C at the
terminal reaches ``trackbridge run`` only; it then stops the command's whole process group:
SIGINT first (a Python script ends its ``with tb.start_run()`` block as KILLED and flushes what
it had buffered), SIGTERM if it is still there after a few seconds, then SIGKILL after the
grace period (a second Ctrl-C skips the waits). Processes of
the group still alive when the command itself exits are stopped the same way, so nothing the
project started outlives it. stdin is ``/dev/null`` (a process outside the terminal's
foreground group that reads the terminal would be stopped).
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

TERMINATE_GRACE_S = 10.0
POLITE_WAIT_S = 5.0  # after SIGINT, how long a script gets to end its run before SIGTERM
_HANDLED = (signal.SIGINT, signal.SIGTERM)


class LocalProcess:
    """A command started under ``bash -c`` in a session (process group) of its own.

    Its stdout and stderr are read by two threads into a queue; :meth:`read` hands out what
    arrived, :meth:`wait` blocks until it exits or has new output.
    """

    def __init__(self, command: str, *, cwd: Path, env: Mapping[str, str]) -> None:
        shell = shutil.which("bash") or "/bin/sh"
        self.proc = subprocess.Popen(
            [shell, "-c", command], cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, start_new_session=True,
        )
        self._chunks: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        self._arrived = threading.Event()
        self.pumps = [threading.Thread(target=self._pump, args=(pipe, name), daemon=True)
                      for pipe, name in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr"))]
        for pump in self.pumps:
            pump.start()

    def _pump(self, pipe: BinaryIO, name: str) -> None:
        with pipe:
            while chunk := pipe.read(65536):
                self._chunks.put((name, chunk))
                self._arrived.set()

    def wait(self, timeout: float) -> int | None:
        """The exit code once the command exited, else None after at most ``timeout`` s
        (sooner when output arrived)."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.proc.poll()
            left = deadline - time.monotonic()
            if code is not None or left <= 0:
                return code
            if self._arrived.wait(min(left, 0.05)):
                self._arrived.clear()
                return self.proc.poll()

    def read(self) -> dict[str, bytes]:
        """Output that arrived since the last call, per stream."""
        out = {"stdout": b"", "stderr": b""}
        while True:
            try:
                name, chunk = self._chunks.get_nowait()
            except queue.Empty:
                return out
            out[name] += chunk

    def join_pumps(self) -> None:
        for pump in self.pumps:
            pump.join(timeout=5.0)  # EOF once the group is gone; don't hang on a daemon


def terminate_group(proc: subprocess.Popen, grace: float = TERMINATE_GRACE_S,
                    hurry: Callable[[], bool] = lambda: False, polite: bool = False) -> int:
    """Stop the process group led by ``proc``: SIGINT first when ``polite`` (like the Ctrl-C
    the user pressed), then SIGTERM, then SIGKILL what is left after ``grace`` seconds in all
    (or as soon as ``hurry()``); return ``proc``'s exit code."""
    deadline = time.monotonic() + grace
    steps = [(signal.SIGINT, min(grace / 2, POLITE_WAIT_S))] if polite else []
    steps.append((signal.SIGTERM, grace))
    for signum, wait in steps:
        _signal_group(proc.pid, signum)
        until = min(deadline, time.monotonic() + wait)
        while time.monotonic() < until and not hurry():
            if proc.poll() is not None and not group_members(proc.pid):
                return proc.wait()
            time.sleep(0.02)
    _signal_group(proc.pid, signal.SIGKILL)
    return proc.wait()


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    if not os.path.isdir("/proc/self"):  # no procfs: ask the kernel whether any member is left
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().decode(errors="replace").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


class Interrupts:
    """While active, SIGINT and SIGTERM are counted, never raised: the handler runs between
    any two bytecodes of the main thread, and an exception raised there (inside a lock, an
    HTTP client, a queue) would leave it broken. Whoever waits checks :attr:`signum`, and
    :meth:`sleep` wakes up early for it."""

    SLICE = 0.05  # seconds between checks while sleeping

    def __init__(self) -> None:
        self.count = 0
        self.signum: int | None = None  # the first signal received
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in _HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum

    def sleep(self, seconds: float, until: Callable[[], bool]) -> None:
        """Sleep ``seconds``, or less as soon as ``until()`` is true."""
        deadline = time.monotonic() + seconds
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, self.SLICE))
