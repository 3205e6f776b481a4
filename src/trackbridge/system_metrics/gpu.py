"""NVIDIA GPU readings through NVML (``nvidia-ml-py``), behind a small seam.

:class:`Nvml` is everything the sampler asks of a GPU library; :func:`open_nvml` returns the
real one, or None when ``nvidia-ml-py`` is missing or no driver answers (then a run simply has
no GPU metrics, and no error). Tests hand the sampler a fake :class:`Nvml`.
"""

from __future__ import annotations

from typing import Any, Protocol


class Nvml(Protocol):
    """The NVML calls the sampler needs, one device index at a time. A call may raise;
    the reading it belonged to is then left out of that sample."""

    def device_count(self) -> int: ...

    def memory(self, index: int) -> tuple[int, int]:
        """(used, total) bytes of device memory."""

    def utilization(self, index: int) -> float:
        """GPU utilisation in percent over the last sample period."""

    def power(self, index: int) -> tuple[float, float]:
        """(usage, enforced limit) in milliwatts."""


class PynvmlDevices:
    """:class:`Nvml` on ``pynvml`` (the module of the ``nvidia-ml-py`` distribution)."""

    def __init__(self, pynvml: Any) -> None:
        self._nvml = pynvml
        pynvml.nvmlInit()
        self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i)
                         for i in range(pynvml.nvmlDeviceGetCount())]

    def device_count(self) -> int:
        return len(self._handles)

    def memory(self, index: int) -> tuple[int, int]:
        info = self._nvml.nvmlDeviceGetMemoryInfo(self._handles[index])
        return info.used, info.total

    def utilization(self, index: int) -> float:
        return self._nvml.nvmlDeviceGetUtilizationRates(self._handles[index]).gpu

    def power(self, index: int) -> tuple[float, float]:
        handle = self._handles[index]
        return (self._nvml.nvmlDeviceGetPowerUsage(handle),
                self._nvml.nvmlDeviceGetEnforcedPowerLimit(handle))


def open_nvml() -> Nvml | None:
    """The machine's NVIDIA GPUs, or None when there is no library, driver or device."""
    try:
        import pynvml

        devices = PynvmlDevices(pynvml)
    except Exception:  # ImportError, or NVMLError: no driver on this machine
        return None
    return devices if devices.device_count() else None


def gpu_readings(nvml: Nvml) -> dict[str, float]:
    """One sample of every device, under MLflow's names (without the ``system/`` prefix)."""
    out: dict[str, float] = {}
    for i in range(nvml.device_count()):
        try:
            used, total = nvml.memory(i)
            out[f"gpu_{i}_memory_usage_percentage"] = round(used / total * 100, 1)
            out[f"gpu_{i}_memory_usage_megabytes"] = used / 1e6
        except Exception:
            pass
        try:
            out[f"gpu_{i}_utilization_percentage"] = float(nvml.utilization(i))
        except Exception:
            pass
        try:
            milliwatts, limit = nvml.power(i)
            out[f"gpu_{i}_power_usage_watts"] = milliwatts / 1000
            out[f"gpu_{i}_power_usage_percentage"] = milliwatts / limit * 100
        except Exception:
            pass
    return out
