"""Execution targets: where ``trackbridge run --on NAME`` runs a project's command.

A target is a class registered through the ``trackbridge_register_project_targets`` hook
(the built-in ``local`` one too, see ``projects/plugin.py``). The runner (``runner.py``)
owns everything targets share: parameters, the run and its tags, status and exit code,
saving the output as ``logs/*.txt``, Ctrl-C. A target only does what differs per platform:

1. :meth:`Target.check` refuses, before anything is uploaded or submitted, what cannot run
   (settings, auth, a local ``path`` parameter, a project over the size limit);
2. :meth:`Target.describe` says what would be sent (``--dry-run``; nothing is changed);
3. :meth:`Target.upload` sends what the job needs; the runner then checks for Ctrl-C, so an
   interrupt before the job exists submits nothing;
4. :meth:`Target.submit` starts the job and returns a :class:`Submission`;
5. :meth:`Target.wait` / :meth:`Target.read_logs` follow it; :meth:`Target.cancel` stops it.

Contract: ``wait`` never raises for a job that failed (it returns a terminal
:class:`JobState`); errors a target raises are ``TrackbridgeError`` subclasses whose one-line
message names the target, the setting and the fix, and holds no secret.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..entities import FAILED, FINISHED, KILLED, RUNNING
from .bootstrap import EXIT_MARKER
from .errors import ProjectError

if TYPE_CHECKING:
    from ..config import Config
    from .runner import Plan

@dataclass(frozen=True)
class Job:
    """What the runner asks a target to run.

    ``run_id`` is the tracked run the command attaches to (``TRACKBRIDGE_RUN_ID``); it is
    None for targets that create the run themselves (:attr:`Target.creates_run`).
    ``tracking`` is the config the run is tracked with (``--config``).
    """

    plan: Plan
    tracking: Config
    experiment: str
    run_name: str
    run_id: str | None = None


@dataclass
class Submission:
    """A submitted job. ``job_id`` and ``url`` are shown to the user; ``run_id`` is the run
    the job logs into (set by targets that create it); ``tags`` go on the run (job id, page
    URL); ``state`` is the target's own (a process, a client, offsets)."""

    job_id: str
    url: str | None = None
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    state: Any = None
    #: Set by whoever asks the target to cancel the job, so it is asked once.
    cancel_sent: bool = False


@dataclass(frozen=True)
class JobState:
    """Where a job is. ``status`` is RUNNING until it ends, then FINISHED, FAILED or KILLED.
    ``exit_code`` is the command's own exit code when the target knows it (-N: killed by
    signal N); ``message`` the platform's words (life-cycle state, error)."""

    status: str
    exit_code: int | None = None
    message: str = ""

    @property
    def terminal(self) -> bool:
        return self.status != RUNNING


