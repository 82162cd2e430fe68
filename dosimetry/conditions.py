"""Reference conditions, calibration certificates and the temperature–pressure correction k_TP.

k_TP = ((273.2 + T) / (273.2 + T₀)) · (P₀ / P), T in °C, P in kPa (TG-51 eq. 10 as P_TP; TRS-398 as k_TP;
AAPM TG-51, Almond et al., Med Phys 26:1847 (1999); IAEA TRS-398). TG-51 fixes T₀ = 22 °C, P₀ = 101.33 kPa;
TRS-398 uses P₀ = 101.325 kPa with T₀ = 20 °C, or 22 °C where the standards laboratory calibrates at 22 °C.
The reference must be the one on the chamber's calibration certificate: using 20 °C for a chamber calibrated
at 22 °C is a 0.68 % dose error. ``k_tp`` therefore refuses a reference that differs from the certificate it
is given.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from dosimetry.errors import DosimetryError, ReferenceConditionMismatch
from dosimetry.units import PRESSURE_BAND_KPA, TEMPERATURE_BAND_C, check_pressure_kpa, check_temperature_c

#: Temperatures closer than this are the same reference (°C).
SAME_TEMPERATURE_C = 0.01
#: Pressures closer than this are the same reference (kPa): TG-51's 101.33 is 101.325 rounded.
SAME_PRESSURE_KPA = 0.01


class DosimetryResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReferenceConditions(DosimetryResult):
    """The air temperature and pressure to which a chamber reading is normalised."""

    temperature_c: float
    pressure_kpa: float = Field(gt=0)
    label: str = ""

    def matches(self, other: ReferenceConditions) -> bool:
        """Same reference within 0.01 °C and 0.01 kPa (101.33 and 101.325 kPa are one atmosphere)."""
        return (
            abs(self.temperature_c - other.temperature_c) <= SAME_TEMPERATURE_C
            and abs(self.pressure_kpa - other.pressure_kpa) <= SAME_PRESSURE_KPA
        )

    def describe(self) -> str:
        name = f"{self.label} " if self.label else ""
        return f"{name}({self.temperature_c:g} °C, {self.pressure_kpa:g} kPa)"


TG51_REFERENCE = ReferenceConditions(temperature_c=22.0, pressure_kpa=101.33, label="TG-51")
TRS398_REFERENCE = ReferenceConditions(temperature_c=20.0, pressure_kpa=101.325, label="TRS-398")
TRS398_REFERENCE_22C = ReferenceConditions(
    temperature_c=22.0, pressure_kpa=101.325, label="TRS-398 (22 °C standards laboratory)"
)


class ChamberCalibration(DosimetryResult):
    """What a chamber's calibration certificate states: N_D,w and the reference conditions it applies to."""

    chamber: str = Field(description="model and serial number, e.g. 'PTW 30013 #1234'")
    n_dw_gy_per_c: float = Field(gt=0, description="absorbed-dose-to-water calibration coefficient, Gy/C")
    reference: ReferenceConditions
    beam_quality: str = Field(default="Co-60", description="calibration beam quality Q₀")
    certificate: str = Field(default="", description="certificate number, laboratory and date")


class ElectrometerCalibration(DosimetryResult):
    """Electrometer calibration factor (TG-51 P_elec, TRS-398 k_elec); 1 if calibrated with the chamber."""

    electrometer: str
    k_elec: float = Field(gt=0)
    certificate: str = ""


def n_dw_from_cgy_per_nc(cgy_per_nc: float) -> float:
    """N_D,w in Gy/C from the cGy/nC that TG-51 worksheets use (1 cGy/nC = 1e7 Gy/C)."""
    return cgy_per_nc * 1e7


def n_dw_from_gy_per_nc(gy_per_nc: float) -> float:
    """N_D,w in Gy/C from Gy/nC (1 Gy/nC = 1e9 Gy/C)."""
    return gy_per_nc * 1e9


def require_same_reference(
    used: ReferenceConditions, calibration: ChamberCalibration, what: str = "k_TP"
) -> None:
    """Refuse when ``used`` is not the reference on the chamber's certificate."""
    if not used.matches(calibration.reference):
        raise ReferenceConditionMismatch(
            f"{what} uses reference {used.describe()} but the calibration of {calibration.chamber} "
            f"({calibration.certificate or 'certificate'}) is for {calibration.reference.describe()}; "
            f"normalise to the certificate's reference (20 °C vs 22 °C alone is a 0.68 % error)"
        )


class KtpResult(DosimetryResult):
    k_tp: float
    temperature_c: float
    pressure_kpa: float
    reference: ReferenceConditions


def k_tp(
    temperature_c: float,
    pressure_kpa: float,
    *,
    reference: ReferenceConditions,
    calibration: ChamberCalibration | None = None,
    temperature_band_c: tuple[float, float] = TEMPERATURE_BAND_C,
    pressure_band_kpa: tuple[float, float] = PRESSURE_BAND_KPA,
) -> KtpResult:
    """Temperature–pressure correction to ``reference``; T in °C, P in kPa.

    Refuses T or P outside their plausible bands (naming the likely unit mix-up) and, when ``calibration``
    is given, a ``reference`` that differs from the certificate's.
    """
    check_temperature_c(temperature_c, band=temperature_band_c)
    check_pressure_kpa(pressure_kpa, band=pressure_band_kpa)
    if calibration is not None:
        require_same_reference(reference, calibration)
    denominator = 273.2 + reference.temperature_c
    if denominator <= 0 or not math.isfinite(denominator):
        raise DosimetryError(f"reference temperature {reference.temperature_c!r} °C is not usable")
    value = ((273.2 + temperature_c) / denominator) * (reference.pressure_kpa / pressure_kpa)
    return KtpResult(k_tp=value, temperature_c=temperature_c, pressure_kpa=pressure_kpa, reference=reference)
