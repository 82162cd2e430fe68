"""A PI C-887 hexapod controller speaking GCS 2.0: bytes in, reply bytes out, the platform a world hexapod.

The controller is transport-free (``feed(bytes) -> bytes``) like the Zaber chain, so tests check every byte
and the same object sits behind a pty, a TCP socket or an in-process transport. Each connection gets its own
``PiGcsSession`` (its own partial line); the controller runs commands under one lock and keeps one latched
error for all of them, as the controller has one error register.

Where the manual is silent or we could not verify it, the behaviour is this simulator's documented choice
(docs/simulators.md, "Hexapod (PI GCS 2.0)"): the servo is off at power-up and ``SVO`` on any of X…W
switches the whole platform; ``FRF`` needs the servo (error 5); ``POS?`` answers 0 until referenced; a
failed query answers nothing; ``VLS`` while moving is error 53.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from simulators.hexapod import (
    AXES,
    PIVOT_COORDINATES,
    BusyError,
    Hexapod,
    HexapodConfig,
    HexapodError,
    MotionFault,
    NotReadyError,
    PivotError,
    UnreachableError,
    VelocityError,
    add_hexapod,
    pose_dict,
)
from simulators.pi_gcs.protocol import (
    CODEPAGE,
    NOT_READY,
    READY,
    SINGLE_BYTE_COMMANDS,
    Command,
    CommandError,
    ErrorCode,
    format_items,
    format_lines,
    format_number,
    parse_line,
    parse_number,
)
from simulators.world import World

#: A line longer than this without LF is dropped (error 3) rather than buffered forever.
MAX_LINE_BYTES = 4096
VENDOR = "Physik Instrumente (PI) GmbH & Co. KG"
#: Largest pivot coordinate (mm) ``SPI`` accepts; beyond it error 17. This simulator's choice (the manual
#: bounds the pivot by controller parameters we could not check): 10 m is past any hexapod, and a pivot
#: of 10^300 mm overflowed the strut-length check of the next rotation.
MAX_PIVOT_MM = 10_000.0
#: Older firmware names the pivot coordinates X Y Z in ``SPI``; answers always use R S T.
PIVOT_ALIASES = {"R": "R", "S": "S", "T": "T", "X": "R", "Y": "S", "Z": "T"}

#: What ``HLP?`` lists (syntax, description), in this order; every entry has a handler and vice versa.
HELP: tuple[tuple[str, str], ...] = (
    ("#3", "Get Real Position"),
    ("#5", "Request Motion Status"),
    ("#7", "Request Controller Ready Status"),
    ("#24", "Stop All Axes"),
    ("*IDN?", "Get Device Identification"),
    ("CST? [{<AxisID>}]", "Get Assignment Of Stages To Axes"),
    ("CSV?", "Get Current Syntax Version"),
    ("ERR?", "Get Error Number"),
    ("FRF [{<AxisID>}]", "Fast Reference Move To Reference Switch"),
    ("FRF? [{<AxisID>}]", "Get Referencing Result"),
    ("HLP?", "Get List Of Available Commands"),
    ("HLT [{<AxisID>}]", "Halt Motion Smoothly"),
    ("MOV {<AxisID> <Position>}", "Set Target Position"),
    ("MOV? [{<AxisID>}]", "Get Target Position"),
    ("MVR {<AxisID> <Distance>}", "Set Target Relative To Current Target"),
    ("ONT? [{<AxisID>}]", "Get On Target State"),
    ("POS? [{<AxisID>}]", "Get Real Position"),
    ("SAI? [ALL]", "Get List Of Current Axis Identifiers"),
    ("SPI {<PivotCoordinate> <Position>}", "Set Pivot Point"),
    ("SPI? [{<PivotCoordinate>}]", "Get Pivot Point"),
    ("STP", "Stop All Axes"),
    ("SVO {<AxisID> <ServoState>}", "Set Servo Mode"),
    ("SVO? [{<AxisID>}]", "Get Servo Mode"),
    ("TMN? [{<AxisID>}]", "Get Minimum Commandable Position"),
    ("TMX? [{<AxisID>}]", "Get Maximum Commandable Position"),
    ("VLS <SystemVelocity>", "Set System Velocity"),
    ("VLS?", "Get System Velocity"),
    ("VMO? {<AxisID> <Position>}", "Virtual Move"),
)
HELP_HEADER = "The following commands are available:"
HELP_FOOTER = "end of help"

_ERROR_CODES: dict[type[HexapodError], ErrorCode] = {
    NotReadyError: ErrorCode.MOVE_WITHOUT_REF_OR_NO_SERVO,
    UnreachableError: ErrorCode.POS_OUT_OF_LIMITS,
    PivotError: ErrorCode.SET_PIVOT_NOT_POSSIBLE,
    VelocityError: ErrorCode.VEL_OUT_OF_LIMITS,
    BusyError: ErrorCode.NOT_ALLOWED_IN_MOTION,
}

#: What the controller latches for a motion fault of the platform (the servo is off in every case; an
#: emergency stop that cuts the amplifiers reads as the motion error, as a servo dropped by the drive would).
_FAULT_CODES: dict[MotionFault, ErrorCode] = {
    "stall": ErrorCode.MOTION_ERROR,
    "limit": ErrorCode.ON_LIMIT_SWITCH,
    "estop": ErrorCode.MOTION_ERROR,
}

Handler = Callable[[tuple[str, ...]], bytes]


class PiGcsControllerConfig(BaseModel):
    """One C-887 controller; ``hexapod`` names the world hexapod it drives."""

    model_config = ConfigDict(extra="forbid")

    hexapod: str
    model: str = "C-887.52"
    serial: str = "0123456789"
    firmware: str = "3.2.0.0"
    #: What ``CST?`` answers for X…W.
    stage_type: str = "HEXAPOD"
    #: TCP port to serve on (PI's default is 50000); 0 picks a free port, which is what tests use.
    tcp_port: int = Field(0, ge=0, le=65535)

    @field_validator("model", "serial", "firmware")
    @classmethod
    def _no_commas(cls, value: str) -> str:
        if "," in value or "\n" in value:
            raise ValueError("identification fields must not contain commas or line feeds")
        return value


class PiGcsSession:
    """One client's conversation: a partial-line buffer; single-byte commands act at once, anywhere."""

    def __init__(self, controller: PiGcsControllerSim) -> None:
        self._controller = controller
        self._buffer = bytearray()

    def feed(self, data: bytes) -> bytes:
        """Consume bytes; return the answers to every complete command, in order."""
        out: list[bytes] = []
        for byte in data:
            if byte == 0x0A:
                line, self._buffer = bytes(self._buffer), bytearray()
                out.append(self._controller.execute_line(line))
            elif byte in SINGLE_BYTE_COMMANDS:
                out.append(self._controller.execute_single(byte))
            else:
                self._buffer.append(byte)
                if len(self._buffer) > MAX_LINE_BYTES:
                    self._buffer = bytearray()
                    self._controller.latch(ErrorCode.COMMAND_TOO_LONG)
        return b"".join(out)

    def poll(self) -> bytes:
        """A GCS controller never talks unasked."""
        return b""


