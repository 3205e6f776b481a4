"""Request bodies decoded as :func:`json.loads` decodes them, with orjson where that gives
the same value (several times faster on a body of numbers).

orjson is stricter (no ``NaN`` / ``Infinity``, no lone surrogates, no UTF-16 bodies, nesting
limited to 1024) and raises on all of those: such a body goes to :func:`json.loads`, whose
value or error is the answer. The one silent difference is an integer beyond 64 bits, which
orjson reads as a float; a body with a run of 19 or more digits therefore goes to
:func:`json.loads` too (a float written with that many digits just takes the slower road).
Without orjson installed everything is :func:`json.loads`.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # an optional speed-up (the serve extra installs it)
    orjson = None  # type: ignore[assignment]

#: digits -> "0", any other byte -> " ": a digit run of the body becomes a run of "0"
_DIGIT_RUNS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_LONG_RUN = b"0" * 19  # -9223372036854775809 (19 digits) is already past orjson's int64


def loads(body: bytes | str) -> Any:
    """``json.loads(body)``: the same value, and the same exception when it raises."""
    if orjson is not None and isinstance(body, bytes) and _LONG_RUN not in body.translate(_DIGIT_RUNS):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # json.loads gives the value it accepts, or the error message users know
    return json.loads(body)