class Target(ABC):
    """Where a project's command runs. Subclasses set :attr:`name` (the ``--on`` value)."""

    #: The value of ``--on``; also the table name in the ``--on-config`` file.
    name: ClassVar[str] = ""
    #: Keys allowed in the ``[<name>]`` table of the ``--on-config`` file.
    config_keys: ClassVar[frozenset[str]] = frozenset()
    #: True when the platform creates the run of the job itself (the runner must not).
    creates_run: ClassVar[bool] = False
    #: Streams :meth:`read_logs` returns, saved as ``logs/<stream>.txt``.
    log_streams: ClassVar[tuple[str, ...]] = ("stdout", "stderr")
    #: Seconds between polls: the first, then growing by half up to the second.
    poll_interval: ClassVar[tuple[float, float]] = (1.0, 10.0)
    #: How long to wait for a cancelled job to end before giving up on it.
    cancel_timeout: ClassVar[float] = 120.0
    #: Tracking backends the job can log to (empty: any, the command runs here).
    tracking_backends: ClassVar[tuple[str, ...]] = ()
    #: How :meth:`wait` sleeps between polls. While following a job the runner replaces it
    #: with a sleep that returns at once on Ctrl-C, so use it rather than ``time.sleep``.
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    @classmethod
    def from_config(cls, settings: Mapping[str, Any], tracking: Config) -> Target:
        """Build from the ``[<name>]`` table (keys already checked, ``${VAR}`` expanded)
        and the tracking config. No network."""
        return cls()

    @classmethod
    def adopt_json(cls, data: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
        """For a ``.json`` ``--on-config`` without a ``"<name>"`` key: the ``[<name>]`` table
        it stands for and what it was read as (e.g. MLflow's ``--backend-config`` for this
        platform), or None when it is nothing this target knows."""
        return None

    def check(self, plan: Plan) -> None:
        """Raise :class:`ProjectError` for anything that would fail remotely; called before
        :meth:`describe` and :meth:`submit`. May ask the platform (auth, cluster exists)."""

    def remote_path(self, name: str, value: str) -> str:
        """The value of ``path`` parameter ``name`` as the remote command must see it;
        raise ValueError (naming the parameter, the rule and the target) when it is not a
        location the platform can read. Only called for non-local targets."""
        raise ValueError(f"{name!r} is a path parameter; the {self.name} target cannot read "
                         f"local paths ({value!r})")

    def prepare(self, job: Job) -> None:
        """Called after :meth:`check`, before the run is created (build an environment)."""

    def describe(self, job: Job) -> list[str]:
        """Lines for ``--dry-run``: what would be uploaded (size, hash, already there?) and
        the job spec. Must not change anything."""
        return []

    def upload(self, job: Job) -> None:
        """Upload what the job needs that the platform lacks (called once, before
        :meth:`submit`; may take long: Ctrl-C is checked after it)."""

    @abstractmethod
    def submit(self, job: Job) -> Submission:
        """Start the job (what :meth:`upload` sent is there). A retried submit must never
        start a second job (use an idempotency token or a name derived from the run)."""

    @abstractmethod
    def wait(self, submission: Submission, timeout: float) -> JobState:
        """Block up to ``timeout`` seconds (less when the job ends or has new output), then
        return the job's state."""

    @abstractmethod
    def read_logs(self, submission: Submission) -> dict[str, bytes]:
        """Output new since the last call, per stream of :attr:`log_streams`."""

    @abstractmethod
    def cancel(self, submission: Submission, hurry: Callable[[], bool]) -> None:
        """Ask the job to stop (the runner then waits for a terminal state). ``hurry()``
        turns True on a second Ctrl-C."""

    def finish(self, submission: Submission) -> None:
        """Called once the run has ended (or was left to the job with ``--detach``):
        remove what :meth:`submit` left on this machine."""

    def close(self) -> None:
        """Release clients. The instance is not used afterwards."""


def target_classes() -> dict[str, type[Target]]:
    """Installed targets: name -> class, from every plugin's register hook."""
    from ..plugins import collect_classes

    return collect_classes("trackbridge_register_project_targets", "name", "project target")


def open_target(name: str, tracking: Config, on_config: str | Path | None = None) -> Target:
    """The target ``name`` built from the ``[<name>]`` table of ``on_config``."""
    from .targetconfig import read_target_table

    classes = target_classes()
    if name not in classes:
        from ..config import KNOWN_PLUGINS

        hint = f"; install it: pip install {KNOWN_PLUGINS[name]}" if name in KNOWN_PLUGINS else ""
        raise ProjectError(f"unknown --on target {name!r}; installed targets: "
                           f"{', '.join(sorted(classes))}{hint}")
    cls = classes[name]
    table, adopted = read_target_table(cls, on_config)
    try:
        return cls.from_config(table, tracking)
    except ProjectError as exc:
        if adopted is None:
            raise
        raise ProjectError(f"{exc} (--on-config {on_config} was read as {adopted}; for more "
                           f"settings, write {{\"{name}\": {{...}}}} with the keys of "
                           f"[{name}])") from None


def map_status(status: str, known: Mapping[str, str], what: str) -> str:
    """A platform state through ``known`` (platform state -> run status); unknown states
    count as RUNNING (the next poll will tell), so a new platform state never ends a run."""
    mapped = known.get(status, RUNNING)
    assert mapped in (RUNNING, FINISHED, FAILED, KILLED), f"{what}: bad mapping {mapped}"
    return mapped


def exit_code_from_log(text: str) -> int | None:
    """The exit code the bootstrap reported on its last marker line, if any."""
    code = None
    for line in text.splitlines():
        if line.startswith(EXIT_MARKER):
            try:
                code = int(line[len(EXIT_MARKER):].strip())
            except ValueError:
                continue
    return code
