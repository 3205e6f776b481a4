"""Online mode: a background thread that streams one run from the journal to its remote
backend while it is being logged.

Training never waits for the network: the run is journalled locally first, and this worker
ships what is new every ``interval`` seconds. When the remote is unreachable it backs off
(doubling up to ``max_backoff``) and catches up when it is back; each pass is an ordinary
exactly-once sync pass (see ``engine.py``), so an interrupted pass is resumed safely.
"""

from __future__ import annotations

import threading

from .engine import SyncEngine


class SyncWorker:
    def __init__(self, engine: SyncEngine, run_id: str, *, timeout: float = 30.0,
                 resume_command: str = "", interval: float = 1.0, max_backoff: float = 30.0) -> None:
        self.engine = engine
        self.run_id = run_id
        #: how long :meth:`finish` waits for the remote copy at the end of the run
        self.timeout = timeout
        #: the command that sends what is left, said when :meth:`finish` gives up
        self.resume_command = resume_command
        self.interval = interval
        self.max_backoff = max_backoff
        #: the remote run's id, once it was created
        self.remote_id: str | None = None
        #: the error of the last pass, None after a successful one
        self.last_error: BaseException | None = None
        self._wake = threading.Event()
        self._passes = threading.Condition()
        self._started = 0  # passes begun so far
        self._finished = 0  # number of the last pass that ended (well or not)
        self._last_ok = False
        self._final = False
        self._stopped = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"trackbridge-sync-{run_id[:8]}",
                                        daemon=True)
        self._thread.start()

    def describe(self) -> str:
        return self.engine.dest.describe()

    def _loop(self) -> None:
        delay = 0.0  # first pass at once: the remote run id is wanted early
        while not self._stopped:
            self._wake.wait(delay)
            self._wake.clear()
            if self._stopped:
                return
            final = self._final  # read before the pass: only a pass that started after end is final
            with self._passes:
                self._started += 1
                number = self._started
            try:
                report = self.engine.sync_run(self.run_id)
            except Exception as exc:
                self.last_error = exc
                self.remote_id = self.remote_id or self._ledger_remote_id()
                delay = min(max(delay * 2, self.interval), self.max_backoff)
                self._pass_ended(number, ok=False)
                continue
            self.remote_id, self.last_error, delay = report.remote_run_id, None, self.interval
            self._pass_ended(number, ok=True)
            if final:
                self._done.set()
                return

    def _pass_ended(self, number: int, ok: bool) -> None:
        with self._passes:
            self._finished, self._last_ok = number, ok
            self._passes.notify_all()

    def _ledger_remote_id(self) -> str | None:
        entry = self.engine.ledger.load(self.run_id)
        return entry.remote_run_id if entry else None

    def sync_now(self, timeout: float) -> bool:
        """Run a pass now and wait for it (True when one completed in time)."""
        with self._passes:
            target = self._started + 1  # a pass that begins after this call
            self._wake.set()
            ended = self._passes.wait_for(
                lambda: self._finished >= target or self._done.is_set(), timeout)
            return ended and (self._last_ok or self._done.is_set())

    def finish(self) -> str | None:
        """After the run ended: wait up to ``timeout`` s for a last complete pass, then stop.

        Returns None when the remote copy is complete, else one line saying what to run.
        """
        self._final = True
        self._wake.set()
        finished = self._done.wait(self.timeout)
        self._stopped = True
        self._wake.set()
        if finished:
            return None
        reason = f"last error: {self.last_error}" if self.last_error else \
            f"still sending after {self.timeout:g} s"
        return (f"trackbridge: run {self.run_id} is saved locally but not yet complete on "
                f"{self.describe()} ({reason}); send the rest with: {self.resume_command}")
