"""A Keithley 6517B electrometer whose input is an ``Electrometer`` (chamber) in the world.

Written from the 6517B reference manual (6517B-901-01, §12–14) and PyMeasure's ``Keithley6517B``. The trigger
model is simplified to what the subsystems below need: ``:INIT`` arms one acquisition of ``:TRIG:COUN``
conversions, each ``NPLC/f_line`` long (plus ``:TRIG:DEL``; ``TIM`` spaces them by ``:TRIG:TIM``), produced
lazily as the clock passes their end times. ``:READ?`` never blocks: its conversions are the windows that
end at the moment of the query. Choices where the manual is silent or unverified are listed in
docs/simulators.md (reading-string widths, the *RST element list, zero check at *RST, …).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from simulators.electrometer import Electrometer
from simulators.keithley6517b.scpi import (
    ErrorQueue,
    Node,
    ScpiError,
    Unit,
    bool_param,
    compile_pattern,
    keyword_param,
    match_header,
    match_keyword,
    nr3,
    number_param,
    parse_unit,
    split_outside_quotes,
    string_param,
)
from simulators.world import World

_LINE_END = re.compile(rb"\n")
MAX_LINE_BYTES = 16384

CURRENT_RANGES_A = (20e-12, 200e-12, 2e-9, 20e-9, 200e-9, 2e-6, 20e-6, 200e-6, 2e-3, 20e-3)
CHARGE_RANGES_C = (2e-9, 20e-9, 200e-9, 2e-6)
VOLTAGE_RANGES_V = (2.0, 20.0, 200.0)
RESISTANCE_RANGES_OHM = tuple(m * 10.0**e for e in range(6, 18, 3) for m in (2.0, 20.0, 200.0))
#: A reading may exceed its range by 5 % before it overflows.
OVERRANGE = 1.05
OVERFLOW_READING = 9.9e37
ZERO_CHECK_READING = 9.91e37
VSOURCE_RANGES_V = (100.0, 1000.0)

#: Data elements in the order they appear in a reading string (6517A Fig. 3-19 / 6517B Fig. 113).
ELEMENTS = (
    "READing",
    "CHANnel",
    "RNUMber",
    "UNITs",
    "TSTamp",
    "STATus",
    "HUMidity",
    "ETEMperature",
    "VSOurce",
)
DEFAULT_ELEMENTS = ("READing", "RNUMber", "UNITs", "TSTamp", "STATus")
TRIGGER_SOURCES = ("IMMediate", "BUS", "TIMer", "MANual", "EXTernal", "TLINk")

# Measurement event register bits (6517B §13).
MEAS_ROF = 1 << 0  # reading overflow
MEAS_RAV = 1 << 5  # reading available
MEAS_BAV = 1 << 7  # buffer available
MEAS_BHF = 1 << 8  # buffer half full
MEAS_BFL = 1 << 9  # buffer full
# Standard event status register bits (IEEE 488.2).
ESR_OPC, ESR_QYE, ESR_DDE, ESR_EXE, ESR_CME, ESR_PON = 1, 4, 8, 16, 32, 128


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    long: str
    query: str
    unit: str
    ranges: tuple[float, ...]
    default_range: float


FUNCTIONS: dict[str, FunctionSpec] = {
    "CURR": FunctionSpec("CURRent", '"CURR:DC"', "ADC", CURRENT_RANGES_A, 20e-3),
    "CHAR": FunctionSpec("CHARge", '"CHAR"', "COUL", CHARGE_RANGES_C, 2e-6),
    "VOLT": FunctionSpec("VOLTage", '"VOLT:DC"', "VDC", VOLTAGE_RANGES_V, 200.0),
    "RES": FunctionSpec("RESistance", '"RES"', "OHM", RESISTANCE_RANGES_OHM, RESISTANCE_RANGES_OHM[-1]),
}


class Keithley6517bConfig(BaseModel):
    """One 6517B; ``electrometer`` names the chamber model on its input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    electrometer: str
    serial: str = "4096271"
    firmware: str = "A13/700X"
    line_frequency_hz: float = Field(60.0, gt=0)
    #: Voltage-function noise (V RMS): the input sees only the ammeter burden, i.e. about nothing.
    voltage_noise_v: float = Field(1e-6, ge=0)
    #: True: the V-source output biases the chamber (``:SOUR:VOLT``, ``:OUTP``). False: an external supply
    #: does (the chamber keeps ``ElectrometerConfig.initial_bias_v``) and the V-source drives nothing.
    bias_from_vsource: bool = True
    #: Fixed TCP port when served (a real 6517B has no Ethernet; this is for the simulator); 0: a free one.
    tcp_port: int = Field(0, ge=0, le=65535)


