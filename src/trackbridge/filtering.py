"""MLflow's run filter syntax, evaluated in Python (for backends without a query engine).

``metrics.loss < 0.5 and params.lr = '0.1' and tags.team != 'ml' and attributes.status = 'FINISHED'``

Clauses are joined by ``AND``. Entities: ``metrics``, ``params``, ``tags``, ``attributes``
(singular forms too); attributes are ``status``, ``run_name``, ``run_id``, ``start_time``,
``end_time``. Operators: ``= != < <= > >=`` for numbers, ``= != LIKE ILIKE IN`` for strings.
Keys with special characters go in backquotes or double quotes. Remote backends get the
string unchanged: the MLflow service parses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .entities import Run
from .errors import ValidationError

_ENTITY = {
    "metric": "metrics", "metrics": "metrics", "param": "params", "params": "params",
    "parameter": "params", "parameters": "params", "tag": "tags", "tags": "tags",
    "attribute": "attributes", "attributes": "attributes", "attr": "attributes", "run": "attributes",
}
_ATTRIBUTES = {"status", "run_name", "run_id", "start_time", "end_time"}
_CLAUSE = re.compile(
    r"""\s*(?P<entity>\w+)\.(?P<key>`[^`]+`|"[^"]+"|[\w./\-:]+)\s*
    (?P<op>!=|<=|>=|=|<|>|\bnot\s+like\b|\bilike\b|\blike\b|\bnot\s+in\b|\bin\b)\s*
    (?P<value>'(?:[^']|'')*'|"[^"]*"|\([^)]*\)|[-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*""",
    re.IGNORECASE | re.VERBOSE,
)
_NUM_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _like(pattern: str, flags: int = 0) -> re.Pattern[str]:
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", flags | re.DOTALL)


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text.startswith('"'):
        return text[1:-1]
    if text.startswith("("):
        return [_literal(p.strip()) for p in re.findall(r"'(?:[^']|'')*'|\"[^\"]*\"|[^,\s]+",
                                                          text[1:-1])]
    try:
        return float(text)
    except ValueError:
        raise ValidationError(f"{text!r} is not a number") from None


def _split_and(text: str) -> list[str]:
    parts, depth, quote, start = [], 0, "", 0
    lowered = text.lower()
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"`":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0 and lowered.startswith(" and ", i):
            parts.append(text[start:i])
            start = i + 5
            i += 4
        i += 1
    parts.append(text[start:])
    return parts


_LEAD = re.compile(r"\s*(\w+)\.(`[^`]+`|\"[^\"]+\"|[\w./\-:]+)\s*")


def _bad_token(text: str) -> str:
    """Which token of an unparsable clause is wrong, named for the error message."""
    lead = _LEAD.match(text)
    if lead is None:
        token = text.split()[0] if text.split() else text
        return f"bad token {token!r} (a clause starts with <entity>.<key>)"
    if lead.group(1).lower() not in _ENTITY:
        return f"unknown entity {lead.group(1)!r} (use metrics, params, tags or attributes)"
    rest = text[lead.end():]
    op = re.match(r"(?:!=|<=|>=|=|<|>|not\s+like\b|ilike\b|like\b|not\s+in\b|in\b)\s*", rest,
                  re.IGNORECASE)
    if op is None:
        token = rest.split()[0] if rest.split() else "(nothing)"
        return f"bad operator {token!r} (use = != < <= > >= LIKE ILIKE IN NOT IN)"
    value = rest[op.end():].strip()
    if value[:1] in ("<", ">", "=", "!", "~"):
        token = (op.group().strip() + value).split()[0]
        return f"bad operator {token!r} (use = != < <= > >= LIKE ILIKE IN NOT IN)"
    words = value.lower().split()
    if "or" in words[1:]:
        return ("'or' is not supported: MLflow's filter joins clauses with AND only (use IN "
                "('a', 'b') for alternatives of one key, or one search per alternative)")
    if words[-1:] == ["and"]:
        return "'and' with no clause after it"
    return f"bad value {value or '(nothing)'!r} (quote strings: 'text'; numbers as 0.5)"


