"""The Keithley 6517B electrometer as a ``Dosimeter``: zero check as the integration gate, checked readings.

The 6517B has no "integrating" status to query. In the coulomb function it integrates whenever zero check
is off, and enabling zero check resets the integrator (6517B manual §4, "auto discharge": "with auto
discharge disabled, you can use zero check to reset the integrator"). The driver therefore defines the role
states by zero check:

- ``idle``: zero check on (input shunted, integrator reset);
- ``integrating``: zero check off;
- ``holding``: the reading taken at ``hold()`` is kept by the driver and zero check is on again, so nothing
  more accumulates; ``read()`` returns that reading without I/O.

Releasing zero check makes the charge jump ("zero check hop"). With ``zero_check_hop_correction`` the driver
reads once right after ``:SYST:ZCH OFF`` and subtracts that reading from every charge reading, as the manual
recommends (it suggests REL; we subtract in the driver so the raw readings stay visible in the journal).

A timed integration (``integration_time_s``) is timed by the driver on the injected clock: the first
``read()`` at or after the deadline takes the final reading and holds; the reading's
``integration_time_s`` is the actual elapsed time, not the nominal one.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any, Final, Literal

from drivers.clock import Clock
from drivers.errors import (
    DeviceRejected,
    DosimeterOverload,
    HighVoltageFault,
    IllegalStateError,
    LimitViolation,
    ProtocolError,
    TransportTimeout,
    ZeroCheckActive,
    wire_int,
)
from drivers.keithley6517b.scpi import (
    CHARGE_FULL_SCALE_C,
    CURRENT_FULL_SCALE_A,
    NPLC_RANGE,
    READING_ELEMENTS,
    SOURCE_LIMIT_V,
    SOURCE_LOW_RANGE_V,
    TERMINATOR,
    KeithleyIdentity,
    KeithleyReading,
    format_number,
    parse_bool,
    parse_error,
    parse_function,
    parse_identity,
    parse_readings,
    reply_text,
)
from drivers.roles.dosimeter import DosimeterReading, DosimeterSettings
from drivers.roles.identity import DeviceIdentity
from drivers.state_machine import DriverStateMachine, sources_by_trigger
from drivers.transport.base import Transport

log = logging.getLogger(__name__)

#: Bound on ``:SYST:ERR?`` polls while draining the queue; a queue that never empties is a fault.
MAX_QUEUED_ERRORS: Final = 32

# -- state machine, declared as data ---------------------------------------------------------------
STATES: Final = ("disconnected", "idle", "zeroing", "integrating", "holding", "fault")
_ONLINE: Final = ["idle", "zeroing", "integrating", "holding", "fault"]

TRANSITIONS: Final[list[dict[str, Any]]] = [
    {"trigger": "found_idle", "source": "disconnected", "dest": "idle"},
    {"trigger": "found_integrating", "source": "disconnected", "dest": "integrating"},
    {"trigger": "configured", "source": "idle", "dest": "idle"},
    {"trigger": "start_zero", "source": "idle", "dest": "zeroing"},
    {"trigger": "zeroed", "source": "zeroing", "dest": "idle"},
    {"trigger": "zero_refused", "source": "zeroing", "dest": "idle"},
    {"trigger": "start", "source": "idle", "dest": "integrating"},
    {"trigger": "held", "source": "integrating", "dest": "holding"},
    {"trigger": "reset", "source": ["idle", "integrating", "holding", "fault"], "dest": "idle"},
    {"trigger": "zero_check_seen", "source": "integrating", "dest": "idle"},
    {"trigger": "stopped", "source": "idle", "dest": "idle"},
    {"trigger": "stopped", "source": "zeroing", "dest": "zeroing"},
    {"trigger": "stopped", "source": "holding", "dest": "holding"},
    {"trigger": "stopped", "source": "fault", "dest": "fault"},
    {"trigger": "faulted", "source": ["idle", "zeroing", "integrating", "holding"], "dest": "fault"},
    {"trigger": "instrument_reset", "source": _ONLINE, "dest": "idle"},
    {"trigger": "disconnect", "source": _ONLINE, "dest": "disconnected"},
]


TRIGGER_SOURCES: Final = sources_by_trigger(TRANSITIONS)
READABLE: Final = frozenset(("idle", "integrating", "holding"))
TriggerSource = Literal["IMM", "BUS", "TIM"]


class Keithley6517B:
    """A Keithley 6517B on one transport (VISA GPIB/RS-232, or any ``Transport``); a ``Dosimeter``.

    ``bias_limit_v`` bounds the V-source for this rig (the chamber's rating; the source itself does
    ±1000 V). ``nplc`` is the A/D integration per reading (0.01–10 power-line cycles). Construction does no
    I/O; ``connect()`` identifies the instrument, sets the reading format and reads function and zero check.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        name: str,
        clock: Clock,
        bias_limit_v: float = 400.0,
        nplc: float = 1.0,
        zero_check_hop_correction: bool = True,
    ) -> None:
        if not (0 < bias_limit_v <= SOURCE_LIMIT_V):
            raise ValueError(
                f"{name}: bias_limit_v must be in (0, {SOURCE_LIMIT_V:g}] V, got {bias_limit_v!r}"
            )
        low, high = NPLC_RANGE
        if not (low <= nplc <= high):
            raise ValueError(f"{name}: nplc must be in {low:g}…{high:g}, got {nplc!r}")
        self.name = name
        self.bias_limit_v = bias_limit_v
        self.nplc = nplc
        self.zero_check_hop_correction = zero_check_hop_correction
        self.identity: KeithleyIdentity | None = None
        self._device_identity: DeviceIdentity | None = None
        self._transport = transport
        self._clock = clock
        self._lock = threading.Lock()
        self._settings: DosimeterSettings | None = None
        self._function: str | None = None
        self._started_at: float | None = None
        self._baseline = 0.0
        self._held: DosimeterReading | None = None
        self._machine = DriverStateMachine(name, STATES, TRANSITIONS)

    # -- state ----------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._machine.state

    @property
    def settings(self) -> DosimeterSettings | None:
        return self._settings

    @property
    def function(self) -> str | None:
        """``CHAR``, ``CURR``, ``VOLT`` or ``RES`` as last read or set; None before ``connect()``."""
        return self._function

    def _require_online(self, action: str) -> None:
        self._machine.require_in(action, _ONLINE)

    # -- wire -----------------------------------------------------------------------------------
    def _write(self, text: str) -> None:
        with self._lock:
            self._transport.write(text.encode("ascii") + TERMINATOR)

    def _ask(self, text: str, *, timeout_s: float | None = None) -> tuple[str, bytes]:
        line = text.encode("ascii") + TERMINATOR
        with self._lock:
            try:
                self._transport.write(line)
                raw = self._transport.read_until(TERMINATOR, command=line, timeout_s=timeout_s)
                return reply_text(raw, line, device=self.name), raw
            except (ProtocolError, TransportTimeout):
                stale = self._transport.flush_input()
                if stale:
                    log.warning("%s: discarded %r after a failed exchange", self.name, stale)
                raise

    def _drain_errors(self) -> list[tuple[int, str]]:
        found: list[tuple[int, str]] = []
        for _ in range(MAX_QUEUED_ERRORS):
            text, _raw = self._ask(":SYST:ERR?")
            code, message = parse_error(text, device=self.name, command=b":SYST:ERR?\n")
            if code == 0:
                return found
            found.append((code, message))
        raise ProtocolError(
            self.name, ":SYST:ERR?", "", f"error queue not empty after {MAX_QUEUED_ERRORS} reads"
        )

    def _check_errors(self, action: str) -> None:
        errors = self._drain_errors()
        if errors:
            code, _ = errors[0]
            detail = "; ".join(f'{c},"{m}"' for c, m in errors)
            raise DeviceRejected(self.name, action, str(code), detail)

    # -- Dosimeter role -------------------------------------------------------------------------
    def connect(self) -> None:
        """``*IDN?``, ``*CLS``, ``:FORM:DATA ASC``, ``:FORM:ELEM READ,STAT,UNIT``, ``:SENS:FUNC?``,
        ``:SYST:ZCH?``, ``:SYST:ERR?``. Zero check on → ``idle``; off → ``integrating`` (start unknown)."""
        self._machine.require("connect", "found_idle")
        text, _ = self._ask("*IDN?")
        self.identity = parse_identity(text, device=self.name, command=b"*IDN?\n")
        self._device_identity = keithley_identity(self.identity, text)
        self._write("*CLS")
        self._write(":FORM:DATA ASC")
        self._write(f":FORM:ELEM {READING_ELEMENTS}")
        text, _ = self._ask(":SENS:FUNC?")
        function = parse_function(text, device=self.name, command=b":SENS:FUNC?\n")
        text, _ = self._ask(":SYST:ZCH?")
        zero_check = parse_bool(text, device=self.name, command=b":SYST:ZCH?\n")
        self._check_errors("connect")
        self._function = function
        self._started_at = None
        self._baseline = 0.0
        self._machine.fire("found_idle" if zero_check else "found_integrating")

    def close(self) -> None:
        """Forget the instrument (no bytes: the bias stays on, re-applying it costs minutes). Idempotent."""
        if self._machine.state != "disconnected":
            self._machine.fire("disconnect")

    def device_identity(self) -> DeviceIdentity:
        """The ``*IDN?`` answer of the last connect as fields (no I/O; kept after ``close()``).

        ``KEITHLEY INSTRUMENTS INC.,MODEL 6517B,<serial>,<firmware>``: vendor as sent, model without the
        ``MODEL`` word (``6517B``), serial, firmware (e.g. ``A13/700X``). Raises ``IllegalStateError``
        before a connect has read it.
        """
        if self._device_identity is None:
            raise IllegalStateError(self.name, "report its identity", self._machine.state)
        return self._device_identity

    def identify(self) -> str:
        """The ``*IDN?`` reply."""
        self._require_online("identify")
        text, _ = self._ask("*IDN?")
        self.identity = parse_identity(text, device=self.name, command=b"*IDN?\n")
        return text

    def configure(self, settings: DosimeterSettings) -> None:
        """Function, range (or auto range), NPLC, auto discharge off (charge), trigger immediate × 1, then the
        V-source (range, level, output), then ``:OUTP?`` and ``:SYST:ERR?``.

        Validated before the first byte: the range is ``auto`` or a number in the function's unit, the bias
        within ``bias_limit_v``. An output that reads off after ``OUTP ON`` raises ``HighVoltageFault``
        (interlock open); any queued SCPI error raises ``DeviceRejected``.
        """
        self._machine.require("configure", "configured")
        function, commands = self._plan(settings)
        for command in commands:
            self._write(command)
        self._check_bias(settings.bias_voltage_v)
        self._check_errors("configure")
        self._settings = settings
        self._function = function
        self._machine.fire("configured")

    def _plan(self, settings: DosimeterSettings) -> tuple[str, list[str]]:
        return configure_commands(self.name, settings, self.bias_limit_v, self.nplc)

    def _check_bias(self, volts: float) -> None:
        on = self.bias_output_enabled()
        if on != (volts != 0):
            if self._machine.can("faulted"):
                self._machine.fire("faulted")
            wanted = "on" if volts else "off"
            raise HighVoltageFault(
                self.name,
                f"V-source output is {'on' if on else 'off'}, expected {wanted}",
                "check the interlock and the V-source connection" if volts else "",
            )

    def zero(self, timeout_s: float = 120.0) -> None:
        """Zero correction: ``:SYST:ZCH ON``, ``:SYST:ZCOR:ACQ``, ``*OPC?`` (waits up to ``timeout_s``),
        ``:SYST:ZCOR ON``, ``:SYST:ERR?``. Ends in ``idle`` (zero check on) whether or not it succeeded."""
        self._machine.require("zero", "start_zero")
        self._machine.fire("start_zero")
        try:
            self._write(":SYST:ZCH ON")
            self._write(":SYST:ZCOR:ACQ")
            text, raw = self._ask("*OPC?", timeout_s=timeout_s)
            if text.strip() != "1":
                raise ProtocolError(self.name, "*OPC?", raw, "expected 1")
            self._write(":SYST:ZCOR ON")
            self._check_errors("zero correction")
        except Exception:
            self._machine.fire("zero_refused")
            raise
        self._machine.fire("zeroed")

    def start_integration(self) -> None:
        """``:SYST:ZCH OFF`` (charge starts integrating), then, in the coulomb function with hop correction,
        one ``:READ?`` whose value is subtracted from later readings."""
        self._machine.require("start an integration", "start")
        if self._function not in ("CHAR", "CURR"):
            raise IllegalStateError(
                self.name, f"start an integration with function {self._function} (configure() first)", "idle"
            )
        self._write(":SYST:ZCH OFF")
        self._machine.fire("start")
        self._baseline = 0.0
        self._held = None
        self._started_at = self._clock.now()
        if self._function == "CHAR" and self.zero_check_hop_correction:
            self._baseline = self._checked_reading(":READ?").value
            self._started_at = self._clock.now()

    def hold(self) -> None:
        """Take the final ``:READ?``, keep it, and re-enable zero check so nothing more accumulates."""
        self._machine.require("hold", "held")
        try:
            final = self._reading(":READ?")
        except DosimeterOverload:
            self._write(":SYST:ZCH ON")
            raise
        self._write(":SYST:ZCH ON")
        self._held = final
        self._machine.fire("held")

    def reset(self) -> None:
        """``:SYST:ZCH ON``: discharge the integrator, forget any held reading; also leaves ``fault``."""
        self._machine.require("reset", "reset")
        self._write(":SYST:ZCH ON")
        self._held = None
        self._baseline = 0.0
        self._started_at = None
        self._machine.fire("reset")

    def read(self) -> DosimeterReading:
        """Integrating: ``:READ?`` (minus the hop baseline); holding: the held reading, no I/O; idle: the
        instrument reads zero check, so ``ZeroCheckActive`` is raised from its reply."""
        self._machine.require_in("read", READABLE)
        if self._machine.state == "holding":
            assert self._held is not None  # set by hold() on the way into holding
            return self._held
        settings = self._settings
        if (
            self._machine.state == "integrating"
            and settings is not None
            and settings.integration_time_s is not None
            and self._started_at is not None
            and self._clock.now() - self._started_at >= settings.integration_time_s
        ):
            self.hold()
            assert self._held is not None
            return self._held
        return self._reading(":READ?")

    def stop(self) -> None:
        """Hold a running integration; in every other online state nothing is sent."""
        self._require_online("stop")
        if self._machine.state == "integrating":
            self.hold()
        else:
            self._machine.fire("stopped")

    # -- readings -------------------------------------------------------------------------------
    def _checked_reading(self, query: str) -> KeithleyReading:
        text, raw = self._ask(query)
        command = query.encode("ascii") + TERMINATOR
        readings = parse_readings(text, device=self.name, command=command, raw=raw)
        if not readings:
            raise ProtocolError(self.name, command, raw, "no reading in the reply")
        for reading in readings:
            self._check(reading, command, raw)
        # An instrument error queued during the reading (a trigger or V-source fault) makes it suspect: the
        # reading's own status character does not show it, only the error queue does.
        self._check_errors(f"read ({query})")
        return readings[-1]

    def _check(self, reading: KeithleyReading, command: bytes, raw: bytes) -> None:
        if reading.zero_check:
            if self._machine.state == "integrating":
                self._machine.fire("zero_check_seen")
            raise ZeroCheckActive(self.name, "zero check on", "the input is shunted (9.91E37)", raw)
        if reading.overflow:
            if self._machine.can("faulted"):
                self._machine.fire("faulted")
            raise DosimeterOverload(self.name, "overflow", "reading beyond the range (9.9E37)", raw)
        expected = {"CHAR": "COUL", "CURR": "ADC"}.get(self._function or "")
        if reading.unit != expected:
            raise ProtocolError(
                self.name, command, raw, f"unit {reading.unit} but the function is {self._function}"
            )

    def _reading(self, query: str) -> DosimeterReading:
        reading = self._checked_reading(query)
        now = self._clock.now()
        charge = reading.unit == "COUL"
        settings = self._settings
        return DosimeterReading(
            value=reading.value - self._baseline if charge else reading.value,
            unit="C" if charge else "A",
            clock_s=now,
            integration_time_s=None if self._started_at is None else now - self._started_at,
            bias_voltage_v=settings.bias_voltage_v if settings is not None else None,
            range=settings.range if settings is not None else None,
            status=() if reading.status == "N" else (reading.status_name,),
        )

    def fetch(self) -> DosimeterReading:
        """``:FETC?``: the latest reading, without triggering a new one (the last of a multi-reading set)."""
        self._machine.require_in("fetch a reading", ("integrating",))
        return self._reading(":FETC?")

    # -- V-source -------------------------------------------------------------------------------
    def set_bias_voltage(self, volts: float) -> None:
        """Source range, level and output on (or level 0 and output off for 0 V); ``idle`` only."""
        self._machine.require_in("change the bias voltage", ("idle",))
        for command in bias_commands(self.name, volts, self.bias_limit_v):
            self._write(command)
        self._check_bias(volts)
        self._check_errors("set the bias voltage")

    def bias_output_enabled(self) -> bool:
        """``:OUTP?``."""
        self._require_online("read the V-source output state")
        text, _ = self._ask(":OUTP?")
        return parse_bool(text, device=self.name, command=b":OUTP?\n")

    # -- status, errors, trigger and buffer ---------------------------------------------------------
    def next_error(self) -> tuple[int, str]:
        """One ``:SYST:ERR?`` entry; (0, "No error") when the queue is empty."""
        self._require_online("read the error queue")
        text, _ = self._ask(":SYST:ERR?")
        return parse_error(text, device=self.name, command=b":SYST:ERR?\n")

    def errors(self) -> list[tuple[int, str]]:
        """Drain the error queue (bounded); empty when there were none."""
        self._require_online("read the error queue")
        return self._drain_errors()

    def operation_complete(self, timeout_s: float | None = None) -> None:
        """``*OPC?``: block until pending operations finish (reply ``1``)."""
        self._require_online("wait for operation complete")
        text, raw = self._ask("*OPC?", timeout_s=timeout_s)
        if text.strip() != "1":
            raise ProtocolError(self.name, "*OPC?", raw, "expected 1")

    def reset_instrument(self) -> None:
        """``*RST``, ``*CLS``, the reading format again, ``:SYST:ZCH ON``, ``:SENS:FUNC?``; → ``idle``.

        ``*RST`` also switches the V-source off: the chamber bias must be re-applied (``configure``).
        """
        self._machine.require("reset the instrument", "instrument_reset")
        self._write("*RST")
        self._write("*CLS")
        self._write(":FORM:DATA ASC")
        self._write(f":FORM:ELEM {READING_ELEMENTS}")
        self._write(":SYST:ZCH ON")
        text, _ = self._ask(":SENS:FUNC?")
        self._function = parse_function(text, device=self.name, command=b":SENS:FUNC?\n")
        self._check_errors("reset the instrument")
        self._settings = None
        self._held = None
        self._baseline = 0.0
        self._started_at = None
        self._machine.fire("instrument_reset")

    def set_trigger(
        self, source: TriggerSource = "IMM", count: int = 1, timer_s: float | None = None
    ) -> None:
        """``:TRIG:SOUR``, ``:TRIG:COUN`` and, for the timer source, ``:TRIG:TIM``; ``idle`` only."""
        self._machine.require_in("configure the trigger", ("idle",))
        if source not in ("IMM", "BUS", "TIM"):
            raise ValueError(f"{self.name}: trigger source must be IMM, BUS or TIM, got {source!r}")
        if count < 1:
            raise ValueError(f"{self.name}: trigger count must be at least 1, got {count}")
        if (source == "TIM") != (timer_s is not None):
            raise ValueError(f"{self.name}: timer_s is required with, and only with, source TIM")
        self._write(f":TRIG:SOUR {source}")
        self._write(f":TRIG:COUN {count}")
        if timer_s is not None:
            if not (timer_s > 0 and math.isfinite(timer_s)):
                raise ValueError(f"{self.name}: timer interval must be positive, got {timer_s!r}")
            self._write(f":TRIG:TIM {format_number(timer_s)}")
        self._check_errors("configure the trigger")

    def initiate(self) -> None:
        """``:INIT``: arm the trigger model (readings go to the buffer when it is fed)."""
        self._machine.require_in("initiate", ("integrating",))
        self._write(":INIT")

    def abort(self) -> None:
        """``:ABOR``: stop the trigger model; allowed in every online state."""
        self._require_online("abort")
        self._write(":ABOR")

    def bus_trigger(self) -> None:
        """``*TRG``: one trigger when the source is BUS."""
        self._machine.require_in("trigger", ("integrating",))
        self._write("*TRG")

    def start_buffer(self, points: int) -> None:
        """Clear the buffer, size it, feed it from the sensor (next ``points`` readings), arm: ``:TRAC:CLE``,
        ``:TRAC:POIN n``, ``:TRAC:FEED SENS``, ``:TRAC:FEED:CONT NEXT``, ``:TRIG:COUN n``, ``:INIT``."""
        self._machine.require_in("start the buffer", ("integrating",))
        if not (1 <= points <= 50_000):
            raise ValueError(f"{self.name}: buffer size must be 1…50000, got {points}")
        for command in (
            ":TRAC:CLE",
            f":TRAC:POIN {points}",
            ":TRAC:FEED SENS",
            ":TRAC:FEED:CONT NEXT",
            f":TRIG:COUN {points}",
            ":INIT",
        ):
            self._write(command)

    def buffer_count(self) -> int:
        """``:TRAC:POIN:ACT?``: readings stored so far."""
        self._require_online("read the buffer count")
        text, raw = self._ask(":TRAC:POIN:ACT?")
        return wire_int(
            text.strip(),
            device=self.name,
            command=":TRAC:POIN:ACT?",
            reply=raw,
            what="buffer count",
            max_digits=6,
        )

    def buffer_readings(self) -> tuple[KeithleyReading, ...]:
        """``:TRAC:DATA?``, each reading parsed and checked (zero check or overflow anywhere raises)."""
        self._require_online("read the buffer")
        text, raw = self._ask(":TRAC:DATA?")
        readings = parse_readings(text, device=self.name, command=b":TRAC:DATA?\n", raw=raw)
        for reading in readings:
            if reading.zero_check:
                raise ZeroCheckActive(self.name, "zero check on in a buffered reading", reading.text, raw)
            if reading.overflow:
                raise DosimeterOverload(self.name, "overflow in a buffered reading", reading.text, raw)
        return readings

    def stop_buffer(self) -> None:
        """``:ABOR``, ``:TRAC:FEED:CONT NEV``, ``:TRIG:COUN 1``: back to one reading per trigger."""
        self._require_online("stop the buffer")
        for command in (":ABOR", ":TRAC:FEED:CONT NEV", ":TRIG:COUN 1"):
            self._write(command)

    def __repr__(self) -> str:
        return f"Keithley6517B({self.name!r}, state={self.state!r})"


