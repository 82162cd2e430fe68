"""The PTW UNIDOS Tango/Romeo as a ``Dosimeter``: write permission, state machine, checked readings.

The device keeps its own measurement status (``S``: RES, MEAS, HOLD, INT, ZERO…). The driver mirrors it in
a ``transitions`` machine declared below as data: commands move the machine (``STA`` → integrating), and
every status the device reports (``S``, the first field of ``MV``) pulls the machine along the ``seen_*``
edges when the front panel or an interval measurement changed it. Every public call checks its trigger
against the table before a byte is sent. Waits go through the injected ``Clock``.

Overload and HV-error flags in an ``MV`` record move the machine to ``fault`` and raise
``DosimeterOverload`` / ``HighVoltageFault``; the reading is never returned.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any, Final

from drivers.clock import Clock
from drivers.errors import (
    DeviceFault,
    DeviceRejected,
    DosimeterOverload,
    DosimeterTimeout,
    HighVoltageFault,
    HilcalDriverError,
    IllegalStateError,
    LimitViolation,
    ProtocolError,
    TransportTimeout,
    wire_float,
)
from drivers.ptw_unidos.protocol import (
    ERROR_CODES,
    HV_ERROR_MASK,
    OVERLOAD_MASK,
    RANGES,
    STATUS_STATES,
    TERMINATOR,
    UnidosIdentity,
    UnidosMeasurement,
    UnidosRangeValues,
    UnidosReply,
    UnidosZeroStatus,
    build_command,
    decode_flags,
    parse_bool,
    parse_identity,
    parse_measurement,
    parse_range_values,
    parse_reply,
    parse_zero_status,
)
from drivers.roles.dosimeter import DosimeterReading, DosimeterSettings
from drivers.roles.identity import DeviceIdentity
from drivers.state_machine import DriverStateMachine, sources_by_trigger
from drivers.transport.base import Transport

log = logging.getLogger(__name__)

#: The device's own HV limits (PyMeasure checks the same on the client side).
HV_LIMIT_V: Final = 400.0
#: ``IT`` accepts whole seconds in this interval.
INTEGRATION_TIME_RANGE_S: Final = (1, 3_599_999)

# -- state machine, declared as data ---------------------------------------------------------------
STATES: Final = ("disconnected", "idle", "zeroing", "integrating", "holding", "fault")
_ONLINE: Final = ["idle", "zeroing", "integrating", "holding", "fault"]
_ACTIVE: Final = ["idle", "zeroing", "integrating", "holding"]

#: Every legal edge. ``found_*`` come from the status read at connect; ``seen_*`` follow a status change the
#: device reports (front panel, end of an interval measurement); the rest are our commands.
TRANSITIONS: Final[list[dict[str, Any]]] = [
    {"trigger": "found_idle", "source": "disconnected", "dest": "idle"},
    {"trigger": "found_zeroing", "source": "disconnected", "dest": "zeroing"},
    {"trigger": "found_integrating", "source": "disconnected", "dest": "integrating"},
    {"trigger": "found_holding", "source": "disconnected", "dest": "holding"},
    {"trigger": "configured", "source": "idle", "dest": "idle"},
    {"trigger": "start_zero", "source": "idle", "dest": "zeroing"},
    {"trigger": "zeroed", "source": "zeroing", "dest": "idle"},
    {"trigger": "zero_failed", "source": "zeroing", "dest": "fault"},
    {"trigger": "start", "source": "idle", "dest": "integrating"},
    {"trigger": "held", "source": "integrating", "dest": "holding"},
    {"trigger": "reset", "source": _ACTIVE, "dest": "idle"},
    {"trigger": "fault_cleared", "source": "fault", "dest": "idle"},
    {"trigger": "stopped", "source": "idle", "dest": "idle"},
    {"trigger": "stopped", "source": "zeroing", "dest": "zeroing"},
    {"trigger": "stopped", "source": "holding", "dest": "holding"},
    {"trigger": "stopped", "source": "fault", "dest": "fault"},
    {"trigger": "seen_idle", "source": _ACTIVE, "dest": "idle"},
    {"trigger": "seen_zeroing", "source": _ACTIVE, "dest": "zeroing"},
    {"trigger": "seen_integrating", "source": _ACTIVE, "dest": "integrating"},
    {"trigger": "seen_holding", "source": _ACTIVE, "dest": "holding"},
    {"trigger": "faulted", "source": ["disconnected", *_ACTIVE], "dest": "fault"},
    {"trigger": "disconnect", "source": _ONLINE, "dest": "disconnected"},
]


#: Which states each trigger may fire from: the guard every public call checks before any I/O.
TRIGGER_SOURCES: Final = sources_by_trigger(TRANSITIONS)
#: States in which a reading may be asked for.
READABLE: Final = frozenset(("idle", "integrating", "holding"))


class PtwUnidos:
    """A PTW UNIDOS Tango or Romeo on one transport; satisfies ``drivers.roles.dosimeter.Dosimeter``.

    Readings are in electrical units (C, A): ``configure()`` sends ``UEL;true``. ``bias_limit_v`` is the
    largest |HV| this rig allows (the chamber's rating), at most the device's own ±400 V. Construction does
    no I/O; ``connect()`` identifies the device, takes write permission (``TOK``) and reads its status.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        name: str,
        clock: Clock,
        bias_limit_v: float = HV_LIMIT_V,
        poll_interval_s: float = 0.5,
    ) -> None:
        if not (0 < bias_limit_v <= HV_LIMIT_V):
            raise ValueError(f"{name}: bias_limit_v must be in (0, {HV_LIMIT_V:g}] V, got {bias_limit_v!r}")
        if not (poll_interval_s > 0 and math.isfinite(poll_interval_s)):
            raise ValueError(f"{name}: poll_interval_s must be positive, got {poll_interval_s!r}")
        self.name = name
        self.bias_limit_v = bias_limit_v
        self.poll_interval_s = poll_interval_s
        self.identity: UnidosIdentity | None = None
        self.serial: str | None = None
        self._device_identity: DeviceIdentity | None = None
        self._transport = transport
        self._clock = clock
        self._lock = threading.Lock()
        self._settings: DosimeterSettings | None = None
        self._machine = DriverStateMachine(name, STATES, TRANSITIONS)

    # -- state ----------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._machine.state

    @property
    def settings(self) -> DosimeterSettings | None:
        """The settings of the last successful ``configure()``; None before it."""
        return self._settings

    def _require_online(self, action: str) -> None:
        self._machine.require_in(action, _ONLINE)

    def _enter_fault(self) -> None:
        if self._machine.can("faulted"):
            self._machine.fire("faulted")

    def _follow(self, target: str) -> None:
        """Move along a ``seen_*`` edge to the state the device reports (no-op if already there)."""
        state = self._machine.state
        if state != target and self._machine.can(f"seen_{target}"):
            log.info("%s: device reports %s while the driver was %s", self.name, target, state)
            self._machine.fire(f"seen_{target}")

    # -- wire -----------------------------------------------------------------------------------
    def _exchange(self, name: str, *params: str) -> UnidosReply:
        """One request and its reply. ``E33`` (module defect) also moves the machine to ``fault``."""
        line = build_command(name, *params)
        try:
            with self._lock:
                try:
                    self._transport.write(line)
                    raw = self._transport.read_until(TERMINATOR, command=line)
                    return parse_reply(raw, line, name, device=self.name)
                except (ProtocolError, TransportTimeout):
                    stale = self._transport.flush_input()
                    if stale:
                        log.warning("%s: discarded %r after a failed exchange", self.name, stale)
                    raise
        except DeviceRejected as err:
            if err.code == "E33":
                self._enter_fault()
                raise DeviceFault(self.name, "E33", f"{ERROR_CODES['E33']} (reply to {name!r})") from err
            raise

    def _command(self, name: str) -> None:
        """A parameterless action (``STA``, ``HLD``…): the reply must be the bare echo."""
        reply = self._exchange(name)
        if reply.fields not in ((), ("",)):
            raise ProtocolError(self.name, name, reply.raw, f"expected a bare echo of {name!r}")

    def _set(self, name: str, value: str) -> None:
        """``NAME;value``; the echo must carry the same value (numerically for numbers)."""
        reply = self._exchange(name, value)
        echoed = reply.fields[0] if len(reply.fields) == 1 else None
        if echoed is None or not _same_value(echoed, value):
            raise ProtocolError(
                self.name, f"{name};{value}", reply.raw, f"device did not echo the value {value!r}"
            )

    def _query(self, name: str, *params: str, fields: int = 1) -> UnidosReply:
        reply = self._exchange(name, *params)
        if len(reply.fields) != fields:
            raise ProtocolError(
                self.name, name, reply.raw, f"{name} reply has {len(reply.fields)} fields, expected {fields}"
            )
        return reply

    def _status(self) -> str:
        status = self._query("S").fields[0]
        if status not in STATUS_STATES:
            raise ProtocolError(self.name, "S", status, "not a UNIDOS status")
        return status

    # -- Dosimeter role -------------------------------------------------------------------------
    def connect(self) -> None:
        """``PTW``, ``SER``, ``TOK;1`` (and ``TOK`` if permission is not held), ``S``.

        The state follows the device status. A device in ``ERROR`` or busy with a self test enters
        ``fault`` and raises ``DeviceFault``; close and connect again once it is ready.
        """
        self._machine.require("connect", "found_idle")
        reply = self._exchange("PTW")
        self.identity = parse_identity(reply, b"PTW\r\n", device=self.name)
        self.serial = self._query("SER").fields[0]
        self._device_identity = unidos_identity(self.identity, self.serial)
        if not self.write_permission():
            granted = self._query("TOK")
            if not parse_bool(granted.fields[0], granted, b"TOK\r\n", self.name):
                raise DeviceRejected(
                    self.name,
                    "TOK",
                    "refused",
                    "write permission refused: the front panel or another client holds it",
                )
        status = self._status()
        target = STATUS_STATES[status]
        if target in ("fault", "busy"):
            self._machine.fire("faulted")
            raise DeviceFault(self.name, status, "device is not ready for measurement commands")
        self._machine.fire(f"found_{target}")

    def close(self) -> None:
        """Release write permission (``TOK;0``) and forget the device. Idempotent; never raises."""
        if self._machine.state == "disconnected":
            return
        try:
            reply = self._query("TOK", "0", fields=2)
            if reply.fields[0] != "0":
                log.warning("%s: unexpected reply %r to TOK;0", self.name, reply.raw)
        except HilcalDriverError as err:
            log.warning("%s: could not release write permission: %s", self.name, err)
        finally:
            self._machine.fire("disconnect")

    def device_identity(self) -> DeviceIdentity:
        """The ``PTW`` and ``SER`` answers of the last connect (no I/O; kept after ``close()``).

        Vendor ``PTW`` (the protocol's maker: ``PTW`` is its identity command), model = product name and
        type number (``UNIDOS Tango TM10052``), serial from ``SER``, firmware from ``PTW``'s third field;
        the hardware revision is kept in ``raw``. Raises ``IllegalStateError`` before a connect read them.
        """
        if self._device_identity is None:
            raise IllegalStateError(self.name, "report its identity", self._machine.state)
        return self._device_identity

    def identify(self) -> str:
        """The ``PTW`` reply fields: name, type number, firmware, hardware revision (``;``-joined)."""
        self._require_online("identify")
        reply = self._exchange("PTW")
        self.identity = parse_identity(reply, b"PTW\r\n", device=self.name)
        return ";".join(self.identity)

    def configure(self, settings: DosimeterSettings) -> None:
        """``UEL;true``, ``RGE;<range>``, ``HV;<volts>``, and ``IT;<s>`` for a timed integration.

        Everything is validated before the first byte: the range must be one of VERY_LOW, LOW, MEDIUM,
        HIGH (the device has no auto range), HV whole volts within ``bias_limit_v``, the integration time
        whole seconds in 1…3599999 s.
        """
        self._machine.require("configure", "configured")
        range_name, hv, seconds = self._validate(settings)
        self._set("UEL", "true")
        self._set("RGE", range_name)
        self._set("HV", hv)
        if seconds is not None:
            self._set("IT", seconds)
        self._settings = settings
        self._machine.fire("configured")

    def _validate(self, settings: DosimeterSettings) -> tuple[str, str, str | None]:
        return validate_settings(self.name, settings, self.bias_limit_v)

    def zero(self, timeout_s: float = 120.0) -> None:
        """``NUL``, then ``S`` every ``poll_interval_s`` until the device leaves ZERO, then ``NUS``.

        From ``zeroing`` (found at connect, or after a timeout) it only waits. A result other than
        ``Passed`` enters ``fault`` and raises ``DeviceFault``; a timeout raises ``DosimeterTimeout`` and
        leaves the machine in ``zeroing``.
        """
        if self._machine.state != "zeroing":
            self._machine.require("zero", "start_zero")
            self._command("NUL")
            self._machine.fire("start_zero")
        deadline = self._clock.now() + timeout_s
        while True:
            status = self._status()
            target = STATUS_STATES[status]
            if target not in ("zeroing", "busy"):
                break
            if self._clock.now() >= deadline:
                raise DosimeterTimeout(self.name, "zero", timeout_s, status)
            self._clock.sleep(self.poll_interval_s)
        result = self.zero_status()
        if target == "fault" or result.status.lower() != "passed":
            self._machine.fire("zero_failed")
            raise DeviceFault(self.name, f"zero {result.status}", f"device status {status} after NUL")
        self._machine.fire("zeroed")
        self._follow(target)

    def start_integration(self) -> None:
        """``STA``, or ``INT`` (interval measurement of ``IT`` seconds) when configured with a time."""
        self._machine.require("start an integration", "start")
        timed = self._settings is not None and self._settings.integration_time_s is not None
        self._command("INT" if timed else "STA")
        self._machine.fire("start")

    def hold(self) -> None:
        """``HLD``. If the device refuses because an interval measurement already ended (E02/E03) and its
        status is a hold, the machine follows it to ``holding`` instead of raising."""
        self._machine.require("hold", "held")
        try:
            self._command("HLD")
        except DeviceRejected as err:
            if err.code in ("E02", "E03") and STATUS_STATES[self._status()] == "holding":
                self._follow("holding")
                return
            raise
        self._machine.fire("held")

    def reset(self) -> None:
        """``RES``: back to ``idle``. From ``fault`` it reads ``MV`` and stays in ``fault`` (raising) while
        an overload or HV error is still flagged."""
        self._machine.require_in("reset", TRIGGER_SOURCES["reset"] | TRIGGER_SOURCES["fault_cleared"])
        state = self._machine.state
        self._command("RES")
        if state != "fault":
            self._machine.fire("reset")
            return
        record = parse_measurement(self._exchange("MV"), b"MV\r\n", device=self.name)
        self._raise_for_flags(record)
        self._machine.fire("fault_cleared")
        self._follow_record(record)

    def read(self) -> DosimeterReading:
        """``MV`` → the charge (mode ``charge``) or current (``current``) in C or A, with its status.

        ``status`` holds the device status word and any warning flags (low signal, uncalibrated…).
        """
        record = self.measurement()
        if not record.electrical:
            raise ProtocolError(
                self.name,
                "MV",
                record.raw,
                f"reading is in {record.charge_unit}, not C: electrical units are off (configure() sends "
                "UEL;true)",
            )
        mode = self._settings.mode if self._settings is not None else "charge"
        return DosimeterReading(
            value=record.charge if mode == "charge" else record.rate,
            unit="C" if mode == "charge" else "A",
            clock_s=self._clock.now(),
            integration_time_s=record.time_s,
            bias_voltage_v=record.hv_v,
            range=self._settings.range.upper() if self._settings is not None else None,
            status=(record.status, *record.flag_names),
        )

    def stop(self) -> None:
        """Hold a running integration (``HLD``); in every other online state nothing is sent."""
        self._require_online("stop")
        if self._machine.state == "integrating":
            self.hold()
        else:
            self._machine.fire("stopped")

    # -- the full record and the device's own settings ------------------------------------------
    def measurement(self) -> UnidosMeasurement:
        """The whole ``MV`` record, after the overload/HV checks and the state follow-up."""
        self._machine.require_in("read", READABLE)
        record = parse_measurement(self._exchange("MV"), b"MV\r\n", device=self.name)
        self._raise_for_flags(record)
        self._follow_record(record)
        return record

    def _raise_for_flags(self, record: UnidosMeasurement) -> None:
        if record.flags & OVERLOAD_MASK:
            self._enter_fault()
            names = ", ".join(decode_flags(record.flags & OVERLOAD_MASK))
            raise DosimeterOverload(self.name, "overload", names, record.raw)
        if record.flags & HV_ERROR_MASK:
            self._enter_fault()
            names = ", ".join(decode_flags(record.flags & HV_ERROR_MASK))
            raise HighVoltageFault(self.name, "HV error", names, record.raw)

    def _follow_record(self, record: UnidosMeasurement) -> None:
        target = STATUS_STATES[record.status]
        if target == "fault":
            self._enter_fault()
            raise DeviceFault(self.name, record.status, "device status in the MV record")
        if target != "busy":
            self._follow(target)

    def device_status(self) -> str:
        """``S``: the device's status word (RES, MEAS, HOLD, INT, INTHLD, ZERO, EOM…)."""
        self._require_online("read the status")
        return self._status()

    def zero_status(self) -> UnidosZeroStatus:
        """``NUS``: result word and remaining/total time of the last zero correction."""
        self._require_online("read the zero status")
        return parse_zero_status(self._query("NUS", fields=3), b"NUS\r\n", device=self.name)

    def serial_number(self) -> str:
        self._require_online("read the serial number")
        return self._query("SER").fields[0]

    def write_permission(self) -> bool:
        """``TOK;1``: whether this client holds write permission."""
        reply = self._query("TOK", "1", fields=2)
        if reply.fields[0] != "1":
            raise ProtocolError(self.name, "TOK;1", reply.raw, "reply does not echo the query '1'")
        return parse_bool(reply.fields[1], reply, b"TOK;1\r\n", self.name)

    def bias_voltage_v(self) -> float:
        """``HV``: the detector voltage the device is set to."""
        self._require_online("read the bias voltage")
        reply = self._query("HV")
        return _number(reply.fields[0], self.name, "HV", reply.raw)

    def range_name(self) -> str:
        self._require_online("read the range")
        return self._query("RGE").fields[0]

    def integration_time_s(self) -> float:
        self._require_online("read the integration time")
        reply = self._query("IT")
        return _number(reply.fields[0], self.name, "IT", reply.raw)

    def electrical_units(self) -> bool:
        self._require_online("read the unit setting")
        reply = self._query("UEL")
        return parse_bool(reply.fields[0], reply, b"UEL\r\n", self.name)

    def range_maximum(self) -> UnidosRangeValues:
        """``MVM``: the largest current (or dose rate) of the present range."""
        self._require_online("read the range maximum")
        return parse_range_values(self._exchange("MVM"), b"MVM\r\n", device=self.name)

    def range_resolution(self) -> UnidosRangeValues:
        """``MVR``: the charge and current resolution of the present range."""
        self._require_online("read the range resolution")
        return parse_range_values(self._exchange("MVR"), b"MVR\r\n", device=self.name)

    def __repr__(self) -> str:
        return f"PtwUnidos({self.name!r}, state={self.state!r})"


