"""A PI hexapod controller (C-887 class) as a state machine over a ``GcsConnection``.

The controller object knows what the wire does not say in one reply: whether the platform is referenced,
whether a move or a reference run is in flight, whether a stop or a motion error is latched. That lives
in a ``transitions`` machine declared below as data; every public call checks it *before* any byte is
sent and raises ``IllegalStateError`` naming the state. All waits go through the injected ``Clock``, so a
simulated rig runs in virtual time.

A move's wait is planned from the motion commanded: the platform moves on a straight line in pose space,
so the path from the last target to the new one, the system velocity (``VLS`` as this driver last sent or
read it; no query is added) and, when the rig file gives them, the acceleration, angular velocity and
acceleration and the settle time, give a trapezoidal profile time. The controller sleeps until just
before it and then looks closely (``drivers.clock``). A quantity left unknown makes that time a lower
bound, after which the looks back off up to ``poll_interval_s``. A reference run waits for
``reference_time_s`` when the rig file gives it (a lower bound, looked at once a second); otherwise it, and
the wait after a stop, back off the same way.

Coordinates here are the controller's own: X Y Z in mm and U V W in degrees about the pivot (``SPI``).
The IEC 61217 meaning of those numbers is ``drivers.pi_gcs.iec``'s business, one layer up.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from drivers.clock import Clock, MotionPlan, trapezoid_s, wait_planned
from drivers.errors import IllegalStateError, LimitViolation, ProtocolError
from drivers.pi_gcs.connection import GcsConnection
from drivers.pi_gcs.errors import (
    FAULT_CODES,
    GcsError,
    GcsNotReferenced,
    GcsStopped,
    HexapodFault,
    MotionTimeout,
    UnreachablePose,
    gcs_error,
)
from drivers.pi_gcs.gcs import (
    HEXAPOD_AXES,
    axis_arguments,
    check_axis_id,
    format_number,
    moving_axes,
    parse_number,
)
from drivers.roles.identity import DeviceIdentity, from_idn
from drivers.state_machine import DriverStateMachine, sources_by_trigger

log = logging.getLogger(__name__)

# -- state machine, declared as data -------------------------------------------------------------------
STATES: Final = ("disconnected", "connected", "referencing", "ready", "moving", "stopped", "fault")
_NOT_FAULTED: Final = ["connected", "referencing", "ready", "moving", "stopped"]
_ONLINE: Final = [*_NOT_FAULTED, "fault"]

#: Every legal edge. ``connected`` = talking, but not referenced (or servo off): absolute moves would get
#: GCS error 5. ``stopped`` latches an abrupt stop (``STP``/``#24``) until ``reset_stop``; ``fault``
#: latches a motion error (servo switched off) until ``clear_fault``.
TRANSITIONS: Final[list[dict[str, Any]]] = [
    {"trigger": "found_unreferenced", "source": "disconnected", "dest": "connected"},
    {"trigger": "found_referenced", "source": "disconnected", "dest": "ready"},
    {"trigger": "found_moving", "source": "disconnected", "dest": "moving"},
    {"trigger": "start_referencing", "source": ["connected", "ready", "stopped"], "dest": "referencing"},
    {"trigger": "referenced", "source": "referencing", "dest": "ready"},
    {"trigger": "reference_failed", "source": "referencing", "dest": "connected"},
    {"trigger": "start_moving", "source": "ready", "dest": "moving"},
    {"trigger": "arrived", "source": "moving", "dest": "ready"},
    {"trigger": "halted", "source": ["ready", "moving"], "dest": "ready"},
    {"trigger": "halted", "source": ["connected", "referencing"], "dest": "connected"},
    {"trigger": "halted", "source": "stopped", "dest": "stopped"},
    {"trigger": "halted", "source": "fault", "dest": "fault"},
    {"trigger": "stopped", "source": _NOT_FAULTED, "dest": "stopped"},
    {"trigger": "stopped", "source": "fault", "dest": "fault"},
    {"trigger": "stop_reset_referenced", "source": "stopped", "dest": "ready"},
    {"trigger": "stop_reset_unreferenced", "source": "stopped", "dest": "connected"},
    {"trigger": "reference_lost", "source": ["ready", "connected"], "dest": "connected"},
    {"trigger": "faulted", "source": _NOT_FAULTED, "dest": "fault"},
    {"trigger": "fault_cleared_referenced", "source": "fault", "dest": "ready"},
    {"trigger": "fault_cleared_unreferenced", "source": "fault", "dest": "connected"},
    {"trigger": "disconnect", "source": _ONLINE, "dest": "disconnected"},
]


#: Which states each trigger may fire from: the guard every public call checks before any I/O.
TRIGGER_SOURCES: Final = sources_by_trigger(TRANSITIONS)

#: Units of each axis, for limit errors: X Y Z translate (mm), U V W rotate (degrees).
AXIS_UNITS: Final = {"X": "mm", "Y": "mm", "Z": "mm", "U": "deg", "V": "deg", "W": "deg"}

Pose = dict[str, float]

#: Below this a path component (mm or degrees) is no motion at all.
_PATH_EPS: Final = 1e-9


class HexapodController:
    """One hexapod (six platform axes) on a ``GcsConnection``. Construction does no I/O; ``connect()`` does.

    ``poll_interval_s`` is the longest rig-clock pause between status queries while waiting. The motion
    profile (``accel_mm_s2``, ``angular_velocity_deg_s``, ``angular_accel_deg_s2``, ``settle_s``; None:
    unknown) plans each move's wait together with the system velocity; ``reference_time_s`` (None:
    unknown) the reference run's, as a lower bound watched once a second.
    """

    def __init__(
        self,
        connection: GcsConnection,
        *,
        name: str,
        clock: Clock,
        poll_interval_s: float = 0.05,
        axes: Sequence[str] = HEXAPOD_AXES,
        accel_mm_s2: float | None = None,
        angular_velocity_deg_s: float | None = None,
        angular_accel_deg_s2: float | None = None,
        settle_s: float | None = None,
        reference_time_s: float | None = None,
    ) -> None:
        if not (poll_interval_s > 0 and math.isfinite(poll_interval_s)):
            raise ValueError(f"{name}: poll_interval_s must be positive and finite, got {poll_interval_s!r}")
        for axis in axes:
            check_axis_id(axis)
        if len(set(axes)) != len(axes) or not axes:
            raise ValueError(f"{name}: axes must be distinct and non-empty, got {list(axes)}")
        self.name = name
        self.axes: tuple[str, ...] = tuple(axes)
        self.poll_interval_s = poll_interval_s
        for label, value in (
            ("accel_mm_s2", accel_mm_s2),
            ("angular_velocity_deg_s", angular_velocity_deg_s),
            ("angular_accel_deg_s2", angular_accel_deg_s2),
        ):
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name}: {label} must be positive and finite, got {value!r}")
        for label, value in (("settle_s", settle_s), ("reference_time_s", reference_time_s)):
            if value is not None and not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name}: {label} must be non-negative and finite, got {value!r}")
        self.reference_time_s = reference_time_s
        self.accel_mm_s2 = accel_mm_s2
        self.angular_velocity_deg_s = angular_velocity_deg_s
        self.angular_accel_deg_s2 = angular_accel_deg_s2
        self.settle_s = settle_s
        self._velocity: float | None = None  # VLS as last sent or read
        self._plan: MotionPlan | None = None
        self._connection = connection
        self._clock = clock
        self._identity = ""
        self._device_identity: DeviceIdentity | None = None
        self._all_axes: tuple[str, ...] = ()
        self._travel: dict[str, tuple[float, float]] = {}
        self._position: Pose | None = None
        self._target: Pose | None = None
        self._machine = DriverStateMachine(name, STATES, TRANSITIONS)

    # -- state -----------------------------------------------------------------------------------------
    @property
    def connection(self) -> GcsConnection:
        return self._connection

    @property
    def state(self) -> str:
        return self._machine.state

    @property
    def identity(self) -> str:
        """The ``*IDN?`` answer read at connect."""
        return self._identity

    def device_identity(self) -> DeviceIdentity:
        """The ``*IDN?`` answer of the last connect as fields (no I/O; kept after ``close()``).

        ``*IDN?`` is IEEE 488.2 style: manufacturer, model (e.g. ``C-887.52``), serial number, firmware.
        A reply that is not four comma-separated fields fills only ``raw``. Raises ``IllegalStateError``
        before the first connect has read it.
        """
        if self._device_identity is None:
            raise IllegalStateError(self.name, "report its identity", self._machine.state)
        return self._device_identity

    @property
    def last_position(self) -> Pose | None:
        """The last ``POS?`` answer (refreshed at connect, after referencing, each arrival and each stop)."""
        return None if self._position is None else dict(self._position)

    @property
    def last_target(self) -> Pose | None:
        """The last commanded target (``MOV?`` at connect, then every ``MOV``/``MVR`` sent)."""
        return None if self._target is None else dict(self._target)

    def require(self, action: str, trigger: str) -> None:
        """Raise ``IllegalStateError`` unless ``trigger`` may fire now (the couch calls it first)."""
        self._machine.require(action, trigger)

    def _require_online(self, action: str) -> None:
        self._machine.require_in(action, _ONLINE)

    # -- wire helpers ----------------------------------------------------------------------------------
    def _send(self, command: str, *args: str, allow: Sequence[int] = ()) -> int:
        try:
            return self._connection.send(command, *args, device=self.name, allow=allow)
        except GcsError as err:
            self._note_fault(err)
            raise

    def _note_fault(self, err: GcsError) -> None:
        if err.gcs_code in FAULT_CODES and self._machine.can("faulted"):
            self._machine.fire("faulted")

    def _floats(self, command: str) -> Pose:
        return self._connection.query_floats(command, self.axes, device=self.name)

    def _flags(self, command: str) -> dict[str, bool]:
        return self._connection.query_flags(command, self.axes, device=self.name)

    def _check_error(self, action: str) -> None:
        code = self._connection.error_code(device=self.name)
        if code:
            err = gcs_error(self.name, action, code)
            self._note_fault(err)
            raise err

    # -- connect ---------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Clear a stale error, identify, then read axes, servo, reference, travel, motion and pose.

        Sequence: ``ERR?``, ``*IDN?``, ``CSV?`` (must be 2.0), ``SAI?``, ``SVO?``, ``FRF?``, ``TMN?``,
        ``TMX?``, ``#5``, ``POS?``, ``MOV?``. Ends in ``moving``, ``ready`` (referenced, servo on) or
        ``connected``.
        """
        self.require("connect", "found_unreferenced")
        connection = self._connection
        stale = connection.error_code(device=self.name)
        if stale:
            log.warning("%s: controller had GCS error %d latched from before; cleared", self.name, stale)
        self._identity = connection.query_value("*IDN?", device=self.name)
        self._device_identity = from_idn(self._identity)
        version = connection.query_value("CSV?", device=self.name)
        if version not in ("2", "2.0", "2.00"):
            raise ProtocolError(
                self.name, "CSV?", version, "GCS syntax version is not 2.0; this driver speaks GCS 2.0 only"
            )
        self._all_axes = self._read_axis_list()
        missing = [axis for axis in self.axes if axis not in self._all_axes]
        if missing:
            raise ProtocolError(
                self.name, "SAI?", " ".join(self._all_axes), f"controller lacks axes {missing}"
            )
        servo = self._flags("SVO?")
        referenced = self._flags("FRF?")
        low, high = self._floats("TMN?"), self._floats("TMX?")
        for axis in self.axes:
            if not low[axis] <= high[axis]:
                raise ProtocolError(
                    self.name, "TMX?", f"{axis}: {low[axis]} > {high[axis]}", "TMN? is above TMX?"
                )
        self._travel = {axis: (low[axis], high[axis]) for axis in self.axes}
        mask = connection.motion_status(device=self.name)
        self._position = self._floats("POS?")
        self._target = self._floats("MOV?")
        if mask:
            self._machine.fire("found_moving")
        elif all(servo.values()) and all(referenced.values()):
            self._machine.fire("found_referenced")
        else:
            self._machine.fire("found_unreferenced")

    def _read_axis_list(self) -> tuple[str, ...]:
        lines = self._connection.query("SAI?", device=self.name)
        for line in lines:
            try:
                check_axis_id(line)
            except ValueError:
                raise ProtocolError(self.name, "SAI?", line, "axis identifier is not one word") from None
        return tuple(lines)

    def close(self) -> None:
        """Forget the controller (no bytes sent); idempotent. The connection stays open for its owner."""
        if self._machine.state != "disconnected":
            self._machine.fire("disconnect")

    # -- reading ---------------------------------------------------------------------------------------
    def travel(self) -> dict[str, tuple[float, float]]:
        """Per axis, the (``TMN?``, ``TMX?``) travel read at connect."""
        self._require_online("read the travel")
        return dict(self._travel)

    def position(self) -> Pose:
        """``POS?`` for the six axes: the controller's current pose."""
        self._require_online("read the position")
        self._position = self._floats("POS?")
        return dict(self._position)

    def target(self) -> Pose:
        """``MOV?``: the commanded target pose."""
        self._require_online("read the target")
        return self._floats("MOV?")

    def on_target(self) -> dict[str, bool]:
        """``ONT?``: per axis, whether it is inside its on-target window."""
        self._require_online("read on-target")
        return self._flags("ONT?")

    def referenced(self) -> dict[str, bool]:
        """``FRF?``: per axis, whether it is referenced."""
        self._require_online("read the reference state")
        return self._flags("FRF?")

    def servo(self) -> dict[str, bool]:
        """``SVO?``: per axis, whether the servo loop is closed."""
        self._require_online("read the servo state")
        return self._flags("SVO?")

    def motion_mask(self) -> int:
        """``#5``: bit mask of moving axes in ``SAI?`` order."""
        self._require_online("read the motion status")
        return self._connection.motion_status(device=self.name)

    def moving_axes(self) -> tuple[str, ...]:
        """The axes ``#5`` reports as moving."""
        return moving_axes(self.motion_mask(), self._all_axes)

    def is_ready(self) -> bool:
        """``#7``: whether the controller is ready for the next command."""
        self._require_online("ask whether the controller is ready")
        return self._connection.controller_ready(device=self.name)

    def velocity(self) -> float:
        """``VLS?``: the platform (system) velocity, in mm/s for translations."""
        self._require_online("read the velocity")
        text = self._connection.query_value("VLS?", device=self.name)
        self._velocity = parse_number(text, device=self.name, command="VLS?", raw=text)
        return self._velocity

    def pivot(self) -> tuple[float, float, float]:
        """``SPI?``: the pivot point (R, S, T) in mm, in the hexapod's coordinates."""
        self._require_online("read the pivot point")
        rst = self._connection.query_floats("SPI?", ("R", "S", "T"), device=self.name, ask_keys=False)
        return rst["R"], rst["S"], rst["T"]

    def help_lines(self) -> list[str]:
        """``HLP?``: the controller's command list, one line per command, header and footer included."""
        self._require_online("read the help")
        return self._connection.query("HLP?", device=self.name)

    def axis_list(self) -> tuple[str, ...]:
        """``SAI?`` as read at connect (all axes the controller has, in bit order of ``#5``)."""
        self._require_online("read the axis list")
        return self._all_axes

    def is_reachable(self, targets: Mapping[str, float]) -> bool:
        """``VMO?``: would a move to ``targets`` be possible? (No motion; ``1``/``0`` answer.)"""
        self._require_online("ask for a virtual move")
        pairs = self._checked_pairs(targets)
        answer = self._connection.query_value("VMO?", *axis_arguments(pairs), device=self.name)
        if answer not in ("0", "1"):
            raise ProtocolError(self.name, "VMO?", answer, "virtual-move answer is neither 0 nor 1")
        return answer == "1"

    # -- settings --------------------------------------------------------------------------------------
    def set_servo(self, on: bool) -> None:
        """``SVO X 1 Y 1 …`` (or 0). Switching the servo off leaves ``ready`` for ``connected``."""
        self.require("switch the servo", "reference_lost")
        flag = "1" if on else "0"
        self._send("SVO", *[part for axis in self.axes for part in (axis, flag)])
        if not on and self._machine.state == "ready":
            self._machine.fire("reference_lost")

    def set_velocity(self, velocity: float) -> None:
        """``VLS v``: platform velocity. Only while nothing moves (the controller refuses otherwise)."""
        self._require_online("set the velocity")
        if self._machine.state in ("moving", "referencing"):
            raise IllegalStateError(self.name, "set the velocity", self._machine.state)
        if not (velocity > 0 and math.isfinite(velocity)):
            raise ValueError(f"{self.name}: velocity must be positive and finite, got {velocity!r}")
        self._velocity = None  # unknown until the controller has taken it
        self._send("VLS", format_number(velocity))
        self._velocity = float(format_number(velocity))

    def set_pivot(self, r_mm: float, s_mm: float, t_mm: float) -> None:
        """``SPI R r S s T t``. The controller refuses (error 9) unless U, V and W are all 0."""
        self._require_online("set the pivot point")
        if self._machine.state in ("moving", "referencing"):
            raise IllegalStateError(self.name, "set the pivot point", self._machine.state)
        self._send("SPI", *axis_arguments({"R": r_mm, "S": s_mm, "T": t_mm}))

    # -- referencing -----------------------------------------------------------------------------------
    def reference(self, timeout_s: float = 300.0) -> None:
        """Servo on if needed, ``FRF X Y Z U V W``, poll ``#7`` on the clock, then require ``FRF?`` all 1.

        A timeout leaves the state ``referencing``; ``halt()`` or ``stop()`` ends it.
        """
        self.require("reference", "start_referencing")
        servo = self._flags("SVO?")
        if not all(servo.values()):
            self._send("SVO", *[part for axis in self.axes for part in (axis, "1")])
        self._send("FRF", *self.axes)
        self._machine.fire("start_referencing")
        self._plan = self._reference_plan()
        self._poll("reference", timeout_s, self._referencing_done, self._plan)

    def _reference_plan(self) -> MotionPlan | None:
        """A reference run of ``reference_time_s``, never exact: its length depends on the pose."""
        if self.reference_time_s is None:
            return None
        return MotionPlan(self._clock.now(), self.reference_time_s, exact=False)

    def _referencing_done(self) -> bool:
        if not self._connection.controller_ready(device=self.name):
            return False
        self._finish_referencing()
        return True

    def _finish_referencing(self) -> None:
        referenced = self._flags("FRF?")
        self._plan = None
        if all(referenced.values()):
            self._position = self._floats("POS?")
            self._target = dict(self._position)
            self._machine.fire("referenced")
            return
        code = self._connection.error_code(device=self.name)
        self._machine.fire("reference_failed")
        missing = " ".join(axis for axis, done in referenced.items() if not done)
        detail = f"GCS error {code}" if code else "no error code latched"
        raise HexapodFault(
            self.name, "unreferenced", f"reference move ended with {missing} unreferenced; {detail}"
        )

    # -- motion ----------------------------------------------------------------------------------------
    def _checked_pairs(self, targets: Mapping[str, float]) -> Pose:
        """Targets restricted to our axes, finite and inside ``TMN?``..``TMX?``; else ``LimitViolation``."""
        pairs: Pose = {}
        for axis, value in targets.items():
            if axis not in self._travel:
                raise ValueError(f"{self.name}: unknown axis {axis!r}; this hexapod has {list(self.axes)}")
            low, high = self._travel[axis]
            if not (math.isfinite(value) and low <= value <= high):
                raise LimitViolation(self.name, f"axis {axis}", value, low, high, AXIS_UNITS.get(axis, ""))
            pairs[axis] = float(value)
        if not pairs:
            raise ValueError(f"{self.name}: a move needs at least one axis")
        return pairs

    def check_move(self, targets: Mapping[str, float]) -> Pose:
        """The checks ``start_move`` makes before any byte: state and travel. Returns the checked targets."""
        self.require("move", "start_moving")
        return self._checked_pairs(targets)

    def start_move(self, targets: Mapping[str, float]) -> None:
        """``VMO?`` then ``MOV`` and ``ERR?``; returns at once. Refused before any byte outside the travel.

        An unreachable pose (``VMO?`` = 0) raises ``UnreachablePose`` and nothing moves.
        """
        pairs = self.check_move(targets)
        if not self.is_reachable(pairs):
            raise UnreachablePose(self.name, pairs)
        self._command_move("MOV", pairs, pairs)

    def _send_move(self, command: str, pairs: Pose) -> None:
        """``MOV``/``MVR`` and ``ERR?``; error 5 means the reference or servo was lost behind our back."""
        try:
            self._send(command, *axis_arguments(pairs))
        except GcsNotReferenced:
            self._machine.fire("reference_lost")
            raise

    def start_move_relative(self, deltas: Mapping[str, float]) -> None:
        """``MVR``: a move by ``deltas`` from the current target, checked like an absolute move first."""
        self.require("move", "start_moving")
        if self._target is None:  # pragma: no cover - connect() always reads MOV?
            raise IllegalStateError(self.name, "move relative without a known target", self._machine.state)
        absolute = {axis: self._target.get(axis, math.nan) + delta for axis, delta in deltas.items()}
        pairs = self._checked_pairs(absolute)
        if not self.is_reachable(pairs):
            raise UnreachablePose(self.name, pairs)
        self._command_move("MVR", {axis: deltas[axis] for axis in pairs}, pairs)

    def _command_move(self, command: str, arguments: Pose, pairs: Pose) -> None:
        """``MOV``/``MVR`` (+ ``ERR?``), then plan the wait from the moment the controller started it.

        The controller starts the motion when it executes ``MOV``, after the line has reached it and before
        the ``ERR?`` answer is back: the plan starts midway between the write and that answer (on a virtual
        clock the two are the same instant).
        """
        start = dict(self._target or {})
        end = {**start, **pairs}
        self._plan = None
        sent = self._clock.now()
        self._send_move(command, arguments)
        started = 0.5 * (sent + self._clock.now())
        self._target = end
        self._machine.fire("start_moving")
        duration, exact = self.expected_move(start, end)
        self._plan = None if duration is None else MotionPlan(started, duration, exact)

    def expected_move(
        self, start: Mapping[str, float], end: Mapping[str, float]
    ) -> tuple[float | None, bool]:
        """Profile time (+ settle) of the line ``start → end`` in pose space, and whether it is exact.

        The path parameter runs 0..1 with a top speed of ``min(v/|Δxyz|, ω/|Δuvw|)`` and an acceleration of
        ``min(a/|Δxyz|, α/|Δuvw|)``: all six axes start and stop together. Unknown limits are left out, so
        the time is then a lower bound (not exact); None when no limit at all applies to this move (a pure
        rotation with no angular velocity given).
        """
        linear = math.sqrt(sum((end.get(a, 0.0) - start.get(a, 0.0)) ** 2 for a in "XYZ"))
        angular = math.sqrt(sum((end.get(a, 0.0) - start.get(a, 0.0)) ** 2 for a in "UVW"))
        speeds: list[float] = []
        accels: list[float] = []
        exact = self.settle_s is not None
        for length, speed, accel in (
            (linear, self._velocity, self.accel_mm_s2),
            (angular, self.angular_velocity_deg_s, self.angular_accel_deg_s2),
        ):
            if length <= _PATH_EPS:
                continue
            exact = exact and speed is not None and accel is not None
            if speed is not None:
                speeds.append(speed / length)
            if accel is not None:
                accels.append(accel / length)
        settle = self.settle_s or 0.0
        if linear <= _PATH_EPS and angular <= _PATH_EPS:
            return settle, exact
        if not speeds:
            return None, False
        return trapezoid_s(1.0, min(speeds), min(accels) if accels else None) + settle, exact

    @property
    def motion_plan(self) -> MotionPlan | None:
        """The wait planned for the move in flight (None when idle or unplanned)."""
        return self._plan

    def is_moving(self) -> bool:
        """One ``#5``. When it reads 0 in ``moving``, ``ONT?`` decides: all on target completes the move."""
        self._require_online("poll motion")
        state = self._machine.state
        if state == "referencing":
            return not self._referencing_done()
        if self._connection.motion_status(device=self.name):
            return True
        if state == "moving":
            return not self._settled()
        return False

    def _settled(self) -> bool:
        """Called with ``#5`` = 0 in ``moving``: arrived when ``ONT?`` is all 1; an error code is raised.

        Not on target in the planned settle (from the profile's end, less the plan's margin, to the
        arrival) is what the plan expects: ``ERR?`` waits for the arrival look there. Anywhere else (a stall
        half-way, a stop by someone else) it is asked at once.
        """
        if all(self._flags("ONT?").values()):
            self._position = self._floats("POS?")
            self._machine.fire("arrived")
            self._plan = None
            return True
        plan = self._plan
        if plan is not None and plan.exact:
            settling_from = plan.arrival - (self.settle_s or 0.0) - plan.margin_s
            if settling_from <= self._clock.now() < plan.arrival:
                return False  # settling, as planned
        try:
            self._check_error("move")
        except GcsStopped:  # stopped by someone else (another client, the controller's own stop)
            self._plan = None
            self._machine.fire("halted")
            self._position = self._floats("POS?")
            self._target = dict(self._position)
            raise
        return False  # stopped inside the settling window: the next poll decides

    def wait_until_idle(self, timeout_s: float = 300.0) -> None:
        """Wait on the clock until the move (or reference run) is complete, or nothing moves.

        A move waits on its plan; a fully known plan still moving well after its expected arrival
        (``drivers.clock.MotionPlan``) times out like one past ``timeout_s``.
        """
        self._require_online("wait for idle")
        if self._machine.state == "referencing":
            self._poll("reference", timeout_s, self._referencing_done, self._plan)
        else:
            plan = self._plan if self._machine.state == "moving" else None
            self._poll("move", timeout_s, lambda: not self.is_moving(), plan)

    def _poll(
        self, action: str, timeout_s: float, done: Callable[[], bool], plan: MotionPlan | None = None
    ) -> None:
        """Sleep, then query ``done``, on the plan's schedule (none: backing off) until it is True."""
        clock = self._clock
        started = clock.now() if plan is None else plan.start
        if not wait_planned(clock, done, plan=plan, timeout_s=timeout_s, slow_s=self.poll_interval_s):
            waited = round(clock.now() - started, 3)
            raise MotionTimeout(self.name, action, waited, f"state {self._machine.state!r}")

    # -- stopping --------------------------------------------------------------------------------------
    def halt(self) -> None:
        """``HLT X Y Z U V W`` (smooth stop) and ``ERR?`` (10 expected). Allowed in every online state.

        The pose after the stop is read back (``POS?``) once ``#5`` reports no motion, so the next move
        is planned from where the platform really is.
        """
        self._require_online("halt")
        self._send("HLT", *self.axes, allow=(10,))
        self._after_stop("halted")

    def stop(self) -> None:
        """``STP`` (abrupt stop of everything) and ``ERR?`` (10 expected); latches ``stopped``."""
        self._require_online("stop")
        self._send("STP", allow=(10,))
        self._after_stop("stopped")

    def stop_all(self) -> None:
        """``#24`` (one byte, abrupt stop of everything) and ``ERR?``; latches ``stopped``.

        The latch is set even if the exchange fails, so nothing moves again before ``reset_stop``.
        """
        self._require_online("stop all")
        self._plan = None
        try:
            self._connection.stop_all(device=self.name)
        finally:
            self._machine.fire("stopped")
        self._refresh_after_stop()

    def _after_stop(self, trigger: str) -> None:
        self._plan = None
        self._machine.fire(trigger)
        self._refresh_after_stop()

    def _refresh_after_stop(self, timeout_s: float = 10.0) -> None:
        """Wait (clock) until ``#5`` reads 0, then cache ``POS?`` as both pose and target."""
        self._position = None
        try:
            self._poll("stop", timeout_s, lambda: not self._connection.motion_status(device=self.name))
        except MotionTimeout:
            log.error("%s: still moving %g s after a stop; pose unknown", self.name, timeout_s)
            raise
        self._position = self._floats("POS?")
        self._target = dict(self._position)

    def _servo_on_and_referenced(self) -> bool:
        servo, referenced = self._flags("SVO?"), self._flags("FRF?")
        return all(servo.values()) and all(referenced.values())

    def reset_stop(self) -> None:
        """Leave ``stopped``: ``SVO?`` and ``FRF?``; ready if referenced with servo on, else connected."""
        self.require("reset the stop", "stop_reset_referenced")
        ok = self._servo_on_and_referenced()
        self._machine.fire("stop_reset_referenced" if ok else "stop_reset_unreferenced")

    def clear_fault(self) -> None:
        """Leave ``fault``: ``ERR?`` (clears the latch), ``SVO?``, ``FRF?``; ``home`` if not ready after."""
        self.require("clear the fault", "fault_cleared_referenced")
        code = self._connection.error_code(device=self.name)
        if code:
            log.warning("%s: GCS error %d cleared while leaving fault", self.name, code)
        ok = self._servo_on_and_referenced()
        self._machine.fire("fault_cleared_referenced" if ok else "fault_cleared_unreferenced")

    def __repr__(self) -> str:
        return f"HexapodController({self.name!r}, state={self.state!r})"