@dataclass(frozen=True, slots=True)
class Reading:
    """One conversion, stored raw and formatted only when sent (so ``:FORM:ELEM`` applies at readout)."""

    value: float
    status: str
    unit: str
    range_used: float
    t_end: float
    rnum: int
    vsource_v: float


@dataclass(slots=True)
class _FunctionSettings:
    range: float
    auto: bool
    nplc: float


def format_value(value: float, range_used: float) -> str:
    """The READing element: 7 digits laid out for the range (``+198.4891E-12`` on 200 pA, ``-00.00374E-12``
    on 20 pA), exponent in engineering steps; overflow and zero check are the manual's fixed codes."""
    if value in (OVERFLOW_READING, ZERO_CHECK_READING):
        return f"+{value:.3g}".replace("e+", "E")
    exp = 3 * math.floor(math.log10(range_used) / 3 + 1e-9)
    int_digits = len(str(round(range_used / 10.0**exp)))
    decimals = 7 - int_digits
    mantissa = value / 10.0**exp
    return f"{mantissa:+0{int_digits + decimals + 2}.{decimals}f}E{exp:+03d}"


class Keithley6517bSession:
    """One connection: its partial program message."""

    def __init__(self, device: Keithley6517bSim) -> None:
        self._device = device
        self._buffer = b""

    def feed(self, data: bytes) -> bytes:
        messages = _LINE_END.split(self._buffer + data)
        self._buffer = messages.pop()
        if len(self._buffer) > MAX_LINE_BYTES:
            self._buffer = b""
        return b"".join(self._device.execute(m) for m in messages)

    def poll(self) -> bytes:
        return b""


_Handler = Callable[[tuple[str, ...]], str | None]


