"""Follow a submitted job until it ends: its output to the terminal and to ``logs/``, Ctrl-C
turned into a cancel, the end state turned into a run status and an exit code.

Exit codes follow the local rules everywhere: 0 for FINISHED; the command's own code for
FAILED (1 when the platform does not tell it; 128+N when it was killed by signal N); 130 /
143 when ``trackbridge run`` was interrupted by SIGINT / SIGTERM (the run is KILLED); 143 for
a job cancelled from outside (the platform's UI), also KILLED.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..entities import FAILED, FINISHED, KILLED
from .process import Interrupts
from .targets import JobState, Submission, Target


class LogSinks:
    """Each stream's new output, written to the terminal as it comes and to a capture file."""

    def __init__(self, streams: tuple[str, ...], terminal: dict[str, BinaryIO], folder: Path) -> None:
        self.paths = {name: folder / f"{name}.txt" for name in streams}
        self._files = {name: open(path, "wb") for name, path in self.paths.items()}  # noqa: SIM115
        self._terminal = terminal

    def write(self, chunks: dict[str, bytes]) -> None:
        for name, data in chunks.items():
            if not data or name not in self._files:
                continue
            self._files[name].write(data)
            self._files[name].flush()
            sink = self._terminal.get(name)
            try:
                if sink is not None:
                    sink.write(data)
                    sink.flush()
            except (OSError, ValueError):  # the terminal went away: keep saving
                pass

    def close(self) -> None:
        for f in self._files.values():
            f.close()


def follow(target: Target, submission: Submission, sinks: LogSinks,
           interrupts: Interrupts) -> tuple[JobState, int | None]:
    """Poll until the job ends; (its final state, the signal that interrupted us or None).

    A signal (also one received before following began) cancels the job; then polling goes
    on until it ends, ``target.cancel_timeout`` passes or a second signal comes."""
    interrupted: Callable[[], bool] = lambda: interrupts.signum is not None  # noqa: E731
    target.sleep = lambda seconds: interrupts.sleep(seconds, interrupted)
    state = _poll(target, submission, sinks, stop=interrupted)
    if interrupts.signum is None:
        return state, None
    hurry: Callable[[], bool] = lambda: interrupts.count > 1  # noqa: E731
    target.sleep = lambda seconds: interrupts.sleep(seconds, hurry)
    if not state.terminal:
        submission.cancel_sent = True  # asked once, even if the asking fails
        target.cancel(submission, hurry)
        state = _poll(target, submission, sinks, stop=hurry,
                      deadline=time.monotonic() + target.cancel_timeout)
        if not state.terminal:
            state = JobState(KILLED, message=f"cancel requested; the job {submission.job_id} "
                                             f"had not stopped yet ({state.message})")
    return state, interrupts.signum


def _poll(target: Target, submission: Submission, sinks: LogSinks, *, stop: Callable[[], bool],
          deadline: float | None = None) -> JobState:
    """Poll (intervals growing by half from the target's first to its last) until the job
    ends, ``stop()`` or the deadline; the last state seen."""
    delay, most = target.poll_interval
    while True:
        state = target.wait(submission, delay)
        sinks.write(target.read_logs(submission))
        if state.terminal or stop() or (deadline is not None and time.monotonic() > deadline):
            return state
        delay = min(most, delay * 1.5)


def outcome(state: JobState, interrupted: int | None) -> tuple[str, int, str]:
    """(run status, exit code, why) for the job's end."""
    detail = f" ({state.message})" if state.message else ""
    if interrupted is not None:
        name = signal.Signals(interrupted).name
        return KILLED, 128 + interrupted, f": interrupted ({name}), the command was stopped"
    if state.status == FINISHED:
        return FINISHED, 0, ""
    if state.status == KILLED:
        return KILLED, 128 + signal.SIGTERM, f": the job was cancelled{detail}"
    code = state.exit_code
    if code is None:
        return FAILED, 1, f": the job failed{detail}"
    if code < 0:
        return FAILED, 128 - code, f": the command was killed by {signal.Signals(-code).name}"
    if code == 0:  # the command succeeded but the platform failed the job
        return FAILED, 1, f": the job failed after the command exited with code 0{detail}"
    return FAILED, code, f": the command exited with code {code}{detail}"