def compile_filter(filter: str | None, backend: str = "local") -> Callable[[Run], bool]:
    """A predicate on :class:`Run` for ``filter``; a bad filter is a ValidationError."""
    if not filter or not filter.strip():
        return lambda run: True
    checks = [_clause(part, filter, backend) for part in _split_and(filter)]
    return lambda run: all(check(run) for check in checks)


def filter_keys(filter: str | None) -> set[tuple[str, str]]:
    """The ``(entity, key)`` pairs of params, metrics and tags that ``filter`` reads
    (``entity`` is ``params``, ``metrics`` or ``tags``; attributes are left out): all a
    reader must load to evaluate it. Clauses that do not parse are skipped
    (:func:`compile_filter` reports them)."""
    found: set[tuple[str, str]] = set()
    if not filter or not filter.strip():
        return found
    for part in _split_and(filter):
        m = _CLAUSE.fullmatch(part)
        entity = _ENTITY.get(m.group("entity").lower()) if m else None
        if entity is not None and entity != "attributes":
            found.add((entity, m.group("key").strip("`\"")))
    return found


def _type_mismatch(entity: str, key: str, op: str, value: Any) -> str | None:
    """Why a clause compares a key with the wrong kind of value (None when it does not):
    metrics with numbers only, params and tags with quoted strings only."""
    if entity == "metrics" and (op not in _NUM_OPS or not isinstance(value, float)):
        return (f"a metric is compared with = != < <= > >= and a number, e.g. "
                f"metrics.{key} > 0.5 (not {op.upper()} {_shown(value)})")
    values = value if isinstance(value, list) else [value]
    if entity in ("params", "tags") and any(isinstance(v, float) for v in values):
        quoted = ", ".join(f"'{_shown(v).strip(chr(39))}'" for v in values)
        return (f"{entity[:-1]} values are strings: quote them, e.g. {entity}.{key} "
                f"{op.upper()} {f'({quoted})' if isinstance(value, list) else quoted}")
    return None


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return f"({', '.join(map(_shown, value))})"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


def _clause(text: str, whole: str, backend: str) -> Callable[[Run], bool]:
    m = _CLAUSE.fullmatch(text)
    entity = _ENTITY.get(m.group("entity").lower()) if m else None
    if not m or entity is None:
        raise ValidationError(
            f"cannot parse filter clause {text.strip()!r} in {whole!r} ({backend}): "
            f"{_bad_token(text)}; e.g. metrics.loss < 0.5, params.lr = '0.1', "
            "attributes.status = 'FINISHED'"
        )
    key = m.group("key").strip("`\"")
    op = " ".join(m.group("op").lower().split())
    try:
        value = _literal(m.group("value"))
    except ValidationError as exc:
        raise ValidationError(f"cannot parse filter clause {text.strip()!r} in {whole!r} "
                              f"({backend}): {exc}") from None
    if entity == "attributes" and key not in _ATTRIBUTES:
        raise ValidationError(
            f"unknown attribute {key!r} in filter {whole!r}; known: {', '.join(sorted(_ATTRIBUTES))}"
        )
    mismatch = _type_mismatch(entity, key, op, value)
    if mismatch:  # as MLflow refuses them, so a filter means the same on every backend
        raise ValidationError(f"cannot use filter clause {text.strip()!r} in {whole!r} "
                              f"({backend}): {mismatch}")

    def get(run: Run) -> Any:
        if entity == "attributes":
            return {"status": run.status, "run_name": run.name, "run_id": run.id,
                    "start_time": run.start_time, "end_time": run.end_time}[key]
        return getattr(run, entity).get(key)

    if op in ("like", "ilike", "not like"):
        rx = _like(str(value), re.IGNORECASE if op == "ilike" else 0)
        negate = op == "not like"
        return lambda run: (v := get(run)) is not None and bool(rx.match(str(v))) != negate
    if op in ("in", "not in"):
        options = {str(v) for v in value} if isinstance(value, list) else {str(value)}
        negate = op == "not in"
        return lambda run: (v := get(run)) is not None and (str(v) in options) != negate
    compare = _NUM_OPS[op]
    if isinstance(value, float) or entity == "metrics":
        def numeric(run: Run) -> bool:
            v = get(run)
            try:
                return v is not None and compare(float(v), float(value))
            except (TypeError, ValueError):
                return False
        return numeric
    return lambda run: (v := get(run)) is not None and compare(str(v), value)
