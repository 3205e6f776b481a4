"""``trackbridge doctor``: checks that a config can really log, with a fix for each failure.

Backends contribute checks through the ``trackbridge_doctor_checks`` hook; the core adds
the checks every backend shares (config valid, backend opens, experiment reachable).
"""

from __future__ import annotations

import time
from typing import NamedTuple

from .config import Config
from .errors import TrackbridgeError


class Check(NamedTuple):
    """One line of the doctor's report. ``fix`` says what to do when ``ok`` is False."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def run_checks(config: Config) -> list[Check]:
    """Every check for ``config``: the core's first, then each plugin's."""
    from .plugins import load_plugins
    from .registry import open_backend

    checks: list[Check] = []
    try:
        backend = open_backend(config)
    except TrackbridgeError as exc:
        return [Check("backend", False, str(exc), "fix the config, or install the backend plugin")]
    checks.append(Check("backend", True, f"{config.backend}: {backend.describe()}"))
    for result in load_plugins().hook.trackbridge_doctor_checks(backend=backend, config=config):
        checks.extend(result or [])
    name = config.experiment or "Default"
    try:
        backend.check_experiment_name(name)
    except TrackbridgeError as exc:
        checks.append(Check("experiment", False, str(exc),
                            f"set `experiment = ...` in {config.source} to a name {backend.name} accepts"))
        return checks
    started = time.perf_counter()
    try:
        found = backend.get_experiment(name)
        ms = (time.perf_counter() - started) * 1000
        detail = f"{name!r} {'exists' if found else 'does not exist yet (created on first run)'}"
        checks.append(Check("experiment", True, f"{detail}; round trip {ms:.0f} ms"))
    except TrackbridgeError as exc:
        checks.append(Check("experiment", False, f"cannot look up {name!r}: {exc}",
                            "check the experiment name and your permissions"))
    return checks
