"""One run's write buffer and the background thread that empties it into a sink.

The hot path is lock-free: a logging call appends one point as a single
``list.extend((key, value, timestamp, step))``, which is atomic (under the GIL, and per
list on free-threaded builds). Only the flusher removes points, and only from the front,
and only after its sink said they are durable (``del points[:n]``, also atomic), so points
appended meanwhile are never lost and a failed write leaves everything unwritten in place,
in order.

The flusher wakes every ``flush_interval`` seconds, or when a full batch waits. The buffer
is bounded: a producer that finds ``buffer_size`` points waiting writes them itself
(it blocks; nothing is dropped). A write error is kept and raised by the next logging call,
``flush()`` or ``end()``; the data stays buffered for the next attempt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from .entities import Param, RunTag
from .errors import TrackbridgeError

#: Called by a sink each time a prefix of the buffer is durable:
#: (number of points, number of params, number of tags).
Committed = Callable[[int, int, int], None]


class Sink(Protocol):
    """Where a writer puts what it drains. ``points`` is flat: key, value, timestamp, step, ..."""

    def describe(self) -> str: ...

    def write(self, run_id: str, points: list, n: int, params: list[Param], tags: list[RunTag],
              committed: Committed) -> None:
        """Store the first ``n`` entries of ``points`` (the live buffer: read, never change it),
        then ``params`` and ``tags``; call ``committed`` for each prefix made durable."""


class RunWriter:
    def __init__(
        self, sink: Sink, run_id: str, *, flush_interval: float, buffer_size: int,
        batch_size: int,
    ) -> None:
        self.sink = sink
        self.run_id = run_id
        self.flush_interval = flush_interval
        self.buffer_size = max(int(buffer_size), 1)
        #: the producer calls :meth:`full` when the flat point list reaches this length
        self.full_at = 4 * min(batch_size, self.buffer_size)
        self.points: list = []
        self.params: list[Param] = []
        self.tags: list[RunTag] = []
        self.wake = threading.Event()
        self.error: BaseException | None = None
        #: called (in the flusher thread) after ``error`` is set: the run arms its alarm
        self.on_error: Callable[[], None] = lambda: None
        #: called after a drain wrote the buffer: the run puts its threshold back to full_at
        self.on_drained: Callable[[], None] = lambda: None
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
                    self.on_error()

    def full(self) -> int:
        """Called by a producer whose buffer reached its threshold; returns the next one.

        Once the flusher is woken, the producer is not asked again until the buffer reaches
        the backpressure level (``buffer_size`` points) or the flusher has drained it (then
        :attr:`on_drained` puts the threshold back): a producer that found the buffer full
        would otherwise pay this call on every point until the flusher gets the GIL."""
        if len(self.points) >= 4 * self.buffer_size:
            self.drain()  # backpressure: the producer pays for the write
            return self.full_at
        self.wake.set()
        return 4 * self.buffer_size

    def _committed(self, n_points: int, n_params: int, n_tags: int) -> None:
        del self.points[: 4 * n_points]
        del self.params[:n_params]
        del self.tags[:n_tags]

    def drain(self) -> None:
        """Write everything buffered so far; raise the write error (the data stays buffered)."""
        with self._write_lock:
            n = len(self.points)
            n_params, n_tags = len(self.params), len(self.tags)
            if n or n_params or n_tags:
                self.sink.write(self.run_id, self.points, n, self.params[:n_params],
                                self.tags[:n_tags], self._committed)
                self.on_drained()

    def _raise(self, exc: BaseException) -> None:
        if isinstance(exc, TrackbridgeError):
            raise exc
        raise TrackbridgeError(
            f"writing run {self.run_id} to the {self.sink.describe()} failed: {exc!r}; "
            f"the unwritten data is still buffered"
        ) from exc

    def raise_error(self) -> None:
        """Raise (once) the error a background write hit."""
        exc, self.error = self.error, None
        if exc is not None:
            self._raise(exc)

    def flush(self) -> None:
        """Make everything logged so far durable, or raise why not."""
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
