"""Keep a cloud SDK's log records off the terminal unless the program set up logging.

With no handler anywhere, Python prints a library's warnings to stderr (its last-resort
handler): the SDKs' own chatter ("Failed to automatically resolve config ...", one warning per
failed credential) then stands beside the one-line error that already says it all. A handler
of the library logger's own stops that print; records still propagate to handlers a program
configures.
"""

from __future__ import annotations

import logging

_QUIET = logging.NullHandler()


def quiet_logger(name: str) -> logging.Logger:
    """Give the logger ``name`` a do-nothing handler (once) and return it."""
    logger = logging.getLogger(name)
    if _QUIET not in logger.handlers:
        logger.addHandler(_QUIET)
    return logger


def is_quiet(name: str) -> bool:
    """Whether :func:`quiet_logger` was called for ``name``."""
    return _QUIET in logging.getLogger(name).handlers
