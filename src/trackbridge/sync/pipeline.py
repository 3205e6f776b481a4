"""Send a run's batches with several requests in flight, acknowledging them in order.

:func:`send_pipelined` keeps up to ``width`` requests under way (a remote service answers
several at once, and a far-away one costs a round trip per request). Completions may come
in any order; ``acknowledge`` is called, on the caller's thread and in order, for each new
*contiguous* prefix of completed batches, so a cursor built from it never passes a batch
that has not landed. ``busy`` tells it whether anything beyond that prefix may have reached
the service (a request in flight, one completed out of order, or one that failed): the
caller keeps the run *in doubt* while it is. Slots an answer frees are refilled *before*
that answer is acknowledged, so the caller's (durable, slow) ledger write overlaps the
requests in flight rather than leaving a slot idle. After a failure nothing new is sent; the
requests in flight are waited for, the prefix they complete is acknowledged, and the first
error is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait


def send_pipelined(n: int, send: Callable[[int], None],
                   acknowledge: Callable[[int, int, bool], None], *, width: int,
                   before_send: Callable[[], None] = lambda: None) -> None:
    """Send batches ``0..n-1`` (``send(i)``, at most ``width`` at once); ``before_send()`` runs
    on the caller's thread before each request, ``acknowledge(start, stop, busy)`` after each
    completion that extends the contiguous done prefix ``[start, stop)``."""
    if width <= 1 or n <= 1:
        for i in range(n):
            before_send()
            send(i)
            acknowledge(i, i + 1, False)
        return
    done = [False] * n
    acked = 0
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=min(width, n), thread_name_prefix="trackbridge-send") as pool:
        running: dict[Future, int] = {}
        submitted = 0

        def fill() -> None:
            nonlocal submitted
            while error is None and submitted < n and len(running) < width:
                before_send()
                running[pool.submit(send, submitted)] = submitted
                submitted += 1

        fill()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                i = running.pop(future)
                exc = future.exception()
                if exc is None:
                    done[i] = True
                elif error is None:
                    error = exc
            stop = acked
            while stop < n and done[stop]:
                stop += 1
            fill()  # refill the freed slots first: the ledger write below overlaps them
            if stop > acked:
                busy = bool(running) or error is not None or any(done[stop:])
                acknowledge(acked, stop, busy)
                acked = stop
    if error is not None:
        raise error
