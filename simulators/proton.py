"""A proton pencil beam in the simulated room: Bragg curve, Gaussian spot, spills and latency.

The source is a world model like ``RadiationSource`` and offers the same interface to a chamber
(``beam_type``, ``dose_per_pulse_gy``, ``relative_dose``, ``segments_between``, ``dose_rate_gy_s``), so the
chamber model in ``simulators.electrometer`` integrates its charge unchanged. Geometry: the beam runs along
−Z of IEC 61217 f (gantry 0°), parallel (no divergence), with its spot centre at (x, y) on the isocentre
plane; depth in water is ``water_surface_z_mm − z``. Model (docs/simulators.md, "Proton pencil beam")::

    Ḋ(t, x) = r(t) · g(x)
    r(t)  = spill structure × mean rate × (1 + drift·(t − t₀)/3600 s)           (0 outside a spill)
    g(x)  = IDD(d − Δ_R) / IDD₀(d_ref) × L(x, y, d)             (relative to the nominal reference point)
    IDD   Bortfeld (1997) closed form, R₀ from the PSTAR / ICRU 49 CSDA range of E₀
    L     σ_ref²/σ(d)² · exp(−r²/2σ(d)²)   (point detector),  or 1 (a large-area Bragg-peak chamber)
    σ(d)² = (k·σ₀)² + T₀·d³/3                Fermi–Eyges with the Highland scattering power of E₀

Injected errors (all 0 by default): range shift Δ_R (mm), extra energy spread (MeV), spot offset (mm), spot
size error (fraction), output drift (%/h).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.special import gamma, pbdv

from simulators.clock import Clock
from simulators.world import World

Vector3 = tuple[float, float, float]
PROTON_NAME = "proton"
SECONDS_PER_HOUR = 3600.0

#: CSDA range of protons in liquid water (g/cm², = cm at ρ = 1), NIST PSTAR database, from ICRU Report 49
#: (1993), "Stopping Powers and Ranges for Protons and Alpha Particles", Table for water (liquid).
PSTAR_CSDA_RANGE_G_CM2: dict[float, float] = {
    70.0: 4.080,
    100.0: 7.718,
    150.0: 15.77,
    200.0: 25.96,
    225.0: 31.74,
    250.0: 37.94,
}
#: Bortfeld (1997) water constants: R = α E^p (cm, MeV), fluence loss β (1/cm), local nuclear fraction γ.
BORTFELD_ALPHA_CM = 0.0022
BORTFELD_P = 1.77
BORTFELD_BETA_PER_CM = 0.012
BORTFELD_GAMMA = 0.6
PROTON_MASS_MEV = 938.272
WATER_RADIATION_LENGTH_CM = 36.08
#: Switch to the straggling-free form this many σ proximal to R₀. Bortfeld uses 10σ, where the two forms
#: differ by 0.3 % (the Gaussian's curvature term); at 40σ they agree to 2e-4 and D_ν is still finite.
PLATEAU_SWITCH_SIGMAS = 40.0


def csda_range_cm(energy_mev: float) -> float:
    """PSTAR CSDA range in water, log-log interpolated between the tabulated energies (70–250 MeV)."""
    energies = sorted(PSTAR_CSDA_RANGE_G_CM2)
    if not energies[0] <= energy_mev <= energies[-1]:
        raise ValueError(f"energy {energy_mev} MeV outside the table's {energies[0]:g}–{energies[-1]:g} MeV")
    log_e = np.log(energies)
    log_r = np.log([PSTAR_CSDA_RANGE_G_CM2[e] for e in energies])
    return float(np.exp(np.interp(math.log(energy_mev), log_e, log_r)))


def straggling_sigma_cm(range_cm: float, energy_mev: float, energy_spread_mev: float) -> float:
    """Bortfeld (1997): σ² = σ_mono² + σ_E²·α²·p²·E^(2p−2), σ_mono = 0.012·R^0.935 (cm)."""
    mono = 0.012 * range_cm**0.935
    spread = energy_spread_mev * BORTFELD_ALPHA_CM * BORTFELD_P * energy_mev ** (BORTFELD_P - 1.0)
    return math.hypot(mono, spread)


def bragg_idd(depth_cm: np.ndarray, range_cm: float, sigma_cm: float, epsilon: float = 0.0) -> np.ndarray:
    """Bortfeld's (1997) analytical depth dose per unit fluence (MeV cm²/g) in water, ρ = 1.

    Closed form with parabolic-cylinder functions D_ν near the peak; the straggling-free form where
    R₀ − z > 40σ (where the two agree to 2e-4, see the tests).
    """
    z = np.asarray(depth_cm, dtype=float)
    p, a, b, g = BORTFELD_P, BORTFELD_ALPHA_CM, BORTFELD_BETA_PER_CM, BORTFELD_GAMMA
    norm = 1.0 / (p * a ** (1.0 / p) * (1.0 + b * range_cm))
    tail = b / p + g * b + epsilon / range_cm
    out = np.empty_like(z)
    residual = range_cm - z
    plateau = residual > PLATEAU_SWITCH_SIGMAS * sigma_cm
    r = residual[plateau]
    out[plateau] = norm * (r ** (1.0 / p - 1.0) + tail * p * r ** (1.0 / p))
    zeta = residual[~plateau] / sigma_cm
    d1 = pbdv(-1.0 / p, -zeta)[0]
    d2 = pbdv(-1.0 / p - 1.0, -zeta)[0]
    pre = np.exp(-(zeta**2) / 4.0) * sigma_cm ** (1.0 / p) * gamma(1.0 / p) / math.sqrt(2.0 * math.pi)
    out[~plateau] = norm * pre * (d1 / sigma_cm + tail * d2)
    return out


def highland_scattering_power(energy_mev: float) -> float:
    """T₀ = θ₀²/x (rad²/cm) after x = 1 cm of water, Highland's formula (PDG, Rev. Part. Phys., §34.3)."""
    pc = math.sqrt(energy_mev * (energy_mev + 2.0 * PROTON_MASS_MEV))
    beta = pc / (energy_mev + PROTON_MASS_MEV)
    x = 1.0 / WATER_RADIATION_LENGTH_CM
    theta = 13.6 / (beta * pc) * math.sqrt(x) * (1.0 + 0.038 * math.log(x / beta**2))
    return theta**2


