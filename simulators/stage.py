"""A lead-screw linear stage: stepper motor, screw with pitch and periodic error, backlash, linear encoder.

The model exists so that calibration sequences have something with *known* errors to measure: a test injects
backlash B and a pitch error k and can predict exactly what an ISO 230-2 bidirectional run must find.

Model (axis frame in mm; ``h`` = ``travel_mm[0]`` is the home datum; µstep = ``microstep_size_um``)::

    m(t)  motor position = commanded microsteps × µstep, a trapezoidal (or triangular) profile in time
    n(m)  nut position   = m + k·(m − h) + P·sin(2π·(m − h)/λ)      k = pitch_error_um_per_m·1e-6,
                                                                     P = periodic_error_um, λ = screw_lead_mm
    L     play (backlash) state, 0 ≤ L ≤ B: while the nut moves monotonically by Δn, L ← clamp(L + Δn, 0, B)
    q     true carriage position = n − L
    e     encoder reading = round((q + ε)/c)·c,  ε ~ N(0, noise_um), c = encoder_count_size_um

So the carriage coincides with the nut after an approach from above (moving −, L = 0) and trails it by B after
an approach from below (moving +, L = B). Homing always ends with an approach from above, so right after
homing ``q = n(h) = h``: an ideal stage reads encoder == commanded. At a target T reached with an overshoot
larger than B, the deviation d = e − T is::

    from below:  d↑ = k·(T − h) + P·sin(2π(T − h)/λ) − B        from above:  d↓ = k·(T − h) + P·sin(…)

hence d↓ − d↑ = B exactly (up to noise) and the mean deviation grows linearly with slope k. The motor
readback (``motor_position_usteps``, Zaber ``get pos``) is the commanded microstep count, as an open-loop
stepper reports it; only the encoder sees backlash and screw errors.

Everything is evaluated lazily at ``clock.now()``: a command installs an analytic motion profile (a list of
constant-acceleration segments, each monotonic), and queries evaluate it. Pending events (an injected stall,
the end of homing) are applied in time order at the next query; exact, because time only moves forward.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulators.clock import Clock

_EPS = 1e-9
#: Homing starts from at least this far above the datum so that the final approach is always from above.
HOME_BACKOFF_MM = 0.5


class StageConfig(BaseModel):
    """Physical description of one lead-screw stage. Lengths in mm unless the name says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    travel_mm: tuple[float, float] = (0.0, 300.0)
    max_speed_mm_s: float = Field(20.0, gt=0)
    accel_mm_s2: float = Field(100.0, gt=0)
    microstep_size_um: float = Field(0.15625, gt=0)
    encoder_count_size_um: float = Field(0.1, gt=0)
    backlash_mm: float = Field(0.0, ge=0)
    pitch_error_um_per_m: float = 0.0
    periodic_error_um: float = Field(0.0, ge=0)
    screw_lead_mm: float = Field(2.0, gt=0)
    noise_um: float = Field(0.0, ge=0)
    homing_speed_mm_s: float = Field(10.0, gt=0)
    settle_s: float = Field(0.0, ge=0)
    #: Where the carriage sits at power-up (not referenced); None = mid-travel.
    power_on_position_mm: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StageConfig:
        lo, hi = self.travel_mm
        if not lo < hi:
            raise ValueError(f"travel_mm must be (min, max) with min < max, got {self.travel_mm}")
        if self.power_on_position_mm is not None and not lo <= self.power_on_position_mm <= hi:
            raise ValueError("power_on_position_mm must lie within travel_mm")
        # The nut must move monotonically with the motor, otherwise the play model is not defined.
        periodic_slope = 2 * math.pi * self.periodic_error_um * 1e-3 / self.screw_lead_mm
        slope = abs(self.pitch_error_um_per_m) * 1e-6 + periodic_slope
        if slope >= 1.0:
            raise ValueError("pitch and periodic errors are so large that the nut would move backwards")
        return self


#: Fields that may change after construction (errors and kinematics); the rest define the microstep frame.
MUTABLE_FIELDS = frozenset(
    {
        "max_speed_mm_s",
        "accel_mm_s2",
        "backlash_mm",
        "pitch_error_um_per_m",
        "periodic_error_um",
        "screw_lead_mm",
        "noise_um",
        "homing_speed_mm_s",
        "settle_s",
    }
)


