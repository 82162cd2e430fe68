"""One Zaber linear axis as an ``AxisPositioner``: state machine, unit conversion, waits planned on the clock.

The axis owns what the wire does not say explicitly: whether it is referenced, whether a move is in
flight, whether an emergency stop is latched. That knowledge lives in a ``transitions`` state machine
declared below as data, so the documentation diagram and the guard on every public call come from one
table. Every public call checks the state *before* any byte is sent, and every wait goes through the
injected ``Clock`` so simulated rigs run in virtual time.

A move's wait is planned from the motion commanded: the distance from where the axis is (the last arrival,
else ``get pos``) and the device's own ``maxspeed`` and ``accel`` (read once before the first move, again
after either is set) give the trapezoidal profile time; the axis sleeps until just before it and then
looks closely (``drivers.clock.next_poll_delay``). Homing, whose distance is unknown, backs off from fast
polls up to ``poll_interval_s``.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Final

from drivers.clock import ARRIVAL_SLACK_S, Clock, MotionPlan, trapezoid_s, wait_planned
from drivers.errors import (
    DeviceFault,
    DeviceRejected,
    HilcalDriverError,
    IllegalStateError,
    LimitViolation,
    ProtocolError,
)
from drivers.roles.identity import DeviceIdentity
from drivers.state_machine import DriverStateMachine, sources_by_trigger
from drivers.zaber.ascii import UNREFERENCED_FLAGS, WARNING_FLAGS, ZaberReply, parse_int, parse_warnings_data
from drivers.zaber.connection import ZaberConnection
from drivers.zaber.units import (
    accel_data_from_mm_per_s2,
    encoder_counts_to_mm,
    maxspeed_data_from_mm_per_s,
    mm_per_s2_from_accel_data,
    mm_per_s_from_maxspeed_data,
    mm_to_microsteps,
)

log = logging.getLogger(__name__)

# -- state machine, declared as data ---------------------------------------------------------------
STATES: Final = ("disconnected", "connected", "homing", "ready", "moving", "fault", "estopped")
_ONLINE: Final = ["connected", "homing", "ready", "moving", "fault", "estopped"]

#: Every legal edge. ``connected`` means "talking, but unreferenced" (``WR``/``WH`` present).
#: An estop latches: faults seen while ``estopped`` do not move the axis out of it (see ``reset_estop``).
TRANSITIONS: Final[list[dict[str, Any]]] = [
    {"trigger": "found_unreferenced", "source": "disconnected", "dest": "connected"},
    {"trigger": "found_referenced", "source": "disconnected", "dest": "ready"},
    {"trigger": "found_moving", "source": "disconnected", "dest": "moving"},
    {"trigger": "start_homing", "source": ["connected", "ready", "estopped"], "dest": "homing"},
    {"trigger": "homed", "source": "homing", "dest": "ready"},
    {"trigger": "home_incomplete", "source": "homing", "dest": "connected"},
    {"trigger": "start_moving", "source": "ready", "dest": "moving"},
    {"trigger": "arrived", "source": "moving", "dest": "ready"},
    {"trigger": "stopped", "source": ["ready", "moving"], "dest": "ready"},
    {"trigger": "stopped", "source": ["connected", "homing"], "dest": "connected"},
    {"trigger": "stopped", "source": "fault", "dest": "fault"},
    {"trigger": "stopped", "source": "estopped", "dest": "estopped"},
    {"trigger": "reference_lost", "source": "ready", "dest": "connected"},
    {
        "trigger": "faulted",
        "source": ["disconnected", "connected", "homing", "ready", "moving"],
        "dest": "fault",
    },
    {"trigger": "fault_cleared_unreferenced", "source": "fault", "dest": "connected"},
    {"trigger": "fault_cleared_referenced", "source": "fault", "dest": "ready"},
    {"trigger": "estop", "source": _ONLINE, "dest": "estopped"},
    {"trigger": "estop_reset_unreferenced", "source": "estopped", "dest": "connected"},
    {"trigger": "estop_reset_referenced", "source": "estopped", "dest": "ready"},
    {"trigger": "estop_reset_faulted", "source": "estopped", "dest": "fault"},
    {"trigger": "disconnect", "source": _ONLINE, "dest": "disconnected"},
]


#: Which states each trigger may fire from: the guard every public call checks before any I/O.
TRIGGER_SOURCES: Final = sources_by_trigger(TRANSITIONS)

_SETTING_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._")
_VALUE_FORBIDDEN: Final = frozenset(" \t\r\n/:")


class MotionTimeout(HilcalDriverError):
    """A home or move still BUSY when its (clock) deadline passed; the axis is left as it was."""

    def __init__(self, device: str, action: str, timeout_s: float, last_reply: bytes) -> None:
        super().__init__(
            f"{device}: {action} still busy after {timeout_s:g} s on the rig clock; "
            f"last status {last_reply!r}"
        )
        self.device = device
        self.action = action
        self.timeout_s = timeout_s
        self.last_reply = last_reply


#: Warnings (not faults) that mean the last motion did not reach its target: ``WL`` unexpected limit trigger.
INCOMPLETE_MOTION_FLAGS = frozenset({"WL"})

#: Device-scope settings read (axis 0) at connect for ``device_identity()``, in this order.
IDENTITY_SETTINGS: Final = ("deviceid", "system.serial", "version", "version.build")
#: The ASCII protocol is Zaber's own; the device reports no vendor name.
ZABER_VENDOR: Final = "Zaber Technologies"


class ZaberAxis:
    """One axis of a Zaber device on a shared ``ZaberConnection``; satisfies ``AxisPositioner``.

    Positions are millimetres on the device's own scale (``pos`` × ``microstep_size_um``). For servo
    stages whose ``pos`` is in encoder counts, pass the count size as ``microstep_size_um``. Construction
    does no I/O; ``connect()`` does.
    """

    def __init__(
        self,
        connection: ZaberConnection,
        *,
        name: str,
        address: int,
        axis: int,
        microstep_size_um: float,
        encoder_count_size_um: float | None = None,
        clock: Clock,
        poll_interval_s: float = 0.05,
    ) -> None:
        if not 1 <= address <= 99:
            raise ValueError(f"{name}: address must be 1..99, got {address}")
        if not 1 <= axis <= 99:
            raise ValueError(f"{name}: axis must be 1..99 (axis 0 would address every axis), got {axis}")
        for label, size in (
            ("microstep_size_um", microstep_size_um),
            ("encoder_count_size_um", encoder_count_size_um),
        ):
            if size is not None and not (size > 0 and math.isfinite(size)):
                raise ValueError(f"{name}: {label} must be positive and finite, got {size!r}")
        if not (poll_interval_s > 0 and math.isfinite(poll_interval_s)):
            raise ValueError(f"{name}: poll_interval_s must be positive, got {poll_interval_s!r}")
        self.name = name
        self.address = address
        self.axis = axis
        self.microstep_size_um = microstep_size_um
        self.encoder_count_size_um = encoder_count_size_um
        self.poll_interval_s = poll_interval_s
        self._connection = connection
        self._clock = clock
        self._limits_steps: tuple[int, int] | None = None
        self._identity: DeviceIdentity | None = None
        self._machine = DriverStateMachine(name, STATES, TRANSITIONS)
        #: Top speed (mm/s) and acceleration (mm/s²) as the device last reported them; None until read.
        self._speed: float | None = None
        self._accel: float | None = None
        #: Where the axis is, in microsteps, when known without asking (the last completed move's target).
        self._at_steps: int | None = None
        self._moving_to: int | None = None
        self._plan: MotionPlan | None = None
        #: When the planned move's profile ends, and the settle learned so far: the least time the device
        #: has stayed BUSY after a profile ended (the device reports no settle time of its own).
        self._profile_end: float | None = None
        self._settle_s: float | None = None

    # -- state ----------------------------------------------------------------------------------
    @property
    def connection(self) -> ZaberConnection:
        return self._connection

    @property
    def state(self) -> str:
        return self._machine.state

    def _require_online(self, action: str) -> None:
        self._machine.require_in(action, _ONLINE)

    # -- wire helpers ---------------------------------------------------------------------------
    def _send(self, text: str, *, check_fault: bool = True) -> ZaberReply:
        reply = self._connection.command(self.address, self.axis, text, device=self.name)
        if check_fault and (reply.warning[0] == "F" or reply.alerts):
            self._check_fault(reply, text)
        return reply

    def _check_fault(self, reply: ZaberReply, text: str) -> None:
        """Enter ``fault`` and raise on a fault flag, in the reply or in an alert from this axis."""
        flag = reply.warning if reply.warning[0] == "F" else self._fault_in_alerts(reply.alerts)
        if flag is None or self._machine.state in ("fault", "estopped", "disconnected"):
            return  # already known, latched behind an estop, or connect() decides
        self._forget_motion()
        self._machine.fire("faulted")
        raise DeviceFault(
            self.name, flag, f"{WARNING_FLAGS.get(flag, 'unknown fault')}; reported in reply to {text!r}"
        )

    def _fault_in_alerts(self, alerts: tuple[str, ...]) -> str | None:
        own = (f"!{self.address:02d}", str(self.axis))
        for alert in alerts:
            parts = alert.split(" ")
            if len(parts) >= 4 and (parts[0], parts[1]) == own and parts[3][:1] == "F":
                return parts[3]
        return None

    def _int(self, reply: ZaberReply, text: str) -> int:
        return parse_int(reply.data, device=self.name, command=text, raw=reply.raw)

    def _get_int(self, setting: str, *, check_fault: bool = True) -> int:
        text = f"get {setting}"
        return self._int(self._send(text, check_fault=check_fault), text)

    def _read_warnings(self) -> tuple[str, ...]:
        reply = self._send("warnings", check_fault=False)
        flags = parse_warnings_data(reply.data)
        if flags is None:
            raise ProtocolError(
                self.name, "warnings", reply.raw, "warnings data is not a count followed by flags"
            )
        return flags

    def _steps_to_mm(self, steps: int) -> float:
        return steps * self.microstep_size_um / 1000.0

    # -- AxisPositioner -------------------------------------------------------------------------
    def connect(self) -> None:
        """Status poll, ``warnings``, ``limit.min``/``limit.max``, then the device's identity (axis 0:
        ``get deviceid``, ``system.serial``, ``version``, ``version.build``); then connected, ready,
        moving or fault.

        A device already in fault is still connected (limits and identity read, so an operator can
        inspect it), but the axis enters ``fault`` and ``DeviceFault`` is raised.
        """
        self._machine.require("connect", "found_unreferenced")
        status = self._send("", check_fault=False)
        flags = self._read_warnings()
        low = self._get_int("limit.min", check_fault=False)
        high = self._get_int("limit.max", check_fault=False)
        if low > high:
            raise ProtocolError(self.name, "get limit.max", f"{low} > {high}", "limit.min is above limit.max")
        self._limits_steps = (low, high)
        self._identity = self._read_identity()
        faults = [flag for flag in flags if flag[0] == "F"]
        if faults:
            self._machine.fire("faulted")
            raise DeviceFault(self.name, " ".join(faults), "device reported a fault at connect")
        if UNREFERENCED_FLAGS.intersection(flags):
            self._machine.fire("found_unreferenced")
        elif status.status == "BUSY":
            self._machine.fire("found_moving")
        else:
            self._machine.fire("found_referenced")

    def _read_identity(self) -> DeviceIdentity:
        """The device-scope identity settings, each sent to axis 0 of this axis's device address.

        A setting the firmware rejects (``RJ``, e.g. ``version.build`` on old firmware) leaves its field
        ``""``. The model is the numeric device ID: its product name is in Zaber's online device
        database, which this driver does not consult. The serial is the device's (``system.serial``): on
        a controller driving a peripheral stage that is the controller, not the stage (``peripheral.serial``
        is not read).
        """
        values: dict[str, str] = {}
        for setting in IDENTITY_SETTINGS:
            try:
                reply = self._connection.command(self.address, 0, f"get {setting}", device=self.name)
            except DeviceRejected as err:
                log.info("%s: %s not available (%s); identity field left empty", self.name, setting, err.code)
                values[setting] = ""
                continue
            values[setting] = reply.data.strip()
        version, build = values["version"], values["version.build"]
        return DeviceIdentity(
            vendor=ZABER_VENDOR,
            model=values["deviceid"],
            serial=values["system.serial"],
            firmware=f"{version}.{build}" if version and build else version,
            raw="; ".join(f"{setting}={values[setting]}" for setting in IDENTITY_SETTINGS),
        )

    def device_identity(self) -> DeviceIdentity:
        """What the device reported at the last connect (no I/O; kept after ``close()``).

        Fields: vendor ``Zaber Technologies`` (the protocol's maker; the device sends no vendor), model =
        device ID (``get deviceid``), serial (``get system.serial``), firmware ``version.build`` (``get
        version`` + ``get version.build``, e.g. ``7.32.12345``). Raises ``IllegalStateError`` before the
        first connect has read them.
        """
        if self._identity is None:
            raise IllegalStateError(self.name, "report its identity", self._machine.state)
        return self._identity

    def close(self) -> None:
        """Forget the device (no bytes sent). Idempotent; the shared connection stays open."""
        if self._machine.state != "disconnected":
            self._machine.fire("disconnect")

    def travel_mm(self) -> tuple[float, float]:
        self._require_online("read the travel")
        assert self._limits_steps is not None  # set by connect() before the state leaves disconnected
        low, high = self._limits_steps
        return self._steps_to_mm(low), self._steps_to_mm(high)

    def home(self, timeout_s: float = 120.0) -> None:
        """Send ``home``, poll the status on the clock until IDLE, then require WR/WH to be gone.

        Also the way out of ``estopped``. A timeout leaves the axis in ``homing``; ``stop()`` ends it.
        """
        self._machine.require("home", "start_homing")
        self._forget_motion()
        reply = self._send("home")
        self._machine.fire("start_homing")
        self._wait_idle("home", timeout_s, reply)
        self._finish_homing()

    def _finish_homing(self) -> None:
        flags = self._read_warnings()
        faults = [flag for flag in flags if flag[0] == "F"]
        if faults:
            self._machine.fire("faulted")
            raise DeviceFault(self.name, " ".join(faults), "fault reported after homing")
        missing = UNREFERENCED_FLAGS.intersection(flags)
        if missing:
            self._machine.fire("home_incomplete")
            raise DeviceFault(
                self.name, " ".join(sorted(missing)), "homing ended but the axis is still unreferenced"
            )
        self._machine.fire("homed")

    def _within_travel(self, steps: int | None, target_mm: float) -> int:
        """``steps`` if inside ``limit.min``..``limit.max``; otherwise (or None) a ``LimitViolation``."""
        assert self._limits_steps is not None  # set by connect(); every caller requires an online state
        low, high = self._limits_steps
        if steps is None or not low <= steps <= high:
            raise LimitViolation(
                self.name, "target", target_mm, self._steps_to_mm(low), self._steps_to_mm(high), "mm"
            )
        return steps

    def start_move_to(self, target_mm: float) -> None:
        """``move abs N`` with N = round(target / microstep); refused before any byte if outside travel."""
        self._machine.require("move", "start_moving")
        finite = math.isfinite(target_mm)
        steps = self._within_travel(
            mm_to_microsteps(target_mm, self.microstep_size_um) if finite else None, target_mm
        )
        start = self._start_steps()
        self._command_move(start, steps)

    def move_to(self, target_mm: float, timeout_s: float = 120.0) -> None:
        self.start_move_to(target_mm)
        self.wait_until_idle(timeout_s)

    def move_relative(self, delta_mm: float, timeout_s: float = 120.0) -> None:
        """Read ``pos``, add the delta in whole microsteps, check the travel, then ``move abs`` and wait.

        An absolute command (not ``move rel``) so the limit check and the motion use the same target.
        """
        self._machine.require("move", "start_moving")
        if not math.isfinite(delta_mm):
            self._within_travel(None, delta_mm)
        current = self._get_int("pos")
        target = current + mm_to_microsteps(delta_mm, self.microstep_size_um)
        self._within_travel(target, self._steps_to_mm(target))
        self._command_move(current, target)
        self.wait_until_idle(timeout_s)

    # -- motion planning --------------------------------------------------------------------------
    def _start_steps(self) -> int:
        """Where the move starts: the last arrival if nothing moved since, else ``get pos``."""
        if self._at_steps is not None:
            return self._at_steps
        return self._get_int("pos")

    def _motion_profile(self) -> tuple[float, float]:
        """The device's ``maxspeed`` and ``accel`` in mm/s and mm/s², read once and kept until set."""
        speed = self._speed if self._speed is not None else self.max_speed_mm_s()
        accel = self._accel if self._accel is not None else self.acceleration_mm_s2()
        if not (speed > 0 and accel > 0):
            self._speed = self._accel = None
            raise ProtocolError(
                self.name, "get maxspeed / get accel", f"{speed} / {accel}", "speed and acceleration > 0"
            )
        return speed, accel

    def expected_move_s(self, start_steps: int, target_steps: int) -> float:
        """Trapezoidal profile time of a rest-to-rest move at the device's speed and acceleration."""
        speed, accel = self._motion_profile()
        distance_mm = abs(target_steps - start_steps) * self.microstep_size_um / 1000.0
        return trapezoid_s(distance_mm, speed, accel)

    def _command_move(self, start_steps: int, target_steps: int) -> None:
        """``move abs``, then plan the wait from the moment the device started the motion.

        The device starts moving when it executes the command, after the line has reached it and before
        its reply is back: the plan starts midway between the write and the reply (on a virtual clock the
        two are the same instant). The plan adds the settle learned on earlier moves, and looks first at
        the profile's end, so a shorter settle is seen (and learned) too.
        """
        profile = self.expected_move_s(start_steps, target_steps)
        settle = self._settle_s or 0.0
        self._forget_motion()
        sent = self._clock.now()
        self._send(f"move abs {target_steps}")
        started = 0.5 * (sent + self._clock.now())
        self._machine.fire("start_moving")
        self._moving_to = target_steps
        self._plan = MotionPlan(started, profile + settle, uncertain_s=settle)
        self._profile_end = started + profile

    def _learn_settle(self) -> None:
        """After a planned move seen IDLE: keep the least time BUSY after its profile ended."""
        if self._profile_end is None:
            return
        seen = max(0.0, self._clock.now() - self._profile_end - ARRIVAL_SLACK_S)
        self._settle_s = seen if self._settle_s is None else min(self._settle_s, seen)

    def _forget_motion(self) -> None:
        """The axis may be anywhere: the next move asks for ``pos``, and no wait is planned."""
        self._at_steps = None
        self._moving_to = None
        self._plan = None
        self._profile_end = None

    @property
    def motion_plan(self) -> MotionPlan | None:
        """The wait planned for the move in flight (None when idle, homing or after a stop)."""
        return self._plan

    def is_moving(self) -> bool:
        """One status poll. Seeing IDLE completes a pending move (or homing) in the state machine."""
        self._require_online("poll motion")
        if self._send("").status == "BUSY":
            return True
        self._settle_idle()
        return False

    def wait_until_idle(self, timeout_s: float = 120.0) -> None:
        """Wait for the move in flight on its planned schedule (none planned: look at once, then back off).

        A planned move still busy well after its expected arrival (``drivers.clock.MotionPlan``) times out
        like one past ``timeout_s``.
        """
        self._require_online("wait for idle")
        plan = self._plan if self._machine.state == "moving" else None
        reply = self._send("") if plan is None else None
        self._wait_idle("wait for idle", timeout_s, reply, plan)
        self._settle_idle()

    def _wait_idle(
        self, action: str, timeout_s: float, reply: ZaberReply | None, plan: MotionPlan | None = None
    ) -> None:
        """Poll ``''`` on the plan's schedule until IDLE; ``reply`` is a status already in hand."""
        last: list[ZaberReply] = [] if reply is None else [reply]

        def idle() -> bool:
            last.append(self._send(""))
            return last[-1].status != "BUSY"

        if not last or last[-1].status == "BUSY":
            started = self._clock.now()
            slow = self.poll_interval_s
            if not wait_planned(self._clock, idle, plan=plan, timeout_s=timeout_s, slow_s=slow):
                waited = self._clock.now() - (plan.start if plan is not None else started)
                raise MotionTimeout(self.name, action, round(waited, 3), last[-1].raw)
        reply = last[-1]
        if reply.warning in INCOMPLETE_MOTION_FLAGS and self._machine.state in ("moving", "homing"):
            # IDLE, but the motion ended early: taking the position as arrived would record a wrong point.
            self._forget_motion()
            self._machine.fire("faulted")
            raise DeviceFault(
                self.name,
                reply.warning,
                f"{WARNING_FLAGS[reply.warning]}: the motion stopped short; reported in reply to ''",
            )
        if plan is not None:
            self._learn_settle()

    def _settle_idle(self) -> None:
        state = self._machine.state
        if state == "moving":
            self._machine.fire("arrived")
            self._at_steps, self._moving_to, self._plan = self._moving_to, None, None
        elif state == "homing":
            self._finish_homing()

    def position_mm(self) -> float:
        """``get pos`` in mm: the controller's own (step-count) readback."""
        self._require_online("read position")
        reply = self._send("get pos")
        steps = parse_int(reply.data, device=self.name, command="get pos", raw=reply.raw)
        if self._machine.state == "ready" and reply.status == "IDLE":
            self._at_steps = steps  # at rest: the next move starts here
        return steps * self.microstep_size_um / 1000.0

    def encoder_position_mm(self) -> float | None:
        """``get encoder.pos`` in mm, or None (nothing sent) when the axis has no encoder.

        ``encoder.pos`` is the encoder reading expressed in the axis's position units (microsteps),
        referenced like ``pos``; the raw count is the separate ``encoder.count`` setting. So the scale
        here is ``microstep_size_um``, and ``encoder_count_size_um`` only says an encoder is fitted.
        """
        self._require_online("read the encoder")
        if self.encoder_count_size_um is None:
            return None
        return self._get_int("encoder.pos") * self.microstep_size_um / 1000.0

    def encoder_count_mm(self) -> float | None:
        """``get encoder.count`` × ``encoder_count_size_um``: the raw encoder, not referenced to home."""
        self._require_online("read the encoder")
        if self.encoder_count_size_um is None:
            return None
        return encoder_counts_to_mm(self._get_int("encoder.count"), self.encoder_count_size_um)

    def stop(self) -> None:
        """``stop`` (decelerate); allowed in every online state and returns at once.

        A fault flag on the reply moves the axis to ``fault`` but does not raise: the stop itself was
        accepted, and this is the call cleanup paths rely on.
        """
        self._machine.require("stop", "stopped")
        self._forget_motion()
        reply = self._send("stop", check_fault=False)
        self._machine.fire("stopped")
        if reply.fault and self._machine.state not in ("fault", "estopped"):
            log.warning("%s: stop reply shows fault %s", self.name, reply.warning)
            self._machine.fire("faulted")

    def emergency_stop(self) -> None:
        """``estop`` and latch ``estopped``; leaving it needs ``home()`` or ``reset_estop()``.

        The latch is set even if the exchange fails. If the device rejects ``estop`` (firmware without
        it), a plain ``stop`` is sent as the best remaining action and the rejection is re-raised.
        """
        self._machine.require("emergency stop", "estop")
        self._forget_motion()
        try:
            try:
                self._send("estop", check_fault=False)
            except DeviceRejected:
                log.error("%s: estop rejected; sending stop instead", self.name)
                self._send("stop", check_fault=False)
                raise
        finally:
            self._machine.fire("estop")

    def reset_estop(self) -> None:
        """Acknowledge an estop without homing: re-read warnings; ready if referenced, else connected.

        A fault still present moves the axis to ``fault`` and raises ``DeviceFault``.
        """
        self._machine.require("reset the emergency stop", "estop_reset_referenced")
        flags = self._read_warnings()
        faults = [flag for flag in flags if flag[0] == "F"]
        if faults:
            self._machine.fire("estop_reset_faulted")
            raise DeviceFault(self.name, " ".join(faults), "fault present when resetting the emergency stop")
        if UNREFERENCED_FLAGS.intersection(flags):
            self._machine.fire("estop_reset_unreferenced")
        else:
            self._machine.fire("estop_reset_referenced")

    # -- settings and warnings --------------------------------------------------------------------
    def get_setting(self, name: str) -> str:
        """``get <name>`` on this axis; the raw data field (multi-value settings keep their spaces)."""
        self._require_online("get a setting")
        _check_setting_name(name)
        return self._send(f"get {name}").data

    def set_setting(self, name: str, value: int | float | str) -> None:
        """``set <name> <value>``; bad values come back as ``BADDATA``, unknown names as ``BADCOMMAND``."""
        self._require_online("set a setting")
        _check_setting_name(name)
        if name in ("maxspeed", "accel"):
            self._speed = self._accel = None  # the next move reads the new motion profile
        self._send(f"set {name} {_format_value(value)}")

    def warnings(self) -> tuple[str, ...]:
        """All active flags (``warnings``). Never raises on a fault, but records it: the state becomes
        ``fault``, or ``connected`` if a referenced axis reports WR/WH."""
        self._require_online("read warnings")
        flags = self._read_warnings()
        state = self._machine.state
        if any(flag[0] == "F" for flag in flags):
            if self._machine.can("faulted"):
                self._machine.fire("faulted")
        elif state == "ready" and UNREFERENCED_FLAGS.intersection(flags):
            self._machine.fire("reference_lost")
        return flags

    def clear_warnings(self) -> tuple[str, ...]:
        """``warnings clear``, then ``warnings``; returns the flags that remain.

        This is how ``fault`` is left: once no ``F`` flag remains, the axis goes to ready (or connected if
        WR/WH remain).
        """
        self._require_online("clear warnings")
        cleared = self._send("warnings clear", check_fault=False)
        if parse_warnings_data(cleared.data) is None:
            raise ProtocolError(
                self.name, "warnings clear", cleared.raw, "data is not a count followed by flags"
            )
        remaining = self._read_warnings()
        if self._machine.state == "fault":
            if not any(flag[0] == "F" for flag in remaining):
                unreferenced = UNREFERENCED_FLAGS.intersection(remaining)
                trigger = "fault_cleared_unreferenced" if unreferenced else "fault_cleared_referenced"
                self._machine.fire(trigger)
        elif self._machine.state == "ready" and UNREFERENCED_FLAGS.intersection(remaining):
            self._machine.fire("reference_lost")
        return remaining

    # -- speed and acceleration (unit scale unverified, see docs) --------------------------------
    def max_speed_mm_s(self) -> float:
        """``get maxspeed`` in mm/s; kept to plan the next move's wait."""
        self._require_online("read the speed")
        self._speed = mm_per_s_from_maxspeed_data(self._get_int("maxspeed"), self.microstep_size_um)
        return self._speed

    def set_max_speed_mm_s(self, speed_mm_s: float) -> None:
        self._require_online("set the speed")
        if not (speed_mm_s > 0 and math.isfinite(speed_mm_s)):
            raise ValueError(f"{self.name}: speed must be positive and finite, got {speed_mm_s!r}")
        self._speed = None
        self._send(f"set maxspeed {maxspeed_data_from_mm_per_s(speed_mm_s, self.microstep_size_um)}")

    def acceleration_mm_s2(self) -> float:
        """``get accel`` in mm/s²; kept to plan the next move's wait."""
        self._require_online("read the acceleration")
        self._accel = mm_per_s2_from_accel_data(self._get_int("accel"), self.microstep_size_um)
        return self._accel

    def set_acceleration_mm_s2(self, accel_mm_s2: float) -> None:
        self._require_online("set the acceleration")
        if not (accel_mm_s2 > 0 and math.isfinite(accel_mm_s2)):
            raise ValueError(f"{self.name}: acceleration must be positive and finite, got {accel_mm_s2!r}")
        self._accel = None
        self._send(f"set accel {accel_data_from_mm_per_s2(accel_mm_s2, self.microstep_size_um)}")

    def __repr__(self) -> str:
        return f"ZaberAxis({self.name!r}, address={self.address}, axis={self.axis}, state={self.state!r})"


def _check_setting_name(name: str) -> None:
    if not name or not _SETTING_CHARS.issuperset(name):
        raise ValueError(f"setting name {name!r} must be lower-case letters, digits, '.' and '_'")


def _format_value(value: int | float | str) -> str:
    """Wire text for a setting value: bools as 1/0, floats in plain decimal (the device takes no exponent)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"setting value {value!r} is not finite")
        text = f"{value:.9f}".rstrip("0").rstrip(".")
        return "0" if text in ("", "-0") else text
    if not value or not value.isascii() or not value.isprintable() or _VALUE_FORBIDDEN.intersection(value):
        raise ValueError(f"setting value {value!r} must be one printable ASCII word without '/' or ':'")
    return value
