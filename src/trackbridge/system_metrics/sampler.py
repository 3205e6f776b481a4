"""The sampler thread: every interval, one reading of each system metric into the run's buffer.

Keys and units are MLflow's (``mlflow/system_metrics``): CPU percent; system memory used in MB
(10^6 bytes) and percent; disk of the root file system used, available (MB) and percent;
network MB received and sent since the run started; per NVIDIA GPU memory used (MB, percent),
utilisation (percent) and power (watts, percent of the enforced limit).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, RunStateError, TrackbridgeError
from . import gpu

if TYPE_CHECKING:
    from ..run import ActiveRun

PREFIX = "system/"


def require_psutil() -> Any:
    try:
        import psutil
    except ImportError:
        raise ConfigError("system metrics need psutil: pip install 'trackbridge[system]'") from None
    return psutil


class SystemMetricsSampler:
    """Samples for one run. ``nvml`` defaults to :func:`gpu.open_nvml` (None: no GPU keys)."""

    def __init__(self, run: ActiveRun, interval: float, *, nvml: gpu.Nvml | None = None) -> None:
        self.run = run
        self.interval = float(interval)
        self._psutil = require_psutil()
        self._nvml = nvml if nvml is not None else gpu.open_nvml()
        self._stop = threading.Event()
        net = self._psutil.net_io_counters()
        self._net_start = (net.bytes_recv, net.bytes_sent) if net is not None else (0, 0)
        self._psutil.cpu_percent()  # the first call only starts the measuring window
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"trackbridge-system-metrics-{run.id[:8]}")

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def sample(self) -> dict[str, float]:
        """One reading of every metric, keys with the ``system/`` prefix."""
        ps = self._psutil
        memory = ps.virtual_memory()
        disk = ps.disk_usage(os.sep)
        values: dict[str, float] = {
            "cpu_utilization_percentage": float(ps.cpu_percent()),
            "system_memory_usage_megabytes": memory.used / 1e6,
            "system_memory_usage_percentage": memory.used / memory.total * 100,
            "disk_usage_percentage": float(disk.percent),
            "disk_usage_megabytes": disk.used / 1e6,
            "disk_available_megabytes": disk.free / 1e6,
        }
        net = ps.net_io_counters()
        if net is not None:
            values["network_receive_megabytes"] = (net.bytes_recv - self._net_start[0]) / 1e6
            values["network_transmit_megabytes"] = (net.bytes_sent - self._net_start[1]) / 1e6
        if self._nvml is not None:
            values.update(gpu.gpu_readings(self._nvml))
        return {PREFIX + key: value for key, value in values.items()}

    def _loop(self) -> None:
        step = 0
        while not self._stop.wait(self.interval):
            try:
                values = self.sample()
            except Exception:  # a reading failed this time: try again next interval
                continue
            if not self._log(values, step):
                return
            step += 1

    def _log(self, values: dict[str, float], step: int) -> bool:
        """Buffer one sample; False once the run has ended. A background write error that
        this call happens to surface is put back for the user's own next call."""
        writer = self.run._writer
        if writer.error is not None:
            return True  # the user's next logging call reports it; skip this sample
        try:
            self.run.log_metrics(values, step=step)
        except RunStateError:
            return False
        except TrackbridgeError as exc:
            if writer.error is None:
                writer.error = exc.__cause__ or exc
                writer.on_error()
        return True

    def stop(self) -> None:
        """Stop the thread (returns once it has exited)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
