"""An ionization chamber in the beam, wired to an electrometer: the physics both front-ends share.

The model turns the world's dose rate into the current at the electrometer input and integrates it exactly.
Front-ends (``simulators.ptw_unidos``, ``simulators.keithley6517b``) add their ranges, units and grammar; the
physics lives here once. Everything is lazy at ``clock.now()``: commands open a new *epoch* (bias, chamber
position, zero correction); queries integrate analytically over epochs × beam segments.

Model (V = bias, s = sign V, Ḋ = dose rate at the chamber, Gy/s)::

    I(t) = s·S·k_ρ(t)·Ḋ(t)·f(Ḋ, |V|)·π(s)·(1 − A·e^{−(t−t_b)/τ})        signal
         + s·I_leak  +  I_tr·e^{−(t−t_b)/τ}  +  I_off                        leakage, bias transient, offset

    S      chamber sensitivity (C/Gy) at the reference air density; k_ρ = (p/p_ref)·(T_ref+273.15)/(T+273.15)
    f      collection efficiency = 1/P_ion (= 1/k_s), general recombination after Boag:
             continuous beam:  1/f = 1 + β·Ḋ/V²                   (two-voltage formula exact)
             pulsed beam:        f = ln(1+u)/u,  u = α·D_p/|V|    (D_p = Ḋ/PRF, dose per pulse)
    π(s)   polarity effect: 1/k_pol at the reference polarity, 2 − 1/k_pol at the other, so that
           k_pol = (|M₊| + |M₋|)/(2|M_ref|) recovers the configured k_pol exactly
    A, I_tr, τ  settling after a bias change at t_b: A = a·|ΔV|/(2·max|V|) (a full reversal gives ``a``),
           I_tr = c·ΔV; both decay with τ (minutes); a later change carries the undecayed rest over
    I_off  the electrometer's input offset until a zero is acquired and applied (leakage is not removed)

With V = 0 nothing is collected (signal and leakage are 0). Readings add Gaussian noise: an absolute part
(``charge_noise_c``; ``current_noise_a`` at 1 s, scaling as 1/√t) and a relative part (``relative_noise``).
A displayed charge can carry a gain nonlinearity, Q·(1 + b·|Q|) (``charge_nonlinearity_per_c``, default 0).
"""

from __future__ import annotations

import enum
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from simulators.clock import Clock
from simulators.environment import (
    EnvironmentSensorConfig,
    RoomEnvironment,
    RoomEnvironmentConfig,
    add_room_environment,
)
from simulators.proton import PROTON_NAME, ProtonSource
from simulators.radiation import RadiationSource, RadiationSourceConfig, Vector3, add_radiation_source
from simulators.water_tank import WaterTankScanner
from simulators.world import World

_EPS_T = 1e-12


