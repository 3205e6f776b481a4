"""The machinery every autolog integration shares: patching methods (and undoing it), the
training session that decides which run a fit logs into, and never breaking the user's code.

* :class:`Patches` replaces attributes (methods of classes, functions of modules, the ``fn`` of
  scikit-learn's ``available_if`` descriptors, so ``hasattr`` keeps answering as before) and
  :meth:`Patches.restore` puts back exactly what was there.
* :func:`training` is the outermost autologged fit: it yields the active run, or starts one and
  ends it when the fit returns (FAILED when the fit raises). Fits nested in it (a pipeline's
  steps, a grid search's candidates) are not logged, except the children an integration asks
  for (an XGBoost wrapper's inner ``train``).
* :func:`safely` runs one logging step; an error becomes an :class:`AutologWarning` (or is
  silenced with ``silent=True``) and the user's ``fit`` returns as usual.
"""

from __future__ import annotations

import functools
import inspect
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..run import ActiveRun


class AutologWarning(UserWarning):
    """Autologging could not log something; the training itself went on unharmed."""


@dataclass
class Settings:
    """One integration's ``autolog(...)`` arguments."""

    log_models: bool = True
    log_datasets: bool = True
    silent: bool = False
    max_tuning_runs: int | None = 5
    extra: dict[str, Any] | None = None


_MISSING = object()


class Patches:
    """The patches one integration applied, in order, so they can be undone in reverse."""

    def __init__(self, flavor: str) -> None:
        self.flavor = flavor
        self._undo: list[tuple[Any, str, Any]] = []
        self._seen: set[tuple[int, str]] = set()

    def __bool__(self) -> bool:
        return bool(self._undo)

    def patch(self, owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]
              ) -> None:
        """Replace ``owner.name`` by ``make(original)``. For a class, an ``available_if``
        descriptor (anywhere in the MRO) keeps its check: its wrapped ``fn`` is patched."""
        if isinstance(owner, type):
            try:
                raw = inspect.getattr_static(owner, name)
            except AttributeError:
                return
            if hasattr(raw, "fn") and hasattr(raw, "check") and callable(raw.fn):
                owner, name = raw, "fn"  # sklearn's _AvailableIfDescriptor
        if (id(owner), name) in self._seen:
            return
        own = vars(owner).get(name, _MISSING) if hasattr(owner, "__dict__") else _MISSING
        original = getattr(owner, name)
        if not callable(original):
            return
        patched = functools.wraps(original)(make(original))
        patched.__trackbridge_original__ = original  # type: ignore[attr-defined]
        setattr(owner, name, patched)
        self._seen.add((id(owner), name))
        self._undo.append((owner, name, own))

    def restore(self) -> None:
        """Put every patched attribute back as it was (removing the ones that were inherited)."""
        for owner, name, own in reversed(self._undo):
            if own is _MISSING:
                try:
                    delattr(owner, name)
                except AttributeError:
                    pass
            else:
                setattr(owner, name, own)
        self._undo.clear()
        self._seen.clear()


def safely(settings: Settings, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or None with a warning naming ``what`` when it raises."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        if not settings.silent:
            warnings.warn(f"trackbridge autolog could not {what}: {type(exc).__name__}: {exc}",
                          AutologWarning, stacklevel=2)
        return None


@dataclass
class _Frame:
    flavor: str
    run: ActiveRun
    children: tuple[str, ...]


_lock = threading.Lock()
_frames: list[_Frame] = []  # one per process, as MLflow: parallel inner fits never log


def active_session() -> _Frame | None:
    with _lock:
        return _frames[-1] if _frames else None


@contextmanager
def no_logging() -> Iterator[None]:
    """Fits inside are not autologged (``cross_val_score`` and friends, as in MLflow)."""
    frame = _Frame("-", None, ())  # type: ignore[arg-type]
    with _lock:
        _frames.append(frame)
    try:
        yield
    finally:
        with _lock:
            _frames.remove(frame)


@contextmanager
def training(flavor: str, settings: Settings, children: tuple[str, ...] = ()
             ) -> Iterator[ActiveRun | None]:
    """The run an autologged fit of ``flavor`` logs into, or None when it must not log.

    A nested fit gets the outer session's run only when the outer one names ``flavor`` in
    its ``children``. The outermost fit uses the active run, or starts one and ends it."""
    outer = active_session()
    if outer is not None:
        yield outer.run if flavor in outer.children else None
        return
    from .. import fluent

    run = fluent.active_run()
    created = run is None
    if created:
        run = safely(settings, "start a run", fluent.start_run)
        if run is None:
            yield None
            return
    frame = _Frame(flavor, run, children)
    with _lock:
        _frames.append(frame)
    status = "FINISHED"
    try:
        yield run
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        with _lock:
            _frames.remove(frame)
        if created:
            safely(settings, f"end run {run.id}", run.end, status)