def unidos_identity(identity: UnidosIdentity, serial: str) -> DeviceIdentity:
    """``PTW;name;type number;firmware;hardware`` and ``SER;serial`` as identity fields."""
    model = " ".join(part for part in (identity.name, identity.type_number) if part)
    raw = f"PTW;{';'.join(identity)}; SER;{serial}"
    return DeviceIdentity(vendor="PTW", model=model, serial=serial, firmware=identity.firmware, raw=raw)


def _same_value(echoed: str, sent: str) -> bool:
    if echoed == sent or echoed.lower() == sent.lower():
        return True
    try:
        return float(echoed) == float(sent)
    except ValueError:
        return False


def _number(text: str, device: str, command: str, raw: bytes) -> float:
    return wire_float(text, device=device, command=command, reply=raw, what="value")


def validate_settings(
    name: str, settings: DosimeterSettings, bias_limit_v: float
) -> tuple[str, str, str | None]:
    """The settings as wire tokens (range, HV, integration seconds), or the error ``configure`` would raise.

    A module function so a plan can be checked against the rig file before the device is opened.
    """
    if settings.mode not in ("charge", "current"):
        raise ValueError(f"{name}: mode must be 'charge' or 'current', got {settings.mode!r}")
    range_name = settings.range.upper()
    if range_name not in RANGES:
        hint = " (the UNIDOS has no auto range)" if range_name == "AUTO" else ""
        raise ValueError(f"{name}: range {settings.range!r} is not one of {', '.join(RANGES)}{hint}")
    bias = settings.bias_voltage_v
    if not math.isfinite(bias) or abs(bias) > bias_limit_v:
        raise LimitViolation(name, "bias voltage", bias, -bias_limit_v, bias_limit_v, "V")
    if bias != round(bias):
        raise ValueError(f"{name}: the UNIDOS sets HV in whole volts, got {bias!r} V")
    seconds = settings.integration_time_s
    if seconds is None:
        return range_name, str(round(bias)), None
    low, high = INTEGRATION_TIME_RANGE_S
    if not (math.isfinite(seconds) and seconds == round(seconds) and low <= seconds <= high):
        raise ValueError(f"{name}: integration time must be whole seconds in {low}…{high}, got {seconds!r} s")
    return range_name, str(round(bias)), str(round(seconds))
