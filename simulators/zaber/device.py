"""One Zaber ASCII device (controller) on a chain: its axes are stages in the world.

The device turns parsed commands into stage calls and answers with the reply fields the FW7 manual defines.
Where the manual is silent or unverified, the behaviour is this simulator's documented choice (see
docs/simulators.md, "Choices"): moves before homing are ``BADDATA``; ``set limit.*`` while busy is
``STATUSBUSY``; ``set`` of a read-only setting is ``BADCOMMAND``; device-scope settings on an axis are
``DEVICEONLY``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from simulators.stage import LinearStage, NotReferencedError, OutOfTravelError, StageFlags
from simulators.world import World
from simulators.zaber.protocol import Command, sort_flags, top_flag

#: Zaber's (unverified) unit factors: maxspeed data = µsteps/s × 1.6384; accel data = µsteps/s² × 1.6384/1e4.
SPEED_FACTOR = 1.6384
ACCEL_FACTOR = 1.6384 / 10000.0

_INT = re.compile(r"[+-]?\d{1,19}")
_INT32 = (-(2**31), 2**31 - 1)


class Rejected(Exception):
    """The command is answered with ``RJ`` and this reason in the data field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Outcome:
    """Everything a reply needs besides addressing."""

    flag: str
    status: str
    warning: str
    data: str
    started_motion: bool = False


def _parse_int(word: str) -> int:
    if not _INT.fullmatch(word):
        raise Rejected("BADDATA")
    value = int(word)
    if not _INT32[0] <= value <= _INT32[1]:
        raise Rejected("BADDATA")
    return value


def _one_int(args: Sequence[str]) -> int:
    if len(args) != 1:
        raise Rejected("BADDATA")
    return _parse_int(args[0])


def _flag(value: int) -> int:
    if value not in (0, 1):
        raise Rejected("BADDATA")
    return value


