"""Polarity, recombination, leakage, the corrected reading and dose to water.

Formulas and sources (AAPM TG-51, Almond et al., Med Phys 26:1847 (1999), with its 2014 addendum,
McEwen et al., Med Phys 41:041501; IAEA TRS-398 (2000; Rev. 1 2024); worked examples from pylinac's
TG-51 and TRS-398 tests):

- Polarity: P_pol = (|M_ref| + |M_opp|) / (2 |M_ref|), M_ref read at the reference polarity. For readings of
  opposite sign this is TG-51's |(M⁺ − M⁻) / (2M)| and TRS-398's k_pol; taking magnitudes means an operator
  who types M_opp without its sign gets the same answer (pylinac does the same).
- Recombination, TG-51 two-voltage: pulsed P_ion = (1 − V_H/V_L) / (M_H/M_L − V_H/V_L); continuous
  P_ion = (1 − (V_H/V_L)²) / (M_H/M_L − (V_H/V_L)²).
- Recombination, TRS-398: pulsed k_s = a₀ + a₁(M₁/M₂) + a₂(M₁/M₂)² with the coefficients tabulated by V₁/V₂;
  continuous k_s = ((V₁/V₂)² − 1) / ((V₁/V₂)² − M₁/M₂).
- Leakage: I_leak = ΔQ/Δt with the beam off; the leakage charge during a reading is I_leak · t and its share
  of the signal is 100 · I_leak · t / Q.
- Corrected reading: M = M_raw · P_TP · P_ion · P_pol · P_elec; dose D_w = M · N_D,w · k_Q.

Sanity bounds are pylinac's (P_ion 1.00–1.05, P_TP 0.92–1.08, P_pol and P_elec 0.98–1.02): a factor outside
them is a wrong input or a chamber that must not be used, not a correction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Literal

from dosimetry.conditions import (
    ChamberCalibration,
    DosimetryResult,
    ElectrometerCalibration,
    KtpResult,
    ReferenceConditions,
    require_same_reference,
)
from dosimetry.errors import DosimetryError, OutOfSanityBound, ReferenceConditionMismatch, UnsupportedInput

Readings = float | Sequence[float]
BeamTimeStructure = Literal["pulsed", "pulsed-scanned", "continuous"]

P_ION_BOUNDS = (1.0, 1.05)
P_TP_BOUNDS = (0.92, 1.08)
P_POL_BOUNDS = (0.98, 1.02)
P_ELEC_BOUNDS = (0.98, 1.02)
#: Rounding slack on bound checks, so that exactly 1 computed as 0.9999999999999996 still passes.
_BOUND_SLACK = 1e-9

#: TRS-398 two-voltage k_s coefficients (a₀, a₁, a₂) for pulsed beams, keyed by V₁/V₂. Verified in two
#: independent code reproductions of IAEA TRS-398 (2000); NCS-18 tabulates the same fit.
TRS398_KS_PULSED: Mapping[float, tuple[float, float, float]] = MappingProxyType(
    {
        2.0: (2.337, -3.636, 2.299),
        2.5: (1.474, -1.587, 1.114),
        3.0: (1.198, -0.875, 0.677),
        3.5: (1.080, -0.542, 0.463),
        4.0: (1.022, -0.363, 0.341),
        5.0: (0.975, -0.188, 0.214),
    }
)


def mean_reading(readings: Readings, what: str) -> tuple[float, int]:
    """The mean of one reading or several, refusing an empty list and non-finite values."""
    values = [float(readings)] if isinstance(readings, int | float) else [float(v) for v in readings]
    if not values:
        raise DosimetryError(f"{what}: no readings given")
    if not all(math.isfinite(v) for v in values):
        raise DosimetryError(f"{what}: readings must be finite, got {values!r}")
    return math.fsum(values) / len(values), len(values)


def check_bounds(value: float, bounds: tuple[float, float] | None, what: str, advice: str) -> float:
    if bounds is None:
        return value
    low, high = bounds
    if not (low - _BOUND_SLACK <= value <= high + _BOUND_SLACK):
        raise OutOfSanityBound(f"{what} = {value:.5f} is outside {low:g}–{high:g}; {advice}")
    return value


# -- polarity ------------------------------------------------------------------------------------------
class PolarityResult(DosimetryResult):
    factor: float
    protocol: Literal["TG-51 P_pol", "TRS-398 k_pol"]
    m_reference: float
    m_opposite: float
    n_reference: int
    n_opposite: int


def _polarity(
    m_reference: Readings,
    m_opposite: Readings,
    bounds: tuple[float, float] | None,
    protocol: Literal["TG-51 P_pol", "TRS-398 k_pol"],
) -> PolarityResult:
    ref, n_ref = mean_reading(m_reference, "reading at the reference polarity")
    opp, n_opp = mean_reading(m_opposite, "reading at the opposite polarity")
    if ref == 0:
        raise DosimetryError("the mean reading at the reference polarity is zero")
    factor = (abs(ref) + abs(opp)) / (2 * abs(ref))
    check_bounds(factor, bounds, protocol, "check the readings, or the chamber is not fit for reference use")
    return PolarityResult(
        factor=factor, protocol=protocol, m_reference=ref, m_opposite=opp, n_reference=n_ref, n_opposite=n_opp
    )


def p_pol(
    m_reference: Readings, m_opposite: Readings, *, bounds: tuple[float, float] | None = P_POL_BOUNDS
) -> PolarityResult:
    """TG-51 polarity correction; the sign of ``m_opposite`` does not matter."""
    return _polarity(m_reference, m_opposite, bounds, "TG-51 P_pol")


def k_pol(
    m_reference: Readings, m_opposite: Readings, *, bounds: tuple[float, float] | None = P_POL_BOUNDS
) -> PolarityResult:
    """TRS-398 polarity correction (|M₊| + |M₋|) / 2M; numerically the same as ``p_pol``."""
    return _polarity(m_reference, m_opposite, bounds, "TRS-398 k_pol")


# -- recombination -------------------------------------------------------------------------------------
class RecombinationResult(DosimetryResult):
    factor: float
    protocol: Literal["TG-51 P_ion", "TRS-398 k_s"]
    beam: BeamTimeStructure
    voltage_high_v: float
    voltage_low_v: float
    m_high: float
    m_low: float
    voltage_ratio: float
    charge_ratio: float
    coefficients: tuple[float, float, float] | None = None


def _voltages(high_v: float, low_v: float) -> float:
    if not (math.isfinite(high_v) and math.isfinite(low_v)) or high_v == 0 or low_v == 0:
        raise DosimetryError(f"voltages must be finite and non-zero, got {high_v!r} V and {low_v!r} V")
    if (high_v > 0) != (low_v > 0):
        raise DosimetryError(
            f"the two voltages {high_v:g} V and {low_v:g} V differ in polarity; recombination is measured "
            "at one polarity"
        )
    ratio = abs(high_v) / abs(low_v)
    if ratio <= 1:
        raise DosimetryError(f"the normal voltage {high_v:g} V must exceed the reduced voltage {low_v:g} V")
    return ratio


def _charge_ratio(m_high: Readings, m_low: Readings) -> tuple[float, float, float]:
    high, _ = mean_reading(m_high, "reading at the normal voltage")
    low, _ = mean_reading(m_low, "reading at the reduced voltage")
    if low == 0 or (high > 0) != (low > 0):
        raise DosimetryError(f"readings {high:g} and {low:g} must be non-zero and of the same sign")
    return high, low, high / low


def p_ion_tg51(
    *,
    voltage_high_v: float,
    voltage_low_v: float,
    m_high: Readings,
    m_low: Readings,
    beam: Literal["pulsed", "continuous"],
    bounds: tuple[float, float] | None = P_ION_BOUNDS,
) -> RecombinationResult:
    """TG-51 two-voltage P_ion at ``voltage_high_v`` (the measurement voltage)."""
    ratio = _voltages(voltage_high_v, voltage_low_v)
    high, low, charges = _charge_ratio(m_high, m_low)
    if beam == "pulsed":
        factor = (1 - ratio) / (charges - ratio)
    elif beam == "continuous":
        factor = (1 - ratio**2) / (charges - ratio**2)
    else:
        raise UnsupportedInput(f"TG-51 P_ion has pulsed and continuous forms; got beam {beam!r}")
    check_bounds(factor, bounds, "TG-51 P_ion", "check the readings; above 1.05 use another chamber")
    return RecombinationResult(
        factor=factor,
        protocol="TG-51 P_ion",
        beam=beam,
        voltage_high_v=voltage_high_v,
        voltage_low_v=voltage_low_v,
        m_high=high,
        m_low=low,
        voltage_ratio=ratio,
        charge_ratio=charges,
    )


def k_s_trs398(
    *,
    voltage_1_v: float,
    voltage_2_v: float,
    m_1: Readings,
    m_2: Readings,
    beam: BeamTimeStructure,
    coefficients: Mapping[float, tuple[float, float, float]] | None = None,
    bounds: tuple[float, float] | None = P_ION_BOUNDS,
) -> RecombinationResult:
    """TRS-398 two-voltage k_s at ``voltage_1_v`` (the normal voltage; V₂ the reduced one).

    ``pulsed`` uses :data:`TRS398_KS_PULSED` unless ``coefficients`` are given. ``pulsed-scanned`` needs
    ``coefficients`` from the report itself: our verified sources tabulate only the pulsed fit, and we do
    not guess the scanned one. A V₁/V₂ not in the table is refused rather than interpolated.
    """
    ratio = _voltages(voltage_1_v, voltage_2_v)
    high, low, charges = _charge_ratio(m_1, m_2)
    used: tuple[float, float, float] | None = None
    if beam == "continuous":
        factor = (ratio**2 - 1) / (ratio**2 - charges)
    elif beam in ("pulsed", "pulsed-scanned"):
        if coefficients is None and beam == "pulsed-scanned":
            raise UnsupportedInput(
                "k_s for pulsed-scanned beams needs the coefficients of the TRS-398 table for scanned beams "
                "(pass coefficients=); only the pulsed-beam table is verified in our sources"
            )
        table = TRS398_KS_PULSED if coefficients is None else coefficients
        key = next((k for k in table if abs(k - ratio) <= 1e-6 * k), None)
        if key is None:
            raise UnsupportedInput(
                f"V₁/V₂ = {ratio:g} is not in the k_s table (ratios {', '.join(f'{k:g}' for k in table)}); "
                "choose voltages with a tabulated ratio"
            )
        used = table[key]
        a0, a1, a2 = used
        factor = a0 + a1 * charges + a2 * charges**2
    else:
        raise UnsupportedInput(f"beam must be pulsed, pulsed-scanned or continuous; got {beam!r}")
    check_bounds(factor, bounds, "TRS-398 k_s", "check the readings; above 1.05 use another chamber")
    return RecombinationResult(
        factor=factor,
        protocol="TRS-398 k_s",
        beam=beam,
        voltage_high_v=voltage_1_v,
        voltage_low_v=voltage_2_v,
        m_high=high,
        m_low=low,
        voltage_ratio=ratio,
        charge_ratio=charges,
        coefficients=used,
    )


# -- leakage -------------------------------------------------------------------------------------------
def leakage_current_a(charge_start_c: float, charge_end_c: float, elapsed_s: float) -> float:
    """Leakage (dark) current from two charge readings with the beam off: ΔQ / Δt."""
    if not (elapsed_s > 0 and math.isfinite(elapsed_s)):
        raise DosimetryError(f"elapsed time must be positive, got {elapsed_s!r} s")
    return (charge_end_c - charge_start_c) / elapsed_s


class LeakageResult(DosimetryResult):
    leakage_current_a: float
    integration_time_s: float
    leakage_charge_c: float
    reading_c: float
    corrected_c: float
    fraction_percent: float


def leakage_correction(
    reading_c: float, *, leakage_current_a: float, integration_time_s: float
) -> LeakageResult:
    """Subtract the charge the leakage current adds during a reading, and report its share of the signal.

    Signs are kept: a leakage current of the signal's sign inflates the reading and is subtracted.
    """
    if not (integration_time_s >= 0 and math.isfinite(integration_time_s)):
        raise DosimetryError(f"integration time must be non-negative, got {integration_time_s!r} s")
    if reading_c == 0 or not math.isfinite(reading_c):
        raise DosimetryError(f"the reading must be finite and non-zero, got {reading_c!r} C")
    leak = leakage_current_a * integration_time_s
    return LeakageResult(
        leakage_current_a=leakage_current_a,
        integration_time_s=integration_time_s,
        leakage_charge_c=leak,
        reading_c=reading_c,
        corrected_c=reading_c - leak,
        fraction_percent=100.0 * abs(leak) / abs(reading_c),
    )


# -- corrected reading and dose ------------------------------------------------------------------------
ChargeUnit = Literal["C", "nC", "pC"]
_COULOMB_PER_UNIT: Mapping[str, float] = MappingProxyType({"C": 1.0, "nC": 1e-9, "pC": 1e-12})


class CorrectedReading(DosimetryResult):
    m_raw: float
    n_readings: int
    unit: ChargeUnit
    k_tp: float
    p_pol: float
    p_ion: float
    p_elec: float
    m_corrected: float
    reference: ReferenceConditions | None = None

    @property
    def m_corrected_c(self) -> float:
        return self.m_corrected * _COULOMB_PER_UNIT[self.unit]


_Factor = float | KtpResult | PolarityResult | RecombinationResult | ElectrometerCalibration


def _factor(value: _Factor) -> float:
    if isinstance(value, KtpResult):
        return value.k_tp
    if isinstance(value, PolarityResult | RecombinationResult):
        return value.factor
    if isinstance(value, ElectrometerCalibration):
        return value.k_elec
    return float(value)


def corrected_reading(
    readings: Readings,
    *,
    k_tp: float | KtpResult,
    p_pol: float | PolarityResult,
    p_ion: float | RecombinationResult,
    p_elec: float | ElectrometerCalibration = 1.0,
    unit: ChargeUnit = "C",
) -> CorrectedReading:
    """M = mean(readings) · k_TP · P_pol · P_ion · P_elec, in ``unit``.

    Pass ``k_tp`` as a :class:`KtpResult` when the reading will become a dose: the result then carries the
    reference conditions, which ``dose_to_water`` checks against the chamber certificate.
    """
    raw, count = mean_reading(readings, "reading")
    factors = {
        "k_TP": (_factor(k_tp), P_TP_BOUNDS),
        "P_pol": (_factor(p_pol), P_POL_BOUNDS),
        "P_ion": (_factor(p_ion), P_ION_BOUNDS),
        "P_elec": (_factor(p_elec), P_ELEC_BOUNDS),
    }
    for name, (value, bounds) in factors.items():
        check_bounds(value, bounds, name, "it cannot be a correction factor; check how it was obtained")
    product = math.prod(value for value, _ in factors.values())
    return CorrectedReading(
        m_raw=raw,
        n_readings=count,
        unit=unit,
        k_tp=factors["k_TP"][0],
        p_pol=factors["P_pol"][0],
        p_ion=factors["P_ion"][0],
        p_elec=factors["P_elec"][0],
        m_corrected=raw * product,
        reference=k_tp.reference if isinstance(k_tp, KtpResult) else None,
    )


class DoseResult(DosimetryResult):
    dose_gy: float
    m_corrected_c: float
    n_dw_gy_per_c: float
    k_q: float
    chamber: str
    reference: ReferenceConditions


def dose_to_water(
    reading: CorrectedReading, calibration: ChamberCalibration, *, k_q: float = 1.0
) -> DoseResult:
    """D_w = |M| · N_D,w · k_Q in Gy (the sign of M is only the collecting polarity).

    Refuses a reading whose k_TP was given as a bare number (its reference cannot be checked) or was
    normalised to a reference other than the certificate's.
    """
    if reading.reference is None:
        raise ReferenceConditionMismatch(
            "the corrected reading has no reference conditions (k_TP was passed as a number); pass the "
            "KtpResult so the reference can be checked against the chamber certificate"
        )
    require_same_reference(reading.reference, calibration, what="the corrected reading's k_TP")
    if not (k_q > 0 and math.isfinite(k_q)):
        raise DosimetryError(f"k_Q must be positive and finite, got {k_q!r}")
    m_c = abs(reading.m_corrected_c)
    return DoseResult(
        dose_gy=m_c * calibration.n_dw_gy_per_c * k_q,
        m_corrected_c=m_c,
        n_dw_gy_per_c=calibration.n_dw_gy_per_c,
        k_q=k_q,
        chamber=calibration.chamber,
        reference=reading.reference,
    )
