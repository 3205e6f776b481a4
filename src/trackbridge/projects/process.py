"""Run a project's command: its own process group, output teed, stopped cleanly on Ctrl-C.

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
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

TERMINATE_GRACE_S = 10.0
POLITE_WAIT_S = 5.0  # after SIGINT, how long a script gets to end its run before SIGTERM
_HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """``trackbridge run`` got SIGINT or SIGTERM while the command ran."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass(frozen=True)
class Outcome:
    """``returncode`` is the command's exit code (-N: killed by signal N); ``interrupted`` the
    signal that made ``trackbridge run`` stop it, or None; ``leftovers`` how many processes of
    its group were still alive after it exited."""

    returncode: int
    interrupted: int | None = None
    leftovers: int = 0


def run_command(command: str, *, cwd: Path, env: Mapping[str, str], stdout: BinaryIO,
                stderr: BinaryIO, stdout_file: Path, stderr_file: Path,
                grace: float = TERMINATE_GRACE_S) -> Outcome:
    """Run ``command``; copy its output to ``stdout``/``stderr`` as it comes and to the files."""
    shell = shutil.which("bash") or "/bin/sh"
    with _Interrupts() as interrupts:
        proc = subprocess.Popen(
            [shell, "-c", command], cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, start_new_session=True,
        )
        pumps = [threading.Thread(target=_pump, args=(pipe, sink, path), daemon=True)
                 for pipe, sink, path in ((proc.stdout, stdout, stdout_file),
                                          (proc.stderr, stderr, stderr_file))]
        for pump in pumps:
            pump.start()
        interrupted = None
        try:
            interrupts.arm()
            returncode = proc.wait()
            interrupts.disarm()
        except Interrupted as exc:
            interrupted = exc.signum
            returncode = terminate_group(proc, grace, hurry=lambda: interrupts.count > 1,
                                         polite=True)
        except BaseException:
            terminate_group(proc, grace, hurry=lambda: interrupts.count > 0)
            raise
        leftovers = len(group_members(proc.pid))
        if leftovers:
            terminate_group(proc, grace, hurry=lambda: interrupts.count > 0)
    for pump in pumps:
        pump.join(timeout=5.0)  # EOF once the group is gone; don't hang on a daemonised writer
    return Outcome(returncode=returncode, interrupted=interrupted, leftovers=leftovers)


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


def _pump(pipe: BinaryIO, sink: BinaryIO, path: Path) -> None:
    """Copy ``pipe`` to ``sink`` (live) and to ``path`` until EOF."""
    with pipe, open(path, "wb") as saved:
        while chunk := pipe.read(65536):
            saved.write(chunk)
            try:
                sink.write(chunk)
                sink.flush()
            except (OSError, ValueError):  # the terminal went away: keep saving
                pass


class _Interrupts:
    """While active, SIGINT/SIGTERM are counted; once armed, the first one raises
    :class:`Interrupted` (also when it came before arming). Later ones only count."""

    def __init__(self) -> None:
        self.count = 0
        self.signum: int | None = None
        self._armed = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _Interrupts:
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
        if self._armed:
            self._armed = False
            raise Interrupted(signum)

    def arm(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum)
        self._armed = True

    def disarm(self) -> None:
        self._armed = False