class ElectrometerConfig(BaseModel):
    """A chamber + electrometer pair. Currents in A, charges in C, voltages in V, times in s."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: World names of the beam the chamber sits in and of the room air (None: no beam / reference air).
    source: str | None = "beam"
    environment: str | None = None
    chamber_position_mm: Vector3 = (0.0, 0.0, 0.0)
    #: The water tank whose carriage carries the chamber (``source: proton`` rigs): the chamber then sits at
    #: carriage position + ``chamber_position_mm``, sampled at every electrometer command or query.
    water_tank: str | None = None
    # ---------------------------------------------------------------------------------- chamber
    #: 0.6 cm³ Farmer: about 2e-8 C/Gy (N_D,w ≈ 5e7 Gy/C), at the reference air density.
    sensitivity_c_per_gy: float = Field(2.0e-8, gt=0)
    reference_temperature_c: float = 20.0
    reference_pressure_hpa: float = Field(1013.25, gt=0)
    reference_polarity: Literal[1, -1] = 1
    k_pol: float = Field(1.0, gt=0.9, lt=1.1)
    #: α in u = α·D_p/|V| (V/Gy per pulse). 1.1e4 gives P_ion ≈ 1.005 at 300 V, 6 Gy/min, 360 Hz.
    pulsed_recombination_v_per_gy: float = Field(1.1e4, ge=0)
    #: β in 1/f = 1 + β·Ḋ/V² (V²·s/Gy). 5.4e3 gives P_ion ≈ 1.001 at 300 V and 1 Gy/min.
    continuous_recombination_v2_s_per_gy: float = Field(5.4e3, ge=0)
    #: Dark current with the bias on; its sign follows the bias polarity.
    leakage_current_a: float = Field(2.0e-15, ge=0)
    settling_amplitude: float = Field(0.005, ge=0, lt=0.5)
    settling_time_constant_s: float = Field(120.0, gt=0)
    bias_transient_a_per_v: float = Field(2.0e-16, ge=0)
    initial_bias_v: float = Field(0.0, ge=-1000.0, le=1000.0)
    # ---------------------------------------------------------------------------------- electrometer
    zero_offset_current_a: float = 5.0e-15
    charge_noise_c: float = Field(1.0e-15, ge=0)
    current_noise_a: float = Field(1.0e-15, ge=0)
    relative_noise: float = Field(2.0e-4, ge=0)
    #: Gain nonlinearity b (1/C): a reading shows Q·(1 + b·|Q|), so the gain drifts with the accumulated
    #: charge (0: linear). Injected for the linearity test; 5e4 /C bends a 200 nC reading by 1 %.
    charge_nonlinearity_per_c: float = Field(0.0, ge=-1.0e6, le=1.0e6)


class IntegratorState(enum.Enum):
    RESET = "reset"
    INTEGRATING = "integrating"
    HOLD = "hold"


class ZeroState(enum.Enum):
    NONE = "none"  # no zero acquired since power-up
    RUNNING = "running"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class _Epoch:
    """Settings valid from ``t`` until the next epoch; settling terms are referred to ``t``."""

    t: float
    bias_v: float
    position_mm: Vector3
    offset_a: float
    settle_a0: float
    transient_a0: float


@dataclass(frozen=True, slots=True)
class ChargeReading:
    """What an integrating electrometer shows: charge (C), integration time (s), state."""

    charge_c: float
    integration_time_s: float
    state: IntegratorState


class Electrometer:
    """One chamber on one electrometer input; thread-safe, lazy at ``clock.now()``."""

    def __init__(
        self,
        name: str,
        config: ElectrometerConfig,
        *,
        clock: Clock,
        rng: np.random.Generator,
        source: RadiationSource | ProtonSource | None = None,
        environment: RoomEnvironment | None = None,
        carriage: Callable[[], Sequence[float]] | None = None,
    ) -> None:
        self._name = name
        self._config = config
        self._clock = clock
        self._rng = rng
        self._source = source
        self._environment = environment
        self._carriage = carriage
        self._carriage_seen = False
        self._lock = threading.RLock()
        now = clock.now()
        # The first epoch reaches back forever: the chamber was biased long before the simulation started.
        c = config
        self._epochs: list[_Epoch] = [
            _Epoch(-math.inf, c.initial_bias_v, c.chamber_position_mm, c.zero_offset_current_a, 0.0, 0.0)
        ]
        # zero correction
        self._zero_state = ZeroState.NONE
        self._zero_started = now
        self._zero_until = now
        self._zero_enable_at_end = True
        self._zero_correction_a = 0.0
        self._zero_correction_on = False
        # integrator
        self._state = IntegratorState.RESET
        self._q_acc = 0.0
        self._time_acc = 0.0
        self._since = now
        self._stop_at: float | None = None
        self._interval_complete = False
        self._windows: list[tuple[float, float]] = []
        self._held_reading: float | None = None

    # ----------------------------------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> ElectrometerConfig:
        return self._config

    @property
    def source(self) -> RadiationSource | ProtonSource | None:
        return self._source

    def __repr__(self) -> str:
        return f"Electrometer({self._name!r}, bias={self.bias_v:g} V)"

    def now(self) -> float:
        return self._clock.now()

    # ----------------------------------------------------------------------------------------- physics
    def collection_efficiency(self, dose_rate_gy_s: float, bias_v: float) -> float:
        """f = 1/P_ion for this beam at this rate and bias (1 with no beam; 0 with no bias)."""
        v = abs(bias_v)
        if v == 0:
            return 0.0
        if dose_rate_gy_s <= 0 or self._source is None:
            return 1.0
        c = self._config
        if self._source.beam_type == "pulsed":
            u = c.pulsed_recombination_v_per_gy * self._source.dose_per_pulse_gy(dose_rate_gy_s) / v
            return 1.0 if u <= 0 else math.log1p(u) / u
        return 1.0 / (1.0 + c.continuous_recombination_v2_s_per_gy * dose_rate_gy_s / (v * v))

    def p_ion(self, dose_rate_gy_s: float, bias_v: float) -> float:
        """The recombination correction the model injects (P_ion, TRS-398 k_s) at this rate and bias."""
        return 1.0 / self.collection_efficiency(dose_rate_gy_s, bias_v)

    def polarity_factor(self, bias_v: float) -> float:
        """π(s): 1/k_pol at the reference polarity, 2 − 1/k_pol at the other (0 with no bias)."""
        if bias_v == 0:
            return 0.0
        ref = 1.0 / self._config.k_pol
        return ref if (1 if bias_v > 0 else -1) == self._config.reference_polarity else 2.0 - ref

    def air_density_ratio(self, t: float) -> float:
        if self._environment is None:
            return 1.0
        c = self._config
        return self._environment.air_density_ratio(
            t,
            reference_temperature_c=c.reference_temperature_c,
            reference_pressure_hpa=c.reference_pressure_hpa,
        )

    def _signal_gain(self, epoch: _Epoch, rate_nominal: float, t_mid: float) -> float:
        """Signal current per unit settling factor: s·S·k_ρ·Ḋ·f·π for a piece of constant beam."""
        if rate_nominal <= 0 or epoch.bias_v == 0 or self._source is None:
            return 0.0
        dose_rate = rate_nominal * self._source.relative_dose(epoch.position_mm)
        s = 1.0 if epoch.bias_v > 0 else -1.0
        return (
            s
            * self._config.sensitivity_c_per_gy
            * self.air_density_ratio(t_mid)
            * dose_rate
            * self.collection_efficiency(dose_rate, epoch.bias_v)
            * self.polarity_factor(epoch.bias_v)
        )

    def _steady_a(self, epoch: _Epoch) -> float:
        """Leakage plus offset: the part of the current that does not decay."""
        leak = 0.0
        if epoch.bias_v != 0:
            leak = math.copysign(self._config.leakage_current_a, epoch.bias_v)
        return leak + epoch.offset_a

    def _pieces(self, t0: float, t1: float) -> Iterator[tuple[float, float, _Epoch, float]]:
        """``(a, b, epoch, nominal rate)`` covering ``[t0, t1]`` with constant settings and beam."""
        epochs = self._epochs
        for i, epoch in enumerate(epochs):
            end = epochs[i + 1].t if i + 1 < len(epochs) else math.inf
            a, b = max(epoch.t, t0), min(end, t1)
            if b <= a:
                continue
            cursor = a
            beams = self._source.segments_between(a, b) if self._source is not None else []
            for sa, sb, rate in beams:
                if sa > cursor:
                    yield cursor, sa, epoch, 0.0
                yield sa, sb, epoch, rate
                cursor = sb
            if cursor < b:
                yield cursor, b, epoch, 0.0

    def _piece_charge(self, a: float, b: float, epoch: _Epoch, rate: float) -> float:
        tau = self._config.settling_time_constant_s
        decay = tau * (math.exp(-(a - epoch.t) / tau) - math.exp(-(b - epoch.t) / tau))
        gain = self._signal_gain(epoch, rate, 0.5 * (a + b))
        return (
            gain * ((b - a) - epoch.settle_a0 * decay)
            + epoch.transient_a0 * decay
            + self._steady_a(epoch) * (b - a)
        )

    def _piece_current(self, t: float, epoch: _Epoch, rate: float, t_mid: float) -> float:
        decay = math.exp(-(t - epoch.t) / self._config.settling_time_constant_s)
        gain = self._signal_gain(epoch, rate, t_mid)
        return gain * (1.0 - epoch.settle_a0 * decay) + epoch.transient_a0 * decay + self._steady_a(epoch)

    def charge_between(self, t0: float, t1: float) -> float:
        """∫ I dt over ``[t0, t1]`` (C), exact and noise-free; ``t1`` must not lie in the future."""
        if t1 < t0:
            raise ValueError(f"t1 ({t1}) must not precede t0 ({t0})")
        with self._lock:
            self._advance(self._clock.now())
            return sum(self._piece_charge(a, b, e, r) for a, b, e, r in self._pieces(t0, t1))

    def current_at(self, t: float | None = None) -> float:
        """The instantaneous input current (A), noise-free, at ``t`` (default now)."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            at = now if t is None else t
            epoch = self._epoch_at(at)
            rate = self._source.dose_rate_gy_s(at) if self._source is not None else 0.0  # nominal
            return self._piece_current(at, epoch, rate, at)

    def mean_current(self, t0: float, t1: float) -> float:
        if t1 <= t0:
            return self.current_at(t1)
        return self.charge_between(t0, t1) / (t1 - t0)

    def peak_abs_current(self, t0: float, t1: float) -> float:
        """max |I| over ``[t0, t1]`` (each piece is a + b·e^{−t/τ}, so its extremes are at its ends)."""
        with self._lock:
            self._advance(self._clock.now())
            peak = 0.0
            for a, b, e, r in self._pieces(t0, t1):
                mid = 0.5 * (a + b)
                peak = max(
                    peak, abs(self._piece_current(a, e, r, mid)), abs(self._piece_current(b, e, r, mid))
                )
            return peak

    def _epoch_at(self, t: float) -> _Epoch:
        found = self._epochs[0]
        for epoch in self._epochs:
            if epoch.t <= t:
                found = epoch
            else:
                break
        return found

    # ----------------------------------------------------------------------------------------- settings
    @property
    def bias_v(self) -> float:
        with self._lock:
            self._advance(self._clock.now())
            return self._epochs[-1].bias_v

    def set_bias(self, bias_v: float) -> None:
        """Apply a new chamber bias now; starts the settling transient (no-op if unchanged)."""
        if not -1000.0 <= bias_v <= 1000.0:
            raise ValueError(f"{self._name}: bias {bias_v} V outside ±1000 V")
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            last = self._epochs[-1]
            if bias_v == last.bias_v:
                return
            c = self._config
            decay = math.exp(-(now - last.t) / c.settling_time_constant_s)
            big = max(abs(bias_v), abs(last.bias_v))
            step = c.settling_amplitude * abs(bias_v - last.bias_v) / (2.0 * big)
            settle = min(0.99, step + last.settle_a0 * decay)
            transient = c.bias_transient_a_per_v * (bias_v - last.bias_v) + last.transient_a0 * decay
            self._new_epoch(now, bias_v=bias_v, settle_a0=settle, transient_a0=transient)

    @property
    def chamber_position_mm(self) -> Vector3:
        with self._lock:
            return self._epochs[-1].position_mm

    def set_chamber_position(self, position_mm: Vector3) -> None:
        """Move the chamber (a later couch/phantom model calls this); the field shape applies from now."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            self._new_epoch(now, position_mm=tuple(float(x) for x in position_mm))

    def _follow_carriage(self, now: float) -> None:
        """Chamber on a tank carriage: open an epoch at ``now`` if the carriage has moved (first look: from
        the start). Motion while integrating counts at the position of the next command or query."""
        if self._carriage is None:
            return
        (cx, cy, cz), (ox, oy, oz) = self._carriage(), self._config.chamber_position_mm
        pos: Vector3 = (float(cx) + ox, float(cy) + oy, float(cz) + oz)
        if not self._carriage_seen:
            self._carriage_seen = True
            self._epochs = [replace(e, position_mm=pos) for e in self._epochs]
        elif pos != self._epochs[-1].position_mm:
            self._new_epoch(now, position_mm=pos)

    def _new_epoch(self, t: float, **changes: object) -> None:
        """Close the epoch at ``t`` and open one with ``changes``, carrying the decayed settling terms."""
        last = self._epochs[-1]
        decay = math.exp(-(t - last.t) / self._config.settling_time_constant_s)
        base = replace(last, t=t, settle_a0=last.settle_a0 * decay, transient_a0=last.transient_a0 * decay)
        epoch = replace(base, **changes)  # type: ignore[arg-type]
        if last.t >= t - _EPS_T:
            self._epochs[-1] = epoch  # several changes at one instant: keep one epoch
        else:
            self._epochs.append(epoch)

    # ----------------------------------------------------------------------------------------- zero
    def acquire_zero(self, duration_s: float = 0.0, *, enable: bool = True) -> None:
        """Measure the input offset over ``duration_s``; at the end the correction is stored (and applied
        if ``enable``). Integration is reset; the chamber's leakage is *not* part of the correction."""
        if duration_s < 0:
            raise ValueError("duration_s must not be negative")
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            self._reset_integrator()
            self._zero_state = ZeroState.RUNNING
            self._zero_started = now
            self._zero_until = now + duration_s
            self._zero_enable_at_end = enable
            self._advance(now)

    def set_zero_correction(self, enabled: bool) -> None:
        """Apply (or stop applying) the stored zero correction from now on."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            self._zero_correction_on = bool(enabled)
            self._new_epoch(now, offset_a=self._offset_now())

    @property
    def zero_correction_enabled(self) -> bool:
        with self._lock:
            self._advance(self._clock.now())
            return self._zero_correction_on

    def _offset_now(self) -> float:
        correction = self._zero_correction_a if self._zero_correction_on else 0.0
        return self._config.zero_offset_current_a - correction

    def zero_status(self) -> tuple[ZeroState, float, float]:
        """(state, remaining s, total s) of the last zero acquisition."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            total = self._zero_until - self._zero_started
            return self._zero_state, max(0.0, self._zero_until - now), total

    @property
    def zeroing(self) -> bool:
        return self.zero_status()[0] is ZeroState.RUNNING

    # ----------------------------------------------------------------------------------------- integrator
    def _reset_integrator(self) -> None:
        self._state = IntegratorState.RESET
        self._q_acc = 0.0
        self._time_acc = 0.0
        self._stop_at = None
        self._interval_complete = False
        self._windows = []
        self._held_reading = None

    def start(self, duration_s: float | None = None) -> None:
        """Start (or resume from hold) integrating now; with ``duration_s`` hold automatically after that
        much further integration time (an interval measurement)."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            if self._zero_state is ZeroState.RUNNING:
                raise RuntimeError(f"{self._name}: zeroing in progress")
            if self._state is IntegratorState.INTEGRATING:
                return
            self._state = IntegratorState.INTEGRATING
            self._since = now
            self._held_reading = None
            self._interval_complete = False
            self._stop_at = None if duration_s is None else now + max(0.0, duration_s)
            self._advance(now)

    def hold(self) -> None:
        """Stop integrating now and freeze the displayed reading (a no-op unless integrating)."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            if self._state is IntegratorState.INTEGRATING:
                self._hold_at(now)

    def reset(self) -> None:
        """Discard the integrated charge and time."""
        with self._lock:
            self._advance(self._clock.now())
            self._reset_integrator()

    def _hold_at(self, t: float) -> None:
        self._q_acc += self._charge_raw(self._since, t)
        self._time_acc += t - self._since
        self._windows.append((self._since, t))
        self._state = IntegratorState.HOLD
        self._stop_at = None
        self._held_reading = self._noisy_charge(self._q_acc)

    def _charge_raw(self, t0: float, t1: float) -> float:
        return sum(self._piece_charge(a, b, e, r) for a, b, e, r in self._pieces(t0, t1))

    def _advance(self, now: float) -> None:
        """Apply timed events up to ``now`` in time order: end of a zero, end of an interval measurement."""
        self._follow_carriage(now)
        events: list[tuple[float, str]] = []
        if self._zero_state is ZeroState.RUNNING and self._zero_until <= now:
            events.append((self._zero_until, "zero"))
        if self._state is IntegratorState.INTEGRATING and self._stop_at is not None and self._stop_at <= now:
            events.append((self._stop_at, "interval"))
        for t, kind in sorted(events):
            if kind == "zero":
                self._zero_state = ZeroState.DONE
                self._zero_correction_a = self._config.zero_offset_current_a
                if self._zero_enable_at_end:
                    self._zero_correction_on = True
                self._new_epoch(t, offset_a=self._offset_now())
            else:
                self._hold_at(t)
                self._interval_complete = True

    @property
    def state(self) -> IntegratorState:
        with self._lock:
            self._advance(self._clock.now())
            return self._state

    @property
    def interval_complete(self) -> bool:
        """True once an interval measurement ran its full time (until the next start/reset)."""
        with self._lock:
            self._advance(self._clock.now())
            return self._interval_complete

    @property
    def integration_started_at(self) -> float | None:
        """Clock time the current integration run started (None unless integrating)."""
        with self._lock:
            self._advance(self._clock.now())
            return self._since if self._state is IntegratorState.INTEGRATING else None

    def integration_windows(self) -> list[tuple[float, float]]:
        """Every ``[t0, t1]`` integrated since the last reset, including the running one (up to now)."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            windows = list(self._windows)
            if self._state is IntegratorState.INTEGRATING:
                windows.append((self._since, now))
            return windows

    def integrated_charge(self) -> ChargeReading:
        """The noise-free integrated charge and time now."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            q, t = self._q_acc, self._time_acc
            if self._state is IntegratorState.INTEGRATING:
                q += self._charge_raw(self._since, now)
                t += now - self._since
            return ChargeReading(q, t, self._state)

    def read_charge(self) -> ChargeReading:
        """One displayed charge reading: noisy while integrating, frozen (noise drawn once) in hold."""
        with self._lock:
            true = self.integrated_charge()
            if true.state is IntegratorState.HOLD and self._held_reading is not None:
                return ChargeReading(self._held_reading, true.integration_time_s, true.state)
            if true.state is IntegratorState.RESET:
                return true
            return ChargeReading(self._noisy_charge(true.charge_c), true.integration_time_s, true.state)

    def charge_at(self, t: float) -> float:
        """The noise-free integrated charge at clock time ``t`` (≤ now) of the present run.

        Within a running integration this is exact for any past ``t`` after its start; otherwise it is the
        charge now (a held or reset integrator does not change).
        """
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            if self._state is IntegratorState.INTEGRATING and self._since <= t <= now:
                return self._q_acc + self._charge_raw(self._since, t)
            return self.integrated_charge().charge_c

    def read_current_between(self, t0: float, t1: float) -> float:
        """One current reading averaged over ``[t0, t1]`` (a conversion window), with noise."""
        if t1 <= t0:
            raise ValueError("a conversion window needs t1 > t0")
        with self._lock:
            mean = self.mean_current(t0, t1)
            c = self._config
            sigma = math.hypot(c.current_noise_a / math.sqrt(t1 - t0), c.relative_noise * mean)
            return mean + (float(self._rng.normal(0.0, sigma)) if sigma > 0 else 0.0)

    def add_charge_noise(self, charge_c: float) -> float:
        """A charge as one noisy reading shows it."""
        with self._lock:
            return self._noisy_charge(charge_c)

    def read_current(self, window_s: float) -> float:
        """One current reading averaged over the last ``window_s`` seconds, with noise."""
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        now = self._clock.now()
        return self.read_current_between(now - window_s, now)

    def _noisy_charge(self, q: float) -> float:
        c = self._config
        q = q * (1.0 + c.charge_nonlinearity_per_c * abs(q))
        sigma = math.hypot(c.charge_noise_c, c.relative_noise * q)
        return q + (float(self._rng.normal(0.0, sigma)) if sigma > 0 else 0.0)


