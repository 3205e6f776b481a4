"""The tags a new run is created with, fitted to Azure ML's 50-tags-per-run limit.

The core adds run-context tags to every new run (who, where, what code, which trackbridge).
On Azure ML they would take up to nine of the run's 50 tags, so this backend:

* sends ``mlflow.runName`` as the run's ``run_name`` field, not as a tag (the service keeps
  the name itself);
* folds ``trackbridge.host``, ``trackbridge.python_version`` and ``trackbridge.version`` into
  the one tag ``trackbridge.context`` (``host=...; python=...; trackbridge=...``), at creation
  and in later batches alike, and splits it back when reading, so readers (and the sync
  engine comparing tags) see the tags as they were logged;
* keeps ``mlflow.parentRunId`` (it is what makes a run nested) and the ``mlflow.user`` /
  ``mlflow.source.*`` tags Azure ML studio shows;
* never lets context tags push a run over the limit: when the user's own tags leave no room,
  context tags are dropped (``trackbridge.context`` first, ``mlflow.user`` last) with a
  warning, at creation and in later batches alike (a re-sync that adopts a full run hands
  the left-out context tags over again: they are left out again, with no request). The
  user's tags alone over the limit is an error raised before any request.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

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


def fold(tags: Mapping[str, str], max_value: int,
         current: Callable[[], Mapping[str, str]] | None = None) -> dict[str, str]:
    """``tags`` with the folded context keys replaced by one CONTEXT_TAG.

    When only some of them are given (a later ``set_tag``), ``current()`` supplies the run's
    present values (unfolded) so the others are kept.
    """
    present = [k for k in FOLDED if k in tags]
    if not present:
        return dict(tags)
    out = {k: v for k, v in tags.items() if k not in FOLDED}
    values = dict(current() if current is not None and len(present) < len(FOLDED) else {})
    values.update({k: tags[k] for k in present})
    parts = [f"{label}={values[key]}" for key, label in FOLDED.items() if key in values]
    out[CONTEXT_TAG] = "; ".join(parts)[:max_value]
    return out


def unfold(tags: Mapping[str, str]) -> dict[str, str]:
    """The run's tags as they were logged: CONTEXT_TAG split back into its context keys."""
    if CONTEXT_TAG not in tags:
        return dict(tags)
    out = {k: v for k, v in tags.items() if k != CONTEXT_TAG}
    keys = {label: key for key, label in FOLDED.items()}
    for part in tags[CONTEXT_TAG].split("; "):
        label, sep, value = part.partition("=")
        if sep and label in keys:
            out[keys[label]] = value
    return out


def _warn_dropped(run: str, dropped: list[str], max_tags: int) -> None:
    warnings.warn(f"{run}: left out run-context tag(s) {', '.join(dropped)} to stay within "
                  f"Azure ML's {max_tags} tags per run", stacklevel=4)


def batch_tags(tags: Mapping[str, str], current: Mapping[str, str], max_tags: int | None,
               run: str) -> dict[str, str]:
    """``tags`` (folded) for a batch to a run that has ``current`` (folded, as stored), minus
    the context tags that would take a slot the run no longer has."""
    out = dict(tags)
    if max_tags is None:
        return out
    new = [k for k in out if k not in current]
    room = max_tags - len(current)
    dropped = []
    for key in DROP_ORDER:
        if len(new) <= room:
            break
        if key in new:
            del out[key]
            new.remove(key)
            dropped.append(key)
    if dropped:
        _warn_dropped(run, dropped, max_tags)
    return out


def is_context(key: str) -> bool:
    """A run-context tag (folded or not) that may be left out of a full run."""
    return key in FOLDED or key in DROP_ORDER


def creation_tags(tags: Mapping[str, str], *, run_name: str | None, parent_run_id: str | None,
                  max_tags: int | None, max_value: int, run: str = "new run"
                  ) -> tuple[dict[str, str], str | None]:
    """(tags to send with runs/create, run name). Raises before sending when over the limit."""
    out = fold(tags, max_value)
    name = run_name or out.get(TAG_RUN_NAME) or None
    out.pop(TAG_RUN_NAME, None)
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
        _warn_dropped(run, dropped, max_tags)
    return out, name