class ZaberDeviceSim:
    """A Zaber controller whose axes 1..N are the world stages named in ``axes``.

    Device-level state kept here: identity, firmware version and the ``comm.*`` settings.
    """

    def __init__(
        self,
        axes: Sequence[str],
        *,
        device_id: int = 50081,
        serial: int = 12345,
        firmware: str = "7.32",
        build: int = 12345,
        resolution: int = 64,
        peripheral_ids: Sequence[int] | None = None,
    ) -> None:
        if not axes:
            raise ValueError("a Zaber device needs at least one axis")
        if peripheral_ids is not None and len(peripheral_ids) != len(axes):
            raise ValueError("peripheral_ids must give one id per axis")
        self.axis_names = list(axes)
        self.device_id = device_id
        self.serial = serial
        self.firmware = firmware
        self.build = build
        self.resolution = resolution
        self.peripheral_ids = list(peripheral_ids) if peripheral_ids is not None else [0] * len(axes)
        self.comm_checksum = 0
        self.comm_alert = 0
        self._stages: list[LinearStage] = []
        self._injected_flags: set[str] = set()
        #: Built once: every command looks its verb and setting up here.
        self._verbs = self._handlers()
        self._device_getters = self._device_settings()
        self._axis_getters = self._axis_settings()

    def attach(self, world: World) -> None:
        """Resolve the axis names to stages; fails early if the world lacks one."""
        self._stages = [world.stage(name) for name in self.axis_names]

    @property
    def stages(self) -> list[LinearStage]:
        if not self._stages:
            raise RuntimeError("device not attached to a world; ZaberChainSimulator does that")
        return self._stages

    # ------------------------------------------------------------------------------------------ status
    @staticmethod
    def axis_flags(stage: LinearStage, state: StageFlags | None = None) -> set[str]:
        """The warning flags of one axis (from ``state`` when the caller has just read it)."""
        if state is None:
            state = stage.status_flags()
        flags: set[str] = set()
        if state.stalled:
            flags.add("FS")
        if not state.referenced:
            flags.add("WR")
        if state.interrupted:
            flags.add("NI")
        if state.limit_triggered:
            flags.add("WL")
        if state.emergency_stopped:
            flags.add("FH")
        return flags

    def _targets(self, axis: int) -> list[LinearStage]:
        return self.stages if axis == 0 else [self.stages[axis - 1]]

    def status(self, axis: int) -> tuple[str, str]:
        """(``BUSY``/``IDLE``, top warning flag) for one axis, or the whole device when ``axis`` is 0."""
        if not 0 <= axis <= len(self.stages):
            axis = 0
        busy = False
        flags: set[str] = set()
        for stage in self._targets(axis):
            state = stage.status_flags()  # busy and flags at one instant
            busy = busy or state.busy
            flags |= self.axis_flags(stage, state)
        return ("BUSY" if busy else "IDLE"), top_flag(flags | self._injected_flags)

    def inject_fault_flag(self, flag: str = "FQ") -> None:
        """Raise a device fault flag (default ``FQ``, encoder error) until ``warnings clear``: a device error
        code as the firmware reports it, in the warning field of every reply."""
        self._injected_flags.add(flag)

    # ------------------------------------------------------------------------------------------ dispatch
    def handle(self, cmd: Command) -> Outcome:
        """Execute one command addressed to this device and describe the reply."""
        started = False
        try:
            if not 0 <= cmd.axis <= len(self.stages):
                raise Rejected("BADAXIS")
            if cmd.message_id is not None and cmd.message_id > 99:
                raise Rejected("BADMESSAGEID")
            if not cmd.words:
                data = "0"
            else:
                verb, args = cmd.words[0], cmd.words[1:]
                handler = self._verbs.get(verb)
                if handler is None:
                    raise Rejected("BADCOMMAND")
                data = handler(cmd.axis, args)
                started = verb in ("home", "move", "stop")
            flag = "OK"
        except Rejected as rejection:
            flag, data = "RJ", rejection.reason
        status, warning = self.status(cmd.axis)
        return Outcome(flag, status, warning, data, started_motion=started)

    def _handlers(self) -> dict[str, Callable[[int, Sequence[str]], str]]:
        return {
            "home": self._home,
            "move": self._move,
            "stop": self._stop,
            "estop": self._estop,
            "get": self._get,
            "set": self._set,
            "warnings": self._warnings,
        }

    # ------------------------------------------------------------------------------------------ motion
    def _require_power(self, axis: int) -> None:
        """After an emergency stop (``FH``) the drive is unpowered: motion is ``RJ … DRIVERDISABLED``."""
        if any(stage.status_flags().emergency_stopped for stage in self._targets(axis)):
            raise Rejected("DRIVERDISABLED")

    def _home(self, axis: int, args: Sequence[str]) -> str:
        if args:
            raise Rejected("BADDATA")
        self._require_power(axis)
        for stage in self._targets(axis):
            stage.home()
        return "0"

    def _move(self, axis: int, args: Sequence[str]) -> str:
        if not args:
            raise Rejected("BADCOMMAND")
        mode, rest = args[0], args[1:]
        if mode not in ("abs", "rel", "min", "max", "vel"):
            raise Rejected("BADCOMMAND")
        targets = self._targets(axis)
        self._require_power(axis)
        # Validate every axis before moving any, so a rejected multi-axis move moves nothing.
        if any(not stage.referenced for stage in targets):
            raise Rejected("BADDATA")
        if mode == "vel":
            speed = _one_int(rest)
            for stage in targets:
                if abs(speed) > round(stage.max_speed_usteps_s * SPEED_FACTOR):
                    raise Rejected("BADDATA")
            for stage in targets:
                stage.move_velocity(speed / SPEED_FACTOR)
            return "0"
        plans: list[tuple[LinearStage, int]] = []
        for stage in targets:
            lo, hi = stage.limits_usteps
            if mode == "abs":
                target = _one_int(rest)
            elif mode == "rel":
                target = stage.motor_position_usteps() + _one_int(rest)
            else:
                if rest:
                    raise Rejected("BADDATA")
                target = lo if mode == "min" else hi
            if not lo <= target <= hi:
                raise Rejected("BADDATA")
            plans.append((stage, target))
        try:
            for stage, target in plans:
                stage.move_to(target)
        except (NotReferencedError, OutOfTravelError):
            raise Rejected("BADDATA") from None
        return "0"

    def _stop(self, axis: int, args: Sequence[str]) -> str:
        if args:
            raise Rejected("BADDATA")
        for stage in self._targets(axis):
            stage.stop()
        return "0"

    def _estop(self, axis: int, args: Sequence[str]) -> str:
        if args:
            raise Rejected("BADDATA")
        for stage in self._targets(axis):
            stage.estop()
        return "0"

    def _warnings(self, axis: int, args: Sequence[str]) -> str:
        if args not in ((), ("clear",)):
            raise Rejected("BADDATA")
        flags: set[str] = set()
        for stage in self._targets(axis):
            flags |= self.axis_flags(stage)
        flags |= self._injected_flags
        if args:
            self._injected_flags.clear()
            for stage in self._targets(axis):
                stage.clear_faults()
        ordered = sort_flags(flags)
        return " ".join([f"{len(ordered):02d}", *ordered])

    # ------------------------------------------------------------------------------------------ settings
    def _device_settings(self) -> dict[str, Callable[[], int | str]]:
        return {
            "device.id": lambda: self.device_id,
            "deviceid": lambda: self.device_id,
            "system.serial": lambda: self.serial,
            "version": lambda: self.firmware,
            "version.build": lambda: self.build,
            "system.axiscount": lambda: len(self.stages),
            "comm.checksum": lambda: self.comm_checksum,
            "comm.alert": lambda: self.comm_alert,
        }

    def _axis_settings(self) -> dict[str, Callable[[LinearStage, int], int]]:
        return {
            "pos": lambda st, i: st.motor_position_usteps(),
            "encoder.pos": lambda st, i: st.encoder_position_usteps(),
            "encoder.count": lambda st, i: st.encoder_counts(),
            "maxspeed": lambda st, i: round(st.max_speed_usteps_s * SPEED_FACTOR),
            "accel": lambda st, i: round(st.accel_usteps_s2 * ACCEL_FACTOR),
            "limit.min": lambda st, i: st.limits_usteps[0],
            "limit.max": lambda st, i: st.limits_usteps[1],
            "resolution": lambda st, i: self.resolution,
            "peripheral.id": lambda st, i: self.peripheral_ids[i],
            "peripheralid": lambda st, i: self.peripheral_ids[i],
            "limit.home.triggered": lambda st, i: int(st.at_home_sensor()),
            "limit.away.triggered": lambda st, i: int(st.at_away_sensor()),
        }

    def _get(self, axis: int, args: Sequence[str]) -> str:
        if len(args) != 1:
            raise Rejected("BADCOMMAND")
        name = args[0]
        device = self._device_getters
        if name in device:
            if axis != 0:
                raise Rejected("DEVICEONLY")
            return str(device[name]())
        getter = self._axis_getters.get(name)
        if getter is None:
            raise Rejected("BADCOMMAND")
        indices = range(len(self.stages)) if axis == 0 else [axis - 1]
        return " ".join(str(getter(self.stages[i], i)) for i in indices)

    def _set(self, axis: int, args: Sequence[str]) -> str:
        if len(args) != 2:
            raise Rejected("BADCOMMAND" if not args else "BADDATA")
        name, word = args
        if name in ("comm.checksum", "comm.alert"):
            if axis != 0:
                raise Rejected("DEVICEONLY")
            value = _flag(_parse_int(word))
            if name == "comm.checksum":
                self.comm_checksum = value
            else:
                self.comm_alert = value
            return "0"
        if name in self._device_getters:
            raise Rejected("DEVICEONLY" if axis != 0 else "BADCOMMAND")
        if name not in ("maxspeed", "accel", "limit.min", "limit.max"):
            raise Rejected("BADCOMMAND")
        value = _parse_int(word)
        targets = self._targets(axis)
        if name.startswith("limit.") and any(stage.is_busy() for stage in targets):
            raise Rejected("STATUSBUSY")
        if value <= 0 and name in ("maxspeed", "accel"):
            raise Rejected("BADDATA")
        try:
            for stage in targets:
                um = stage.config.microstep_size_um
                if name == "maxspeed":
                    stage.update_config(max_speed_mm_s=value / SPEED_FACTOR * um / 1000.0)
                elif name == "accel":
                    stage.update_config(accel_mm_s2=value / ACCEL_FACTOR * um / 1000.0)
                elif name == "limit.min":
                    stage.set_limits_usteps(lo=value)
                else:
                    stage.set_limits_usteps(hi=value)
        except (OutOfTravelError, ValidationError):
            raise Rejected("BADDATA") from None
        return "0"

    def __repr__(self) -> str:
        return f"ZaberDeviceSim(axes={self.axis_names}, device_id={self.device_id}, serial={self.serial})"
