"""One run's write buffer and the background thread that empties it into a backend.

Producers (the logging calls) append to in-memory lists under a short lock. The flusher
thread wakes every ``flush_interval`` seconds, or as soon as a full batch is waiting,
swaps the lists out and writes them packed to the backend's limits. The buffer is bounded:
when ``buffer_size`` points are waiting, the producer writes them itself (it blocks; nothing
is dropped). A write that fails puts what it did not write back at the front of the buffer
and keeps the error, which the next logging call, ``flush()`` or ``end()`` raises.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from .backend import Backend
from .batching import pack
from .entities import Metric, Param, RunTag
from .errors import ParamConflictError, TrackbridgeError


class RunWriter:
    def __init__(
        self, backend: Backend, run_id: str, *, flush_interval: float, buffer_size: int
    ) -> None:
        self.backend = backend
        self.run_id = run_id
        self.limits = backend.limits
        self.flush_interval = flush_interval
        self.buffer_size = max(int(buffer_size), 1)
        self.batch_size = min(self.limits.max_metrics_per_batch, self.buffer_size)
        # the producer side reads these attributes directly (see Run.log_metric)
        self.lock = threading.Lock()
        self.metrics: list[tuple[str, float, int, int]] = []
        self.params: list[Param] = []
        self.tags: list[RunTag] = []
        self.wake = threading.Event()
        self.error: BaseException | None = None
        self._write_lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._loop, name=f"trackbridge-flush-{run_id[:8]}", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopping:
            self.wake.wait(self.flush_interval)
            self.wake.clear()
            if self._stopping:
                break
            try:
                self.drain()
            except BaseException as exc:  # kept for the producer; the loop goes on
                if self.error is None:
                    self.error = exc

    def full(self) -> None:
        """Called by a producer that saw ``batch_size`` points waiting."""
        with self.lock:
            waiting = len(self.metrics)
        if waiting >= self.buffer_size:
            self.drain()  # backpressure: the producer pays for the write
        elif not self.wake.is_set():
            self.wake.set()

    def drain(self) -> None:
        """Write everything buffered so far; raises the write error (after re-queueing)."""
        with self._write_lock:
            with self.lock:
                metrics, params, tags = self.metrics, self.params, self.tags
                if not (metrics or params or tags):
                    return
                self.metrics, self.params, self.tags = [], [], []
            self._write(metrics, params, tags)

    def _write(
        self, metrics: Sequence[tuple], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None:
        done_m = done_p = done_t = 0
        conflict: ParamConflictError | None = None
        try:
            points = list(map(Metric._make, metrics))
            for batch in pack(points, params, tags, self.limits):
                try:
                    self.backend.log_batch(self.run_id, batch.metrics, batch.params, batch.tags)
                except ParamConflictError as exc:  # applied but for the conflicting params
                    conflict = conflict or exc
                done_m += len(batch.metrics)
                done_p += len(batch.params)
                done_t += len(batch.tags)
        except BaseException:
            with self.lock:  # keep order: what failed goes back in front of newer data
                self.metrics[:0] = metrics[done_m:]
                self.params[:0] = params[done_p:]
                self.tags[:0] = tags[done_t:]
            raise
        if conflict is not None:
            raise conflict

    def _raise(self, exc: BaseException) -> None:
        if isinstance(exc, TrackbridgeError):
            raise exc
        raise TrackbridgeError(
            f"writing run {self.run_id} to the {self.backend.describe()} failed in the "
            f"background: {exc!r}; the unwritten data is still buffered"
        ) from exc

    def raise_error(self) -> None:
        """Raise (once) the error a background write hit."""
        exc, self.error = self.error, None
        if exc is not None:
            self._raise(exc)

    def flush(self) -> None:
        """Make everything logged so far durable in the backend, or raise why not."""
        pending, self.error = self.error, None
        try:
            self.drain()
        except BaseException as exc:
            self._raise(exc)
        if pending is not None:
            self._raise(pending)

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stopping = True
        self.wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()
