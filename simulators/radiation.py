"""A switchable radiation source: the dose rate a chamber sees, as a function of time and position.

The source is a world model like ``LinearStage``: commands (``beam_on``, ``beam_off``, ``deliver``) install a
schedule of constant-rate *segments*, and queries evaluate that schedule at ``clock.now()``. Nothing steps
in the background, so under a ``VirtualClock`` a 60 s delivery costs nothing and its integral is exact.

Model::

    Ḋ(t, x) = r(t) · g(x)        r(t): piecewise-constant nominal dose rate at the reference point (Gy/s)
                                  g(x): field shape at the chamber position x (1 for a uniform field)
    D(t0, t1, x) = g(x) · Σ_segments r_k · |[a_k, b_k] ∩ [t0, t1]|

An optional *end effect* adds ``switch_on_extra_dose_gy`` at each switch-on (``beam_on`` or ``deliver``), at
an extra rate over the first ``switch_on_transient_s`` (shorter deliveries: over the whole delivery), so n
short deliveries carry n times the extra dose of one long one.

``g`` is the hook a later issue replaces with a proton depth-dose curve. Three shapes exist today: ``uniform``
(g = 1) and ``inverse_square`` (g = (d_ref / |x − s|)², s = source position, d_ref = reference distance);
``linear_gradient`` (g = 1 + G·x, G = ``gradient_per_mm``) is a tilted field around the isocentre, for tests
where two chambers side by side must see different doses (cross-calibration with alternating positions).

The beam's time structure matters to ion recombination: a ``pulsed`` beam (linac) delivers
``Ḋ / pulse_repetition_hz`` per pulse; a ``continuous`` beam (⁶⁰Co, cyclotron) has no pulses. The source only
describes the beam; the chamber model (``simulators.electrometer``) turns it into collected charge.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulators.clock import Clock
from simulators.world import World

BeamType = Literal["continuous", "pulsed"]
FieldShape = Literal["uniform", "inverse_square", "linear_gradient"]
Vector3 = tuple[float, float, float]

SECONDS_PER_MINUTE = 60.0


class RadiationSourceConfig(BaseModel):
    """A beam as the chamber sees it. Dose rates are at the reference point, in Gy/min unless named."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    beam_type: BeamType = "pulsed"
    #: Pulses per second of a pulsed beam (a linac: 100–400 Hz); ignored for a continuous beam.
    pulse_repetition_hz: float = Field(360.0, gt=0)
    #: Dose at the reference point per monitor unit (1 cGy/MU is the usual linac calibration).
    gy_per_mu: float = Field(0.01, gt=0)
    #: Rate used by ``deliver`` when neither a duration nor a rate is given (600 MU/min = 6 Gy/min).
    default_mu_per_min: float = Field(600.0, gt=0)
    #: The largest rate the machine can produce; commands above it are refused, never clamped.
    max_dose_rate_gy_per_min: float = Field(100.0, gt=0)
    field: FieldShape = "uniform"
    #: Inverse-square field only: where the (point) source is and the distance at which g = 1.
    source_position_mm: Vector3 = (0.0, 0.0, 1000.0)
    reference_distance_mm: float = Field(1000.0, gt=0)
    #: Linear-gradient field only: relative change of the dose per mm along IEC x, y, z (g = 1 at the origin).
    gradient_per_mm: Vector3 = (0.0, 0.0, 0.0)
    #: End effect: extra dose (Gy at the reference point) delivered at each switch-on, spread evenly over the
    #: first ``switch_on_transient_s`` of the beam (a servo overshoot; negative: a ramp-up that lags).
    #: 0 (default): the beam starts and stops exactly at nominal rate.
    switch_on_extra_dose_gy: float = Field(0.0, ge=-1.0, le=1.0)
    switch_on_transient_s: float = Field(0.1, gt=0, le=10.0)

    @model_validator(mode="after")
    def _consistent(self) -> RadiationSourceConfig:
        max_mu_rate = self.max_dose_rate_gy_per_min / self.gy_per_mu
        if self.default_mu_per_min > max_mu_rate * (1 + 1e-12):
            raise ValueError(f"default_mu_per_min exceeds the maximum rate ({max_mu_rate:g} MU/min)")
        return self


class BeamError(Exception):
    """A beam command the source refuses (the beam is busy, a rate is out of range, …)."""


