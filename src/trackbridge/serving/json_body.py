"""Request bodies decoded as :func:`json.loads` decodes them, with orjson where that gives
the same value (several times faster on a body of numbers).

orjson is stricter (no ``NaN`` / ``Infinity``, no lone surrogates, no UTF-16 bodies, nesting
limited to 1024) and raises on all of those: such a body goes to :func:`json.loads`, whose
value or error is the answer. The one silent difference is an integer beyond 64 bits, which
orjson reads as a float; a body with an integer of 19 or more digits therefore goes to
:func:`json.loads` too (so may a string of such digits: it just takes the slower road).
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
    if orjson is not None and isinstance(body, bytes) and not _long_integer(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # json.loads gives the value it accepts, or the error message users know
    return json.loads(body)


def _long_integer(body: bytes) -> bool:
    """True when ``body`` has a run of 19+ digits that is not part of a float (not a
    fraction or an exponent, no ``.`` / exponent after it). The scan runs in C; Python only looks at
    the runs themselves, which floats of 17 significant digits rarely make."""
    digits = body.translate(_DIGIT_RUNS)
    start = digits.find(_LONG_RUN)
    while start >= 0:  # find() gives a run's first digit: the earlier ones were searched
        end = digits.find(b" ", start)
        end = len(body) if end < 0 else end
        before = body[start - 1:start]
        if before in (b"+", b"-"):
            before = body[start - 2:start - 1]  # a sign: an exponent's when an "e" precedes it
        if before not in (b".", b"e", b"E") and body[end:end + 1] not in (b".", b"e", b"E"):
            return True
        start = digits.find(_LONG_RUN, end)
    return False
