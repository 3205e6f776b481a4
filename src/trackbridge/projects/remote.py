"""What every platform target shares: the tracking backend, the packed project, the job's log.

A platform target subclasses :class:`RemoteTarget`: it gets the tracking config's backend
(its client, credential and retry policy are the platform's), the project packed and checked
against ``max_archive_mb`` (:meth:`RemoteTarget.pack`), and a :class:`JobLog` per submission
that turns the platform's log snapshots into new output and finds the command's exit code.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import Config
from .bootstrap import EXIT_MARKER, decode
from .logtail import LogTail
from .packing import Archive, check_size, pack_project
from .targets import Submission, Target, exit_code_from_log

_MARKER = EXIT_MARKER.encode()
#: Seconds a cancelled job's command gets beyond ``sync_timeout`` to end its run and send
#: what it logged (the bootstrap's ``--grace`` is ``sync_timeout`` plus this).
STOP_MARGIN_S = 10.0


class JobLog:
    """The output of one job: each platform snapshot in, each stream's new bytes out.

    The platform keeps one log; the bootstrap marks the command's stderr lines in it
    (:func:`~trackbridge.projects.bootstrap.encode`), so lines are split back into stdout and
    stderr here. A line is handed out once whole: a last line still being written waits for
    its end, or for :meth:`close` (the job ended)."""

    def __init__(self) -> None:
        self._tail = LogTail()
        self._partial = b""
        self._out: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
        self._code: int | None = None

    def feed(self, snapshot: bytes | str | None) -> None:
        data = self._partial + self._tail.update(snapshot)
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        self._route(data[:cut])

    def close(self) -> None:
        """The job ended: nothing will complete the last line, hand it out as it is."""
        partial, self._partial = self._partial, b""
        self._route(partial)

    def _route(self, data: bytes) -> None:
        for line in _lines(data):
            stream, body = decode(line)
            self._out[stream].append(body)
            if body.startswith(_MARKER):  # the last one counts
                code = exit_code_from_log(body.decode("utf-8", "replace"))
                self._code = self._code if code is None else code

    def take(self) -> dict[str, bytes]:
        out = {name: b"".join(chunks) for name, chunks in self._out.items()}
        self._out = {"stdout": [], "stderr": []}
        return out

    def exit_code(self) -> int | None:
        """The command's exit code, once the bootstrap reported it."""
        return self._code


def _lines(data: bytes) -> list[bytes]:
    """``data`` cut after each newline (and only there: a carriage return is content)."""
    parts = data.split(b"\n")
    return [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


class RemoteTarget(Target):
    """A target whose command runs on a platform that logs to the tracking backend itself."""

    #: How the platform's own locations start (``path`` parameters must be one of them) ...
    path_prefixes: tuple[str, ...] = ()
    #: ... said in the error for a local path, e.g. "the cluster reads (dbfs:/...)".
    path_hint: str = ""

    def __init__(self, settings: Any, tracking: Config) -> None:
        self.settings = settings
        self.tracking = tracking
        self.poll_interval = (1.0, settings.poll_max_seconds)
        self._tmp = tempfile.TemporaryDirectory(prefix=f"trackbridge-{self.name}-")
        self.archive: Archive | None = None

    def remote_path(self, name: str, value: str) -> str:
        if value.startswith(self.path_prefixes):
            return value
        raise ValueError(f"{name!r} is a path parameter: on {self.name} it must be a location "
                         f"{self.path_hint} or a relative path of a project file, got {value!r}")

    @property
    def backend(self) -> Any:
        """The tracking config's backend (one instance per process)."""
        from ..registry import open_backend

        return open_backend(self.tracking)

    @property
    def stop_grace(self) -> float:
        """The bootstrap's ``--grace``: how long a cancelled job's command may take to end."""
        return self.tracking.sync_timeout + STOP_MARGIN_S

    @property
    def scratch(self) -> Path:
        return Path(self._tmp.name)

    def pack(self, plan: Any) -> Archive:
        """Pack the project into the scratch directory; refuse it over ``max_archive_mb``."""
        self.archive = pack_project(plan.project.directory, self.scratch)
        check_size(self.archive, self.settings.max_archive_mb, self.name)
        return self.archive

    def job_config(self, drop: Sequence[str], extra: Mapping[str, Any] | None = None,
                   experiment: str | None = None) -> str:
        """The config the job's trackbridge reads (TOML): the tracking config's
        ``[<backend>]`` table without the keys in ``drop`` (how *this* machine reaches and
        authenticates to the platform) plus ``extra``; ``[local]`` without its path, the
        journal going to the job's scratch directory."""
        from .childconfig import config_text

        t = self.tracking
        table = {k: v for k, v in t.sections.get(t.backend, {}).items() if k not in drop}
        table.update(extra or {})
        local = {k: v for k, v in t.sections.get("local", {}).items() if k != "path"}
        # every top-level setting carries over (a new one cannot be forgotten here)
        job = t._replace(experiment=experiment, sections={t.backend: table, "local": local},
                         source=f"trackbridge run --on {self.name}")
        return config_text(job, local_path="${TRACKBRIDGE_JOB_DIR}/tbruns")

    def read_logs(self, submission: Submission) -> dict[str, bytes]:
        return submission.state.log.take()

    def close(self) -> None:
        self._tmp.cleanup()