class ProtonBeamConfig(BaseModel):
    """One pencil beam (single energy, one spot). Lengths in mm, times in s, rates in Gy/min at the
    reference point (``reference_depth_mm`` on the spot axis)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    energy_mev: float = Field(150.0, ge=70.0, le=250.0)
    #: Initial energy spread σ_E (1 σ); 1 % of E₀ is the usual assumption (e.g. libamtrack's default).
    energy_spread_mev: float = Field(1.5, ge=0.0, le=10.0)
    #: Bortfeld's ε: weight of the low-energy tail in the spectrum (0–0.2).
    epsilon: float = Field(0.0, ge=0.0, le=0.2)
    spot_position_mm: tuple[float, float] = (0.0, 0.0)
    #: In-air spot sigma at the isocentre plane (same in x and y).
    spot_sigma_mm: float = Field(4.0, gt=0.0, le=30.0)
    #: "point": a small chamber samples the spot; "integrating": a large-area Bragg-peak chamber collects
    #: the whole spot at every depth, so only the depth-dose curve matters.
    detector: Literal["point", "integrating"] = "point"
    water_surface_z_mm: float = 0.0
    reference_depth_mm: float = Field(20.0, ge=0.0)
    max_dose_rate_gy_per_min: float = Field(100.0, gt=0)
    #: Synchrotron spills: beam for ``spill_length_s`` every ``spill_period_s`` (None: cyclotron, continuous).
    spill_length_s: float | None = Field(None, gt=0)
    spill_period_s: float = Field(2.0, gt=0)
    beam_on_latency_s: float = Field(0.1, ge=0.0, le=10.0)
    beam_off_latency_s: float = Field(0.005, ge=0.0, le=10.0)
    # ------------------------------------------------------------------------- injectable errors
    range_shift_mm: float = Field(0.0, ge=-50.0, le=50.0)
    extra_energy_spread_mev: float = Field(0.0, ge=0.0, le=10.0)
    spot_offset_mm: tuple[float, float] = (0.0, 0.0)
    #: Fractional spot size error: σ₀ becomes (1 + error)·σ₀.
    spot_size_error: float = Field(0.0, gt=-0.9, le=5.0)
    output_drift_percent_per_h: float = Field(0.0, ge=-50.0, le=50.0)

    @model_validator(mode="after")
    def _spill_fits(self) -> ProtonBeamConfig:
        if self.spill_length_s is not None and self.spill_length_s > self.spill_period_s:
            raise ValueError("spill_length_s exceeds spill_period_s")
        return self


class ProtonBeamError(Exception):
    """A beam command the proton source refuses."""


@dataclass(frozen=True, slots=True)
class _OnInterval:
    """The beam is (effectively) on over ``[start, end)`` at mean rate ``rate_gy_s``; end None = open."""

    start: float
    end: float | None
    rate_gy_s: float


class ProtonSource:
    """One proton pencil beam; thread-safe, evaluated lazily at ``clock.now()`` (no background thread)."""

    beam_type: Literal["continuous"] = "continuous"

    def __init__(self, name: str, config: ProtonBeamConfig, *, clock: Clock) -> None:
        self._name = name
        self._clock = clock
        self._lock = threading.RLock()
        self._intervals: list[_OnInterval] = []
        self._t0 = clock.now()
        self._config = config
        self._update_curves()

    # ----------------------------------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> ProtonBeamConfig:
        return self._config

    def __repr__(self) -> str:
        return f"ProtonSource({self._name!r}, {self._config.energy_mev:g} MeV)"

    def set_error(self, **errors: object) -> None:
        """Change injected errors (any config field) at run time; validated like the config."""
        with self._lock:
            self._config = ProtonBeamConfig.model_validate({**self._config.model_dump(), **errors})
            self._update_curves()

    def _update_curves(self) -> None:
        c = self._config
        self.range_cm = csda_range_cm(c.energy_mev)
        spread = math.hypot(c.energy_spread_mev, c.extra_energy_spread_mev)
        self.sigma_range_cm = straggling_sigma_cm(self.range_cm, c.energy_mev, spread)
        self._t_mcs = highland_scattering_power(c.energy_mev)
        nominal_sigma = straggling_sigma_cm(self.range_cm, c.energy_mev, c.energy_spread_mev)
        ref_cm = c.reference_depth_mm / 10.0
        self._idd_ref = float(bragg_idd(np.array([ref_cm]), self.range_cm, nominal_sigma, c.epsilon)[0])
        self._sigma_ref_mm = math.sqrt(c.spot_sigma_mm**2 + self._t_mcs * ref_cm**3 / 3.0 * 100.0)

    # ----------------------------------------------------------------------------------------- physics
    def depth_dose(self, depth_mm: np.ndarray | float) -> np.ndarray:
        """Integrated depth dose relative to the nominal beam's at the reference depth (range shift in)."""
        c = self._config
        z = np.atleast_1d(np.asarray(depth_mm, dtype=float)) - c.range_shift_mm
        z = np.clip(z, 0.0, None) / 10.0
        return bragg_idd(z, self.range_cm, self.sigma_range_cm, c.epsilon) / self._idd_ref

    def spot_sigma_mm(self, depth_mm: float) -> float:
        """σ(d)² = ((1 + error)·σ₀)² + T₀·d³/3: in-air spot plus Fermi–Eyges multiple scattering."""
        c = self._config
        d_cm = max(depth_mm, 0.0) / 10.0
        s0 = (1.0 + c.spot_size_error) * c.spot_sigma_mm
        return math.sqrt(s0**2 + self._t_mcs * d_cm**3 / 3.0 * 100.0)

    def spot_centre_mm(self) -> tuple[float, float]:
        """The true spot centre on the isocentre plane (nominal position + injected offset)."""
        c = self._config
        return (c.spot_position_mm[0] + c.spot_offset_mm[0], c.spot_position_mm[1] + c.spot_offset_mm[1])

    def depth_mm(self, position_mm: Vector3) -> float:
        return self._config.water_surface_z_mm - float(position_mm[2])

    def relative_dose(self, position_mm: Vector3 | None = None) -> float:
        """g(x): dose at ``position_mm`` (IEC f) relative to the nominal beam at the reference point."""
        c = self._config
        if position_mm is None:
            position_mm = (*c.spot_position_mm, c.water_surface_z_mm - c.reference_depth_mm)
        depth = self.depth_mm(position_mm)
        g = float(self.depth_dose(depth)[0])
        if c.detector == "integrating":
            return g
        sigma = self.spot_sigma_mm(depth)
        cx, cy = self.spot_centre_mm()
        r2 = (position_mm[0] - cx) ** 2 + (position_mm[1] - cy) ** 2
        return g * (self._sigma_ref_mm / sigma) ** 2 * math.exp(-r2 / (2.0 * sigma**2))

    def range_at(self, level: float) -> float:
        """Distal depth (mm) where the depth dose falls to ``level`` × its maximum (R90: 0.9, R80: 0.8)."""
        r_mm = self.range_cm * 10.0 + self._config.range_shift_mm
        span = max(15.0 * self.sigma_range_cm * 10.0, 20.0)
        z = np.linspace(max(r_mm - span, 0.0), r_mm + span, 20001)
        d = self.depth_dose(z)
        peak = int(np.argmax(d))
        target = level * d[peak]
        distal = d[peak:]
        k = int(np.argmax(distal < target))
        z0, z1, d0, d1 = z[peak + k - 1], z[peak + k], distal[k - 1], distal[k]
        return float(z0 + (d0 - target) * (z1 - z0) / (d0 - d1))

    # ----------------------------------------------------------------------------------------- commands
    def beam_on(self, dose_rate_gy_per_min: float) -> float:
        """Request beam at this mean rate; it arrives after ``beam_on_latency_s``. Returns that time."""
        rate = self._checked_rate(dose_rate_gy_per_min)
        with self._lock:
            now = self._clock.now()
            start = now + self._config.beam_on_latency_s
            # A request while the beam is still going off is fine when the new beam starts after it stops.
            if any(i.end is None or i.end > start for i in self._intervals):
                raise ProtonBeamError(f"{self._name}: the beam is already on or a delivery is scheduled")
            self._intervals.append(_OnInterval(start, None, rate))
            return start

    def beam_off(self) -> float:
        """Request beam off; it stops after ``beam_off_latency_s``. Returns the time it is off."""
        with self._lock:
            end = self._clock.now() + self._config.beam_off_latency_s
            kept = []
            for i in self._intervals:
                if i.start >= end:
                    continue
                if i.end is None or i.end > end:
                    i = _OnInterval(i.start, end, i.rate_gy_s)
                kept.append(i)
            self._intervals = kept
            return end

    def deliver(self, duration_s: float, dose_rate_gy_per_min: float) -> tuple[float, float]:
        """Beam on now for ``duration_s`` of beam time (latency included); returns (start, end)."""
        if not duration_s > 0:
            raise ProtonBeamError(f"{self._name}: duration must be positive, got {duration_s}")
        with self._lock:
            start = self.beam_on(dose_rate_gy_per_min)
            self._intervals[-1] = _OnInterval(start, start + duration_s, self._intervals[-1].rate_gy_s)
            return start, start + duration_s

    def _checked_rate(self, dose_rate_gy_per_min: float) -> float:
        limit = self._config.max_dose_rate_gy_per_min
        if not 0 < dose_rate_gy_per_min <= limit * (1 + 1e-12):
            raise ProtonBeamError(f"{self._name}: {dose_rate_gy_per_min:g} Gy/min outside (0, {limit:g}]")
        return dose_rate_gy_per_min / 60.0

    # ----------------------------------------------------------------------------------------- queries
    def output_factor(self, t: float) -> float:
        """1 + drift·(t − t₀) with t₀ the moment the source was built."""
        return 1.0 + self._config.output_drift_percent_per_h / 100.0 * (t - self._t0) / SECONDS_PER_HOUR

    def is_on(self, t: float | None = None) -> bool:
        at = self._clock.now() if t is None else t
        return self.dose_rate_gy_s(at) > 0

    def segments_between(self, t0: float, t1: float) -> list[tuple[float, float, float]]:
        """``(a, b, rate Gy/s)`` of beam inside ``[t0, t1]`` at the reference point: spills (rate raised by
        period/length so the mean is the requested rate) and drift (rate at each piece's midpoint; pieces
        of a continuous beam are at most 1 s when drift is on)."""
        c = self._config
        out: list[tuple[float, float, float]] = []
        with self._lock:
            intervals = list(self._intervals)
        for iv in intervals:
            a = max(iv.start, t0)
            b = min(t1, math.inf if iv.end is None else iv.end)
            if b <= a:
                continue
            if c.spill_length_s is None:
                step = 1.0 if c.output_drift_percent_per_h else math.inf
                pieces = _grid(iv.start, a, b, step, step)
                scale = 1.0
            else:
                pieces = _grid(iv.start, a, b, c.spill_period_s, c.spill_length_s)
                scale = c.spill_period_s / c.spill_length_s
            for pa, pb in pieces:
                out.append((pa, pb, iv.rate_gy_s * scale * self.output_factor(0.5 * (pa + pb))))
        return out

    def dose_rate_gy_s(self, t: float | None = None, position_mm: Vector3 | None = None) -> float:
        at = self._clock.now() if t is None else t
        rate = sum(r for a, b, r in self.segments_between(at, at + 1e-9) if a <= at < b)
        return rate * self.relative_dose(position_mm) if rate else 0.0

    def dose_per_pulse_gy(self, dose_rate_gy_s: float) -> float:
        """A cyclotron or a synchrotron spill is continuous for recombination (no pulses)."""
        return 0.0

    def dose_between(self, t0: float, t1: float, position_mm: Vector3 | None = None) -> float:
        """Exact dose (Gy) at ``position_mm`` over ``[t0, t1]`` (no noise)."""
        nominal = sum((b - a) * r for a, b, r in self.segments_between(t0, t1))
        return nominal * self.relative_dose(position_mm)


