"""Checks run at the logging call site, so a traceback points at the user's line.

Rules follow MLflow (so runs sync to any MLflow-compatible service) tightened by the
backend's :class:`~trackbridge.entities.Limits`. Every message names the key or value,
the rule or limit, and the backend.
"""

from __future__ import annotations

import numbers
import posixpath
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .entities import Limits

from .errors import LimitExceededError, ValidationError

MAX_INT64 = 2**63 - 1
_KEY_CHARS = re.compile(r"^[/\w.\- :]*$")


def check_key(kind: str, key: object, max_length: int, backend: str) -> str:
    """A metric/param/tag key: non-empty str, at most ``max_length``, MLflow's characters."""
    if not isinstance(key, str) or not key:
        raise ValidationError(f"{kind} key must be a non-empty string, got {key!r}")
    if len(key) > max_length:
        raise LimitExceededError(
            f"{kind} key {key[:60]!r}... is {len(key)} characters; the {backend} backend "
            f"allows at most {max_length}"
        )
    if not _KEY_CHARS.match(key):
        raise ValidationError(
            f"{kind} key {key!r} has characters outside letters, digits, '_', '-', '.', '/', "
            f"' ' and ':' (MLflow's rule, enforced for the {backend} backend)"
        )
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith("..") or key.startswith("/"):
        raise ValidationError(
            f"{kind} key {key!r} must be a normalised relative path: no leading '/', "
            f"no '..', '.', '//' components or trailing '/'"
        )
    return key


def check_value(kind: str, key: str, value: object, max_length: int, backend: str) -> str:
    """A param or tag value, stringified, at most ``max_length`` characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > max_length:
        raise LimitExceededError(
            f"{kind} {key!r} has a value of {len(text)} characters; the {backend} backend "
            f"allows at most {max_length} (value starts {text[:40]!r})"
        )
    return text


def check_tags(tags: Mapping[str, object], limits: Limits, backend: str) -> dict[str, str]:
    """Every key and value of ``tags`` checked (values stringified); raises on the first bad one."""
    return {
        check_key("tag", k, limits.max_tag_key_length, backend):
        check_value("tag", k, v, limits.max_tag_value_length, backend)
        for k, v in tags.items()
    }


def check_metric_value(key: str, value: object) -> float | int:
    """int, float or a numpy scalar; bools and strings are refused. NaN/inf pass through."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(
            f"metric {key!r} value must be a real number (int, float or numpy scalar), got "
            f"{type(value).__name__} {value!r}"
        )
    try:
        return float(value)
    except OverflowError:
        raise ValidationError(
            f"metric {key!r} value {value!r} is too large to store as a 64-bit float"
        ) from None


def check_step(key: str, step: object) -> int:
    """An int >= 0 (numpy integers accepted, bools refused); None is step 0, as in MLflow."""
    if step is None:
        return 0
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or not 0 <= step <= MAX_INT64:
        raise ValidationError(f"metric {key!r} step must be an int >= 0 (64-bit), got {step!r}")
    return int(step)


def check_timestamp(key: str, timestamp: object) -> int:
    """ms since the epoch, an int >= 0."""
    if (isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Integral)
            or not 0 <= timestamp <= MAX_INT64):
        raise ValidationError(
            f"metric {key!r} timestamp must be an int >= 0 (ms since epoch), got {timestamp!r}"
        )
    return int(timestamp)


def check_artifact_path(path: object, what: str = "artifact path") -> str:
    """A relative POSIX path without ``..``; returns it normalised ('' for the root)."""
    if path is None or path == "":
        return ""
    if not isinstance(path, str):
        raise ValidationError(f"{what} must be a string, got {path!r}")
    if "\\" in path:
        raise ValidationError(f"{what} {path!r} must use '/' separators (POSIX)")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise ValidationError(f"{what} {path!r} must be relative, not absolute")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValidationError(f"{what} {path!r} must not contain '..'")
    return "/".join(parts)
