"""Metric points stored as columns: one SQLite row per flushed chunk, not per point.

A chunk holds the points of one flush of one run in little-endian arrays: values as float64
(NaN and +/-inf survive), steps as int64, timestamps in ms, plus, when the chunk mixes keys, a
uint32 index into its list of keys. The row's ``layout`` says how timestamps are stored:

* ``LAYOUT_INT_MS`` (0, trackbridge 0.1): int64 ms;
* ``LAYOUT_FLOAT_MS`` (1, written now): float64 ms, exact for whole ms; the hot path takes
  the clock as ``time.time() * 1000`` (no integer division per call) and may keep a fraction
  of a ms, which reads drop (timestamps read back are whole ms, as MLflow's are).

Encoding is a few C-level passes per chunk (slices, ``struct.pack``, a sort check); it runs
in the flusher thread holding the GIL, beside the training loop, so it is kept minimal.
"""

from __future__ import annotations

import json
import struct
import sys
from array import array
from collections.abc import Callable, Iterator, Sequence
from itertools import compress
from typing import NamedTuple

from ..entities import Metric
from ..metric_arrays import (
    NO_POINTS,
    MetricArrays,
    MetricSummary,
    empty,
    merge,
    ordered,
    require_numpy,
    summarize,
)

_SWAP = sys.byteorder != "little"
LAYOUT_INT_MS, LAYOUT_FLOAT_MS = 0, 1
#: up to this many keys in a chunk, each key's last point is found by a scan from the end
_SCAN_KEYS = 16


class Chunk(NamedTuple):
    keys: list[str]
    key_index: bytes | None  # None when every point has keys[0]
    values: bytes
    timestamps: bytes  # float64 ms (LAYOUT_FLOAT_MS)
    steps: bytes
    #: key -> (value, timestamp in whole ms, step) of the point that is "latest" in the chunk
    latest: dict[str, tuple[float, int, int]]
    n: int
    layout: int = LAYOUT_FLOAT_MS


def _unpack(typecode: str, blob: bytes) -> list:
    column = array(typecode)
    column.frombytes(blob)
    if _SWAP:  # pragma: no cover - big-endian hosts only
        column.byteswap()
    return column.tolist()


def _timestamps(blob: bytes, layout: int) -> list[int]:
    if layout == LAYOUT_FLOAT_MS:
        return list(map(int, _unpack("d", blob)))
    return _unpack("q", blob)


def encode(flat: list, n: int | None = None) -> Chunk:
    """Encode the first ``n`` entries (all by default) of a flat ``[key, value, timestamp,
    step, key, ...]`` list. The list may grow meanwhile (the hot path appends to it); only
    its first ``n`` entries are read."""
    n = len(flat) if n is None else n
    keys, values = flat[0:n:4], flat[1:n:4]
    timestamps, steps = flat[2:n:4], flat[3:n:4]
    m = len(keys)
    distinct = list(set(keys))
    key_index = None
    if len(distinct) > 1:
        position = {k: i for i, k in enumerate(distinct)}
        key_index = struct.pack(f"<{m}I", *map(position.__getitem__, keys))
    latest = {k: (v, int(t), s) for k, (v, t, s) in
              _latest(keys, distinct, values, timestamps, steps).items()}
    return Chunk(distinct, key_index, struct.pack(f"<{m}d", *values),
                 struct.pack(f"<{m}d", *timestamps), struct.pack(f"<{m}q", *steps), latest, m)


def _latest(keys: list, distinct: list, values: list, timestamps: list, steps: list) -> dict:
    """Per key the point with the highest (step, timestamp), the last logged on ties (MLflow)."""
    if steps == sorted(steps) and timestamps == sorted(timestamps):
        # the usual case: the last point of each key is its latest
        if len(distinct) <= _SCAN_KEYS:
            backwards, end = keys[::-1], len(keys) - 1
            last = {k: end - backwards.index(k) for k in distinct}
        else:
            last = dict(zip(keys, range(len(keys))))
        return {k: (values[i], timestamps[i], steps[i]) for k, i in last.items()}
    best: dict[str, tuple[float, float, int]] = {}
    for k, v, t, s in zip(keys, values, timestamps, steps):
        b = best.get(k)
        if b is None or (s, t) >= (b[2], b[1]):
            best[k] = (v, t, s)
    return best


