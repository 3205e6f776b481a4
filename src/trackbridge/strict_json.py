"""Strict JSON for trackbridge's outputs (CLI ``--json``, the UI's ``/api``): JSON has no NaN
or infinities, so they are written as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""

from __future__ import annotations

import json
import math
from typing import Any


def clean(value: Any) -> Any:
    """``value`` with every non-finite float (in nested dicts, lists, tuples) as a string."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    """``json.dumps`` of :func:`clean` (``allow_nan=False``: nothing non-standard escapes)."""
    return json.dumps(clean(value), allow_nan=False, **options)
