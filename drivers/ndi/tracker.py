"""An NDI Polaris / Vega as a ``Tracker``: state machine, tool loading, frames on the rig clock.

The tracker owns what the wire does not say: which port handle carries which named tool, whether the
tools are loaded, whether tracking runs, and which frame it returned last. That lives in a
``transitions`` machine declared below as data; every public call checks its trigger against the table
before a byte is sent. Waits go through the injected ``Clock``; construction does no I/O.

Failures change the state only when they change what we know about the device: a timeout or a broken
link (``TransportError``) and a refusal of a tracking command move it to ``fault``; a garbled reply or a
refused tool leave it where it was (the connection has resynchronised; a tool can be fixed and
``connect()`` called again).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Literal

from drivers.clock import Clock
from drivers.errors import HilcalDriverError, IllegalStateError, ProtocolError, TransportError
from drivers.ndi.connection import PHSR_ALL, NdiConnection, TrackingPriority
from drivers.ndi.errors import FrameTimeout, NdiError, TrackerFault
from drivers.ndi.frames import SYSTEM_HARDWARE_FAILURE, HandleReport, TrackingReply, frame_key, tool_status
from drivers.ndi.framing import ROM_MAX_SIZE
from drivers.roles.identity import DeviceIdentity
from drivers.roles.tracker import ToolPose, TrackerFrame
from drivers.state_machine import DriverStateMachine, sources_by_trigger

log = logging.getLogger(__name__)

FrameFormat = Literal["bx", "tx"]

#: ndicapi pauses this long after ``INIT`` before the next command; so do we (on the rig clock).
INIT_SETTLE_S: Final = 0.1

#: A frame is asked for this many frame periods after the last one arrived: the next frame has begun by
#: one period (the last was already current when it was read), and 2 % keeps a period learned a hair
#: short, or a reply's jitter, from landing on the old frame again.
FRAME_WAIT_PERIODS: Final = 1.02
#: The frame period is learned from the tracker's own frame numbers on the rig clock once this many frames
#: have passed since tracking started (the error of the estimate is a reply's latency over this many).
LEARN_AFTER_FRAMES: Final = 20

#: Identity (``device_identity()``): the GETINFO parameter read at connect, and the ``VER:0`` line shapes.
FIRMWARE_VERSION: Final = "Features.Firmware.Version"
CONTROL_FIRMWARE_SUFFIX: Final = " Control Firmware"
SERIAL_PREFIX: Final = "NDI S/N:"
#: The Combined API is NDI's own; the device reports no vendor field.
NDI_VENDOR: Final = "Northern Digital Inc."

# -- state machine, declared as data ---------------------------------------------------------------
STATES: Final = ("disconnected", "initialized", "tools_loaded", "tracking", "fault")
_ONLINE: Final = ["initialized", "tools_loaded", "tracking", "fault"]

#: Every legal edge. ``connect()`` may start over from anything but ``tracking`` (``INIT`` would stop
#: tracking behind the caller's back; call ``stop_tracking()`` first).
TRANSITIONS: Final[list[dict[str, Any]]] = [
    {
        "trigger": "initialized",
        "source": ["disconnected", "initialized", "tools_loaded", "fault"],
        "dest": "initialized",
    },
    {"trigger": "tools_loaded", "source": "initialized", "dest": "tools_loaded"},
    {"trigger": "started", "source": "tools_loaded", "dest": "tracking"},
    {"trigger": "stopped", "source": "tracking", "dest": "tools_loaded"},
    {
        "trigger": "faulted",
        "source": ["disconnected", "initialized", "tools_loaded", "tracking"],
        "dest": "fault",
    },
    {"trigger": "disconnect", "source": _ONLINE, "dest": "disconnected"},
]


#: Which states each trigger may fire from: the guard every public call checks before any I/O.
TRIGGER_SOURCES: Final = sources_by_trigger(TRANSITIONS)


@dataclass(frozen=True, slots=True)
class NdiTool:
    """A tool to load: its name in frames, its ROM image and its tracking priority (``PENA``)."""

    name: str
    rom: bytes
    priority: TrackingPriority = "D"

    def __post_init__(self) -> None:
        if not self.name or not self.name.isprintable():
            raise ValueError(f"a tool name must be printable and non-empty, got {self.name!r}")
        if not 1 <= len(self.rom) <= ROM_MAX_SIZE:
            raise ValueError(
                f"tool {self.name!r}: a ROM image has 1..{ROM_MAX_SIZE} bytes, got {len(self.rom)}"
            )
        if self.priority not in ("D", "S", "B"):
            raise ValueError(f"tool {self.name!r}: priority must be D, S or B, got {self.priority!r}")


_NAN4: Final = (math.nan, math.nan, math.nan, math.nan)
_NAN3: Final = (math.nan, math.nan, math.nan)


class NdiTracker:
    """An NDI optical tracker speaking the Combined API; satisfies ``drivers.roles.tracker.Tracker``.

    ``tools`` are loaded in order, each on the handle ``PHRQ`` gives it. ``frame_format`` chooses ``BX``
    (binary, float32, the default) or ``TX`` (text, 0.01 mm and 1e-4 quaternion resolution).
    ``read_frame()`` returns only frames newer than the last one it returned. It plans its wait from the
    tracker's frame period on the rig clock: the next frame is asked for ``FRAME_WAIT_PERIODS`` periods
    after the last one arrived, so reading frame after frame takes one ``BX``/``TX`` each. The period is
    ``1 / frame_rate_hz`` when the rig file gives the rate, else learned from the frame numbers the
    tracker reports (after ``LEARN_AFTER_FRAMES`` frames; until then no wait is planned). Should the
    tracker still repeat its frame numbers it asks again every ``poll_interval_s``, for at most
    ``frame_timeout_s`` on the clock.
    """

    def __init__(
        self,
        connection: NdiConnection,
        *,
        name: str,
        tools: Sequence[NdiTool],
        clock: Clock,
        frame_format: FrameFormat = "bx",
        poll_interval_s: float = 0.02,
        frame_timeout_s: float = 1.0,
        frame_rate_hz: float | None = None,
    ) -> None:
        if not tools:
            raise ValueError(f"{name}: a tracker needs at least one tool to track")
        names = [tool.name for tool in tools]
        if len(set(names)) != len(names):
            raise ValueError(f"{name}: tool names must be unique, got {names}")
        if frame_format not in ("bx", "tx"):
            raise ValueError(f"{name}: frame_format must be 'bx' or 'tx', got {frame_format!r}")
        for label, value in (("poll_interval_s", poll_interval_s), ("frame_timeout_s", frame_timeout_s)):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name}: {label} must be positive and finite, got {value!r}")
        if frame_rate_hz is not None and not (frame_rate_hz > 0 and math.isfinite(frame_rate_hz)):
            raise ValueError(f"{name}: frame_rate_hz must be positive and finite, got {frame_rate_hz!r}")
        self.name = name
        self.frame_rate_hz = frame_rate_hz
        self.frame_format: FrameFormat = frame_format
        self.poll_interval_s = poll_interval_s
        self.frame_timeout_s = frame_timeout_s
        self.version_text: str | None = None
        self.api_revision: str | None = None
        #: ``GETINFO:Features.Firmware.Version`` at connect; None on firmware without GETINFO.
        self.firmware_version: str | None = None
        self._identity: DeviceIdentity | None = None
        self.last_system_status: int | None = None
        self._tools = tuple(tools)
        self._connection = connection
        self._clock = clock
        self._handles: dict[str, int] = {}
        self._last_key: tuple[int | None, ...] | None = None
        #: (frame number, rig-clock time it arrived) of the first frame since tracking started and of the
        #: frame returned last: the frame period, learned (``frame_period_s``).
        self._first_frame: tuple[int, float] | None = None
        self._last_frame: tuple[int, float] | None = None
        self._lock = threading.RLock()
        self._machine = DriverStateMachine(name, STATES, TRANSITIONS)

    # -- state ----------------------------------------------------------------------------------
    @property
    def connection(self) -> NdiConnection:
        return self._connection

    @property
    def state(self) -> str:
        return self._machine.state

    @property
    def handles(self) -> dict[str, int]:
        """Port handle of each loaded tool (empty until ``connect()`` loaded them)."""
        return dict(self._handles)

    def _require_online(self, action: str) -> None:
        self._machine.require_in(action, _ONLINE)

    def _enter_fault(self, reason: object) -> None:
        if self._machine.can("faulted"):
            log.error("%s: entering fault: %s", self.name, reason)
            self._machine.fire("faulted")

    @contextmanager
    def _link(self, *, rejection_faults: bool = False) -> Iterator[None]:
        """A lost or silent link (``TransportError``, incl. timeouts) moves the tracker to ``fault``;
        so does a refusal when ``rejection_faults`` (the device is not where the driver believes)."""
        try:
            yield
        except TransportError as err:
            self._enter_fault(err)
            raise
        except NdiError as err:
            if rejection_faults:
                self._enter_fault(err)
            raise

    # -- Tracker role ---------------------------------------------------------------------------
    def connect(self) -> None:
        """``INIT``, ``VER:0``, ``APIREV``, ``GETINFO:Features.Firmware.Version``; free every handle; then
        per tool ``PHRQ`` + ``PVWR``…, ``PINIT`` and ``PENA``. Ends in ``tools_loaded``.

        A tool the device refuses leaves the tracker ``initialized`` with ``NdiError``; fix it and call
        ``connect()`` again.
        """
        with self._lock:
            self._machine.require("connect", "initialized")
            device = self.name
            connection = self._connection
            with self._link():
                connection.initialize(device=device)
                self._handles = {}
                self._last_key = None
                self._first_frame = self._last_frame = None
                self._machine.fire("initialized")  # from here on the device holds none of our tools
                self._clock.sleep(INIT_SETTLE_S)
                self.version_text = connection.version(0, device=device)
                self.api_revision = self._read_api_revision()
                self.firmware_version = self._read_firmware_version()
                self._identity = identity_from_version(self.version_text, self.firmware_version)
                for handle, _status in connection.handle_status(PHSR_ALL, device=device):
                    connection.free_handle(handle, device=device)
                handles: dict[str, int] = {}
                for tool in self._tools:
                    handle = connection.request_handle(device=device)
                    if handle in handles.values():
                        raise ProtocolError(
                            device, "PHRQ", f"{handle:02X}", "the same handle was given twice"
                        )
                    handles[tool.name] = handle
                    connection.write_rom(handle, tool.rom, device=device)
                for tool in self._tools:
                    connection.initialize_handle(handles[tool.name], device=device)
                for tool in self._tools:
                    connection.enable_handle(handles[tool.name], tool.priority, device=device)
                self._handles = handles
                self._machine.fire("tools_loaded")
            log.info("%s: tools loaded on handles %s", self.name, {k: f"{v:02X}" for k, v in handles.items()})

    def _read_api_revision(self) -> str | None:
        """``APIREV``; None on firmware that does not know it (``ERROR01``)."""
        try:
            return self._connection.api_revision(device=self.name)
        except NdiError as err:
            if err.ndi_code != 0x01:
                raise
            log.info("%s: APIREV not supported by this firmware", self.name)
            return None

    def _read_firmware_version(self) -> str | None:
        """``GETINFO:Features.Firmware.Version``; None on firmware that does not know it (``ERROR01``)."""
        try:
            return self._connection.get_info(FIRMWARE_VERSION, device=self.name)
        except NdiError as err:
            if err.ndi_code != 0x01:
                raise
            log.info("%s: GETINFO not supported by this firmware; firmware version left empty", self.name)
            return None

    def device_identity(self) -> DeviceIdentity:
        """What the tracker reported at the last connect (no I/O; kept after ``close()``).

        From ``VER:0``: model (its first line without `` Control Firmware``, e.g. ``Polaris Vega``) and
        serial (the ``NDI S/N:`` line); firmware from ``GETINFO:Features.Firmware.Version`` (``""`` on
        firmware that answers ``ERROR01``). The vendor is the Combined API's maker, Northern Digital Inc.
        Raises ``IllegalStateError`` before the first connect has read them.
        """
        if self._identity is None:
            raise IllegalStateError(self.name, "report its identity", self._machine.state)
        return self._identity

    def close(self) -> None:
        """Stop tracking if it runs (``TSTOP``) and forget the device. Idempotent; never raises.

        The transport stays open: it belongs to the rig's port pool.
        """
        with self._lock:
            if self._machine.state == "disconnected":
                return
            try:
                if self._machine.state == "tracking":
                    self._connection.stop_tracking(device=self.name)
            except HilcalDriverError as err:
                log.warning("%s: could not stop tracking while closing: %s", self.name, err)
            finally:
                self._handles = {}
                self._machine.fire("disconnect")

    def identify(self) -> str:
        """One line from the ``VER:0`` text read at connect (no I/O): its lines joined with ``; ``,
        plus the API revision."""
        self._require_online("identify")
        lines = [line.strip() for line in (self.version_text or "").splitlines() if line.strip()]
        if self.api_revision:
            lines.append(f"API {self.api_revision}")
        return "; ".join(lines)

    def tool_names(self) -> list[str]:
        return [tool.name for tool in self._tools]

    def start_tracking(self) -> None:
        """``TSTART``: ``tools_loaded`` → ``tracking``."""
        with self._lock:
            self._machine.require("start tracking", "started")
            with self._link():
                self._connection.start_tracking(device=self.name)
            self._last_key = None
            self._first_frame = self._last_frame = None  # the frame counter may start over
            self._machine.fire("started")

    def stop_tracking(self) -> None:
        """``TSTOP``: ``tracking`` → ``tools_loaded``."""
        with self._lock:
            self._machine.require("stop tracking", "stopped")
            with self._link():
                self._connection.stop_tracking(device=self.name)
            self._machine.fire("stopped")

    def stop(self) -> None:
        """Safe state: ``TSTOP`` when tracking; nothing to do (and no bytes) otherwise."""
        with self._lock:
            if self._machine.state == "tracking":
                self.stop_tracking()

    def read_frame(self) -> TrackerFrame:
        """A frame newer than the last one returned, every loaded tool in it, in the tracker's frame.

        ``FrameTimeout`` if the tracker repeats its frame numbers for ``frame_timeout_s`` on the clock;
        ``TrackerFault`` (and state ``fault``) if the system status reports a hardware failure.
        """
        with self._lock:
            self._machine.require_in("read a frame", ("tracking",))
            clock = self._clock
            deadline = clock.now() + self.frame_timeout_s
            period = self.frame_period_s()
            if period is not None and self._last_frame is not None:  # the next frame is due then
                due = self._last_frame[1] + FRAME_WAIT_PERIODS * period - clock.now()
                if due > 0:
                    clock.sleep(min(due, self.frame_timeout_s))
            while True:
                reply = self._request_frame()
                received = clock.now()
                reports = [(tool.name, self._report(reply, tool.name)) for tool in self._tools]
                key = frame_key([report for _, report in reports])
                if key != self._last_key or all(number is None for number in key):
                    break
                if received >= deadline:
                    raise FrameTimeout(self.name, self.frame_timeout_s, key)
                clock.sleep(self.poll_interval_s)
            self._last_key = key
            self._note_frame(key, received)
            poses = tuple(_pose(tool, report) for tool, report in reports)
            return TrackerFrame(self.name, poses, received)

    def frame_period_s(self) -> float | None:
        """Seconds between the tracker's frames on the rig clock: ``1 / frame_rate_hz``, else learned from
        its frame numbers once ``LEARN_AFTER_FRAMES`` have passed since tracking started; else None."""
        if self.frame_rate_hz is not None:
            return 1.0 / self.frame_rate_hz
        first, last = self._first_frame, self._last_frame
        if first is None or last is None or last[0] - first[0] < LEARN_AFTER_FRAMES or last[1] <= first[1]:
            return None
        return (last[1] - first[1]) / (last[0] - first[0])

    def _note_frame(self, key: tuple[int | None, ...], received: float) -> None:
        numbers = [number for number in key if number is not None]
        if not numbers:
            return
        latest = (max(numbers), received)
        if (
            self._first_frame is None or latest[0] < self._first_frame[0]
        ):  # first, or the counter started over
            self._first_frame = latest
        self._last_frame = latest

    def _request_frame(self) -> TrackingReply:
        with self._link(rejection_faults=True):
            if self.frame_format == "bx":
                reply = self._connection.bx(device=self.name)
            else:
                reply = self._connection.tx(device=self.name)
        self.last_system_status = reply.system_status
        if reply.system_status & SYSTEM_HARDWARE_FAILURE:
            self._enter_fault("hardware failure in the system status")
            raise TrackerFault(
                self.name,
                f"system status {reply.system_status:04X}",
                "the tracker reports a hardware failure",
            )
        return reply

    def _report(self, reply: TrackingReply, tool: str) -> HandleReport:
        handle = self._handles[tool]
        report = reply.handle(handle)
        if report is None:
            # The tracker did not list a handle we enabled: the tool is reported disabled, never guessed.
            log.warning("%s: handle %02X (%s) is not in the tracking reply", self.name, handle, tool)
            return HandleReport(handle, "disabled", _NAN4, _NAN3, math.nan, None, None)
        return report

    # -- extras ---------------------------------------------------------------------------------
    def beep(self, count: int = 1) -> bool:
        """``BEEP:<n>``: make the tracker beep (to find it on a rig); False if it was busy."""
        with self._lock:
            self._require_online("beep")
            with self._link():
                return self._connection.beep(count, device=self.name)

    def handle_status(self, mode: int = PHSR_ALL) -> tuple[tuple[int, int], ...]:
        """``PHSR``: the device's own view of its port handles, for diagnostics."""
        with self._lock:
            self._require_online("read handle status")
            with self._link():
                return self._connection.handle_status(mode, device=self.name)

    def __repr__(self) -> str:
        return f"NdiTracker({self.name!r}, tools={self.tool_names()}, state={self.state!r})"


