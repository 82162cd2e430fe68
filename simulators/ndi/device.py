"""An NDI Polaris Vega / Spectra position sensor: the Combined API, looking through an ``OpticalTracker``.

Implemented commands (those ndicapi 3.7.6 and scikit-surgerynditracker 1.0.6 send, and a few more):
``INIT RESET COMM VER APIREV GETINFO BEEP PHSR PHRQ PHF PVWR PINIT PENA PDIS TSTART TSTOP BX TX``; a NUL byte
(how a UART delivers a serial BREAK) is answered ``RESET``. The device state (initialised, tracking, port
handles) belongs to the device, not to a connection: a second TCP client, or the pty and the TCP port of one
rig, see the same handles, as on one physical sensor.

ROM → world tool. A real sensor recognises a tool by the marker geometry in its ROM. This simulator cannot
read NDI's ROM format, so at ``PINIT`` it binds the handle's ROM image to a tool of the tracker:

1. by content, if SHA-256 of the ROM image (trailing zero bytes stripped, see ``rom_digest``) is a key of
   ``rom_sha256``;
2. otherwise by order: to the first entry of ``tools`` not bound to another handle. Clients load ROMs and
   then ``PINIT`` them in the same order (scikit-surgerynditracker does), so ``tools`` lists the world tools
   in the order the client loads its ROMs. ``PHF``, ``INIT`` and ``RESET`` release the binding.

A ROM bound to nothing initialises and enables normally and is always reported MISSING (its markers are
nowhere in the scene), which is what a real sensor does with a tool it cannot see.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, field_validator

from simulators.ndi.protocol import (
    BAD_PARAMETERS,
    HANDLE_NOT_ALLOCATED,
    HANDLES_FULL,
    INVALID_COMMAND,
    INVALID_MODE,
    NO_SUCH_PARAMETER,
    NO_TOOL,
    NOT_INITIALIZED,
    OKAY,
    OPTION_NOT_NORMALLY_REPORTED,
    OPTION_TRANSFORMS,
    OUT_OF_RANGE,
    PORT_ENABLED,
    PORT_INITIALIZED,
    PORT_NOT_INITIALIZED,
    PORT_OCCUPIED,
    PORT_OUT_OF_VOLUME,
    PORT_PARTIALLY_OUT_OF_VOLUME,
    RESET_REPLY,
    SUPPORTED_OPTIONS,
    TOO_LONG,
    WRONG_STATE,
    NdiError,
    ToolRecord,
    binary_reply,
    bx_body,
    error_reply,
    parse_command,
    parse_hex,
    text_reply,
    tx_payload,
)
from simulators.tracker import OpticalTracker, TrackerConfig, quaternion_from_matrix
from simulators.world import World

#: Largest command line accepted (ndicapi's buffers are 2048 bytes); longer ones get ERROR02.
MAX_COMMAND_BYTES = 2048
#: Port handles the device hands out (01 … 18 hex); ndicapi stores at most 24.
MAX_HANDLES = 24
ROM_BYTES = 1024
ROM_CHUNK = 64
_DIGEST = re.compile(r"^[0-9a-f]{64}$")

_Handler = Callable[[str], bytes]


def rom_digest(rom: bytes | bytearray) -> str:
    """SHA-256 (hex) of a ROM image with trailing zero bytes removed.

    Stripping makes the digest independent of padding: ndicapi always writes 1024 zero-padded bytes, another
    client may write only the 64-byte chunks it needs. Compute a config key from the ROM file the same way.
    """
    return hashlib.sha256(bytes(rom).rstrip(b"\x00")).hexdigest()


class NdiConfig(BaseModel):
    """One NDI position sensor on a tracker model; the ``VER`` text comes from model, serial and freeze tag.

    The freeze tag picks the client's tracking command: scikit-surgerynditracker uses ``TX`` for
    ``Polaris Vega 008``, ``Polaris Spectra Rev 006/007`` (and two Aurora tags) and ``BX`` otherwise.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: World name of the ``OpticalTracker`` this sensor is.
    tracker: str
    #: World tool names in the order the client loads (and initialises) its ROMs.
    tools: list[str] = Field(default_factory=list)
    #: ``rom_digest(rom bytes)`` → world tool name: binds by ROM content, whatever the load order.
    rom_sha256: dict[str, str] = Field(default_factory=dict)
    model: str = "Polaris Vega"
    serial_number: str = "P9-00000"
    freeze_tag: str = "Polaris Vega 009"
    #: ``GETINFO Features.Firmware.Version``; None models older firmware that answers GETINFO with ERROR01.
    firmware_version: str | None = "007.000.011"
    api_revision: str = "G.001.005"
    #: Fixed TCP port when served (a Vega listens on 8765); 0 picks a free one.
    tcp_port: int = Field(0, ge=0, le=65535)

    @field_validator("rom_sha256")
    @classmethod
    def _digests(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [key for key in value if not _DIGEST.match(key)]
        if bad:
            raise ValueError(f"rom_sha256 keys must be 64 lower-case hex digits (rom_digest), got {bad}")
        return value

    def ver_text(self) -> str:
        return (
            f"{self.model} Control Firmware\nNDI S/N: {self.serial_number}\nCharacterization Date: 01/01/20\n"
            f"Freeze Tag: {self.freeze_tag}\nFreeze Date: 01/01/20\n(C) Northern Digital Inc.\n"
        )


@dataclass
class PortHandle:
    """One allocated port handle and its ROM image (what ``PHSR`` reports as status bits)."""

    number: int
    rom: bytearray = field(default_factory=lambda: bytearray(ROM_BYTES))
    occupied: bool = False
    initialized: bool = False
    enabled: bool = False
    mode: str = ""
    tool: str | None = None
    slot: int | None = None

    @property
    def status(self) -> int:
        bits = PORT_OCCUPIED if self.occupied else 0
        bits |= PORT_INITIALIZED if self.initialized else 0
        bits |= PORT_ENABLED if self.enabled else 0
        return bits


class NdiSession:
    """One connection (or the one serial line): its partial command."""

    def __init__(self, device: NdiCombinedApiSim) -> None:
        self._device = device
        self._buffer = bytearray()

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for byte in data:
            if byte == 0:  # a BREAK on a real UART arrives as NUL
                self._buffer.clear()
                out.append(self._device.break_received())
            elif byte == 0x0D:
                line = bytes(self._buffer)
                self._buffer.clear()
                out.append(self._device.execute(line))
            elif byte == 0x0A and not self._buffer:
                continue  # a stray LF after a CR from a terminal
            else:
                self._buffer.append(byte)
                if len(self._buffer) > MAX_COMMAND_BYTES:
                    self._buffer.clear()
                    out.append(error_reply(TOO_LONG))
        return b"".join(out)

    def poll(self) -> bytes:
        return b""


class NdiCombinedApiSim:
    """The NDI front-end (a serve ``FrontEnd``): ``session()`` per connection, ``execute`` per command."""

    def __init__(self, world: World, config: NdiConfig) -> None:
        self.config = config
        self.tracker = world.get(config.tracker, OpticalTracker)
        unknown = sorted({*config.tools, *config.rom_sha256.values()} - set(self.tracker.tools))
        if unknown:
            raise KeyError(f"NDI sensor on {config.tracker!r}: the tracker has no tools {unknown}")
        self._lock = threading.RLock()
        self._handlers: dict[str, _Handler] = {
            "INIT": self._init,
            "RESET": self._reset,
            "COMM": self._comm,
            "VER": self._ver,
            "APIREV": self._apirev,
            "GETINFO": self._getinfo,
            "BEEP": self._beep,
            "PHSR": self._phsr,
            "PHRQ": self._phrq,
            "PHF": self._phf,
            "PVWR": self._pvwr,
            "PINIT": self._pinit,
            "PENA": self._pena,
            "PDIS": self._pdis,
            "TSTART": self._tstart,
            "TSTOP": self._tstop,
            "BX": self._bx,
            "TX": self._tx,
        }
        self._power_on()
        self._default_session = NdiSession(self)

    def _power_on(self) -> None:
        self.initialized = False
        self.tracking = False
        self.handles: dict[int, PortHandle] = {}

    # ----------------------------------------------------------------------------------------- serving
    def session(self) -> NdiSession:
        return NdiSession(self)

    def feed(self, data: bytes) -> bytes:
        return self._default_session.feed(data)

    def poll(self) -> bytes:
        return b""

    def break_received(self) -> bytes:
        """A serial BREAK: reset to the power-up state and answer ``RESET``."""
        with self._lock:
            self._power_on()
            return RESET_REPLY

    def execute(self, line: bytes) -> bytes:
        """Answer one command line (without the CR). Every command gets exactly one reply."""
        try:
            command = parse_command(line)
            handler = self._handlers.get(command.name)
            if handler is None:
                raise NdiError(INVALID_COMMAND, command.name)
            with self._lock:
                return handler(command.args)
        except NdiError as error:
            return error_reply(error.code)

    # ----------------------------------------------------------------------------------------- helpers
    def _require_init(self) -> None:
        if not self.initialized:
            raise NdiError(NOT_INITIALIZED)

    def _require_setup(self) -> None:
        self._require_init()
        if self.tracking:
            raise NdiError(WRONG_STATE, "not allowed while tracking")

    def _handle(self, text: str) -> PortHandle:
        number = parse_hex(text, 2)
        handle = self.handles.get(number)
        if handle is None:
            raise NdiError(HANDLE_NOT_ALLOCATED, f"{number:02X}")
        return handle

    def _release(self, handle: PortHandle) -> None:
        handle.tool = None
        handle.slot = None

    def _bind(self, handle: PortHandle) -> None:
        """Bind the handle's ROM to a world tool: by digest, else the first free entry of ``tools``."""
        tool = self.config.rom_sha256.get(rom_digest(handle.rom))
        if tool is not None:
            handle.tool, handle.slot = tool, None
            return
        taken = {h.slot for h in self.handles.values() if h.slot is not None}
        for slot, name in enumerate(self.config.tools):
            if slot not in taken:
                handle.tool, handle.slot = name, slot
                return
        handle.tool = handle.slot = None

    @staticmethod
    def _no_args(args: str) -> None:
        if args:
            raise NdiError(BAD_PARAMETERS, f"unexpected {args!r}")

    @staticmethod
    def _options(args: str) -> int:
        if not args:
            return OPTION_TRANSFORMS
        options = parse_hex(args, 4)
        if options & ~SUPPORTED_OPTIONS:
            raise NdiError(OUT_OF_RANGE, f"reply option {options:04X} not simulated")
        return options

    # ----------------------------------------------------------------------------------------- system
    def _init(self, args: str) -> bytes:
        """Initialise: stop tracking and free every port handle (this simulator's choice)."""
        self._no_args(args)
        self.initialized = True
        self.tracking = False
        self.handles = {}
        return OKAY

    def _reset(self, args: str) -> bytes:
        self._power_on()
        return RESET_REPLY

    def _comm(self, args: str) -> bytes:
        if len(args) != 5:
            raise NdiError(BAD_PARAMETERS, args)
        baud, data, parity, stop, handshake = args[0], args[1], args[2], args[3], args[4]
        if baud not in "01234567A" or data not in "01" or parity not in "012" or stop not in "01":
            raise NdiError(OUT_OF_RANGE, args)
        if handshake not in "01":
            raise NdiError(OUT_OF_RANGE, args)
        return OKAY  # a pty or socket has no baud rate to change

    def _ver(self, args: str) -> bytes:
        if args not in ("0", ""):
            if not args.isdigit():
                raise NdiError(BAD_PARAMETERS, args)
            raise NdiError(OUT_OF_RANGE, f"VER {args} not simulated")
        return text_reply(self.config.ver_text())

    def _apirev(self, args: str) -> bytes:
        return text_reply(self.config.api_revision)

    def _getinfo(self, args: str) -> bytes:
        """The identity parameters a Vicra's own ``GET:*`` dump lists, in ndicapi's GETINFO reply shape."""
        version = self.config.firmware_version
        if version is None:
            raise NdiError(INVALID_COMMAND, "GETINFO needs newer firmware")
        answers = {
            "Features.Firmware.Version": (version, "Firmware version"),
            "Features.Hardware.Serial Number": (self.config.serial_number, "Serial number"),
            "Features.Hardware.Model": (self.config.model, "Model"),
        }
        if args not in answers:
            raise NdiError(NO_SUCH_PARAMETER, args)
        value, description = answers[args]
        return text_reply(f"{args}={value};0;0;0;0;{description}")

    def _beep(self, args: str) -> bytes:
        if len(args) != 1 or not args.isdigit():
            raise NdiError(BAD_PARAMETERS, args)
        if args == "0":
            raise NdiError(OUT_OF_RANGE, "BEEP 0")
        return text_reply("1")

    # ----------------------------------------------------------------------------------------- port handles
    def _phsr(self, args: str) -> bytes:
        self._require_init()
        mode = parse_hex(args, 2) if args else 0
        selected: list[PortHandle]
        handles = [self.handles[n] for n in sorted(self.handles)]
        if mode == 0x00:
            selected = handles
        elif mode == 0x01:
            selected = []  # wireless tools are never unplugged: nothing waits to be freed
        elif mode == 0x02:
            selected = [h for h in handles if h.occupied and not h.initialized]
        elif mode == 0x03:
            selected = [h for h in handles if h.initialized and not h.enabled]
        elif mode == 0x04:
            selected = [h for h in handles if h.enabled]
        else:
            raise NdiError(OUT_OF_RANGE, f"PHSR {mode:02X}")
        return text_reply(f"{len(selected):02X}" + "".join(f"{h.number:02X}{h.status:03X}" for h in selected))

    def _phrq(self, args: str) -> bytes:
        self._require_setup()
        if len(args) != 14:
            raise NdiError(BAD_PARAMETERS, args)
        for number in range(1, MAX_HANDLES + 1):
            if number not in self.handles:
                self.handles[number] = PortHandle(number)
                return text_reply(f"{number:02X}")
        raise NdiError(HANDLES_FULL)

    def _phf(self, args: str) -> bytes:
        self._require_setup()
        handle = self._handle(args)
        self._release(handle)
        del self.handles[handle.number]
        return OKAY

    def _pvwr(self, args: str) -> bytes:
        self._require_setup()
        if len(args) != 2 + 4 + 2 * ROM_CHUNK:
            raise NdiError(BAD_PARAMETERS, f"{len(args)} characters")
        handle = self._handle(args[:2])
        address = parse_hex(args[2:6], 4)
        data = parse_hex(args[6:], 2 * ROM_CHUNK).to_bytes(ROM_CHUNK, "big")
        if address % ROM_CHUNK or address + ROM_CHUNK > ROM_BYTES:
            raise NdiError(OUT_OF_RANGE, f"address {address:04X}")
        handle.rom[address : address + ROM_CHUNK] = data
        handle.occupied = True
        return OKAY

    def _pinit(self, args: str) -> bytes:
        self._require_setup()
        handle = self._handle(args)
        if not handle.occupied:
            raise NdiError(NO_TOOL, f"{handle.number:02X}")
        if not handle.initialized:
            self._bind(handle)
            handle.initialized = True
        return OKAY

    def _pena(self, args: str) -> bytes:
        self._require_setup()
        if len(args) != 3:
            raise NdiError(BAD_PARAMETERS, args)
        handle = self._handle(args[:2])
        if args[2] not in "SDB":
            raise NdiError(INVALID_MODE, args[2])
        if not handle.initialized:
            raise NdiError(PORT_NOT_INITIALIZED, f"{handle.number:02X}")
        handle.enabled, handle.mode = True, args[2]
        return OKAY

    def _pdis(self, args: str) -> bytes:
        self._require_setup()
        handle = self._handle(args)
        handle.enabled = False
        return OKAY

    # ----------------------------------------------------------------------------------------- tracking
    def _tstart(self, args: str) -> bytes:
        self._require_setup()
        self.tracking = True
        return OKAY

    def _tstop(self, args: str) -> bytes:
        self._require_init()
        self.tracking = False
        return OKAY

    def _records(self, options: int) -> list[ToolRecord]:
        """One record per enabled handle (handle order) from the tracker's current frame."""
        if not self.tracking:
            raise NdiError(WRONG_STATE, "not tracking")
        frame = self.tracker.measure()
        records = []
        for number in sorted(self.handles):
            handle = self.handles[number]
            if not handle.enabled:
                continue
            base = handle.status
            measured = frame.tools.get(handle.tool) if handle.tool is not None else None
            if measured is None or measured.matrix is None:
                records.append(ToolRecord(number, "missing", base, frame.frame))
                continue
            if measured.status == "out_of_volume":
                status = base | PORT_OUT_OF_VOLUME
                if not options & OPTION_NOT_NORMALLY_REPORTED:
                    records.append(ToolRecord(number, "missing", status, frame.frame))
                    continue
            elif measured.status == "partially_out_of_volume":
                status = base | PORT_PARTIALLY_OUT_OF_VOLUME
            else:
                status = base
            q0, qx, qy, qz = quaternion_from_matrix(measured.matrix)
            tx, ty, tz = measured.translation_mm
            transform = (q0, qx, qy, qz, tx, ty, tz, measured.rms_error_mm)
            records.append(ToolRecord(number, "valid", status, frame.frame, transform))
        return records

    def _bx(self, args: str) -> bytes:
        self._require_init()
        options = self._options(args)
        return binary_reply(bx_body(self._records(options), options))

    def _tx(self, args: str) -> bytes:
        self._require_init()
        options = self._options(args)
        return text_reply(tx_payload(self._records(options), options))

    def __repr__(self) -> str:
        return f"NdiCombinedApiSim({self.config.model!r} on {self.config.tracker!r})"


def check_ndi_wiring(trackers: Mapping[str, TrackerConfig], sensors: Mapping[str, NdiConfig]) -> None:
    """Every sensor names a configured tracker, and every tool it binds is one of that tracker's tools."""
    for name, sensor in sensors.items():
        if sensor.tracker not in trackers:
            raise ValueError(f"NDI sensor {name!r} uses unknown tracker {sensor.tracker!r}")
        unknown = sorted({*sensor.tools, *sensor.rom_sha256.values()} - set(trackers[sensor.tracker].tools))
        if unknown:
            raise ValueError(
                f"NDI sensor {name!r} binds tools {unknown} that tracker {sensor.tracker!r} lacks"
            )


def build_ndi_sensors(world: World, sensors: Mapping[str, NdiConfig]) -> dict[str, NdiCombinedApiSim]:
    return {name: NdiCombinedApiSim(world, config) for name, config in sensors.items()}