class StageError(Exception):
    """A command the stage refuses; the protocol front-end maps it to the device's rejection code."""


class NotReferencedError(StageError):
    """A move before the axis was homed (this simulator's choice: moves need a reference)."""


class EmergencyStoppedError(StageError):
    """The drive is unpowered after an emergency stop; nothing moves."""


class OutOfTravelError(StageError):
    """A target or limit outside the travel."""


@dataclass(frozen=True, slots=True)
class StageState:
    """A consistent snapshot of the stage at time ``t`` (for tests, trackers and debugging)."""

    t: float
    motor_usteps: float
    target_usteps: int
    velocity_mm_s: float
    motor_mm: float
    carriage_mm: float
    play_mm: float
    busy: bool
    moving: bool
    referenced: bool
    stalled: bool
    interrupted: bool
    #: A limit sensor tripped mid-travel and stopped the motion (Zaber ``WL``), until ``clear_faults``.
    limit_triggered: bool = False
    #: The drive has no power after an emergency stop (Zaber ``FH``); motion is refused until re-powered.
    emergency_stopped: bool = False


@dataclass(frozen=True, slots=True)
class StageFlags:
    """The part of ``StageState`` a controller's status reply needs: no position is evaluated for it."""

    busy: bool
    referenced: bool
    stalled: bool
    interrupted: bool
    limit_triggered: bool
    emergency_stopped: bool


@dataclass(frozen=True, slots=True)
class _Segment:
    """Constant acceleration over ``[t0, t0 + dur]``; positions in microsteps."""

    t0: float
    x0: float
    v0: float
    a: float
    dur: float

    @property
    def t1(self) -> float:
        return self.t0 + self.dur

    def at(self, t: float) -> tuple[float, float]:
        tau = min(max(t - self.t0, 0.0), self.dur)
        return self.x0 + self.v0 * tau + 0.5 * self.a * tau * tau, self.v0 + self.a * tau

    @property
    def x1(self) -> float:
        return self.at(self.t1)[0]


def plan_move(t0: float, x0: float, v0: float, x1: float, vmax: float, accel: float) -> list[_Segment]:
    """Segments taking the motor from (x0, v0) to rest at x1 with |v| ≤ vmax and |a| = accel.

    If the motor moves away from x1, or cannot stop before it, it first decelerates to rest. The remaining
    approach is accelerate → cruise → decelerate; with no room to reach vmax the cruise vanishes (triangle).
    Every segment is monotonic in position, which the backlash model relies on.
    """
    segs: list[_Segment] = []
    d = x1 - x0
    if v0 != 0.0:
        toward = (d > 0) == (v0 > 0) and d != 0
        if not toward or v0 * v0 / (2 * accel) > abs(d) + _EPS:
            seg = _Segment(t0, x0, v0, -math.copysign(accel, v0), abs(v0) / accel)
            segs.append(seg)
            t0, x0, v0 = seg.t1, seg.x1, 0.0
            d = x1 - x0
    if abs(d) <= _EPS and v0 == 0.0:
        return segs
    s = 1.0 if d > 0 else -1.0 if d < 0 else math.copysign(1.0, v0)
    dist = abs(d)
    u0 = max(s * v0, 0.0)
    vp = min(vmax, math.sqrt(accel * dist + 0.5 * u0 * u0))
    if abs(vp - u0) <= accel * _EPS:
        vp = u0  # no measurable speed change: keep the velocity continuous instead of a sub-ns ramp
    t1 = abs(vp - u0) / accel
    d1 = 0.5 * (u0 + vp) * t1
    t3 = vp / accel
    d3 = 0.5 * vp * t3
    tc = max(dist - d1 - d3, 0.0) / vp if vp > 0 else 0.0
    a1 = accel if vp >= u0 else -accel
    t, x = t0, x0
    for vstart, acc, dur in ((u0, a1, t1), (vp, 0.0, tc), (vp, -accel, t3)):
        if dur > _EPS:
            seg = _Segment(t, x, s * vstart, s * acc, dur)
            segs.append(seg)
            t, x = seg.t1, seg.x1
    return segs


