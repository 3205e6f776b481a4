"""Keep azure-ai-ml's chatter off the terminal, as ``credentials.py`` does for azure-identity.

At import, azure-ai-ml gives its package logger ``azure.ai.ml`` a stderr handler of its own
(``_utils._logger_utils.initialize_logger_info``: level INFO, no propagation), so every record
of its modules is printed: "Class ...Schema: This is an experimental class ..." (a warning of
``azure.ai.ml._utils._experimental``, once per schema class a job's serialisation meets) and
"Proceeding with no tenant id appended to studio URL" (INFO of
``azure.ai.ml.operations._job_operations`` after a submit whose token is not a JWT).
:func:`quiet_azure_ai_ml` puts that logger back in line with the others: that handler removed,
records propagating, a ``NullHandler`` of its own so Python's last-resort print does not
replace it; handlers a program configures still get the records.

Its code upload also ``print``s a colour reset and blank lines to stderr, whatever
``show_progress`` says: :func:`no_stray_output` drops lines made only of those.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
from collections.abc import Iterator

from trackbridge.library_logs import is_quiet, quiet_logger

_BLANK = re.compile(r"(?:\x1b\[[0-9;]*m|\s)*")


def quiet_azure_ai_ml() -> None:
    """Call after importing ``azure.ai.ml`` (idempotent)."""
    if is_quiet("azure.ai.ml"):  # done: what a program set since then stays
        return
    logger = logging.getLogger("azure.ai.ml")
    for handler in list(logger.handlers):
        if type(handler) is logging.StreamHandler:  # azure-ai-ml's own, to stderr
            logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
    quiet_logger("azure.ai.ml")


@contextlib.contextmanager
def no_stray_output() -> Iterator[None]:
    """Hold what is written to ``sys.stderr`` meanwhile; pass on its lines but those made only
    of colour codes and blanks."""
    held = io.StringIO()
    try:
        with contextlib.redirect_stderr(held):
            yield
    finally:
        kept = [line for line in held.getvalue().splitlines(keepends=True)
                if not _BLANK.fullmatch(line)]
        if kept:
            sys.stderr.write("".join(kept))