def _grid(origin: float, a: float, b: float, period: float, length: float) -> list[tuple[float, float]]:
    """The parts of ``[a, b)`` inside ``[origin + k·period, origin + k·period + length)``, k = 0, 1, …"""
    if math.isinf(period):
        return [(a, b)]
    out: list[tuple[float, float]] = []
    k = max(0, math.floor((a - origin) / period))
    while True:
        s = origin + k * period
        if s >= b:
            return out
        lo, hi = max(s, a), min(s + length, b)
        if hi > lo:
            out.append((lo, hi))
        k += 1


def add_proton_source(world: World, name: str, config: ProtonBeamConfig) -> ProtonSource:
    """Build a ``ProtonSource`` on the world's clock and register it."""
    return world.add(ProtonSource(name, config, clock=world.clock))


def check_proton_wiring(
    proton: ProtonBeamConfig | None,
    chambers: Mapping[str, tuple[str | None, str | None]],
    tanks: Collection[str],
) -> None:
    """``chambers`` maps a chamber to (its source, its water tank): a proton chamber needs a proton beam, and
    a carriage-mounted chamber a tank that exists (``ValueError`` otherwise)."""
    for name, (source, tank) in chambers.items():
        if source == PROTON_NAME and proton is None:
            raise ValueError(f"electrometer {name!r} sits in the proton beam; the rig has no proton section")
        if tank is not None and tank not in tanks:
            raise ValueError(f"electrometer {name!r} rides on unknown water tank {tank!r}")