class LinearStage:
    """One simulated lead-screw axis; thread-safe, evaluated lazily at ``clock.now()``.

    Positions that cross the API are microsteps (``*_usteps``, the motor's integer frame) or mm in the axis
    frame (``*_mm``). Commands raise ``StageError`` subclasses; they never clamp a bad target.
    """

    def __init__(self, name: str, config: StageConfig, *, clock: Clock, rng: np.random.Generator) -> None:
        self._name = name
        self._config = config
        self._clock = clock
        self._rng = rng
        self._lock = threading.RLock()
        self._limits = self.travel_usteps
        start_mm = config.power_on_position_mm
        if start_mm is None:
            start_mm = 0.5 * (config.travel_mm[0] + config.travel_mm[1])
        x = float(self.usteps_from_mm(start_mm))
        self._referenced = False
        self._stalled = False
        self._interrupted = False
        self._stall_at: float | None = None
        self._stall_next_fraction: float | None = None
        self._stall_is_limit = False  # the scheduled stop is a tripped limit sensor, not a stall
        self._limit_triggered = False
        self._emergency_stopped = False
        # Profile state; _install sets the rest.
        self._homing = False
        self._install(clock.now(), x, 0.0, [], x, homing=False)

    # ----------------------------------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> StageConfig:
        return self._config

    def __repr__(self) -> str:
        return f"LinearStage({self._name!r}, travel_mm={self._config.travel_mm})"

    # ----------------------------------------------------------------------------------------- units
    def usteps_from_mm(self, mm: float) -> int:
        return round(mm * 1000.0 / self._config.microstep_size_um)

    def mm_from_usteps(self, usteps: float) -> float:
        return usteps * self._config.microstep_size_um / 1000.0

    @property
    def travel_usteps(self) -> tuple[int, int]:
        lo, hi = self._config.travel_mm
        return self.usteps_from_mm(lo), self.usteps_from_mm(hi)

    @property
    def home_usteps(self) -> int:
        return self.travel_usteps[0]

    @property
    def max_speed_usteps_s(self) -> float:
        return self._config.max_speed_mm_s * 1000.0 / self._config.microstep_size_um

    @property
    def accel_usteps_s2(self) -> float:
        return self._config.accel_mm_s2 * 1000.0 / self._config.microstep_size_um

    # ----------------------------------------------------------------------------------------- model
    def _nut_mm(self, motor_mm: float) -> float:
        c = self._config
        u = motor_mm - c.travel_mm[0]
        n = motor_mm + c.pitch_error_um_per_m * 1e-6 * u
        if c.periodic_error_um:
            n += c.periodic_error_um * 1e-3 * math.sin(2.0 * math.pi * u / c.screw_lead_mm)
        return n

    def _play(self, play: float, x_from: float, x_to: float) -> float:
        """Play after a monotonic motor move from ``x_from`` to ``x_to`` (microsteps)."""
        dn = self._nut_mm(self.mm_from_usteps(x_to)) - self._nut_mm(self.mm_from_usteps(x_from))
        return min(max(play + dn, 0.0), self._config.backlash_mm)

    def _carriage_mm(self, x: float, play: float) -> float:
        return self._nut_mm(self.mm_from_usteps(x)) - play

    def _install(
        self, t0: float, x0: float, play0: float, segments: list[_Segment], x_rest: float, *, homing: bool
    ) -> None:
        """Make ``segments`` (starting at motor position ``x0``) the active profile, resting at ``x_rest``."""
        self._t0, self._x0, self._play0 = t0, x0, play0
        self._segments = segments
        self._x_rest = x_rest
        play, x_prev = play0, x0
        for seg in segments:
            play, x_prev = self._play(play, x_prev, seg.x1), seg.x1
        self._play_rest = self._play(play, x_prev, x_rest)
        self._t_end = segments[-1].t1 if segments else t0
        self._busy_until = self._t_end + (self._config.settle_s if segments else 0.0)
        self._homing = homing

    def _state_at(self, t: float) -> tuple[float, float, float]:
        """(motor microsteps, velocity microsteps/s, play mm) on the active profile at time ``t``."""
        if t >= self._t_end:
            return self._x_rest, 0.0, self._play_rest
        play, x_prev = self._play0, self._x0
        for seg in self._segments:
            if t >= seg.t1:
                play, x_prev = self._play(play, x_prev, seg.x1), seg.x1
            else:
                x, v = seg.at(t)
                return x, v, self._play(play, x_prev, x)
        return x_prev, 0.0, play

    def _halt(self, t: float) -> None:
        """Stop dead at time ``t`` (estop, stall): no deceleration, position snapped to a whole microstep."""
        x, _, play = self._state_at(t)
        self._install(t, x, play, [], float(round(x)), homing=False)

    def _advance(self, now: float) -> None:
        """Apply events that happened up to ``now``, in time order."""
        ts = self._stall_at
        if ts is not None and ts <= now:
            self._stall_at = None
            if self._t0 <= ts < self._t_end:
                self._halt(ts)
                if self._stall_is_limit:
                    self._limit_triggered = True
                else:
                    self._stalled = True
        if self._homing and now >= self._t_end:
            self._homing = False
            self._referenced = True

    def _start(
        self, now: float, legs: list[tuple[float, float]], *, homing: bool, command: bool = True
    ) -> None:
        """Plan a motion through ``legs`` = [(target µsteps, max speed µsteps/s), …] from the state now."""
        x, v, play = self._state_at(now)
        accel = self.accel_usteps_s2
        segments: list[_Segment] = []
        t, xs, vs = now, x, v
        for target, vmax in legs:
            part = plan_move(t, xs, vs, target, vmax, accel)
            segments += part
            if part:
                t = part[-1].t1
            xs, vs = float(target), 0.0
        self._install(now, x, play, segments, float(legs[-1][0]), homing=homing)
        self._interrupted = False
        if command and self._stall_next_fraction is not None and segments:  # braking is not "the next move"
            self._stall_at = now + self._stall_next_fraction * (self._t_end - now)
            self._stall_next_fraction = None

    # ----------------------------------------------------------------------------------------- commands
    def home(self) -> None:
        """Drive to the datum at homing speed, always ending with an approach from above; sets the reference.

        The reference is dropped at the start and set only when the homing profile completes undisturbed.
        """
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            self._check_powered()
            x, _, _ = self._state_at(now)
            h = self.home_usteps
            backoff = self.usteps_from_mm(max(HOME_BACKOFF_MM, 2.0 * self._config.backlash_mm))
            speed = self._config.homing_speed_mm_s * 1000.0 / self._config.microstep_size_um
            legs: list[tuple[float, float]] = []
            if x < h + backoff:
                legs.append((float(min(h + backoff, self.travel_usteps[1])), speed))
            legs.append((float(h), speed))
            self._referenced = False
            self._start(now, legs, homing=True)

    def move_to(self, target_usteps: int) -> None:
        """Absolute move to a whole microstep inside the limits; refused before homing."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            self._check_target(target_usteps)
            self._start(now, [(float(target_usteps), self.max_speed_usteps_s)], homing=False)

    def move_by(self, delta_usteps: int) -> None:
        """Relative move from the current (rounded) motor position."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            x, _, _ = self._state_at(now)
            self.move_to(round(x) + int(delta_usteps))

    def move_velocity(self, velocity_usteps_s: float) -> None:
        """Run at a constant velocity until the limit in that direction (where it decelerates to rest).

        Zero velocity decelerates to rest without marking the movement interrupted.
        """
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            self._check_powered()
            if not self._referenced:
                raise NotReferencedError(f"{self._name}: not referenced; home first")
            if velocity_usteps_s == 0:
                self._decelerate(now)
                return
            lo, hi = self._limits
            target = hi if velocity_usteps_s > 0 else lo
            self._start(now, [(float(target), abs(velocity_usteps_s))], homing=False)

    def stop(self) -> None:
        """Decelerate to rest; if a motion was in progress it is marked interrupted (and homing aborted)."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            if now < self._t_end:
                self._decelerate(now)
                self._interrupted = True

    def estop(self) -> None:
        """Stop at once, without deceleration; marks the movement interrupted if one was in progress."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            if now < self._t_end:
                self._halt(now)
                self._interrupted = True

    def _decelerate(self, now: float) -> None:
        x, v, _ = self._state_at(now)
        if v == 0.0:
            target = float(round(x))
        else:
            stopping = v * v / (2.0 * self.accel_usteps_s2)
            target = float(math.ceil(x + stopping - _EPS) if v > 0 else math.floor(x - stopping + _EPS))
        self._start(now, [(target, max(abs(v), self.max_speed_usteps_s))], homing=False, command=False)

    def _check_powered(self) -> None:
        if self._emergency_stopped:
            raise EmergencyStoppedError(f"{self._name}: emergency stop active; the drive is unpowered")

    def _check_target(self, target: int) -> None:
        self._check_powered()
        if not self._referenced:
            raise NotReferencedError(f"{self._name}: not referenced; home first")
        lo, hi = self._limits
        if not lo <= target <= hi:
            raise OutOfTravelError(f"{self._name}: target {target} µsteps is outside the limits [{lo}, {hi}]")

    def set_limits_usteps(self, lo: int | None = None, hi: int | None = None) -> None:
        """Change the soft limits (Zaber ``limit.min``/``limit.max``); they must stay inside the travel."""
        with self._lock:
            new_lo = self._limits[0] if lo is None else int(lo)
            new_hi = self._limits[1] if hi is None else int(hi)
            tlo, thi = self.travel_usteps
            if not tlo <= new_lo < new_hi <= thi:
                raise OutOfTravelError(f"{self._name}: limits [{new_lo}, {new_hi}] not inside [{tlo}, {thi}]")
            self._limits = (new_lo, new_hi)

    @property
    def limits_usteps(self) -> tuple[int, int]:
        return self._limits

    # ------------------------------------------------------------------------------------- fault injection
    def inject_stall(self, at_time: float | None = None, *, fraction: float = 0.5) -> None:
        """Make the axis stall: at clock time ``at_time`` (if it is moving then), or, with no time, partway
        (``fraction`` of its duration) through the next motion command. A stall stops the motor dead and
        raises the ``stalled`` fault until ``clear_faults``.
        """
        self._schedule_stop(at_time, fraction, limit=False)

    def inject_limit_trigger(self, at_time: float | None = None, *, fraction: float = 0.5) -> None:
        """Make a limit sensor trip mid-travel (a misadjusted or obstructed switch), timed like a stall:
        the motor stops dead and ``limit_triggered`` (Zaber ``WL``) stays until ``clear_faults``."""
        self._schedule_stop(at_time, fraction, limit=True)

    def emergency_stop(self) -> None:
        """The room e-stop (or a power loss) cuts the drive: stop dead, refuse motion from now on."""
        with self._lock:
            self.estop()
            self._emergency_stopped = True

    def _schedule_stop(self, at_time: float | None, fraction: float, *, limit: bool) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be within [0, 1]")
        with self._lock:
            self._stall_is_limit = limit
            if at_time is None:
                self._stall_next_fraction = fraction
            else:
                self._stall_at = float(at_time)

    def clear_faults(self) -> None:
        """Clear the stall fault and the movement-interrupted notice (Zaber ``warnings clear``)."""
        with self._lock:
            self._advance(self._clock.now())
            self._stalled = False
            self._interrupted = False
            self._limit_triggered = False

    def set_error(
        self,
        *,
        backlash_mm: float | None = None,
        pitch_error_um_per_m: float | None = None,
        periodic_error_um: float | None = None,
        screw_lead_mm: float | None = None,
        noise_um: float | None = None,
    ) -> None:
        """Inject calibration errors after construction (only the given ones change)."""
        changes: dict[str, Any] = {
            "backlash_mm": backlash_mm,
            "pitch_error_um_per_m": pitch_error_um_per_m,
            "periodic_error_um": periodic_error_um,
            "screw_lead_mm": screw_lead_mm,
            "noise_um": noise_um,
        }
        self.update_config(**{k: v for k, v in changes.items() if v is not None})

    def update_config(self, **changes: Any) -> None:
        """Change errors or kinematics (``MUTABLE_FIELDS``); validated like the original config.

        A motion in progress keeps its planned profile; the carriage stays continuous because the play state
        is re-based at the current time under the old parameters first.
        """
        frozen = set(changes) - MUTABLE_FIELDS
        if frozen:
            raise ValueError(f"cannot change {sorted(frozen)} after construction; build a new stage")
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            new = StageConfig.model_validate({**self._config.model_dump(), **changes})
            x, _, play = self._state_at(now)
            remaining: list[_Segment] = []
            for seg in self._segments:
                if seg.t1 <= now:
                    continue
                if seg.t0 < now:
                    sx, sv = seg.at(now)
                    seg = _Segment(now, sx, sv, seg.a, seg.t1 - now)
                remaining.append(seg)
            busy_until = self._busy_until
            homing = self._homing
            self._config = new
            self._install(now, x, min(play, new.backlash_mm), remaining, self._x_rest, homing=homing)
            if not remaining:
                self._busy_until = busy_until  # keep a settle in progress

    # ----------------------------------------------------------------------------------------- queries
    def now(self) -> float:
        return self._clock.now()

    def state(self) -> StageState:
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            x, v, play = self._state_at(now)
            return StageState(
                t=now,
                motor_usteps=x,
                target_usteps=round(self._x_rest),
                velocity_mm_s=self.mm_from_usteps(v),
                motor_mm=self.mm_from_usteps(x),
                carriage_mm=self._carriage_mm(x, play),
                play_mm=play,
                busy=now < self._busy_until,
                moving=now < self._t_end,
                referenced=self._referenced,
                stalled=self._stalled,
                interrupted=self._interrupted,
                limit_triggered=self._limit_triggered,
                emergency_stopped=self._emergency_stopped,
            )

    def status_flags(self) -> StageFlags:
        """Busy and the fault/notice flags at one instant, without the position (a controller's status)."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            return StageFlags(
                busy=now < self._busy_until,
                referenced=self._referenced,
                stalled=self._stalled,
                interrupted=self._interrupted,
                limit_triggered=self._limit_triggered,
                emergency_stopped=self._emergency_stopped,
            )

    def is_busy(self) -> bool:
        """Moving or settling; what a controller reports as BUSY."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            return now < self._busy_until

    def is_moving(self) -> bool:
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            return now < self._t_end

    @property
    def referenced(self) -> bool:
        with self._lock:
            self._advance(self._clock.now())
            return self._referenced

    @property
    def stalled(self) -> bool:
        with self._lock:
            self._advance(self._clock.now())
            return self._stalled

    @property
    def interrupted(self) -> bool:
        with self._lock:
            self._advance(self._clock.now())
            return self._interrupted

    def busy_until(self) -> float:
        """Clock time at which the axis becomes idle (≤ now if idle); useful to sleep exactly that long."""
        with self._lock:
            self._advance(self._clock.now())
            return self._busy_until

    def motor_position_usteps(self) -> int:
        """The commanded microstep count (open-loop readback)."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            return round(self._state_at(now)[0])

    def motor_position_mm(self) -> float:
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            return self.mm_from_usteps(self._state_at(now)[0])

    def carriage_position_mm(self) -> float:
        """The true carriage position (no noise); what an ideal external reference would see."""
        with self._lock:
            now = self._clock.now()
            self._advance(now)
            x, _, play = self._state_at(now)
            return self._carriage_mm(x, play)

    def encoder_counts(self) -> int:
        """One linear-encoder reading in counts (axis frame): true carriage + noise, quantized."""
        with self._lock:
            q_um = self.carriage_position_mm() * 1000.0
            if self._config.noise_um > 0:
                q_um += float(self._rng.normal(0.0, self._config.noise_um))
            return round(q_um / self._config.encoder_count_size_um)

    def encoder_position_mm(self) -> float:
        """One encoder reading in mm (quantized to counts)."""
        return self.encoder_counts() * self._config.encoder_count_size_um / 1000.0

    def encoder_position_usteps(self) -> int:
        """One encoder reading expressed in microsteps, as Zaber's ``encoder.pos`` reports it."""
        with self._lock:
            counts = self.encoder_counts()
            return round(counts * self._config.encoder_count_size_um / self._config.microstep_size_um)

    def at_home_sensor(self) -> bool:
        with self._lock:
            return self.motor_position_usteps() <= self.home_usteps

    def at_away_sensor(self) -> bool:
        with self._lock:
            return self.motor_position_usteps() >= self.travel_usteps[1]
