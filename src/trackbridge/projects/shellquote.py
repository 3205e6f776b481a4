"""Substitute parameter values into an entry point's command so the shell never runs them.

An MLproject command is a Python format string run by ``bash -c``. ``shlex.quote`` alone is
safe only where a placeholder is unquoted: inside the template's own quotes its quotes cancel
(``"msg={msg}"`` with ``$(touch x)`` runs ``touch``). So the template's literal text is scanned
as the shell will read it, and each value is quoted for the context its placeholder is in:

* unquoted: ``shlex.quote(value)``;
* inside single quotes: the quote is closed, the value inserted ``shlex.quote``-d, reopened;
* inside double quotes: ``\\``, ``"``, ``$`` and backquote are backslash-escaped (the only
  characters special there).

A placeholder inside ``$(...)``, backquotes, ``${...}`` or ``$'...'`` would be parsed again by
the shell; no quoting is safe for every such case, so it is refused with an error naming the
entry point and the placeholder.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Mapping

from .errors import ProjectError

_PLAIN, _SINGLE, _DOUBLE, _NESTED = "plain", "single", "double", "nested"
#: constructs whose content the shell parses again, and what closes each
_REPARSED = {"$(": ")", "${": "}", "`": "`", "$'": "'"}


def _double_quoted(value: str) -> str:
    return "".join(f"\\{c}" if c in '\\"$`' else c for c in value)


class _Scanner:
    """Follows the shell's quoting state through the literal text of a command."""

    def __init__(self) -> None:
        self.stack: list[str] = []  # open constructs: ', ", $(, ${, `, $'
        self.escaped = False

    @property
    def context(self) -> str:
        if any(opened in _REPARSED for opened in self.stack):
            return _NESTED
        top = self.stack[-1] if self.stack else None
        return {"'": _SINGLE, '"': _DOUBLE}.get(top, _PLAIN)

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            c, pair = text[i], text[i:i + 2]
            top = self.stack[-1] if self.stack else None
            i += 1
            if self.escaped:
                self.escaped = False
            elif top == "'":  # nothing is special inside single quotes but the closing one
                if c == "'":
                    self.stack.pop()
            elif c == "\\":
                self.escaped = True
            elif top == "$'" and c == "'":
                self.stack.pop()
            elif top == "$'":
                pass
            elif top in _REPARSED and c == _REPARSED[top] or top == '"' and c == '"':
                self.stack.pop()
            elif pair in ("$(", "${") or (pair == "$'" and top != '"'):
                self.stack.append(pair)
                i += 1
            elif c == "`" or top != '"' and c in "'\"":
                self.stack.append(c)
            elif top == "$(" and c == "(":
                self.stack.append("$(")  # a subshell inside: closed by its own ")"


def substitute(template: str, values: Mapping[str, str], entry_point: str) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]``, quoted for its context."""
    scanner = _Scanner()
    out: list[str] = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        scanner.feed(literal)
        out.append(literal)
        if field is None:
            continue
        if spec or conversion or field not in values:
            raise ProjectError(f"entry point {entry_point!r}: placeholder {{{field}}} must name a "
                               f"parameter plainly, as {{name}}")
        value, context = values[field], scanner.context
        if context == _NESTED:
            raise ProjectError(
                f"entry point {entry_point!r}: the placeholder {{{field}}} is inside $(...), "
                f"backquotes, ${{...}} or $'...', where the shell would parse its value again; "
                f"put it outside them (plain, or in \"...\" or '...' quotes)")
        if context == _PLAIN:
            out.append(shlex.quote(value))
        elif context == _SINGLE:
            out.append(f"'{shlex.quote(value)}'")
        else:
            out.append(_double_quoted(value))
    return "".join(out)
