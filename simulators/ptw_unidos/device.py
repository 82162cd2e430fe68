"""A PTW UNIDOS Tango/Romeo dosemeter whose chamber is an ``Electrometer`` in the world.

Implemented requests (PyMeasure's ``ptwUNIDOS`` driver; wire examples from its ``test_ptwUNIDOS.py`` tests):
``PTW SER MAC TOK S STA HLD RES INT NUL NUS HV RGE IT MV MVM MVR UEL ASE ASR ASL CHR TFI``. Every state
change needs write permission (``TOK``), else ``E20``. Choices where no public document says (they are listed
in docs/simulators.md): the range table, ``NUS`` status words, which states refuse which command (``E03``),
and the MV number format (five significant digits, two-digit exponent).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simulators.electrometer import Electrometer, IntegratorState, ZeroState
from simulators.ptw_unidos.protocol import (
    FLAG_CHARGE_OVERLOAD,
    FLAG_CURRENT_OVERLOAD,
    FLAG_HV_ERROR_CHARGE,
    FLAG_HV_ERROR_CURRENT,
    FLAG_UNCALIBRATED,
    UnidosError,
    engineering,
    format_error,
    format_reply,
    parse_request,
)
from simulators.world import World

RangeName = Literal["VERY_LOW", "LOW", "MEDIUM", "HIGH"]
_LINE_END = re.compile(rb"[\r\n]")
_INT = re.compile(r"[+-]?\d{1,9}")  # bounded: a 5000-digit field is E08, not a ValueError
MAX_LINE_BYTES = 4096

_Handler = Callable[[tuple[str, ...], "UnidosSession"], bytes]


@dataclass(frozen=True, slots=True)
class UnidosRange:
    """One measuring range: full scale and display resolution for current and charge."""

    current_max_a: float
    current_resolution_a: float
    charge_max_c: float
    charge_resolution_c: float


#: The simulator's range table (PTW's figures for the Tango were not found; see docs/simulators.md).
RANGES: dict[str, UnidosRange] = {
    "VERY_LOW": UnidosRange(5e-11, 1e-16, 1e-6, 1e-15),
    "LOW": UnidosRange(5e-10, 1e-15, 1e-5, 1e-14),
    "MEDIUM": UnidosRange(5e-9, 1e-14, 1e-4, 1e-13),
    "HIGH": UnidosRange(5e-8, 1e-13, 1e-3, 1e-12),
}
AUTOSTART_LEVELS = ("LOW", "MEDIUM", "HIGH")
IT_LIMITS_S = (1, 3_599_999)


class UnidosConfig(BaseModel):
    """One UNIDOS and the detector entry it uses; ``electrometer`` names the chamber model in the world."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    electrometer: str
    product: str = "UNIDOS Tango"
    type_number: str = Field("TM10052", min_length=7, max_length=7)
    firmware: str = "1.2.4"
    hardware_revision: str = Field("A16", min_length=3, max_length=3)
    serial: int = Field(123456, ge=0)
    mac_address: str = Field("00-1A-2B-3C-4D-5E", pattern=r"^[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}$")
    #: Detector calibration factor N (Gy/C) used for dose units; None = uncalibrated detector (flag bit 11).
    calibration_factor_gy_per_c: float | None = Field(5.0e7, gt=0)
    detector_hv_min_v: int = Field(-400, ge=-400, le=400)
    detector_hv_max_v: int = Field(400, ge=-400, le=400)
    initial_range: RangeName = "MEDIUM"
    initial_integration_time_s: int = Field(60, ge=IT_LIMITS_S[0], le=IT_LIMITS_S[1])
    electrical_units: bool = False
    zero_duration_s: float = Field(82.0, ge=0)
    #: Averaging window of the current / dose-rate field of ``MV``.
    rate_window_s: float = Field(1.0, gt=0)
    #: The front-panel lock: False models an instrument not in viewer mode, where ``TOK`` is refused.
    remote_write_allowed: bool = True
    #: Fixed TCP port when served (the Tango listens on 8123); 0 picks a free one.
    tcp_port: int = Field(0, ge=0, le=65535)


