"""System metrics: a sampler thread per run logs CPU, memory, disk, network and GPU readings.

Switched on by ``tb.start_run(log_system_metrics=True)``, else by the environment variable
``TRACKBRIDGE_SYSTEM_METRICS`` (``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``),
else by the config's ``system_metrics = true``. Every ``system_metrics_interval`` seconds
(config, default 10) the sampler logs one point per metric, at step 0, 1, 2, ..., under
MLflow's names (``system/cpu_utilization_percentage``, ...), through the run's own buffered
``log_metrics``: the hot path is untouched. It stops when the run ends.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import Config
    from ..run import ActiveRun
    from .sampler import SystemMetricsSampler

ENV = "TRACKBRIDGE_SYSTEM_METRICS"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def wanted(requested: bool | None, config: Config) -> bool:
    """Whether a new run samples system metrics: the argument, else the env, else the config."""
    if requested is not None:
        return bool(requested)
    value = os.environ.get(ENV)
    if value is not None:
        if value.strip().lower() in _TRUE:
            return True
        if value.strip().lower() in _FALSE:
            return False
        raise ConfigError(f"environment variable {ENV}={value!r} must be one of "
                          f"{', '.join(_TRUE)} (on) or {', '.join(repr(v) for v in _FALSE)} (off)")
    return config.system_metrics


def wanted_and_available(requested: bool | None, config: Config) -> bool:
    """:func:`wanted`, and when so, psutil importable (else a ConfigError saying what to install)."""
    if not wanted(requested, config):
        return False
    from .sampler import require_psutil

    require_psutil()
    return True


def start(run: ActiveRun, interval: float) -> SystemMetricsSampler:
    """Start sampling for ``run`` every ``interval`` seconds; needs psutil (the ``system`` extra)."""
    from .sampler import SystemMetricsSampler

    sampler = SystemMetricsSampler(run, interval)
    sampler.start()
    return sampler


__all__ = ["ENV", "start", "wanted", "wanted_and_available"]
