"""System metrics: a sampler thread per run logs MLflow's system/* keys at steps 0, 1, 2, ...
with sane values, through the run's buffer, and stops when the run ends. GPUs through the
NVML seam with a fake device (this machine has no NVIDIA driver: no GPU keys, no error)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import pytest

import trackbridge as tb
from trackbridge.errors import ConfigError
from trackbridge.system_metrics import gpu

CPU_KEYS = {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes",
            "system/system_memory_usage_percentage", "system/disk_usage_percentage",
            "system/disk_usage_megabytes", "system/disk_available_megabytes",
            "system/network_receive_megabytes", "system/network_transmit_megabytes"}


@pytest.fixture
def fast(store, monkeypatch):
    monkeypatch.delenv("TRACKBRIDGE_SYSTEM_METRICS", raising=False)
    return {**store, "system_metrics_interval": 0.1}


def sampler_threads(run_id):
    return [t for t in threading.enumerate() if t.name == f"trackbridge-system-metrics-{run_id[:8]}"]


def wait_for_points(run, key, n, config, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = tb.get_metric_history(run.id, key, config=config)
        if len(history) >= n:
            return history
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} points of {key} after {timeout} s")


def test_sampler_logs_mlflow_keys_with_sane_values_and_stops_at_run_end(fast):
    with tb.start_run(config=fast, log_system_metrics=True) as run:
        run.log_metric("loss", 0.5)
        assert sampler_threads(run.id)
        history = wait_for_points(run, "system/cpu_utilization_percentage", 3, fast)
    assert not sampler_threads(run.id)
    got = tb.get_run(run.id, config=fast).metrics
    assert set(got) == CPU_KEYS | {"loss"}  # no driver here: no GPU keys
    assert [m.step for m in history][:3] == [0, 1, 2]
    total_mb = psutil.virtual_memory().total / 1e6
    assert all(0.0 <= m.value <= 100.0 for m in history)
    assert 0 < got["system/system_memory_usage_megabytes"] < total_mb
    assert 0 < got["system/system_memory_usage_percentage"] < 100
    assert 0 < got["system/disk_usage_percentage"] < 100
    assert got["system/disk_available_megabytes"] > 0
    assert got["system/network_receive_megabytes"] >= 0
    count = len(tb.get_metric_history(run.id, "system/cpu_utilization_percentage", config=fast))
    time.sleep(0.4)  # four intervals after the end: nothing more arrives
    assert len(tb.get_metric_history(run.id, "system/cpu_utilization_percentage",
                                     config=fast)) == count


def test_off_by_default_and_switched_by_config_then_env_then_argument(fast, monkeypatch):
    with tb.start_run(config=fast) as run:
        assert not sampler_threads(run.id)
    on = {**fast, "system_metrics": True}
    with tb.start_run(config=on) as run:
        assert sampler_threads(run.id)
    monkeypatch.setenv("TRACKBRIDGE_SYSTEM_METRICS", "0")
    with tb.start_run(config=on) as run:
        assert not sampler_threads(run.id)
    monkeypatch.setenv("TRACKBRIDGE_SYSTEM_METRICS", "1")
    with tb.start_run(config=fast) as run:
        assert sampler_threads(run.id)
    with tb.start_run(config=fast, log_system_metrics=False) as run:
        assert not sampler_threads(run.id)


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("system_metrics", "yes", "must be true or false, got 'yes'"),
    ("system_metrics_interval", 0.01, "from 0.1 to 86400, got 0.01"),
    ("system_metrics_interval", "ten", "from 0.1 to 86400, got 'ten'"),
])
def test_bad_settings_are_config_errors_naming_key_value_and_range(fast, key, value, needle):
    with pytest.raises(ConfigError, match=f"{key} in config dict.*{needle}"):
        tb.start_run(config={**fast, key: value})


def test_settings_from_environment_variables(fast, monkeypatch):
    monkeypatch.setenv("SM", "true")
    monkeypatch.setenv("SMI", "0.5")
    from trackbridge.config import load_config

    cfg = load_config({"system_metrics": "${SM}", "system_metrics_interval": "${SMI}"})
    assert (cfg.system_metrics, cfg.system_metrics_interval) == (True, 0.5)


def test_bad_env_value_fails_before_a_run_exists(fast, monkeypatch):
    monkeypatch.setenv("TRACKBRIDGE_SYSTEM_METRICS", "maybe")
    with pytest.raises(ConfigError, match="TRACKBRIDGE_SYSTEM_METRICS='maybe'"):
        tb.start_run(config=fast, experiment="never")
    assert tb.search_runs(config=fast) == []


class FakeNvml:
    """Two devices; the second cannot report power (as some boards cannot)."""

    def device_count(self):
        return 2

    def memory(self, index):
        return (2_000_000_000, 8_000_000_000) if index == 0 else (1_000_000_000, 4_000_000_000)

    def utilization(self, index):
        return 37 if index == 0 else 90

    def power(self, index):
        if index == 1:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return 120_000, 300_000


def test_gpu_readings_through_the_nvml_seam(fast, monkeypatch):
    monkeypatch.setattr(gpu, "open_nvml", FakeNvml)
    with tb.start_run(config=fast, log_system_metrics=True) as run:
        wait_for_points(run, "system/gpu_0_utilization_percentage", 1, fast)
    got = tb.get_run(run.id, config=fast).metrics
    assert {k: got[k] for k in got if k.startswith("system/gpu_")} == {
        "system/gpu_0_memory_usage_percentage": 25.0,
        "system/gpu_0_memory_usage_megabytes": 2000.0,
        "system/gpu_0_utilization_percentage": 37.0,
        "system/gpu_0_power_usage_watts": 120.0,
        "system/gpu_0_power_usage_percentage": 40.0,
        "system/gpu_1_memory_usage_percentage": 25.0,
        "system/gpu_1_memory_usage_megabytes": 1000.0,
        "system/gpu_1_utilization_percentage": 90.0,
    }


def test_no_driver_means_no_gpu_devices():
    """nvidia-ml-py is installed (test extra); without an NVIDIA driver the seam says None and
    raises nothing; on a machine with one it finds the devices."""
    devices = gpu.open_nvml()
    if Path("/proc/driver/nvidia/version").exists():
        assert devices is not None and devices.device_count() > 0
    else:
        assert devices is None


def test_a_background_write_error_stays_for_the_users_next_call(fast):
    """The sampler never swallows the flusher's error: the user's own next call raises it."""
    from trackbridge.errors import TrackbridgeError
    from trackbridge.system_metrics.sampler import SystemMetricsSampler

    with tb.start_run(config=fast) as run:
        sampler = SystemMetricsSampler(run, 10)
        run._writer.error = OSError("disk full")
        run._writer.on_error()
        assert sampler._log(sampler.sample(), 0)  # skipped, not raised, not consumed
        with pytest.raises(TrackbridgeError, match="disk full"):
            run.log_metric("loss", 1.0)


def test_an_error_the_sampler_happened_to_surface_is_put_back(fast):
    from trackbridge.errors import TrackbridgeError
    from trackbridge.system_metrics.sampler import SystemMetricsSampler

    with tb.start_run(config=fast) as run:
        sampler = SystemMetricsSampler(run, 10)
        cause = OSError("disk full")

        def consumed_it(*args, **kwargs):  # the race: the writer's error, taken by this call
            raise TrackbridgeError("writing failed") from cause

        run.log_metrics = consumed_it
        assert sampler._log({"system/x": 1.0}, 0)
        del run.log_metrics
        with pytest.raises(TrackbridgeError, match="disk full"):
            run.log_metric("loss", 1.0)
