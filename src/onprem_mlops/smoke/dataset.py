"""Synthetic predictive-maintenance data: daily sensor windows -> failure within N days.

A fleet of machines runs for a year. Each machine has its own operating point (machine type,
load with a weekly rhythm, ambient temperature over the seasons) and fails from time to time.
Most failures announce themselves: in the days before, one failure mode makes some sensors drift
(bearing wear raises vibration, overheating raises temperature and current, a leaking seal lowers
pressure), with a lead time and a strength that vary from failure to failure; some failures come
without warning. Sensors are noisy and vibration sensors spike now and then.

A sample is a window of ``window_days`` daily readings of the five sensors, summarised into
per-sensor statistics; its label is 1 when the machine fails within ``horizon_days`` after the
window. Windows that overlap a repair, or whose outcome lies beyond the observed year, are left
out. Machines, not windows, are split into train, validation and test sets, so no machine's
history leaks from training into evaluation. Everything comes from one NumPy seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onprem_mlops.smoke.deps import require

SENSORS: tuple[str, ...] = ("vibration_rms", "bearing_temp", "motor_current", "pressure", "rpm")
STATISTICS: tuple[str, ...] = ("last", "mean", "std", "slope", "delta", "max", "min")
# Failure modes: probability, and per-sensor drift at full severity (in units of sensor noise).
FAILURE_MODES: dict[str, tuple[float, tuple[float, ...]]] = {
    "bearing_wear": (0.43, (16.0, 4.0, 2.0, 0.0, -2.0)),
    "overheating": (0.28, (2.0, 14.0, 8.0, 0.0, 0.0)),
    "seal_leak": (0.24, (0.0, 0.0, 3.0, -14.0, 0.0)),
    "sudden": (0.05, (0.0, 0.0, 0.0, 0.0, 0.0)),
}
REPAIR_DAYS = 3
# Degradation starts LEAD_DAYS before a failure and grows as (elapsed / lead) ** RAMP_POWER.
LEAD_DAYS = (14, 30)
RAMP_POWER = 2.0
DATA_SEED = 20_240_501


@dataclass(frozen=True)
class MaintenanceConfig:
    n_machines: int = 300
    n_days: int = 365
    window_days: int = 14
    horizon_days: int = 7
    stride_days: int = 3
    mean_days_between_failures: float = 70.0
    seed: int = DATA_SEED
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)

    def params(self) -> dict[str, Any]:
        """Parameters to log with the run."""
        return {
            "data.n_machines": self.n_machines,
            "data.n_days": self.n_days,
            "data.window_days": self.window_days,
            "data.horizon_days": self.horizon_days,
            "data.stride_days": self.stride_days,
            "data.mean_days_between_failures": self.mean_days_between_failures,
            "data.seed": self.seed,
        }


@dataclass
class MaintenanceData:
    """Window features ``x`` (float32), labels ``y`` (0/1) and the machine of each window."""

    x: Any
    y: Any
    machine: Any
    feature_names: list[str]
    splits: dict[str, Any] = field(default_factory=dict)  # name -> boolean mask over windows

    def part(self, name: str) -> tuple[Any, Any]:
        mask = self.splits[name]
        return self.x[mask], self.y[mask]

    def positive_rate(self) -> float:
        return float(self.y.mean())


def feature_names() -> list[str]:
    return [f"{sensor}_{stat}" for sensor in SENSORS for stat in STATISTICS]


def _failure_days(rng: Any, n_days: int, mean_gap: float) -> list[int]:
    """Days on which one machine fails: gamma-distributed gaps, a repair after each failure."""
    days: list[int] = []
    day = float(rng.uniform(0.0, mean_gap))  # the machine was not new when observation began
    while day < n_days:
        days.append(int(day))
        day += REPAIR_DAYS + max(float(rng.gamma(2.0, mean_gap / 2.0)), 5.0)
    return days


def _machine_signals(rng: Any, config: MaintenanceConfig, ambient: Any) -> tuple[Any, Any, Any]:
    """Daily readings (days, sensors), failure flags and repair flags for one machine."""
    np = require("numpy")
    days = config.n_days
    weekday = np.arange(days) % 7
    # Operating point: a machine type, a load level with a weekly rhythm and slow wandering.
    level = np.array([4.0, 60.0, 30.0, 6.0, 1500.0]) * rng.uniform(0.7, 1.3, size=5)
    noise = np.array([0.35, 1.2, 1.0, 0.12, 15.0]) * rng.uniform(0.8, 1.5, size=5)
    load = rng.uniform(0.5, 0.9) - 0.25 * (weekday >= 5)
    wander = np.cumsum(rng.normal(0.0, 0.02, size=days))
    load = np.clip(load + wander - wander.mean(), 0.1, 1.0)
    base = np.empty((days, len(SENSORS)))
    base[:, 0] = level[0] * (0.6 + 0.5 * load)
    base[:, 1] = level[1] + 12.0 * load + 0.3 * ambient
    base[:, 2] = level[2] * (0.4 + 0.7 * load)
    base[:, 3] = level[3] * (0.95 + 0.1 * load)
    base[:, 4] = level[4] * (0.9 + 0.1 * load)
    signal = base + rng.normal(0.0, 1.0, size=base.shape) * noise
    # Vibration sensors spike now and then (loose mount, a passing forklift).
    spikes = rng.random(days) < 0.01
    signal[spikes, 0] += rng.uniform(3.0, 8.0, size=int(spikes.sum())) * noise[0]

    failed = np.zeros(days, dtype=bool)
    repair = np.zeros(days, dtype=bool)
    names = list(FAILURE_MODES)
    probabilities = [FAILURE_MODES[n][0] for n in names]
    previous_end = 0
    for day in _failure_days(rng, days, config.mean_days_between_failures):
        failed[day] = True
        repair[day : day + REPAIR_DAYS] = True
        drift = np.array(FAILURE_MODES[names[rng.choice(len(names), p=probabilities)]][1])
        lead = int(rng.integers(LEAD_DAYS[0], LEAD_DAYS[1] + 1))
        severity = float(rng.lognormal(0.0, 0.4))
        onset = max(day - lead, previous_end)
        if day > onset:
            progress = ((np.arange(onset, day) - onset + 1) / (day - onset)) ** RAMP_POWER
            signal[onset:day] += np.outer(progress, drift * noise * severity)
        previous_end = day + REPAIR_DAYS
    return signal, failed, repair


def _window_features(windows: Any) -> Any:
    """Per-sensor statistics of windows shaped (n, sensors, days) -> (n, sensors * stats)."""
    np = require("numpy")
    days = windows.shape[-1]
    t = np.arange(days) - (days - 1) / 2.0
    slope = (windows * t).sum(axis=-1) / (t**2).sum()
    head = windows[..., :3].mean(axis=-1)
    tail = windows[..., -3:].mean(axis=-1)
    stats = np.stack(
        [
            windows[..., -1],
            windows.mean(axis=-1),
            windows.std(axis=-1),
            slope,
            tail - head,
            windows.max(axis=-1),
            windows.min(axis=-1),
        ],
        axis=-1,
    )
    return stats.reshape(len(windows), -1)


def generate(config: MaintenanceConfig | None = None) -> MaintenanceData:
    """The whole data set for ``config``; identical arrays for identical configs."""
    np = require("numpy")
    config = config or MaintenanceConfig()
    rng = np.random.Generator(np.random.PCG64(config.seed))
    days = np.arange(config.n_days)
    ambient = 12.0 + 10.0 * np.sin(2 * np.pi * (days - 100) / 365.0)
    ends = np.arange(
        config.window_days - 1, config.n_days - config.horizon_days, config.stride_days
    )

    features, labels, machines = [], [], []
    for machine in range(config.n_machines):
        signal, failed, repair = _machine_signals(rng, config, ambient)
        # Days until the next failure, seen from the end of each window.
        next_failure = np.full(config.n_days + 1, np.iinfo(np.int64).max // 2, dtype=np.int64)
        for day in range(config.n_days - 1, -1, -1):
            next_failure[day] = day if failed[day] else next_failure[day + 1]
        starts = ends - config.window_days + 1
        repair_sum = np.r_[0, np.cumsum(repair)]
        clean = (repair_sum[ends + 1] - repair_sum[starts]) == 0
        keep = ends[clean]
        windows = np.stack([signal[e - config.window_days + 1 : e + 1].T for e in keep])
        features.append(_window_features(windows))
        labels.append((next_failure[keep + 1] - keep) <= config.horizon_days)
        machines.append(np.full(len(keep), machine))

    machine = np.concatenate(machines)
    order = rng.permutation(config.n_machines)
    n_train = round(config.split[0] * config.n_machines)
    n_valid = round(config.split[1] * config.n_machines)
    groups = {
        "train": order[:n_train],
        "valid": order[n_train : n_train + n_valid],
        "test": order[n_train + n_valid :],
    }
    return MaintenanceData(
        x=np.concatenate(features).astype(np.float32),
        y=np.concatenate(labels).astype(np.float32),
        machine=machine,
        feature_names=feature_names(),
        splits={name: np.isin(machine, ids) for name, ids in groups.items()},
    )
