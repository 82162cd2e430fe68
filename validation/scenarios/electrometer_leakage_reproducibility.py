"""Blind test of D1 + D3 (electrometer leakage and reproducibility), once per electrometer.

Injected per rig: the chamber's dark current (0 to about twice the current that makes the leakage limit),
the reading noise (a relative part that spans CoV 0 to twice its limit, and an absolute charge part).
Everything else the truth depends on (sensitivity, recombination, polarity, room air and its drift, the
chamber's bias history) is written into the rig explicitly, so the truth below is computed only from
numbers this module put there, by its own model:

* dark current = the injected leakage (its sign follows the bias); a window's mean also carries the
  chamber's bias-change transient c·ΔV·e^(−t/τ) if the bias was changed;
* beam charge per reading Q_i = S·ρ(t_i)/ρ_ref·Ḋ·t_beam·f·π, with Boag's pulsed-beam collection
  efficiency f = ln(1+u)/u, u = α·Ḋ/(PRF·|V|), and the air density of the room at the reading's time;
* CoV = √(E[s²])/Q̄ with E[s²] = mean σ_i² + the variance of the air-density trend over the readings,
  σ_i² = σ_q² + (ρ_rel·Q_i)² (the electrometer's reading noise);
* leakage % = 100·I·(t_beam + 1 s)/Q̄;
* k_TP = (273.2 + T̄)/(273.2 + 20)·101.325/P̄ over the readings (TRS-398 reference air).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from validation.scenario import Injection, Scenario, TruthValue, magnitude_uniform
from validation.scenarios import register

DOSE_RATE_GY_S = 2.0 / 60.0  # the sequence's default dose rate
BEAM_S = 30.0  # the sequence's default beam_time_s: the instrument-timed integration per reading
SIGNAL_S = BEAM_S  # one reading's integration, timed by the electrometer inside the beam-on interval
BEAM_SETTLE_S = 5.0  # the sequence's default beam_settle_s: beam on, then this wait before integrating
READING_PERIOD_S = BEAM_SETTLE_S + BEAM_S  # one reading cycle on the rig clock
READINGS = 20  # the sequence's default
SETTLE_S = 600.0
LEAKAGE_S = 120.0
BIAS_V = 300.0
LEAKAGE_LIMIT_PCT = 0.1
COV_LIMIT_PCT = 0.5

#: Chamber and beam constants written into every rig (the truth model uses exactly these).
CHAMBER = {
    "k_pol": 1.0,
    "reference_polarity": 1,
    "pulsed_recombination_v_per_gy": 1.1e4,
    "reference_temperature_c": 20.0,
    "reference_pressure_hpa": 1013.25,
    "bias_transient_a_per_v": 2.0e-16,
    "settling_time_constant_s": 120.0,
    "settling_amplitude": 0.005,
}
PULSE_HZ = 360.0
UNIDOS_ZERO_S = 82.0
ROOM = {
    "temperature_c": 21.5,
    "pressure_hpa": 1009.0,
    "temperature_amplitude_c": 0.2,
    "temperature_period_s": 3600.0,
    "temperature_rate_c_per_h": 0.0,
    "pressure_amplitude_hpa": 0.3,
    "pressure_period_s": 7200.0,
    "pressure_rate_hpa_per_h": 0.0,
}


def room_air(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True room temperature (°C) and pressure (hPa): a constant plus the documented slow sinusoids."""
    r = ROOM
    temperature = r["temperature_c"] + r["temperature_amplitude_c"] * np.sin(
        2 * math.pi * t / r["temperature_period_s"]
    )
    pressure = r["pressure_hpa"] + r["pressure_amplitude_hpa"] * np.sin(
        2 * math.pi * t / r["pressure_period_s"] + 1.0
    )
    return temperature, pressure


def beam_charges(sensitivity: float, times: np.ndarray) -> np.ndarray:
    """Collected beam charge of each reading (C) at reading times ``times`` (beam midpoints)."""
    temperature, pressure = room_air(times)
    density = (pressure / CHAMBER["reference_pressure_hpa"]) * (
        (CHAMBER["reference_temperature_c"] + 273.15) / (temperature + 273.15)
    )
    u = CHAMBER["pulsed_recombination_v_per_gy"] * DOSE_RATE_GY_S / PULSE_HZ / BIAS_V
    efficiency = math.log1p(u) / u
    polarity = 1.0 / CHAMBER["k_pol"]
    return sensitivity * density * DOSE_RATE_GY_S * BEAM_S * efficiency * polarity


