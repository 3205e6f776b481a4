"""Pack metrics, params and tags into the fewest batches a backend's limits allow.

Greedy and order-preserving: each batch takes as many params and tags as the per-batch
limits allow, then fills the remaining entity room with metrics, all while the estimated
JSON body stays under ``max_batch_bytes``. With per-kind limits below the entity limit
(true of every MLflow-compatible service) this gives
``max(ceil(P/maxP), ceil(T/maxT), ceil(M/maxM), ceil((P+T+M)/maxE))`` batches, the minimum.
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


def pack(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag], limits: Limits
) -> Iterator[Batch]:
    """Yield batches that each respect ``limits``; concatenated they equal the input."""
    max_bytes = limits.max_batch_bytes
    key_cost: dict[str, int] = {}
    m = p = t = 0
    nm, np_, nt = len(metrics), len(params), len(tags)
    while m < nm or p < np_ or t < nt:
        room = limits.max_entities_per_batch
        size = _ENVELOPE
        p0 = p
        while p < np_ and p - p0 < limits.max_params_per_batch and room:
            cost = _ENTRY_OVERHEAD + _json_len(params[p].key) + _json_len(params[p].value)
            if max_bytes is not None and size + cost > max_bytes and p > p0:
                break
            size += cost
            room -= 1
            p += 1
        t0 = t
        while t < nt and t - t0 < limits.max_tags_per_batch and room:
            cost = _ENTRY_OVERHEAD + _json_len(tags[t].key) + _json_len(tags[t].value)
            if max_bytes is not None and size + cost > max_bytes and (t > t0 or p > p0):
                break
            size += cost
            room -= 1
            t += 1
        m0 = m
        m_end = min(nm, m + min(room, limits.max_metrics_per_batch))
        if max_bytes is None:
            m = m_end
        else:
            while m < m_end:
                key = metrics[m].key
                cost = key_cost.get(key)
                if cost is None:
                    cost = key_cost[key] = _METRIC_OVERHEAD + _json_len(key)
                if size + cost > max_bytes and (m > m0 or t > t0 or p > p0):
                    break
                size += cost
                m += 1
        yield Batch(list(metrics[m0:m]), list(params[p0:p]), list(tags[t0:t]))
