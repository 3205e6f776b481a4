"""Pack metrics, params and tags into the fewest batches a backend's limits allow.

Order-preserving, one pass. For each batch the packer first works out how many params and
tags *must* go now so the rest still fit in the fewest batches left (the lower bound
``max(ceil(P/maxP), ceil(T/maxT), ceil(M/maxM), ceil((P+T+M)/maxE))``), gives metrics as
much of the remaining room as they can use, then tops the batch up with params and tags.
That reaches the lower bound whenever bytes are not the binding limit; with a byte limit
each batch stops before the estimated JSON body would exceed ``max_batch_bytes``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

from .entities import Limits, Metric, Param, RunTag

#: Bytes a metric adds beyond its key: '{"key":"","value":,"timestamp":,"step":},' plus the
#: longest float repr (24), a 13-digit ms timestamp and a 19-digit step, rounded up.
_METRIC_OVERHEAD = 100
_ENTRY_OVERHEAD = 30  # '{"key":"","value":""},'
_ENVELOPE = 200  # '{"run_id":"...","metrics":[],"params":[],"tags":[]}'


class Batch(NamedTuple):
    metrics: list[Metric]
    params: list[Param]
    tags: list[RunTag]


def _json_len(text: str) -> int:
    if text.isascii():
        return len(text)
    import json

    return len(json.dumps(text)) - 2


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def batches_needed(n_metrics: int, n_params: int, n_tags: int, limits: Limits) -> int:
    """The fewest batches that can carry this many entities (ignoring bytes)."""
    return max(
        _ceil_div(n_metrics, limits.max_metrics_per_batch),
        _ceil_div(n_params, limits.max_params_per_batch),
        _ceil_div(n_tags, limits.max_tags_per_batch),
        _ceil_div(n_metrics + n_params + n_tags, limits.max_entities_per_batch),
    )


def pack(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag], limits: Limits
) -> Iterator[Batch]:
    """Yield batches that each respect ``limits``; concatenated they equal the input."""
    max_bytes = limits.max_batch_bytes
    max_p, max_t = limits.max_params_per_batch, limits.max_tags_per_batch
    nm, np_, nt = len(metrics), len(params), len(tags)
    m = p = t = 0
    while m < nm or p < np_ or t < nt:
        left = batches_needed(nm - m, np_ - p, nt - t, limits) - 1
        must_p = min(max(np_ - p - left * max_p, 0), max_p)
        must_t = min(max(nt - t - left * max_t, 0), max_t, limits.max_entities_per_batch - must_p)
        room = limits.max_entities_per_batch - must_p - must_t
        take_m = min(nm - m, limits.max_metrics_per_batch, max(room, 0))
        room -= take_m
        take_p = min(np_ - p, max_p, must_p + max(room, 0))
        room -= take_p - must_p
        take_t = min(nt - t, max_t, must_t + max(room, 0))
        if max_bytes is None:
            batch = Batch(list(metrics[m:m + take_m]), list(params[p:p + take_p]),
                          list(tags[t:t + take_t]))
        else:
            batch = _fit_bytes(metrics[m:m + take_m], params[p:p + take_p],
                               tags[t:t + take_t], max_bytes)
        m, p, t = m + len(batch.metrics), p + len(batch.params), t + len(batch.tags)
        yield batch


def _fit_bytes(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag], max_bytes: int
) -> Batch:
    """The longest prefix of params, then tags, then metrics whose JSON stays under the limit.

    At least one entity is always taken, so a single oversized entity still goes (alone)
    and the service, not the packer, reports it.
    """
    size = _ENVELOPE
    taken: list[list] = [[], [], []]
    key_cost: dict[str, int] = {}
    for slot, items in enumerate((params, tags)):
        for item in items:
            cost = _ENTRY_OVERHEAD + _json_len(item[0]) + _json_len(item[1])
            if size + cost > max_bytes and (taken[0] or taken[1]):
                return Batch(taken[2], taken[0], taken[1])
            size += cost
            taken[slot].append(item)
    for point in metrics:
        cost = key_cost.get(point[0])
        if cost is None:
            cost = key_cost[point[0]] = _METRIC_OVERHEAD + _json_len(point[0])
        if size + cost > max_bytes and (taken[0] or taken[1] or taken[2]):
            break
        size += cost
        taken[2].append(point)
    return Batch(taken[2], taken[0], taken[1])
