"""Blind test of the air-density (k_TP) stability sequence.

Injected per rig: linear drifts of the room's air temperature (up to ±1 °C/h) and pressure (up to ±3 hPa/h),
so the change of k_TP over the default 30 min spans its 0.1 % limit; the slow sinusoids of the room and the
sensor's noise are written in explicitly. The truth comes from this module's own model: T(t) and P(t) of
the room at the sequence's reading times (0, 60, …, 1800 s of the rig clock), k_TP = ((273.2 + T)/293.2)·
(101.325/P) (TRS-398 reference, P in kPa), the least-squares line through them, and its change over the
readings relative to the mean k_TP.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from validation.scenario import Injection, Scenario, TruthValue, signed_uniform
from validation.scenarios import register

INTERVAL_S = 60.0  # the sequence's defaults
DURATION_S = 1800.0
ROOM = {
    "temperature_c": 21.5,
    "pressure_hpa": 1009.0,
    "temperature_amplitude_c": 0.2,
    "temperature_period_s": 3600.0,
    "pressure_amplitude_hpa": 0.3,
    "pressure_period_s": 7200.0,
}
SENSOR = {"temperature_noise_c": 0.01, "pressure_noise_hpa": 0.02, "temperature_offset_c": 0.0}


def air(t: np.ndarray, rate_c_per_h: float, rate_hpa_per_h: float) -> tuple[np.ndarray, np.ndarray]:
    """True room temperature (°C) and pressure (hPa) at clock times ``t``."""
    temperature = (
        ROOM["temperature_c"]
        + ROOM["temperature_amplitude_c"] * np.sin(2 * math.pi * t / ROOM["temperature_period_s"])
        + rate_c_per_h * t / 3600.0
    )
    pressure = (
        ROOM["pressure_hpa"]
        + ROOM["pressure_amplitude_hpa"] * np.sin(2 * math.pi * t / ROOM["pressure_period_s"] + 1.0)
        + rate_hpa_per_h * t / 3600.0
    )
    return temperature, pressure


class AirDensityScenario(Scenario):
    sequence: ClassVar[str] = "air-density-stability"

    def draw(self, rng: Any) -> Injection:
        return {
            "temperature_rate_c_per_h": signed_uniform(rng, 1.0),
            "pressure_rate_hpa_per_h": signed_uniform(rng, 3.0),
        }

    def apply(self, raw_rig: dict[str, Any], injection: Injection) -> None:
        simulation = raw_rig["simulation"]
        simulation["environments"]["room"].update(
            ROOM,
            temperature_rate_c_per_h=injection["temperature_rate_c_per_h"],
            pressure_rate_hpa_per_h=injection["pressure_rate_hpa_per_h"],
        )
        simulation["environment_sensors"]["room_sensor"].update(SENSOR)

    def truth(self, injection: Injection) -> dict[str, TruthValue]:
        t = np.arange(0.0, DURATION_S + 1e-9, INTERVAL_S)
        temperature, pressure = air(
            t, injection["temperature_rate_c_per_h"], injection["pressure_rate_hpa_per_h"]
        )
        ktp = (273.2 + temperature) / 293.2 * 101.325 / (pressure / 10.0)
        slope = float(np.polyfit(t, ktp, 1)[0])
        mean = float(ktp.mean())
        t_slope = float(np.polyfit(t, temperature, 1)[0])
        p_slope = float(np.polyfit(t, pressure / 10.0, 1)[0])
        return {
            "k_TP_drift": TruthValue(value=100.0 * abs(slope) * (t[-1] - t[0]) / mean),
            "k_TP_drift_rate": TruthValue(value=100.0 * slope * 3600.0 / mean, verdict=False),
            "temperature_drift_rate": TruthValue(value=t_slope * 3600.0, verdict=False),
            "pressure_drift_rate": TruthValue(value=p_slope * 3600.0, verdict=False),
        }


register(AirDensityScenario())
