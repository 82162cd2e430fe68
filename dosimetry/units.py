"""Unit conversions and the plausibility guards that catch unit mix-ups in T and P.

Every conversion is a named function, so a call site says which unit it started from. The guards refuse a
temperature outside a plausible °C band or a pressure outside a plausible kPa band, and the message names
each unit that would put the number inside the band (°F, K; hPa/mbar, mmHg, psi, inHg, Pa, bar/atm).

Default bands are those pylinac applies to TG-51 input (15–35 °C, 90–115 kPa; pylinac's
``pylinac/calibration/tg51.py``). A site at altitude, where the station pressure is routinely below 90 kPa,
passes its own ``pressure_band_kpa``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from dosimetry.errors import ImplausibleUnitError

#: Plausible band for the air in a chamber in water (°C).
TEMPERATURE_BAND_C: tuple[float, float] = (15.0, 35.0)
#: Plausible band for the station pressure (kPa).
PRESSURE_BAND_KPA: tuple[float, float] = (90.0, 115.0)

#: The conventional millimetre of mercury, exactly 133.322387415 Pa.
KPA_PER_MMHG = 0.133322387415
#: The pound-force per square inch, 6.894757293168 kPa.
KPA_PER_PSI = 6.894757293168
#: The conventional inch of mercury (25.4 mmHg), 3.386388640341 kPa.
KPA_PER_INHG = 3.386388640341


def hpa_to_kpa(hpa: float) -> float:
    """Hectopascal (= millibar) to kilopascal: divide by 10. Barometers and weather stations report hPa."""
    return hpa / 10.0


def mbar_to_kpa(mbar: float) -> float:
    """Millibar to kilopascal (1 mbar = 1 hPa = 0.1 kPa)."""
    return mbar / 10.0


def mmhg_to_kpa(mmhg: float) -> float:
    """Conventional mmHg (≈ Torr) to kilopascal: × 0.133322387415."""
    return mmhg * KPA_PER_MMHG


def psi_to_kpa(psi: float) -> float:
    return psi * KPA_PER_PSI


def inhg_to_kpa(inhg: float) -> float:
    return inhg * KPA_PER_INHG


def pa_to_kpa(pa: float) -> float:
    return pa / 1000.0


def fahrenheit_to_celsius(fahrenheit: float) -> float:
    return (fahrenheit - 32.0) * 5.0 / 9.0


def kelvin_to_celsius(kelvin: float) -> float:
    return kelvin - 273.15


_TEMPERATURE_SUSPECTS: tuple[tuple[str, Callable[[float], float], str], ...] = (
    ("°F", fahrenheit_to_celsius, "fahrenheit_to_celsius"),
    ("K", kelvin_to_celsius, "kelvin_to_celsius"),
)
_PRESSURE_SUSPECTS: tuple[tuple[str, Callable[[float], float], str], ...] = (
    ("hPa (= mbar)", hpa_to_kpa, "hpa_to_kpa"),
    ("mmHg", mmhg_to_kpa, "mmhg_to_kpa"),
    ("psi", psi_to_kpa, "psi_to_kpa"),
    ("inHg", inhg_to_kpa, "inhg_to_kpa"),
    ("Pa", pa_to_kpa, "pa_to_kpa"),
    ("bar or atm", lambda v: v * 100.0, "multiply by 100 (bar) or 101.325 (atm)"),
)


def _suspects(
    value: float,
    band: tuple[float, float],
    table: tuple[tuple[str, Callable[[float], float], str], ...],
    target: str,
) -> str:
    low, high = band
    found = []
    for unit, convert, how in table:
        converted = convert(value)
        if low <= converted <= high:
            found.append(f"{value:g} {unit}, which is {converted:.2f} {target} (convert with {how})")
    return f"; it looks like {' or '.join(found)}" if found else ""


def check_temperature_c(
    temperature_c: float, *, band: tuple[float, float] = TEMPERATURE_BAND_C, what: str = "temperature"
) -> float:
    """Return ``temperature_c`` if it is a plausible chamber temperature in °C; otherwise refuse.

    The message names °F or K when the number is plausible in that unit.
    """
    low, high = band
    if not math.isfinite(temperature_c):
        raise ImplausibleUnitError(f"{what} {temperature_c!r} is not a finite number")
    if low <= temperature_c <= high:
        return temperature_c
    hint = _suspects(temperature_c, band, _TEMPERATURE_SUSPECTS, "°C")
    raise ImplausibleUnitError(
        f"{what} {temperature_c:g} °C is outside the plausible band {low:g}–{high:g} °C{hint}"
    )


def check_pressure_kpa(
    pressure_kpa: float, *, band: tuple[float, float] = PRESSURE_BAND_KPA, what: str = "pressure"
) -> float:
    """Return ``pressure_kpa`` if it is a plausible station pressure in kPa; otherwise refuse.

    The message names every unit (hPa/mbar, mmHg, psi, inHg, Pa, bar/atm) that would put the number inside
    the band. A site at altitude passes its own ``band``.
    """
    low, high = band
    if not math.isfinite(pressure_kpa):
        raise ImplausibleUnitError(f"{what} {pressure_kpa!r} is not a finite number")
    if low <= pressure_kpa <= high:
        return pressure_kpa
    hint = _suspects(pressure_kpa, band, _PRESSURE_SUSPECTS, "kPa")
    raise ImplausibleUnitError(
        f"{what} {pressure_kpa:g} kPa is outside the plausible band {low:g}–{high:g} kPa{hint}"
    )