class UnidosSession:
    """One connection: its partial line and whether it holds write permission."""

    def __init__(self, device: UnidosSim) -> None:
        self._device = device
        self._buffer = b""
        self.write_permission = False

    def feed(self, data: bytes) -> bytes:
        lines = _LINE_END.split(self._buffer + data)
        self._buffer = lines.pop()
        out: list[bytes] = []
        if len(self._buffer) > MAX_LINE_BYTES:
            self._buffer = b""
            out.append(format_error("E16"))
        out += [self._device.execute(line, self) for line in lines if line.strip()]
        return b"".join(out)

    def poll(self) -> bytes:
        return b""


class UnidosSim:
    """The UNIDOS front-end (``FrontEnd``): ``session()`` per connection, ``execute`` per request line."""

    def __init__(self, world: World, config: UnidosConfig) -> None:
        self.config = config
        self.electrometer = world.get(config.electrometer, Electrometer)
        self._lock = threading.RLock()
        self.range: str = config.initial_range
        self.integration_time_s: int = config.initial_integration_time_s
        self.electrical_units: bool = config.electrical_units
        self.autostart = False
        self.autoreset = False
        self.autostart_level = "LOW"
        self._interval_mode = False
        self._hv_error = False
        self._default_session = UnidosSession(self)

    # ----------------------------------------------------------------------------------------- serving
    def session(self) -> UnidosSession:
        return UnidosSession(self)

    def feed(self, data: bytes) -> bytes:
        return self._default_session.feed(data)

    def poll(self) -> bytes:
        return b""

    def inject_hv_error(self, active: bool = True) -> None:
        """Fault injection: the detector voltage is reported as not reached (MV flag bits 2 and 3)."""
        self._hv_error = bool(active)

    def execute(self, line: bytes, session: UnidosSession | None = None) -> bytes:
        """Answer one request line (no terminator)."""
        session = session or self._default_session
        try:
            request = parse_request(line.decode("ascii", errors="replace"))
            handler = self._handlers().get(request.command)
            if handler is None or not request.command:
                raise UnidosError("E01")
            with self._lock:
                return handler(request.params, session)
        except UnidosError as error:
            return format_error(error.code)

    def _handlers(self) -> dict[str, _Handler]:
        return {
            "PTW": self._ptw,
            "SER": self._ser,
            "MAC": self._mac,
            "TFI": self._tfi,
            "TOK": self._tok,
            "S": self._status,
            "STA": self._start,
            "HLD": self._hold,
            "RES": self._reset,
            "INT": self._interval,
            "NUL": self._null,
            "NUS": self._null_status,
            "CHR": self._clear_history,
            "HV": self._hv,
            "RGE": self._range,
            "IT": self._it,
            "UEL": self._uel,
            "ASE": self._ase,
            "ASR": self._asr,
            "ASL": self._asl,
            "MV": self._mv,
            "MVM": self._mvm,
            "MVR": self._mvr,
        }

    # ----------------------------------------------------------------------------------------- state
    def status(self) -> str:
        """The ``S`` status word."""
        e = self.electrometer
        if e.zeroing:
            return "ZERO"
        state = e.state
        if state is IntegratorState.RESET:
            return "RES"
        if state is IntegratorState.INTEGRATING:
            return "INT" if self._interval_mode else "MEAS"
        if e.interval_complete:
            return "EOM"
        return "INTHLD" if self._interval_mode else "HOLD"

    @staticmethod
    def _no_params(params: tuple[str, ...]) -> None:
        if params:
            raise UnidosError("E19")

    @staticmethod
    def _need_write(session: UnidosSession) -> None:
        if not session.write_permission:
            raise UnidosError("E20")

    def _one_param(self, params: tuple[str, ...], session: UnidosSession) -> str | None:
        """None for a query; the single parameter of a setting (which needs write permission)."""
        if not params:
            return None
        if len(params) > 1:
            raise UnidosError("E19")
        if params[0] == "":
            raise UnidosError("E18")
        self._need_write(session)
        return params[0]

    def _refuse_while_busy(self) -> None:
        if self.status() in ("MEAS", "INT", "ZERO"):
            raise UnidosError("E03")

    # ----------------------------------------------------------------------------------------- identity
    def _ptw(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        c = self.config
        return format_reply("PTW", c.product, c.type_number, c.firmware, c.hardware_revision)

    def _ser(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        return format_reply("SER", self.config.serial)

    def _mac(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        return format_reply("MAC", self.config.mac_address)

    def _tfi(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        return format_reply("TFI", "-")

    def _tok(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        if not params:  # request write permission
            session.write_permission = self.config.remote_write_allowed
            return format_reply("TOK", _bool(session.write_permission))
        if len(params) != 1:
            raise UnidosError("E19")
        if params[0] == "0":  # release
            session.write_permission = False
            return format_reply("TOK", "0", "true")
        if params[0] == "1":  # query
            return format_reply("TOK", "1", _bool(session.write_permission))
        raise UnidosError("E08")

    # ----------------------------------------------------------------------------------------- measurement
    def _status(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        return format_reply("S", self.status())

    def _start(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        self._need_write(session)
        status = self.status()
        if status == "RES" or status == "HOLD":
            self._interval_mode = False
            self.electrometer.start()
        elif status == "INTHLD":
            done = self.electrometer.integrated_charge().integration_time_s
            self.electrometer.start(max(0.0, self.integration_time_s - done))
        else:
            raise UnidosError("E03")
        return format_reply("STA")

    def _hold(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        self._need_write(session)
        if self.status() not in ("MEAS", "INT"):
            raise UnidosError("E03")
        self.electrometer.hold()
        return format_reply("HLD")

    def _reset(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        self._need_write(session)
        if self.status() == "ZERO":
            raise UnidosError("E03")
        self.electrometer.reset()
        self._interval_mode = False
        return format_reply("RES")

    def _interval(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        self._need_write(session)
        if self.status() != "RES":
            raise UnidosError("E03")
        self._interval_mode = True
        self.electrometer.start(float(self.integration_time_s))
        return format_reply("INT")

    def _null(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        self._need_write(session)
        self._refuse_while_busy()
        self._interval_mode = False
        self.electrometer.acquire_zero(self.config.zero_duration_s, enable=True)
        return format_reply("NUL")

    def _null_status(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        state, remaining, total = self.electrometer.zero_status()
        word = {ZeroState.NONE: "Idle", ZeroState.RUNNING: "Running", ZeroState.DONE: "Passed"}[state]
        if state is ZeroState.NONE:
            remaining, total = 0.0, self.config.zero_duration_s
        return format_reply("NUS", word, round(remaining * 1000), round(total * 1000))

    def _clear_history(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        self._need_write(session)
        return format_reply("CHR")

    # ----------------------------------------------------------------------------------------- settings
    def _hv(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        value = self._one_param(params, session)
        if value is None:
            return format_reply("HV", round(self.electrometer.bias_v))
        if not _INT.fullmatch(value):
            raise UnidosError("E08")
        volts = int(value)
        if not self.config.detector_hv_min_v <= volts <= self.config.detector_hv_max_v:
            raise UnidosError("E08")
        self._refuse_while_busy()
        self.electrometer.set_bias(float(volts))
        return format_reply("HV", volts)

    def _range(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        value = self._one_param(params, session)
        if value is None:
            return format_reply("RGE", self.range)
        if value.upper() not in RANGES:
            raise UnidosError("E08")
        self._refuse_while_busy()
        self.range = value.upper()
        return format_reply("RGE", self.range)

    def _it(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        value = self._one_param(params, session)
        if value is None:
            return format_reply("IT", self.integration_time_s)
        if not _INT.fullmatch(value) or not IT_LIMITS_S[0] <= int(value) <= IT_LIMITS_S[1]:
            raise UnidosError("E08")
        if self.status() in ("INT", "ZERO"):
            raise UnidosError("E03")
        self.integration_time_s = int(value)
        return format_reply("IT", self.integration_time_s)

    def _flag_setting(self, params: tuple[str, ...], session: UnidosSession, current: bool) -> bool:
        value = self._one_param(params, session)
        if value is None:
            return current
        if value.lower() not in ("true", "false"):
            raise UnidosError("E08")
        return value.lower() == "true"

    def _uel(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        new = self._flag_setting(params, session, self.electrical_units)
        if new != self.electrical_units:
            self._refuse_while_busy()
        self.electrical_units = new
        return format_reply("UEL", _bool(new))

    def _ase(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self.autostart = self._flag_setting(params, session, self.autostart)
        return format_reply("ASE", _bool(self.autostart))

    def _asr(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self.autoreset = self._flag_setting(params, session, self.autoreset)
        return format_reply("ASR", _bool(self.autoreset))

    def _asl(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        value = self._one_param(params, session)
        if value is not None:
            if value.upper() not in AUTOSTART_LEVELS:
                raise UnidosError("E08")
            self.autostart_level = value.upper()
        return format_reply("ASL", self.autostart_level)

    # ----------------------------------------------------------------------------------------- records
    def _dose_factor(self) -> float | None:
        """Gy per C at the detector's reference polarity, None if uncalibrated."""
        n = self.config.calibration_factor_gy_per_c
        if n is None:
            return None
        return n * self.electrometer.config.reference_polarity

    def measurement(self) -> tuple[str, float, float, float, int]:
        """(status, charge C, current A, integration time s, error flags) as the next ``MV`` reports them."""
        e = self.electrometer
        rng = RANGES[self.range]
        status = self.status()
        flags = 0
        if status == "ZERO":
            charge, current, elapsed = 0.0, 0.0, 0.0
        else:
            reading = e.read_charge()
            charge, elapsed = reading.charge_c, reading.integration_time_s
            current = e.read_current(self.config.rate_window_s)
            now = e.now()
            peak = abs(e.current_at(now))
            for t0, t1 in e.integration_windows():
                peak = max(peak, e.peak_abs_current(t0, t1))
            if peak > rng.current_max_a:
                flags |= FLAG_CURRENT_OVERLOAD
                current = max(-rng.current_max_a, min(rng.current_max_a, current))
            if abs(charge) > rng.charge_max_c:
                flags |= FLAG_CHARGE_OVERLOAD
        if self._hv_error:
            flags |= FLAG_HV_ERROR_CURRENT | FLAG_HV_ERROR_CHARGE
        if not self.electrical_units and self.config.calibration_factor_gy_per_c is None:
            flags |= FLAG_UNCALIBRATED
        return status, charge, current, elapsed, flags

    def _mv(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        status, charge, current, elapsed, flags = self.measurement()
        rng = RANGES[self.range]
        hv = f"{self.electrometer.bias_v:.1f}"
        time_ms = f"{elapsed * 1000.0:.1f}"
        factor = self._dose_factor()
        if self.electrical_units or factor is None:
            q = engineering(charge, rng.charge_resolution_c)
            i = engineering(current, rng.current_resolution_a)
            return format_reply("MV", status, *q, "C", *i, "A", "", time_ms, "ms", hv, "V", f"0x{flags:x}")
        d = engineering(charge * factor, rng.charge_resolution_c * abs(factor))
        r = engineering(current * factor * 60.0, rng.current_resolution_a * abs(factor) * 60.0)
        return format_reply("MV", status, *d, "Gy", *r, "Gy", "min", time_ms, "ms", hv, "V", f"0x{flags:x}")

    def _mvm(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        rng = RANGES[self.range]
        factor = self._dose_factor()
        if self.electrical_units or factor is None:
            return format_reply("MVM", self.range, *engineering(rng.current_max_a), "A", "")
        rate = engineering(rng.current_max_a * abs(factor) * 60.0)
        return format_reply("MVM", self.range, *rate, "Gy", "min")

    def _mvr(self, params: tuple[str, ...], session: UnidosSession) -> bytes:
        self._no_params(params)
        rng = RANGES[self.range]
        factor = self._dose_factor()
        if self.electrical_units or factor is None:
            q, i = engineering(rng.charge_resolution_c), engineering(rng.current_resolution_a)
            return format_reply("MVR", self.range, *q, "C", *i, "A", "")
        d = engineering(rng.charge_resolution_c * abs(factor))
        r = engineering(rng.current_resolution_a * abs(factor) * 60.0)
        return format_reply("MVR", self.range, *d, "Gy", *r, "Gy", "min")

    def __repr__(self) -> str:
        c = self.config
        return f"UnidosSim({c.product!r}, serial={c.serial}, chamber={self.electrometer.name!r})"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def build_unidos(world: World, configs: Mapping[str, UnidosConfig]) -> dict[str, UnidosSim]:
    """One front-end per config, keyed like ``configs`` (the chambers must already be in the world)."""
    return {name: UnidosSim(world, config) for name, config in configs.items()}