def keithley_identity(identity: KeithleyIdentity, text: str) -> DeviceIdentity:
    """The four ``*IDN?`` fields; a leading ``MODEL`` word is dropped so the model is the model number."""
    model = identity.model
    if model.upper().startswith("MODEL "):
        model = model[len("MODEL ") :].strip()
    return DeviceIdentity(
        vendor=identity.manufacturer,
        model=model,
        serial=identity.serial,
        firmware=identity.firmware,
        raw=text.strip(),
    )


def configure_commands(
    name: str, settings: DosimeterSettings, bias_limit_v: float, nplc: float
) -> tuple[str, list[str]]:
    """The SCPI function and the commands that make ``settings``, or the error ``configure`` would raise.

    A module function so a plan can be checked against the rig file before the instrument is opened.
    """
    if settings.mode == "charge":
        function, full_scale, unit = "CHAR", CHARGE_FULL_SCALE_C, "C"
    elif settings.mode == "current":
        function, full_scale, unit = "CURR", CURRENT_FULL_SCALE_A, "A"
    else:
        raise ValueError(f"{name}: mode must be 'charge' or 'current', got {settings.mode!r}")
    commands = [f":SENS:FUNC '{function}'"]
    if settings.range.strip().lower() == "auto":
        commands.append(f":SENS:{function}:RANG:AUTO 1")
    else:
        try:
            upper = float(settings.range)
        except ValueError:
            raise ValueError(
                f"{name}: range {settings.range!r} is neither 'auto' nor a number in {unit}"
            ) from None
        if not (0 < upper <= full_scale):
            raise ValueError(f"{name}: range {upper:g} {unit} is outside (0, {full_scale:g}] {unit}")
        commands += [f":SENS:{function}:RANG:AUTO 0", f":SENS:{function}:RANG {format_number(upper)}"]
    commands.append(f":SENS:{function}:NPLC {format_number(nplc)}")
    if function == "CHAR":
        commands.append(":SENS:CHAR:ADIS OFF")  # never let the integrator reset itself mid-reading
    commands += [":TRIG:SOUR IMM", ":TRIG:COUN 1"]
    seconds = settings.integration_time_s
    if seconds is not None and not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"{name}: integration time must be positive, got {seconds!r} s")
    return function, commands + bias_commands(name, settings.bias_voltage_v, bias_limit_v)


def bias_commands(name: str, volts: float, bias_limit_v: float) -> list[str]:
    """V-source range, level and output for a signed bias within the rig's limit."""
    if not math.isfinite(volts) or abs(volts) > bias_limit_v:
        raise LimitViolation(name, "bias voltage", volts, -bias_limit_v, bias_limit_v, "V")
    if volts == 0:
        return [":SOUR:VOLT:LEV 0", ":OUTP OFF"]
    # The instrument refuses a range that cannot hold the present level (-221, settings conflict), and the
    # present level is not known here: a level that fits the 100 V range is set before that range (it fits
    # either range), the 1000 V range is set before a level that needs it (it holds any level).
    level = f":SOUR:VOLT:LEV {format_number(volts)}"
    if abs(volts) <= SOURCE_LOW_RANGE_V:
        return [level, f":SOUR:VOLT:RANG {format_number(SOURCE_LOW_RANGE_V)}", ":OUTP ON"]
    return [f":SOUR:VOLT:RANG {format_number(SOURCE_LIMIT_V)}", level, ":OUTP ON"]