def add_electrometer(world: World, name: str, config: ElectrometerConfig) -> Electrometer:
    """Build an ``Electrometer`` on the world's clock, resolve its beam and room by name, register it."""
    source: RadiationSource | ProtonSource | None = None
    if config.source == PROTON_NAME:
        source = world.get(config.source, ProtonSource)
    elif config.source is not None:
        source = world.get(config.source, RadiationSource)
    room = world.get(config.environment, RoomEnvironment) if config.environment is not None else None
    carriage = None
    if config.water_tank is not None:
        tank_name = config.water_tank

        def carriage() -> Sequence[float]:  # resolved lazily: tanks are built after the chambers
            return [float(v) for v in world.get(tank_name, WaterTankScanner).carriage_position_mm()]

    model = Electrometer(
        name,
        config,
        clock=world.clock,
        rng=world.rng_for(name),
        source=source,
        environment=room,
        carriage=carriage,
    )
    return world.add(model)


#: The world name of the rig's one radiation source (``ElectrometerConfig.source`` defaults to it).
BEAM_NAME = "beam"


class _ReadsAnElectrometer(Protocol):
    @property
    def electrometer(self) -> str: ...


def check_dosimetry_wiring(
    radiation: RadiationSourceConfig | None,
    environments: Mapping[str, RoomEnvironmentConfig],
    electrometers: Mapping[str, ElectrometerConfig],
    front_ends: Mapping[str, Mapping[str, _ReadsAnElectrometer]],
    environment_sensors: Mapping[str, EnvironmentSensorConfig],
    *,
    proton: bool = False,
) -> None:
    """Every name resolves (``ValueError`` otherwise): chambers sit in the beam and rooms that exist, each
    front-end reads a configured chamber, no chamber has two front-ends, each sensor looks at a room.

    ``front_ends`` maps a kind (``"unidos"``, ``"keithley6517b"``) to its configs, which name their chamber.
    """
    for name, chamber in electrometers.items():
        if chamber.source == PROTON_NAME and proton:
            pass
        elif chamber.source is not None and (radiation is None or chamber.source != BEAM_NAME):
            raise ValueError(
                f"electrometer {name!r} sits in unknown beam {chamber.source!r} (have {BEAM_NAME!r})"
            )
        if chamber.environment is not None and chamber.environment not in environments:
            raise ValueError(f"electrometer {name!r} breathes unknown room air {chamber.environment!r}")
    used: dict[str, str] = {}
    for kind, configs in front_ends.items():
        for name, config in configs.items():
            where = f"{kind} {name!r}"
            if config.electrometer not in electrometers:
                raise ValueError(f"{where} reads unknown electrometer {config.electrometer!r}")
            if config.electrometer in used:
                raise ValueError(
                    f"electrometer {config.electrometer!r} read twice ({used[config.electrometer]}, {where})"
                )
            used[config.electrometer] = where
    for name, sensor in environment_sensors.items():
        if sensor.environment not in environments:
            raise ValueError(f"environment sensor {name!r} looks at unknown room {sensor.environment!r}")


def build_dosimetry_models(
    world: World,
    radiation: RadiationSourceConfig | None,
    environments: Mapping[str, RoomEnvironmentConfig],
    electrometers: Mapping[str, ElectrometerConfig],
) -> RadiationSource | None:
    """Add the beam (as ``BEAM_NAME``), the rooms and the chambers to ``world``; return the beam."""
    source = add_radiation_source(world, BEAM_NAME, radiation) if radiation is not None else None
    for name, room in environments.items():
        add_room_environment(world, name, room)
    for name, chamber in electrometers.items():
        add_electrometer(world, name, chamber)
    return source