@dataclass(frozen=True, slots=True)
class BeamSegment:
    """The beam at nominal rate ``rate_gy_s`` over ``[start, end)``; ``end`` None = until switched off."""

    start: float
    end: float | None
    rate_gy_s: float

    def overlap(self, t0: float, t1: float) -> float:
        """Seconds of this segment inside ``[t0, t1]``."""
        end = math.inf if self.end is None else self.end
        return max(0.0, min(end, t1) - max(self.start, t0))

    def covers(self, t: float) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A scheduled delivery of ``monitor_units`` over ``[start, end)`` (clock seconds)."""

    monitor_units: float
    start: float
    end: float
    rate_gy_s: float
    #: The switch-on extra dose (end effect) included in this delivery, Gy at the reference point.
    extra_gy: float = 0.0

    @property
    def dose_gy(self) -> float:
        """Dose at the reference point (g = 1) once the delivery has completed."""
        return self.rate_gy_s * (self.end - self.start) + self.extra_gy


class RadiationSource:
    """One simulated beam; thread-safe, evaluated lazily at ``clock.now()``.

    Segments never overlap: the beam is either off, on until switched off, or delivering a scheduled dose.
    ``beam_off`` cuts the running segment at ``now`` and cancels scheduled ones.
    """

    def __init__(self, name: str, config: RadiationSourceConfig, *, clock: Clock) -> None:
        self._name = name
        self._config = config
        self._clock = clock
        self._lock = threading.RLock()
        self._segments: list[BeamSegment] = []

    # ----------------------------------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> RadiationSourceConfig:
        return self._config

    @property
    def beam_type(self) -> BeamType:
        return self._config.beam_type

    def __repr__(self) -> str:
        return f"RadiationSource({self._name!r}, {self._config.beam_type}, field={self._config.field})"

    # ----------------------------------------------------------------------------------------- commands
    def beam_on(self, dose_rate_gy_per_min: float) -> None:
        """Switch the beam on now at this rate (at the reference point) until ``beam_off``."""
        rate = self._checked_rate(dose_rate_gy_per_min)
        with self._lock:
            now = self._clock.now()
            if self._busy_at_or_after(now):
                raise BeamError(f"{self._name}: the beam is already on or a delivery is scheduled")
            self._segments.extend(self._switched_on(now, None, rate))

    def beam_off(self) -> None:
        """Switch the beam off now: the running segment ends here, scheduled deliveries are cancelled."""
        with self._lock:
            now = self._clock.now()
            kept: list[BeamSegment] = []
            for seg in self._segments:
                if seg.start >= now:
                    continue  # not started yet: cancelled
                if seg.end is None or seg.end > now:
                    seg = BeamSegment(seg.start, now, seg.rate_gy_s)
                kept.append(seg)
            self._segments = kept

    def deliver(
        self,
        monitor_units: float,
        *,
        duration_s: float | None = None,
        mu_per_min: float | None = None,
        start_at: float | None = None,
    ) -> Delivery:
        """Schedule ``monitor_units`` at constant rate, starting now (or at clock time ``start_at``).

        Give a duration or a rate (MU/min), not both; with neither, ``default_mu_per_min`` applies. The
        returned ``Delivery`` says when the beam ends, so a virtual-time caller can ``advance_to(d.end)``.
        """
        if not monitor_units > 0:
            raise BeamError(f"{self._name}: monitor units must be positive, got {monitor_units}")
        if duration_s is not None and mu_per_min is not None:
            raise BeamError(f"{self._name}: give a duration or a rate, not both")
        if duration_s is not None:
            if not duration_s > 0:
                raise BeamError(f"{self._name}: duration must be positive, got {duration_s}")
            mu_per_min = monitor_units / duration_s * SECONDS_PER_MINUTE
        elif mu_per_min is None:
            mu_per_min = self._config.default_mu_per_min
        rate = self._checked_rate(mu_per_min * self._config.gy_per_mu)
        with self._lock:
            now = self._clock.now()
            start = now if start_at is None else float(start_at)
            if start < now:
                raise BeamError(f"{self._name}: cannot start a delivery in the past ({start} < {now})")
            length = monitor_units * self._config.gy_per_mu / rate
            end = start + length
            for seg in self._segments:
                if seg.overlap(start, end) > 0 or seg.covers(start):
                    raise BeamError(f"{self._name}: the delivery overlaps beam already scheduled or on")
            self._segments.extend(self._switched_on(start, end, rate))
            self._segments.sort(key=lambda s: s.start)
            return Delivery(monitor_units, start, end, rate, self._config.switch_on_extra_dose_gy)

    def _switched_on(self, start: float, end: float | None, rate: float) -> list[BeamSegment]:
        """The segments of one switch-on: the end-effect transient (if configured), then the nominal rate."""
        extra = self._config.switch_on_extra_dose_gy
        if extra == 0:
            return [BeamSegment(start, end, rate)]
        tau = self._config.switch_on_transient_s
        if end is not None:
            tau = min(tau, end - start)
        lump = rate + extra / tau
        if lump < 0:
            raise BeamError(f"{self._name}: switch-on extra dose {extra:g} Gy exceeds the transient's dose")
        first = BeamSegment(start, start + tau, lump)
        if end is not None and start + tau >= end:
            return [first]
        return [first, BeamSegment(start + tau, end, rate)]

    def _checked_rate(self, dose_rate_gy_per_min: float) -> float:
        limit = self._config.max_dose_rate_gy_per_min
        if not 0 < dose_rate_gy_per_min <= limit * (1 + 1e-12):
            raise BeamError(
                f"{self._name}: dose rate {dose_rate_gy_per_min:g} Gy/min is outside (0, {limit:g}] Gy/min"
            )
        return dose_rate_gy_per_min / SECONDS_PER_MINUTE

    def _busy_at_or_after(self, t: float) -> bool:
        return any(seg.end is None or seg.end > t for seg in self._segments)

    # ----------------------------------------------------------------------------------------- field
    def relative_dose(self, position_mm: Vector3 | None = None) -> float:
        """g(x): the field shape at ``position_mm`` relative to the reference point (1: uniform field)."""
        if self._config.field == "uniform" or position_mm is None:
            return 1.0
        if self._config.field == "linear_gradient":
            g = 1.0 + sum(k * x for k, x in zip(self._config.gradient_per_mm, position_mm, strict=True))
            if g <= 0:
                raise ValueError(f"{self._name}: the field gradient leaves no dose at {position_mm} mm")
            return g
        distance = math.dist(position_mm, self._config.source_position_mm)
        if distance <= 0:
            raise ValueError(f"{self._name}: the chamber sits on the point source")
        return (self._config.reference_distance_mm / distance) ** 2

    # ----------------------------------------------------------------------------------------- queries
    def now(self) -> float:
        return self._clock.now()

    def is_on(self, t: float | None = None) -> bool:
        with self._lock:
            at = self._clock.now() if t is None else t
            return any(seg.covers(at) for seg in self._segments)

    def dose_rate_gy_s(self, t: float | None = None, position_mm: Vector3 | None = None) -> float:
        """Ḋ at clock time ``t`` (default now) at ``position_mm`` (default the reference point), Gy/s."""
        with self._lock:
            at = self._clock.now() if t is None else t
            rate = next((seg.rate_gy_s for seg in self._segments if seg.covers(at)), 0.0)
        return rate * self.relative_dose(position_mm)

    def dose_rate_gy_per_min(self, t: float | None = None, position_mm: Vector3 | None = None) -> float:
        return self.dose_rate_gy_s(t, position_mm) * SECONDS_PER_MINUTE

    def dose_per_pulse_gy(self, dose_rate_gy_s: float) -> float:
        """Dose per pulse of a pulsed beam at this rate; 0 for a continuous beam."""
        if self._config.beam_type != "pulsed":
            return 0.0
        return dose_rate_gy_s / self._config.pulse_repetition_hz

    def segments_between(self, t0: float, t1: float) -> list[tuple[float, float, float]]:
        """``(a, b, rate Gy/s)`` for every beam-on stretch inside ``[t0, t1]`` (nominal, reference point)."""
        out: list[tuple[float, float, float]] = []
        with self._lock:
            for seg in self._segments:
                if seg.overlap(t0, t1) > 0:
                    end = t1 if seg.end is None else min(seg.end, t1)
                    out.append((max(seg.start, t0), end, seg.rate_gy_s))
        return out

    def dose_between(self, t0: float, t1: float, position_mm: Vector3 | None = None) -> float:
        """D(t0, t1, x) in Gy: the exact integral of the dose rate (no noise)."""
        if t1 < t0:
            raise ValueError(f"t1 ({t1}) must not precede t0 ({t0})")
        with self._lock:
            nominal = sum(seg.rate_gy_s * seg.overlap(t0, t1) for seg in self._segments)
        return nominal * self.relative_dose(position_mm)

    def beam_off_at(self) -> float | None:
        """When the beam is off with nothing else scheduled (clock time); None while on open-ended."""
        with self._lock:
            if any(seg.end is None for seg in self._segments):
                return None
            ends = [seg.end for seg in self._segments if seg.end is not None]
            return max([self._clock.now(), *ends])

    def segments(self) -> list[BeamSegment]:
        """The whole schedule (for tests and debugging)."""
        with self._lock:
            return list(self._segments)


def add_radiation_source(world: World, name: str, config: RadiationSourceConfig) -> RadiationSource:
    """Build a ``RadiationSource`` on the world's clock and register it."""
    return world.add(RadiationSource(name, config, clock=world.clock))