class LeakageReproducibilityScenario(Scenario):
    sequence: ClassVar[str] = "electrometer-leakage-reproducibility"
    #: rig device, simulated chamber, range, zero duration (s) of this electrometer
    device: ClassVar[str]
    chamber: ClassVar[str]
    range_name: ClassVar[str]
    zero_s: ClassVar[float]

    # ------------------------------------------------------------------------------------------ rig
    def _chamber(self) -> dict[str, Any]:
        return dict(self.base_rig()["simulation"]["electrometers"][self.chamber])

    def _sensitivity(self) -> float:
        return float(self._chamber().get("sensitivity_c_per_gy", 2.0e-8))

    def _initial_bias(self) -> float:
        return float(self._chamber().get("initial_bias_v", 0.0))

    def _reading_times(self) -> np.ndarray:
        """Integration midpoints: after settle, zero and the first leakage window, one reading per cycle
        (beam on, ``BEAM_SETTLE_S``, then the timed integration of ``BEAM_S``)."""
        first_on = 0.1 + SETTLE_S + self.zero_s + LEAKAGE_S
        return first_on + BEAM_SETTLE_S + BEAM_S / 2 + READING_PERIOD_S * np.arange(READINGS)

    def _leakage_limit_a(self) -> float:
        q = float(np.mean(beam_charges(self._sensitivity(), self._reading_times())))
        return LEAKAGE_LIMIT_PCT / 100.0 * q / SIGNAL_S

    # ------------------------------------------------------------------------------------------ scenario
    def draw(self, rng: np.random.Generator) -> Injection:
        return {
            "leakage_current_a": magnitude_uniform(rng, 2.0 * self._leakage_limit_a()),
            "relative_noise": magnitude_uniform(rng, 2.0 * COV_LIMIT_PCT / 100.0),
            "charge_noise_c": magnitude_uniform(rng, 2.0e-14),
        }

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        simulation = raw_rig["simulation"]
        chamber = simulation["electrometers"][self.chamber]
        chamber.update(CHAMBER)
        chamber.update(
            leakage_current_a=injection["leakage_current_a"],
            relative_noise=injection["relative_noise"],
            charge_noise_c=injection["charge_noise_c"],
            source="beam",
            chamber_position_mm=chamber.get("chamber_position_mm", [0.0, 0.0, 0.0]),
        )
        radiation = simulation.setdefault("radiation", {})
        radiation.update(beam_type="pulsed", pulse_repetition_hz=PULSE_HZ, field="uniform")
        simulation["environments"][chamber["environment"]].update(ROOM)
        for unidos in simulation.get("unidos", {}).values():
            unidos["zero_duration_s"] = UNIDOS_ZERO_S

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        leak = injection["leakage_current_a"]  # positive bias: positive dark current
        times = self._reading_times()
        q_beam = beam_charges(self._sensitivity(), times)
        q_mean = float(np.mean(q_beam))
        readings = q_beam + leak * SIGNAL_S
        noise_var = injection["charge_noise_c"] ** 2 + (injection["relative_noise"] * readings) ** 2
        trend_var = float(np.var(q_beam, ddof=1))
        cov = 100.0 * math.sqrt(float(np.mean(noise_var)) + trend_var) / q_mean
        temperature, pressure = room_air(times)
        k_tp = (273.2 + float(np.mean(temperature))) / 293.2 * 101.325 / (float(np.mean(pressure)) / 10.0)
        before, after = self._window_transients()
        return {
            "leakage": TruthValue(value=100.0 * leak * SIGNAL_S / q_mean),
            "CoV": TruthValue(value=cov),
            "leakage_current": TruthValue(value=leak * 1e15, verdict=False),
            "leakage_current_before": TruthValue(value=(leak + before) * 1e15, verdict=False),
            "leakage_current_after": TruthValue(value=(leak + after) * 1e15, verdict=False),
            "mean_charge": TruthValue(value=q_mean * 1e9, verdict=False),
            "k_TP": TruthValue(value=k_tp, verdict=False),
            "mean_charge_k_TP_corrected": TruthValue(value=q_mean * k_tp * 1e9, verdict=False),
        }

    def _window_transients(self) -> tuple[float, float]:
        """Mean bias-change transient current (A) in the before and after windows (bias set at t ≈ 0)."""
        step = BIAS_V - self._initial_bias()
        tau = CHAMBER["settling_time_constant_s"]
        amplitude = CHAMBER["bias_transient_a_per_v"] * step
        start_before = 0.1 + SETTLE_S + self.zero_s
        start_after = start_before + LEAKAGE_S + READINGS * READING_PERIOD_S

        def mean(t0: float) -> float:
            return amplitude * tau / LEAKAGE_S * (math.exp(-t0 / tau) - math.exp(-(t0 + LEAKAGE_S) / tau))

        return mean(start_before), mean(start_after)


class UnidosScenario(LeakageReproducibilityScenario):
    name: ClassVar[str] = "electrometer-leakage-reproducibility-unidos"
    device: ClassVar[str] = "electrometer_unidos"
    chamber: ClassVar[str] = "chamber_a"
    range_name: ClassVar[str] = "MEDIUM"
    zero_s: ClassVar[float] = UNIDOS_ZERO_S  # the UNIDOS zero takes its fixed time
    params: ClassVar[Mapping[str, Any]] = {
        "dosimeter": "electrometer_unidos",
        "range": "MEDIUM",
        "environment": "room_sensor",
    }


class Keithley6517bScenario(LeakageReproducibilityScenario):
    name: ClassVar[str] = "electrometer-leakage-reproducibility-6517b"
    device: ClassVar[str] = "electrometer_6517b"
    chamber: ClassVar[str] = "chamber_b"
    range_name: ClassVar[str] = "auto"
    zero_s: ClassVar[float] = 0.0  # zero check + zero correct acquire at once
    params: ClassVar[Mapping[str, Any]] = {
        "dosimeter": "electrometer_6517b",
        "range": "auto",
        "environment": "room_sensor",
    }


register(UnidosScenario())
register(Keithley6517bScenario())
