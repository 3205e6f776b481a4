"""The tags a new run is created with, fitted to Azure ML's 50-tags-per-run limit.

The core adds run-context tags to every new run (who, where, what code, which trackbridge).
On Azure ML they would take up to nine of the run's 50 tags, so this backend:

* sends ``mlflow.runName`` as the run's ``run_name`` field, not as a tag (the service keeps
  the name itself);
* folds ``trackbridge.host``, ``trackbridge.python_version`` and ``trackbridge.version`` into
  the one tag ``trackbridge.context`` (``host=...; python=...; trackbridge=...``);
* keeps ``mlflow.parentRunId`` (it is what makes a run nested) and the ``mlflow.user`` /
  ``mlflow.source.*`` tags Azure ML studio shows;
* never lets context tags push a run over the limit: when the user's own tags leave no room,
  context tags are dropped (``trackbridge.context`` first, ``mlflow.user`` last) with a
  warning. The user's tags alone over the limit is an error raised before any request.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

from trackbridge.entities import (
    TAG_GIT_COMMIT,
    TAG_PARENT_RUN_ID,
    TAG_RUN_NAME,
    TAG_SOURCE_NAME,
    TAG_SOURCE_TYPE,
    TAG_USER,
)
from trackbridge.errors import LimitExceededError

CONTEXT_TAG = "trackbridge.context"
#: Core context tags folded into CONTEXT_TAG, with the label each gets there.
FOLDED = {"trackbridge.host": "host", "trackbridge.python_version": "python",
          "trackbridge.version": "trackbridge"}
#: Context tags in the order they are given up when a run has no room for them.
DROP_ORDER = (CONTEXT_TAG, TAG_SOURCE_NAME, TAG_GIT_COMMIT, TAG_SOURCE_TYPE, TAG_USER)


def creation_tags(tags: Mapping[str, str], *, run_name: str | None, parent_run_id: str | None,
                  max_tags: int | None, max_value: int, run: str = "new run"
                  ) -> tuple[dict[str, str], str | None]:
    """(tags to send with runs/create, run name). Raises before sending when over the limit."""
    out = dict(tags)
    name = run_name or out.get(TAG_RUN_NAME) or None
    out.pop(TAG_RUN_NAME, None)
    folded = [f"{label}={out.pop(key)}" for key, label in FOLDED.items() if key in out]
    if folded:
        out[CONTEXT_TAG] = "; ".join(folded)[:max_value]
    if parent_run_id:
        out[TAG_PARENT_RUN_ID] = parent_run_id
    if max_tags is None:
        return out, name
    room = max_tags - (1 if name else 0)  # the service stores the run name as a tag too
    dropped = []
    for key in DROP_ORDER:
        if len(out) <= room:
            break
        if key in out:
            del out[key]
            dropped.append(key)
    if len(out) > room:
        raise LimitExceededError(
            f"{run} would start with {len(out) + (1 if name else 0)} tags (counting the run "
            f"name); Azure ML allows at most {max_tags} tags per run. Pass fewer tags, or raise "
            f"max_tags_per_run in [azureml.limits] if your workspace allows more"
        )
    if dropped:
        warnings.warn(f"{run}: left out run-context tag(s) {', '.join(dropped)} to stay within "
                      f"Azure ML's {max_tags} tags per run", stacklevel=3)
    return out, name
