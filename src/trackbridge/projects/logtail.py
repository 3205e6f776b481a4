"""New output of a remote job from successive snapshots of its log.

Platforms return a job's log whole on every poll: a file that grows (Azure ML's
``std_log.txt``), or only its last few MB (Databricks' ``get_run_output``), so the start
slides away once it is long. :class:`LogTail` turns each snapshot into the bytes not seen
before, so the terminal and ``logs/`` get every line once.
"""

from __future__ import annotations

#: How many of a snapshot's first bytes are looked for in the previous one.
_PROBE = 256


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
        new = data[len(seen):] if data.startswith(seen) else self._after_slide(seen, data)
        self._seen = data
        self.total += len(new)
        return new

    @staticmethod
    def _after_slide(seen: bytes, data: bytes) -> bytes:
        """The start slid out of the window: ``data`` is a suffix of ``seen`` plus new bytes.
        Find the earliest place in ``seen`` where ``data`` starts; all of it is new if none."""
        probe = data[:_PROBE]
        at = seen.find(probe) if probe else -1
        while at != -1:
            overlap = len(seen) - at
            if data[:overlap] == seen[at:]:
                return data[overlap:]
            at = seen.find(probe, at + 1)
        return data