def decode(keys_json: str, key_index: bytes | None, values: bytes, timestamps: bytes, steps: bytes,
           layout: int, key: str) -> Iterator[tuple[float, int, int]]:
    """The (value, timestamp, step) points of ``key`` in one stored chunk, in logged order."""
    keys = json.loads(keys_json)
    if key not in keys:
        return iter(())
    columns = [_unpack("d", values), _timestamps(timestamps, layout), _unpack("q", steps)]
    if key_index is not None:
        selector = list(map(keys.index(key).__eq__, _unpack("I", key_index)))
        columns = [list(compress(c, selector)) for c in columns]
    return zip(*columns)


def decode_all(keys_json: str, key_index: bytes | None, values: bytes, timestamps: bytes,
               steps: bytes, layout: int) -> list[Metric]:
    """Every point of one stored chunk, in logged order."""
    keys = json.loads(keys_json)
    names = [keys[i] for i in _unpack("I", key_index)] if key_index is not None else None
    vals, stamps, steps_ = _unpack("d", values), _timestamps(timestamps, layout), _unpack("q", steps)
    if names is None:
        names = [keys[0]] * len(vals)
    return list(map(Metric._make, zip(names, vals, stamps, steps_)))


class StoredChunk(NamedTuple):
    """A stored chunk without its point columns (``vals``, ``timestamps``, ``steps``), which
    are read on demand, each straight from the database file (see ``metric_store.py``)."""

    chunk_id: int
    keys: list[str]
    key_index: bytes | None
    layout: int
    n: int


def decode_arrays(chunks: Sequence[StoredChunk], keys: Sequence[str],
                  read: Callable[[int, str], bytes]) -> dict[str, MetricArrays]:
    """The points of each of ``keys`` in ``chunks`` (in stored order), as numpy columns
    ordered by step then timestamp. ``read(chunk_id, column)`` gives a chunk's column bytes;
    each is read once for all keys, viewed in place (``numpy.frombuffer``) and copied once,
    into columns allocated at their final size: no Python object per point."""
    np = require_numpy()
    picks = []  # (chunk, [(key, selector of its points or None, how many)]) of chunks used
    totals = dict.fromkeys(keys, 0)
    for chunk in chunks:
        mine = []
        index = None if chunk.key_index is None else np.frombuffer(chunk.key_index, "<u4")
        for key in keys:
            if key not in chunk.keys:
                continue
            if index is None:
                mine.append((key, None, chunk.n))
            else:
                selector = index == chunk.keys.index(key)
                mine.append((key, selector, int(np.count_nonzero(selector))))
            totals[key] += mine[-1][2]
        if mine:
            picks.append((chunk, mine))
    out = {key: (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.float64))
           for key, n in totals.items()}
    at = dict.fromkeys(keys, 0)
    for chunk, mine in picks:
        # in the order they are stored in the row
        values = np.frombuffer(read(chunk.chunk_id, "vals"), "<f8")
        # float ms are cut to whole ms, as every read returns them (timestamps are >= 0,
        # so truncation is the floor)
        stamps = np.frombuffer(read(chunk.chunk_id, "timestamps"),
                               "<f8" if chunk.layout == LAYOUT_FLOAT_MS else "<i8")
        steps = np.frombuffer(read(chunk.chunk_id, "steps"), "<i8")
        for key, selector, count in mine:
            for target, column in zip(out[key], (steps, stamps, values)):
                target[at[key]:at[key] + count] = column if selector is None else column[selector]
            at[key] += count
    return {key: ordered(MetricArrays(key, *out[key])) if totals[key] else empty(key)
            for key in keys}


def summarize_chunks(chunks: Sequence[StoredChunk], keys: Sequence[str],
                     read: Callable[[int, str], bytes]) -> dict[str, MetricSummary]:
    """The :class:`MetricSummary` of each of ``keys`` over ``chunks``, one chunk in memory at
    a time (a run of 20 x 500k points no longer needs its 240 MB of columns for a table)."""
    np = require_numpy()
    found = dict.fromkeys(keys, NO_POINTS)
    for chunk in chunks:
        wanted = [key for key in keys if key in chunk.keys]
        if not wanted:
            continue
        values = np.frombuffer(read(chunk.chunk_id, "vals"), "<f8")
        steps = np.frombuffer(read(chunk.chunk_id, "steps"), "<i8")
        index = None if chunk.key_index is None else np.frombuffer(chunk.key_index, "<u4")
        for key in wanted:
            if index is None:
                part = summarize(steps, values)
            else:
                selector = index == chunk.keys.index(key)
                part = summarize(steps[selector], values[selector])
            found[key] = merge(found[key], part)
    return found