class Keithley6517bSim:
    """The 6517B front-end (``FrontEnd``): ``session()`` per connection, ``execute`` per program message."""

    def __init__(self, world: World, config: Keithley6517bConfig) -> None:
        self.config = config
        self.electrometer = world.get(config.electrometer, Electrometer)
        self._rng: np.random.Generator = world.rng_for(f"k6517b:{config.serial}")
        self._lock = threading.RLock()
        self._t_power_on = world.now()
        self._errors = ErrorQueue()
        self._esr = ESR_PON
        self._ese = 0
        self._sre = 0
        self._meas_event = 0
        self._meas_enable = 0
        self._rnum = 0
        self._buffer: list[Reading] = []
        self._buffer_points = 100
        self._feed = "SENSe"
        self._feed_control = "NEVer"
        self._trace_elements: tuple[str, ...] = ("TSTamp",)
        self._table = self._build_table()
        self._reset_settings()
        self._default_session = Keithley6517bSession(self)

    # ----------------------------------------------------------------------------------------- serving
    def session(self) -> Keithley6517bSession:
        return Keithley6517bSession(self)

    def feed(self, data: bytes) -> bytes:
        return self._default_session.feed(data)

    def poll(self) -> bytes:
        return b""

    def execute(self, message: bytes) -> bytes:
        """Run one program message (without its LF); the reply is every query's answer joined by ``;``."""
        text = message.decode("ascii", errors="replace").rstrip("\r")
        responses: list[str] = []
        with self._lock:
            self._materialize()
            path: tuple[str, ...] = ()
            for index, raw in enumerate(split_outside_quotes(text, ";")):
                if not raw.strip():
                    continue
                try:
                    unit = parse_unit(raw)
                    if not unit.common:
                        words = unit.words if unit.absolute or index == 0 else path + unit.words
                        path = words[:-1]
                        unit = Unit(words, unit.query, unit.params, False, True)
                    reply = self._dispatch(unit)
                    if reply is not None:
                        responses.append(reply)
                except ScpiError as error:
                    self._push_error(error.code)
                    if error.is_command_error:
                        break
        if not responses:
            return b""
        return ";".join(responses).encode("ascii") + b"\n"

    def _dispatch(self, unit: Unit) -> str | None:
        for nodes, query, handler in self._table:
            if query == unit.query and match_header(nodes, unit.words):
                return handler(unit.params)
        raise ScpiError(-113)

    def inject_error(self, code: int) -> None:
        """Queue an instrument error as the firmware would (``:SYST:ERR?`` reports it)."""
        with self._lock:
            self._push_error(code)

    def _push_error(self, code: int) -> None:
        self._errors.push(code)
        if -199 <= code <= -100:
            self._esr |= ESR_CME
        elif -299 <= code <= -200:
            self._esr |= ESR_EXE
        elif -399 <= code <= -300:
            self._esr |= ESR_DDE
        elif -499 <= code <= -400:
            self._esr |= ESR_QYE

    # ----------------------------------------------------------------------------------------- table
    def _build_table(self) -> list[tuple[tuple[Node, ...], bool, _Handler]]:
        entries: list[tuple[str, _Handler]] = [
            ("*IDN?", self._idn),
            ("*RST", self._rst),
            ("*CLS", self._cls),
            ("*OPC", self._opc),
            ("*OPC?", lambda p: self._no_params(p, "1")),
            ("*WAI", lambda p: self._no_params(p, None)),
            ("*TST?", lambda p: self._no_params(p, "0")),
            ("*STB?", lambda p: self._no_params(p, str(self.status_byte()))),
            ("*SRE", self._set_sre),
            ("*SRE?", lambda p: self._no_params(p, str(self._sre))),
            ("*ESE", self._set_ese),
            ("*ESE?", lambda p: self._no_params(p, str(self._ese))),
            ("*ESR?", self._esr_query),
            ("*TRG", self._trg),
            (":SYSTem:ERRor[:NEXT]?", self._next_error),
            (":STATus:QUEue[:NEXT]?", self._next_error),
            (":SYSTem:CLEar", self._clear_errors),
            (":SYSTem:PRESet", self._preset),
            (":SYSTem:VERSion?", lambda p: self._no_params(p, "1991.0")),
            (":SYSTem:LFRequency?", lambda p: self._no_params(p, f"{self.config.line_frequency_hz:g}")),
            (":SYSTem:ZCHeck[:STATe]", self._set_zch),
            (":SYSTem:ZCHeck[:STATe]?", lambda p: self._no_params(p, _b(self.zero_check))),
            (":SYSTem:ZCORrect[:STATe]", self._set_zcor),
            (":SYSTem:ZCORrect[:STATe]?", lambda p: self._no_params(p, _b(self._zcor_query()))),
            (":SYSTem:ZCORrect:ACQuire", self._zcor_acquire),
            (":SYSTem:RNUMber:RESet", self._rnum_reset),
            ("[:SENSe[1]]:FUNCtion", self._set_function),
            ("[:SENSe[1]]:FUNCtion?", lambda p: self._no_params(p, FUNCTIONS[self.function].query)),
            ("[:SENSe[1]]:DATA[:LATest]?", self._data_latest),
            ("[:SENSe[1]]:DATA:FRESh?", self._data_fresh),
            ("[:SENSe[1]]:CHARge:ADIScharge[:STATe]", self._set_adis),
            ("[:SENSe[1]]:CHARge:ADIScharge[:STATe]?", lambda p: self._no_params(p, _b(self._adis))),
            ("[:SENSe[1]]:CHARge:ADIScharge:LEVel", self._set_adis_level),
            ("[:SENSe[1]]:CHARge:ADIScharge:LEVel?", lambda p: self._no_params(p, nr3(self._adis_level))),
            (":INITiate[:IMMediate]", self._init),
            (":INITiate:CONTinuous", self._set_init_cont),
            (":INITiate:CONTinuous?", lambda p: self._no_params(p, _b(self._init_continuous))),
            (":ABORt", self._abort),
            (":READ?", self._read),
            (":FETCh?", self._fetch),
            (":TRIGger[:SEQuence[1]]:SOURce", self._set_trigger_source),
            (":TRIGger[:SEQuence[1]]:SOURce?", lambda p: self._no_params(p, _short(self._trigger_source))),
            (":TRIGger[:SEQuence[1]]:COUNt", self._set_trigger_count),
            (":TRIGger[:SEQuence[1]]:COUNt?", self._trigger_count_query),
            (":TRIGger[:SEQuence[1]]:TIMer", self._set_trigger_timer),
            (":TRIGger[:SEQuence[1]]:TIMer?", lambda p: self._no_params(p, nr3(self._trigger_timer))),
            (":TRIGger[:SEQuence[1]]:DELay", self._set_trigger_delay),
            (":TRIGger[:SEQuence[1]]:DELay?", lambda p: self._no_params(p, nr3(self._trigger_delay))),
            (":FORMat[:DATA]", self._set_format_data),
            (":FORMat[:DATA]?", lambda p: self._no_params(p, "ASC")),
            (":FORMat:ELEMents", self._set_elements),
            (":FORMat:ELEMents?", self._elements_query),
            (":STATus:PRESet", self._status_preset),
            (":STATus:MEASurement[:EVENt]?", self._meas_event_query),
            (":STATus:MEASurement:ENABle", self._set_meas_enable),
            (":STATus:MEASurement:ENABle?", lambda p: self._no_params(p, str(self._meas_enable))),
            (":STATus:QUEue:ENABle", lambda p: None),
            (":SOURce:VOLTage[:LEVel][:IMMediate][:AMPLitude]", self._set_vsource_level),
            (
                ":SOURce:VOLTage[:LEVel][:IMMediate][:AMPLitude]?",
                lambda p: self._no_params(p, nr3(self._vlevel)),
            ),
            (":SOURce:VOLTage:RANGe", self._set_vsource_range),
            (":SOURce:VOLTage:RANGe?", lambda p: self._no_params(p, nr3(self._vrange))),
            (":OUTPut[1][:STATe]", self._set_output),
            (":OUTPut[1][:STATe]?", lambda p: self._no_params(p, _b(self._output))),
        ]
        for root in (":TRACe", ":DATA"):
            entries += [
                (f"{root}:CLEar", self._trace_clear),
                (f"{root}:POINts", self._set_trace_points),
                (f"{root}:POINts?", lambda p: self._no_params(p, str(self._buffer_points))),
                (f"{root}:POINts:ACTual?", lambda p: self._no_params(p, str(len(self._buffer)))),
                (f"{root}:FEED", self._set_trace_feed),
                (f"{root}:FEED?", lambda p: self._no_params(p, _short(self._feed))),
                (f"{root}:FEED:CONTrol", self._set_feed_control),
                (f"{root}:FEED:CONTrol?", lambda p: self._no_params(p, _short(self._feed_control))),
                (f"{root}:ELEMents", self._set_trace_elements),
                (f"{root}:DATA?", self._trace_data),
            ]
        for key, spec in FUNCTIONS.items():
            base = f"[:SENSe[1]]:{spec.long}" + ("[:DC]" if key in ("CURR", "VOLT") else "")
            entries += [
                (f"{base}:RANGe[:UPPer]", self._range_setter(key)),
                (f"{base}:RANGe[:UPPer]?", self._range_query(key)),
                (f"{base}:RANGe:AUTO", self._auto_setter(key)),
                (f"{base}:RANGe:AUTO?", self._auto_query(key)),
                (f"{base}:NPLCycles", self._nplc_setter(key)),
                (f"{base}:NPLCycles?", self._nplc_query(key)),
            ]
            measure = f":MEASure:{spec.long}" + ("[:DC]" if key in ("CURR", "VOLT") else "")
            configure = f":CONFigure:{spec.long}" + ("[:DC]" if key in ("CURR", "VOLT") else "")
            entries += [(measure + "?", self._measure(key)), (configure, self._configure(key))]
        entries += [(":MEASure?", self._measure(None)), (":CONFigure?", self._configure_query)]
        table: list[tuple[tuple[Node, ...], bool, _Handler]] = []
        for pattern, handler in entries:
            query = pattern.endswith("?")
            body = pattern[:-1] if query else pattern
            if body.startswith("*"):
                nodes: tuple[Node, ...] = (Node(body, body, False),)
            else:
                nodes = compile_pattern(body)
            table.append((nodes, query, handler))
        return table

    # ----------------------------------------------------------------------------------------- helpers
    @staticmethod
    def _no_params(params: tuple[str, ...], reply: str | None) -> str | None:
        if params:
            raise ScpiError(-108)
        return reply

    @staticmethod
    def _one(params: tuple[str, ...]) -> str:
        if not params:
            raise ScpiError(-109)
        if len(params) > 1:
            raise ScpiError(-108)
        return params[0]

    def _aperture_s(self) -> float:
        return self._settings[self.function].nplc / self.config.line_frequency_hz

    def _interval_s(self) -> float:
        period = self._trigger_delay + self._aperture_s()
        if _short(self._trigger_source) == "TIM":
            return max(self._trigger_timer, period)
        return period

    # ----------------------------------------------------------------------------------------- reset
    def _reset_settings(self, *, continuous: bool = False) -> None:
        self.function = "VOLT"
        self._settings = {k: _FunctionSettings(s.default_range, True, 1.0) for k, s in FUNCTIONS.items()}
        self.zero_check = True
        self._adis = False
        self._adis_level = 2e-6
        self._elements: tuple[str, ...] = DEFAULT_ELEMENTS
        self._trigger_source = "IMMediate"
        self._trigger_count: int | None = 1
        self._trigger_timer = 0.1
        self._trigger_delay = 0.0
        self._init_continuous = continuous
        self._vlevel = 0.0
        self._vrange = 100.0
        self._output = False
        self._armed = False
        self._arm_t0 = 0.0
        self._arm_done = 0
        self._arm_count: int | None = 1
        self._last_acquisition: list[Reading] = []
        self._fresh_reading: Reading | None = None
        self.electrometer.set_zero_correction(False)
        self._apply_bias()
        self._sync_integrator()
        if continuous:
            self._arm(self.electrometer.now())

    def _apply_bias(self) -> None:
        if self.config.bias_from_vsource:
            self.electrometer.set_bias(self._vlevel if self._output else 0.0)

    def _sync_integrator(self) -> None:
        """The charge integrator runs while the charge function is selected with zero check off."""
        e = self.electrometer
        e.reset()
        if self.function == "CHAR" and not self.zero_check:
            e.start()

    # ----------------------------------------------------------------------------------------- common
    def _idn(self, params: tuple[str, ...]) -> str | None:
        c = self.config
        return self._no_params(params, f"KEITHLEY INSTRUMENTS INC.,MODEL 6517B,{c.serial},{c.firmware}")

    def _rst(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        self._reset_settings()
        return None

    def _preset(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        self._reset_settings(continuous=True)
        return None

    def _cls(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        self._errors.clear()
        self._esr = 0
        self._meas_event = 0
        return None

    def _opc(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        self._esr |= ESR_OPC
        return None

    def _set_sre(self, params: tuple[str, ...]) -> str | None:
        self._sre = int(number_param(self._one(params), minimum=0, maximum=255, default=0)) & 0xBF
        return None

    def _set_ese(self, params: tuple[str, ...]) -> str | None:
        self._ese = int(number_param(self._one(params), minimum=0, maximum=255, default=0))
        return None

    def _esr_query(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        value, self._esr = self._esr, 0
        return str(value)

    def status_byte(self) -> int:
        """*STB?: MSB (bit 0), EAV (2), ESB (5), MSS (6); MAV is 0 because replies are sent at once."""
        stb = 0
        if self._meas_event & self._meas_enable:
            stb |= 1
        if len(self._errors):
            stb |= 4
        if self._esr & self._ese:
            stb |= 32
        if stb & self._sre:
            stb |= 64
        return stb

    def _next_error(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        code, text = self._errors.pop()
        return f'{code},"{text}"'

    def _clear_errors(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        self._errors.clear()
        return None

    # ----------------------------------------------------------------------------------------- system
    def _set_zch(self, params: tuple[str, ...]) -> str | None:
        on = bool_param(self._one(params))
        if on != self.zero_check:
            self.zero_check = on
            self._sync_integrator()
        return None

    def _zcor_query(self) -> bool:
        return self.electrometer.zero_correction_enabled

    def _set_zcor(self, params: tuple[str, ...]) -> str | None:
        self.electrometer.set_zero_correction(bool_param(self._one(params)))
        return None

    def _zcor_acquire(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        if not self.zero_check:
            raise ScpiError(-221, "zero correct is acquired with zero check on")
        self.electrometer.acquire_zero(0.0, enable=False)
        return None

    def _rnum_reset(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        self._rnum = 0
        return None

    # ----------------------------------------------------------------------------------------- sense
    def _set_function(self, params: tuple[str, ...]) -> str | None:
        name = string_param(self._one(params))
        words = name.split(":")
        for key, spec in FUNCTIONS.items():
            nodes = compile_pattern(f":{spec.long}" + ("[:DC]" if key in ("CURR", "VOLT") else ""))
            if match_header(nodes, words):
                self._select_function(key)
                return None
        raise ScpiError(-224)

    def _select_function(self, key: str) -> None:
        if key != self.function:
            self._abort_acquisition()
            self.function = key
            self._last_acquisition = []
            self._fresh_reading = None
            self._sync_integrator()
            if self._init_continuous:
                self._arm(self.electrometer.now())

    def _range_setter(self, key: str) -> _Handler:
        def handler(params: tuple[str, ...]) -> str | None:
            ranges = FUNCTIONS[key].ranges
            top = ranges[-1] * OVERRANGE
            value = abs(number_param(self._one(params), minimum=-top, maximum=top, default=ranges[-1]))
            chosen = next((r for r in ranges if value <= r * OVERRANGE), ranges[-1])
            settings = self._settings[key]
            settings.range, settings.auto = chosen, False
            if key == "CHAR" and self.function == "CHAR":
                self._sync_integrator()  # a new feedback capacitor: the integrated charge is lost
            return None

        return handler

    def _range_query(self, key: str) -> _Handler:
        return lambda p: self._no_params(p, nr3(self._settings[key].range))

    def _auto_setter(self, key: str) -> _Handler:
        def handler(params: tuple[str, ...]) -> str | None:
            self._settings[key].auto = bool_param(self._one(params))
            return None

        return handler

    def _auto_query(self, key: str) -> _Handler:
        return lambda p: self._no_params(p, _b(self._settings[key].auto))

    def _nplc_setter(self, key: str) -> _Handler:
        def handler(params: tuple[str, ...]) -> str | None:
            self._settings[key].nplc = number_param(
                self._one(params), minimum=0.01, maximum=10.0, default=1.0
            )
            return None

        return handler

    def _nplc_query(self, key: str) -> _Handler:
        return lambda p: self._no_params(p, nr3(self._settings[key].nplc))

    def _set_adis(self, params: tuple[str, ...]) -> str | None:
        self._adis = bool_param(self._one(params))
        return None

    def _set_adis_level(self, params: tuple[str, ...]) -> str | None:
        self._adis_level = number_param(self._one(params), minimum=-2.1e-6, maximum=2.1e-6, default=2e-6)
        return None

    # ----------------------------------------------------------------------------------------- v-source
    def _set_vsource_level(self, params: tuple[str, ...]) -> str | None:
        level = number_param(self._one(params), minimum=-1000.0, maximum=1000.0, default=0.0)
        if abs(level) > self._vrange:
            raise ScpiError(-222, f"level above the {self._vrange:g} V range")
        self._vlevel = level
        self._apply_bias()
        return None

    def _set_vsource_range(self, params: tuple[str, ...]) -> str | None:
        value = abs(number_param(self._one(params), minimum=-1000.0, maximum=1000.0, default=100.0))
        new = VSOURCE_RANGES_V[0] if value <= VSOURCE_RANGES_V[0] else VSOURCE_RANGES_V[1]
        if abs(self._vlevel) > new:
            raise ScpiError(-221, "the present level does not fit the new range")
        self._vrange = new
        return None

    def _set_output(self, params: tuple[str, ...]) -> str | None:
        self._output = bool_param(self._one(params))
        self._apply_bias()
        return None

    # ----------------------------------------------------------------------------------------- trigger
    def _set_trigger_source(self, params: tuple[str, ...]) -> str | None:
        self._trigger_source = keyword_param(self._one(params), TRIGGER_SOURCES)
        return None

    def _set_trigger_count(self, params: tuple[str, ...]) -> str | None:
        value = self._one(params)
        if value.strip().upper() in ("INF", "INFINITE"):
            self._trigger_count = None
        else:
            self._trigger_count = int(number_param(value, minimum=1, maximum=99999, default=1))
        return None

    def _trigger_count_query(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        return "+9.900000E+37" if self._trigger_count is None else nr3(self._trigger_count)

    def _set_trigger_timer(self, params: tuple[str, ...]) -> str | None:
        self._trigger_timer = number_param(self._one(params), minimum=0.001, maximum=999999.999, default=0.1)
        return None

    def _set_trigger_delay(self, params: tuple[str, ...]) -> str | None:
        self._trigger_delay = number_param(self._one(params), minimum=0.0, maximum=999999.999, default=0.0)
        return None

    def _arm(self, t: float) -> None:
        self._armed = True
        self._arm_t0 = t
        self._arm_done = 0
        self._arm_count = None if self._init_continuous else self._trigger_count
        self._last_acquisition = []

    def _init(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        if self._armed:
            raise ScpiError(-213)
        self._arm(self.electrometer.now())
        return None

    def _set_init_cont(self, params: tuple[str, ...]) -> str | None:
        self._init_continuous = bool_param(self._one(params))
        if self._init_continuous and not self._armed:
            self._arm(self.electrometer.now())
        return None

    def _abort_acquisition(self) -> None:
        self._materialize()
        self._armed = False

    def _abort(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        self._abort_acquisition()
        if self._init_continuous:
            self._arm(self.electrometer.now())
        return None

    def _trg(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        if not (self._armed and _short(self._trigger_source) == "BUS"):
            raise ScpiError(-211)
        self._take(self.electrometer.now())
        self._arm_done += 1
        if self._arm_count is not None and self._arm_done >= self._arm_count:
            self._armed = False
        return None

    def _materialize(self) -> None:
        """Produce the conversions whose end time has passed (IMMediate and TIMer sources)."""
        if not self._armed or _short(self._trigger_source) not in ("IMM", "TIM"):
            return
        now = self.electrometer.now()
        first_end = self._arm_t0 + self._trigger_delay + self._aperture_s()
        interval = self._interval_s()
        if now < first_end:
            return
        due = math.floor((now - first_end) / interval + 1e-9) + 1
        if self._arm_count is not None:
            due = min(due, self._arm_count)
        done = self._arm_done
        if due <= done:
            return
        # Compute only the conversions someone can still see: those the buffer will keep, and the last.
        wanted = {due}
        feeding = _short(self._feed) == "SENS"
        control = _short(self._feed_control)
        if feeding and control == "NEXT":
            space = max(0, self._buffer_points - len(self._buffer))
            wanted.update(range(done + 1, done + 1 + min(space, due - done)))
        elif feeding and control == "ALW":
            wanted.update(range(max(done + 1, due - self._buffer_points + 1), due + 1))
        rnum0 = self._rnum
        for k in sorted(wanted):
            self._rnum = rnum0 + (k - done - 1)
            self._take(first_end + (k - 1) * interval)
        self._rnum = rnum0 + (due - done)
        self._arm_done = due
        if self._arm_count is not None and due >= self._arm_count:
            self._armed = False

    def _take(self, t_end: float) -> Reading:
        """One conversion ending at ``t_end``: compute, count, store, flag."""
        reading = self._convert(t_end)
        self._rnum += 1
        self._last_acquisition.append(reading)
        if self._arm_count is None:
            self._last_acquisition = self._last_acquisition[-1:]
        self._fresh_reading = reading
        self._meas_event |= MEAS_RAV | (MEAS_ROF if reading.status == "O" else 0)
        self._store(reading)
        return reading

    def _convert(self, t_end: float) -> Reading:
        e = self.electrometer
        key = self.function
        spec = FUNCTIONS[key]
        settings = self._settings[key]
        vsource = self._vlevel if self._output else 0.0
        if self.zero_check:
            return Reading(ZERO_CHECK_READING, "Z", spec.unit, settings.range, t_end, self._rnum, vsource)
        aperture = self._aperture_s()
        if key == "CURR":
            value = e.read_current_between(t_end - aperture, t_end)
        elif key == "CHAR":
            value = e.add_charge_noise(e.charge_at(t_end))
            if self._adis and self._adis_level != 0 and abs(value) >= abs(self._adis_level):
                value = math.fmod(value, abs(self._adis_level))
        elif key == "VOLT":
            noise = self.config.voltage_noise_v
            value = float(self._rng.normal(0.0, noise)) if noise else 0.0
        else:
            current = e.mean_current(t_end - aperture, t_end)
            value = abs(vsource / current) if current != 0 else OVERFLOW_READING
        if settings.auto:
            range_used = next((r for r in spec.ranges if abs(value) <= r * OVERRANGE), spec.ranges[-1])
        else:
            range_used = settings.range
        if abs(value) > range_used * OVERRANGE:
            return Reading(OVERFLOW_READING, "O", spec.unit, range_used, t_end, self._rnum, vsource)
        return Reading(value, "N", spec.unit, range_used, t_end, self._rnum, vsource)

    # ----------------------------------------------------------------------------------------- readout
    def format_reading(self, reading: Reading, *, first: Reading | None = None) -> str:
        """A reading string with the present ``:FORM:ELEM`` (buffer readings: relative to ``first``)."""
        elements = self._elements
        units = "UNITs" in elements
        parts: list[str] = []
        if "READing" in elements:
            text = format_value(reading.value, reading.range_used)
            if "STATus" in elements:
                text += reading.status
            if units:
                text += reading.unit
            parts.append(text)
        if "TSTamp" in elements:
            tst = reading.t_end - (first.t_end if first else self._t_power_on)
            parts.append(f"{tst:+015.6f}" + ("secs" if units else ""))
        if "RNUMber" in elements:
            rnum = reading.rnum - (first.rnum if first else 0)
            parts.append(f"{rnum:+06d}" + ("RDNG#" if units else ""))
        if "CHANnel" in elements:
            parts.append("000" + ("intchan" if units else ""))
        if "ETEMperature" in elements:
            parts.append("+9999.99" + ("Cexttemp" if units else ""))
        if "HUMidity" in elements:
            parts.append("+999.99" + ("hum" if units else ""))
        if "VSOurce" in elements:
            parts.append(f"{reading.vsource_v:+09.3f}" + ("Vsrc" if units else ""))
        return ",".join(parts)

    def _format_many(self, readings: Sequence[Reading]) -> str:
        return ",".join(self.format_reading(r) for r in readings)

    def _read(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        if _short(self._trigger_source) not in ("IMM", "TIM"):
            raise ScpiError(-214)
        if self._trigger_count is None:
            raise ScpiError(-214, "READ? with an infinite trigger count never completes")
        self._abort_acquisition()
        now = self.electrometer.now()
        n, interval = self._trigger_count, self._interval_s()
        self._arm_count = n
        self._last_acquisition = []
        readings = [self._take(now - (n - k) * interval) for k in range(1, n + 1)]
        if self._init_continuous:
            self._arm(now)
        return self._format_many(readings)

    def _fetch(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        if not self._last_acquisition:
            raise ScpiError(-230)
        return self._format_many(self._last_acquisition)

    def _data_latest(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        if not self._last_acquisition:
            raise ScpiError(-230)
        return self.format_reading(self._last_acquisition[-1])

    def _data_fresh(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        reading, self._fresh_reading = self._fresh_reading, None
        if reading is None:
            raise ScpiError(-230)
        return self.format_reading(reading)

    def _measure(self, key: str | None) -> _Handler:
        def handler(params: tuple[str, ...]) -> str | None:
            self._no_params(params, None)
            self._apply_configure(key)
            return self._read(())

        return handler

    def _configure(self, key: str) -> _Handler:
        def handler(params: tuple[str, ...]) -> str | None:
            self._no_params(params, None)
            self._apply_configure(key)
            return None

        return handler

    def _configure_query(self, params: tuple[str, ...]) -> str | None:
        return self._no_params(params, FUNCTIONS[self.function].query)

    def _apply_configure(self, key: str | None) -> None:
        """``:CONFigure``: one-shot mode (INIT:CONT OFF, one IMMediate trigger), function selected."""
        self._abort_acquisition()
        self._init_continuous = False
        self._trigger_source = "IMMediate"
        self._trigger_count = 1
        if key is not None:
            self._select_function(key)

    # ----------------------------------------------------------------------------------------- format
    def _set_format_data(self, params: tuple[str, ...]) -> str | None:
        if not params:
            raise ScpiError(-109)
        keyword_param(params[0], ("ASCii", "REAL", "SREal", "DREal"))
        if not match_keyword("ASCii", params[0]):
            raise ScpiError(-224, "only the ASCII format is simulated")
        if len(params) > 1:
            raise ScpiError(-108)
        return None

    def _set_elements(self, params: tuple[str, ...]) -> str | None:
        if not params:
            raise ScpiError(-109)
        chosen = {keyword_param(p, ELEMENTS) for p in params}
        self._elements = tuple(e for e in ELEMENTS if e in chosen)
        return None

    def _elements_query(self, params: tuple[str, ...]) -> str | None:
        return self._no_params(params, ",".join(_short(e) for e in self._elements))

    # ----------------------------------------------------------------------------------------- status
    def _status_preset(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        self._meas_enable = 0
        return None

    def _meas_event_query(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        value, self._meas_event = self._meas_event, 0
        return str(value)

    def _set_meas_enable(self, params: tuple[str, ...]) -> str | None:
        self._meas_enable = int(number_param(self._one(params), minimum=0, maximum=65535, default=0))
        return None

    # ----------------------------------------------------------------------------------------- buffer
    def _store(self, reading: Reading) -> None:
        if _short(self._feed) != "SENS" or _short(self._feed_control) == "NEV":
            return
        if len(self._buffer) >= self._buffer_points:
            if _short(self._feed_control) != "ALW":
                return
            self._buffer.pop(0)
        self._buffer.append(reading)
        self._meas_event |= MEAS_BAV
        if len(self._buffer) * 2 >= self._buffer_points:
            self._meas_event |= MEAS_BHF
        if len(self._buffer) >= self._buffer_points:
            self._meas_event |= MEAS_BFL
            if _short(self._feed_control) == "NEXT":
                self._feed_control = "NEVer"

    def _trace_clear(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        self._buffer = []
        return None

    def _set_trace_points(self, params: tuple[str, ...]) -> str | None:
        self._buffer_points = int(number_param(self._one(params), minimum=1, maximum=50000, default=100))
        self._buffer = self._buffer[-self._buffer_points :]
        return None

    def _set_trace_feed(self, params: tuple[str, ...]) -> str | None:
        self._feed = keyword_param(self._one(params), ("SENSe", "CALCulate", "NONE"))
        return None

    def _set_feed_control(self, params: tuple[str, ...]) -> str | None:
        self._feed_control = keyword_param(self._one(params), ("NEXT", "ALWays", "NEVer"))
        return None

    def _set_trace_elements(self, params: tuple[str, ...]) -> str | None:
        if not params:
            raise ScpiError(-109)
        choices = ("TSTamp", "HUMidity", "CHANnel", "ETEMperature", "VSOurce", "NONE")
        self._trace_elements = tuple(keyword_param(p, choices) for p in params)
        return None

    def _trace_data(self, params: tuple[str, ...]) -> str | None:
        self._no_params(params, None)
        if not self._buffer:
            return ""
        first = self._buffer[0]
        return ",".join(self.format_reading(r, first=first) for r in self._buffer)

    def buffer(self) -> list[Reading]:
        """The stored readings (raw, for tests)."""
        with self._lock:
            self._materialize()
            return list(self._buffer)

    def __repr__(self) -> str:
        return f"Keithley6517bSim(serial={self.config.serial!r}, input={self.electrometer.name!r})"


def _short(long: str) -> str:
    """The short form of a keyword, as queries return it (``IMMediate`` → ``IMM``)."""
    return "".join(ch for ch in long if ch.isupper()) or long


def _b(value: bool) -> str:
    return "1" if value else "0"


def build_keithley6517b(
    world: World, configs: Mapping[str, Keithley6517bConfig]
) -> dict[str, Keithley6517bSim]:
    """One front-end per config, keyed like ``configs`` (the chambers must already be in the world)."""
    return {name: Keithley6517bSim(world, config) for name, config in configs.items()}