class PiGcsControllerSim:
    """A C-887 whose platform axes X Y Z U V W are the world hexapod ``config.hexapod``.

    ``feed``/``poll`` use a built-in session (one in-process client); servers call ``session()`` per
    connection.
    """

    def __init__(self, world: World, config: PiGcsControllerConfig) -> None:
        self.world = world
        self.config = config
        self.hexapod = world.get(config.hexapod, Hexapod)
        self._lock = threading.RLock()
        self._error = ErrorCode.NO_ERROR
        self._handlers: dict[str, Handler] = {
            "#3": self._pos,
            "#5": self._motion_status,
            "#7": self._ready,
            "#24": self._stop_all,
            "*IDN?": self._idn,
            "CST?": self._cst,
            "CSV?": self._csv,
            "ERR?": self._err,
            "FRF": self._frf,
            "FRF?": self._frf_query,
            "HLP?": self._hlp,
            "HLT": self._hlt,
            "MOV": self._mov,
            "MOV?": self._mov_query,
            "MVR": self._mvr,
            "ONT?": self._ont,
            "POS?": self._pos,
            "SAI?": self._sai,
            "SPI": self._spi,
            "SPI?": self._spi_query,
            "STP": self._stp,
            "SVO": self._svo,
            "SVO?": self._svo_query,
            "TMN?": self._tmn,
            "TMX?": self._tmx,
            "VLS": self._vls,
            "VLS?": self._vls_query,
            "VMO?": self._vmo,
        }
        self._default_session = PiGcsSession(self)

    # ------------------------------------------------------------------------------------------ sessions
    def session(self) -> PiGcsSession:
        return PiGcsSession(self)

    def feed(self, data: bytes) -> bytes:
        return self._default_session.feed(data)

    def poll(self) -> bytes:
        return self._default_session.poll()

    # ------------------------------------------------------------------------------------------ execution
    @property
    def error(self) -> ErrorCode:
        """The latched error, without clearing it (``ERR?`` clears)."""
        return self._error

    def inject_error(self, code: int) -> None:
        """Latch a controller error as if the firmware had raised it (fault tests: a device error code)."""
        self.latch(ErrorCode(code))

    def latch(self, code: ErrorCode) -> None:
        """Remember ``code`` unless an earlier error is still waiting for ``ERR?``."""
        with self._lock:
            if self._error == ErrorCode.NO_ERROR:
                self._error = code

    def execute_line(self, line: bytes) -> bytes:
        """Run one line command (without its LF); the answer, or b"" for set commands and failures."""
        command = parse_line(line.decode(CODEPAGE, errors="replace"))
        return b"" if command is None else self.execute(command)

    def execute_single(self, byte: int) -> bytes:
        return self.execute(Command(SINGLE_BYTE_COMMANDS[byte], ()))

    def execute(self, command: Command) -> bytes:
        handler = self._handlers.get(command.mnemonic)
        with self._lock:
            for fault in self.hexapod.take_faults():
                self.latch(_FAULT_CODES[fault])
            try:
                if handler is None:
                    raise CommandError(ErrorCode.UNKNOWN_COMMAND, command.mnemonic)
                try:
                    return handler(command.args)
                except HexapodError as exc:
                    raise CommandError(_ERROR_CODES[type(exc)], str(exc)) from exc
            except CommandError as exc:
                self.latch(exc.code)
                return b""

    # ------------------------------------------------------------------------------------------ arguments
    @staticmethod
    def _no_args(args: tuple[str, ...]) -> None:
        if args:
            raise CommandError(ErrorCode.PARAM_NR, "this command takes no arguments")

    @staticmethod
    def _axes(args: tuple[str, ...]) -> list[str]:
        """The named axes (all when none are named); error 15 for an unknown one."""
        if not args:
            return list(AXES)
        axes = [word.upper() for word in args]
        unknown = [word for word, axis in zip(args, axes, strict=True) if axis not in AXES]
        if unknown:
            raise CommandError(ErrorCode.INVALID_AXIS_IDENTIFIER, f"unknown axes {unknown}")
        return axes

    @staticmethod
    def _pairs(args: tuple[str, ...], names: Mapping[str, str]) -> dict[str, float]:
        """``{ID value}`` pairs; IDs are looked up (case-insensitively) in ``names``."""
        if not args:
            raise CommandError(ErrorCode.MISSING_PARAM, "expected {<ID> <value>} pairs")
        if len(args) % 2:
            raise CommandError(ErrorCode.PARAM_NR, "expected {<ID> <value>} pairs")
        pairs: dict[str, float] = {}
        for word, value in zip(args[::2], args[1::2], strict=True):
            key = names.get(word.upper())
            if key is None:
                raise CommandError(ErrorCode.INVALID_AXIS_IDENTIFIER, f"unknown identifier {word!r}")
            pairs[key] = parse_number(value)
        return pairs

    @staticmethod
    def _values(axes: Sequence[str], values: Mapping[str, str]) -> bytes:
        return format_items((axis, values[axis]) for axis in axes)

    def _numbers(self, axes: Sequence[str], values: Mapping[str, float]) -> bytes:
        return self._values(axes, {k: format_number(v) for k, v in values.items()})

    def _flags(self, axes: Sequence[str], flags: Mapping[str, bool]) -> bytes:
        return self._values(axes, {k: "1" if v else "0" for k, v in flags.items()})

    # ------------------------------------------------------------------------------------------ identity
    def _idn(self, args: tuple[str, ...]) -> bytes:
        self._no_args(args)
        cfg = self.config
        return format_lines([f"{VENDOR}, {cfg.model}, {cfg.serial}, {cfg.firmware}"])

    def _csv(self, args: tuple[str, ...]) -> bytes:
        self._no_args(args)
        return format_lines(["2.0"])

    def _err(self, args: tuple[str, ...]) -> bytes:
        self._no_args(args)
        code, self._error = self._error, ErrorCode.NO_ERROR
        return format_lines([str(int(code))])

    def _hlp(self, args: tuple[str, ...]) -> bytes:
        self._no_args(args)
        return format_lines([HELP_HEADER, *(f"{syntax} - {text}" for syntax, text in HELP), HELP_FOOTER])

    def _sai(self, args: tuple[str, ...]) -> bytes:
        if [word.upper() for word in args] not in ([], ["ALL"]):
            raise CommandError(ErrorCode.PARAM_SYNTAX, "SAI? takes nothing or ALL")
        return format_lines(list(AXES))

    def _cst(self, args: tuple[str, ...]) -> bytes:
        return self._values(self._axes(args), dict.fromkeys(AXES, self.config.stage_type))

    # ------------------------------------------------------------------------------------------ status
    def _pos(self, args: tuple[str, ...]) -> bytes:
        axes = self._axes(args)
        return self._numbers(axes, pose_dict(self.hexapod.readback()))

    def _mov_query(self, args: tuple[str, ...]) -> bytes:
        axes = self._axes(args)
        return self._numbers(axes, pose_dict(self.hexapod.target()))

    def _ont(self, args: tuple[str, ...]) -> bytes:
        axes = self._axes(args)
        return self._flags(axes, self.hexapod.on_target())

    def _frf_query(self, args: tuple[str, ...]) -> bytes:
        return self._flags(self._axes(args), dict.fromkeys(AXES, self.hexapod.referenced))

    def _svo_query(self, args: tuple[str, ...]) -> bytes:
        return self._flags(self._axes(args), dict.fromkeys(AXES, self.hexapod.servo))

    def _tmn(self, args: tuple[str, ...]) -> bytes:
        return self._numbers(self._axes(args), self.hexapod.travel()[0])

    def _tmx(self, args: tuple[str, ...]) -> bytes:
        return self._numbers(self._axes(args), self.hexapod.travel()[1])

    def _motion_status(self, args: tuple[str, ...]) -> bytes:
        moving = self.hexapod.moving()
        mask = sum(1 << i for i, axis in enumerate(AXES) if moving[axis])
        return format_lines([f"{mask:X}"])

    def _ready(self, args: tuple[str, ...]) -> bytes:
        return format_lines([NOT_READY if self.hexapod.referencing else READY])

    def _vls_query(self, args: tuple[str, ...]) -> bytes:
        self._no_args(args)
        return format_lines([format_number(self.hexapod.velocity_mm_s)])

    def _spi_query(self, args: tuple[str, ...]) -> bytes:
        keys = [PIVOT_ALIASES.get(word.upper()) for word in args] if args else list(PIVOT_COORDINATES)
        if None in keys:
            raise CommandError(ErrorCode.INVALID_AXIS_IDENTIFIER, f"pivot coordinates are R S T, got {args}")
        pivot = dict(zip(PIVOT_COORDINATES, self.hexapod.pivot_mm, strict=True))
        return format_items((key, format_number(pivot[key])) for key in keys if key is not None)

    def _vmo(self, args: tuple[str, ...]) -> bytes:
        target = self._pairs(args, {axis: axis for axis in AXES})
        return format_lines(["1" if self.hexapod.can_reach(target) else "0"])

    # ------------------------------------------------------------------------------------------ motion
    def _mov(self, args: tuple[str, ...]) -> bytes:
        self.hexapod.move_to(self._pairs(args, {axis: axis for axis in AXES}))
        return b""

    def _mvr(self, args: tuple[str, ...]) -> bytes:
        self.hexapod.move_by(self._pairs(args, {axis: axis for axis in AXES}))
        return b""

    def _frf(self, args: tuple[str, ...]) -> bytes:
        self._axes(args)  # any of X…W references the whole platform
        self.hexapod.reference()
        return b""

    def _hlt(self, args: tuple[str, ...]) -> bytes:
        self._axes(args)  # halting one axis of a synchronized platform halts them all
        self.hexapod.halt()
        raise CommandError(ErrorCode.STOPPED_BY_COMMAND, "HLT")

    def _stp(self, args: tuple[str, ...]) -> bytes:
        self._no_args(args)
        return self._stop_all(args)

    def _stop_all(self, args: tuple[str, ...]) -> bytes:
        self.hexapod.stop()
        raise CommandError(ErrorCode.STOPPED_BY_COMMAND, "stop")

    def _svo(self, args: tuple[str, ...]) -> bytes:
        states = self._pairs(args, {axis: axis for axis in AXES})
        if any(value not in (0.0, 1.0) for value in states.values()):
            raise CommandError(ErrorCode.PARAM_SYNTAX, "servo state must be 0 or 1")
        for value in states.values():  # one servo for the whole platform; the last pair wins
            self.hexapod.set_servo(value == 1.0)
        return b""

    def _vls(self, args: tuple[str, ...]) -> bytes:
        if not args:
            raise CommandError(ErrorCode.MISSING_PARAM, "VLS <velocity>")
        if len(args) != 1:
            raise CommandError(ErrorCode.PARAM_NR, "VLS <velocity>")
        self.hexapod.set_velocity(parse_number(args[0]))
        return b""

    def _spi(self, args: tuple[str, ...]) -> bytes:
        pivot = self._pairs(args, PIVOT_ALIASES)
        if any(abs(value) > MAX_PIVOT_MM for value in pivot.values()):
            raise CommandError(ErrorCode.PARAM_OUT_OF_RANGE, f"pivot coordinates beyond ±{MAX_PIVOT_MM:g} mm")
        self.hexapod.set_pivot(pivot)
        return b""

    def __repr__(self) -> str:
        return f"PiGcsControllerSim({self.config.model}, hexapod={self.config.hexapod!r})"


# ============================================================================================= rig wiring
def check_pi_gcs_wiring(
    hexapods: Mapping[str, HexapodConfig], controllers: Mapping[str, PiGcsControllerConfig]
) -> None:
    """Every controller drives a configured hexapod, and no hexapod has two controllers (``ValueError``)."""
    used: dict[str, str] = {}
    for name, controller in controllers.items():
        if controller.hexapod not in hexapods:
            raise ValueError(f"PI controller {name!r} drives unknown hexapod {controller.hexapod!r}")
        if controller.hexapod in used:
            first = used[controller.hexapod]
            raise ValueError(f"hexapod {controller.hexapod!r} driven twice (controllers {first!r}, {name!r})")
        used[controller.hexapod] = name


def build_pi_gcs_controllers(
    world: World, hexapods: Mapping[str, HexapodConfig], controllers: Mapping[str, PiGcsControllerConfig]
) -> dict[str, PiGcsControllerSim]:
    """Add every hexapod to ``world`` and return one front-end per controller, keyed like ``controllers``."""
    check_pi_gcs_wiring(hexapods, controllers)
    for name, config in hexapods.items():
        add_hexapod(world, name, config)
    return {name: PiGcsControllerSim(world, config) for name, config in controllers.items()}
