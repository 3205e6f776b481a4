"""New output of a remote job from successive snapshots of its log.

Platforms return a job's log whole on every poll: a file that grows (Azure ML's
``std_log.txt``), or only its last few MB (Databricks' ``get_run_output``), so the start
slides away once it is long. :class:`LogTail` turns each snapshot into the bytes not seen
before, so the terminal and ``logs/`` get every line once.
"""

from __future__ import annotations

#: How much of the previous snapshot's end is looked for in a truncated new one.
_OVERLAP = 4096


class LogTail:
    def __init__(self) -> None:
        self._seen = b""
        self.total = 0  # bytes handed out so far

    def update(self, snapshot: bytes | str | None) -> bytes:
        """The part of ``snapshot`` that is new since the last call."""
        if snapshot is None:
            return b""
        data = snapshot.encode("utf-8", "replace") if isinstance(snapshot, str) else snapshot
        seen = self._seen
        if data.startswith(seen):  # grown (the usual case)
            new = data[len(seen):]
        else:  # the start slid out of the window: find where the old end is in the new one
            tail = seen[-_OVERLAP:]
            at = data.rfind(tail) if tail else -1
            new = data[at + len(tail):] if at >= 0 else data
        self._seen = data
        self.total += len(new)
        return new