def identity_from_version(version_text: str, firmware: str | None) -> DeviceIdentity:
    """Identity fields from the ``VER:0`` text (and the firmware version read with ``GETINFO``).

    ``VER:0`` is free text; only its documented shape is used: a first line ``<model> Control Firmware``
    and a line ``NDI S/N: <serial>``. A text without them leaves those fields ``""``.
    """
    lines = [line.strip() for line in version_text.splitlines() if line.strip()]
    model = ""
    if lines and lines[0].endswith(CONTROL_FIRMWARE_SUFFIX):
        model = lines[0][: -len(CONTROL_FIRMWARE_SUFFIX)].strip()
    serials = [line[len(SERIAL_PREFIX) :].strip() for line in lines if line.startswith(SERIAL_PREFIX)]
    serial = serials[0] if serials else ""
    raw = "\n".join(lines)
    if firmware is not None:
        raw += f"\n{FIRMWARE_VERSION}={firmware}"
    return DeviceIdentity(vendor=NDI_VENDOR, model=model, serial=serial, firmware=firmware or "", raw=raw)


def _pose(tool: str, report: HandleReport) -> ToolPose:
    """The role's pose of one handle report: NaN transform unless the tracker sent one."""
    return ToolPose(
        tool=tool,
        status=tool_status(report),
        rotation=report.rotation,
        translation_mm=report.translation_mm,
        rms_error_mm=report.rms_error_mm,
        frame_number=0 if report.frame_number is None else report.frame_number,
    )
