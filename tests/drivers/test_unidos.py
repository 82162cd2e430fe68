"""PtwUnidos against scripted bytes: permission, configuration, integration, zero, faults and guards.

Every exchange is written out with its CR LF terminators as PyMeasure's ``ptwUNIDOS`` wire tests give them
(recorded on a real Tango). Zero polling runs on ``FakeClock``, so no test sleeps.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drivers.errors import (
    DeviceFault,
    DeviceRejected,
    DosimeterOverload,
    DosimeterTimeout,
    HighVoltageFault,
    IllegalStateError,
    LimitViolation,
    ProtocolError,
    TransportTimeout,
)
from drivers.ptw_unidos import (
    STATES,
    TRANSITIONS,
    PtwUnidos,
    UnidosParams,
    build_unidos,
)
from drivers.registry import PortPool
from drivers.roles.dosimeter import Dosimeter, DosimeterSettings
from drivers.transport.expected import ExpectedProtocolTransport

Script = list[tuple[bytes | None, bytes | None]]


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def x(command: str, reply: str) -> tuple[bytes, bytes]:
    """One exchange: the command and the reply, each with its CR LF."""
    return command.encode() + b"\r\n", reply.encode("utf-8") + b"\r\n"


def mv(
    status: str = "RES",
    charge: str = "0.0;E-12;p",
    current: str = "0.0;E-12;p",
    time: str = "0.0",
    hv: str = "300.0",
    flags: str = "0x0",
) -> str:
    return f"MV;{status};{charge};C;{current};A;;{time};ms;{hv};V;{flags}"


CONNECT: Script = [
    x("PTW", "PTW;UNIDOS Tango;TM10052;1.2.4;A16"),
    x("SER", "SER;123456"),
    x("TOK;1", "TOK;1;true"),
    x("S", "S;RES"),
]
CONFIGURE: Script = [x("UEL;true", "UEL;true"), x("RGE;LOW", "RGE;LOW"), x("HV;300", "HV;300")]
SETTINGS = DosimeterSettings(mode="charge", range="LOW", bias_voltage_v=300.0)


class Rig:
    def __init__(self, script: Script, **options: float) -> None:
        self.transport = ExpectedProtocolTransport(script, device="unidos-port")
        self.clock = FakeClock()
        self.unidos = PtwUnidos(self.transport, name="electrometer", clock=self.clock, **options)

    def done(self) -> None:
        self.transport.assert_done()


def connected(*script: tuple[bytes | None, bytes | None], **options: float) -> Rig:
    rig = Rig([*CONNECT, *script], **options)
    rig.unidos.connect()
    assert rig.unidos.state == "idle"
    return rig


def configured(*script: tuple[bytes | None, bytes | None]) -> Rig:
    rig = connected(*CONFIGURE, *script)
    rig.unidos.configure(SETTINGS)
    return rig


def integrating(*script: tuple[bytes | None, bytes | None]) -> Rig:
    rig = configured(x("STA", "STA"), *script)
    rig.unidos.start_integration()
    assert rig.unidos.state == "integrating"
    return rig


# -- construction and connect ------------------------------------------------------------------------------
def test_construction_sends_nothing_and_satisfies_the_role() -> None:
    rig = Rig([])
    assert isinstance(rig.unidos, Dosimeter)
    assert rig.unidos.state == "disconnected"
    rig.done()


@pytest.mark.parametrize("kwargs", [{"bias_limit_v": 0.0}, {"bias_limit_v": 500.0}, {"poll_interval_s": 0.0}])
def test_bad_construction_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Rig([], **kwargs)


def test_connect_with_permission_held_reads_identity_and_status() -> None:
    rig = connected()
    assert rig.unidos.identity is not None
    assert rig.unidos.identity.type_number == "TM10052"
    assert rig.unidos.serial == "123456"
    rig.done()


def test_connect_requests_write_permission_when_not_held() -> None:
    rig = Rig([*CONNECT[:2], x("TOK;1", "TOK;1;false"), x("TOK", "TOK;true"), x("S", "S;RES")])
    rig.unidos.connect()
    assert rig.unidos.state == "idle"
    rig.done()


def test_connect_refused_permission_stays_disconnected() -> None:
    rig = Rig([*CONNECT[:2], x("TOK;1", "TOK;1;false"), x("TOK", "TOK;false")])
    with pytest.raises(DeviceRejected, match="write permission refused"):
        rig.unidos.connect()
    assert rig.unidos.state == "disconnected"
    rig.done()


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("MEAS", "integrating"),
        ("HOLD", "holding"),
        ("INTHLD", "holding"),
        ("ZERO", "zeroing"),
        ("AUTO", "idle"),
    ],
)
def test_connect_follows_the_device_status(status: str, state: str) -> None:
    rig = Rig([*CONNECT[:3], x("S", f"S;{status}")])
    rig.unidos.connect()
    assert rig.unidos.state == state


@pytest.mark.parametrize("status", ["ERROR", "SELF_TEST", "INIT"])
def test_connect_to_a_device_in_error_or_busy_enters_fault(status: str) -> None:
    rig = Rig([*CONNECT[:3], x("S", f"S;{status}")])
    with pytest.raises(DeviceFault, match=status):
        rig.unidos.connect()
    assert rig.unidos.state == "fault"


def test_connect_to_something_that_is_not_a_unidos() -> None:
    rig = Rig([x("PTW", "PTW;DIAMENTOR;TM11033;1.0;A1")])
    with pytest.raises(ProtocolError, match="does not identify as a UNIDOS"):
        rig.unidos.connect()
    assert rig.unidos.state == "disconnected"


def test_connect_twice_is_refused_before_any_byte() -> None:
    rig = connected()
    with pytest.raises(IllegalStateError, match="'idle'"):
        rig.unidos.connect()
    rig.done()


# -- configure -----------------------------------------------------------------------------------------------
def test_configure_sends_units_range_and_hv() -> None:
    rig = configured()
    assert rig.unidos.settings == SETTINGS
    assert rig.unidos.state == "idle"
    rig.done()


def test_configure_timed_integration_sends_it_and_start_sends_int() -> None:
    rig = connected(
        x("UEL;true", "UEL;true"),
        x("RGE;MEDIUM", "RGE;MEDIUM"),
        x("HV;-300", "HV;-300"),
        x("IT;60", "IT;60"),
        x("INT", "INT"),
        x("MV", mv("EOM", charge="2.6;E-9;n", time="60000.0", hv="-300.0")),
    )
    rig.unidos.configure(
        DosimeterSettings(mode="charge", range="medium", bias_voltage_v=-300.0, integration_time_s=60.0)
    )
    rig.unidos.start_integration()
    reading = rig.unidos.read()
    assert rig.unidos.state == "holding"  # the device ended the interval itself
    assert reading.value == pytest.approx(2.6e-9)
    assert reading.integration_time_s == pytest.approx(60.0)
    assert reading.bias_voltage_v == -300.0
    assert reading.range == "MEDIUM"
    rig.done()


@pytest.mark.parametrize(
    ("settings", "error", "needle"),
    [
        (DosimeterSettings(range="auto"), ValueError, "no auto range"),
        (DosimeterSettings(range="HUGE"), ValueError, "VERY_LOW"),
        (DosimeterSettings(range="LOW", bias_voltage_v=450.0), LimitViolation, "bias voltage"),
        (DosimeterSettings(range="LOW", bias_voltage_v=299.5), ValueError, "whole volts"),
        (DosimeterSettings(range="LOW", integration_time_s=0.5), ValueError, "whole seconds"),
        (DosimeterSettings(range="LOW", integration_time_s=4e6), ValueError, "3599999"),
    ],
)
def test_configure_refuses_bad_settings_before_any_byte(
    settings: DosimeterSettings, error: type[Exception], needle: str
) -> None:
    rig = connected()
    with pytest.raises(error, match=needle):
        rig.unidos.configure(settings)
    rig.done()


def test_bias_limit_of_the_rig_applies() -> None:
    rig = connected(bias_limit_v=250.0)
    with pytest.raises(LimitViolation, match="-250"):
        rig.unidos.configure(SETTINGS)
    rig.done()


def test_configure_while_integrating_names_the_state() -> None:
    rig = integrating()
    with pytest.raises(IllegalStateError, match="cannot configure while in state 'integrating'"):
        rig.unidos.configure(SETTINGS)
    rig.done()


def test_an_echo_with_another_value_is_a_protocol_error() -> None:
    rig = connected(x("UEL;true", "UEL;true"), x("RGE;LOW", "RGE;LOW"), x("HV;300", "HV;250"))
    with pytest.raises(ProtocolError, match="did not echo"):
        rig.unidos.configure(SETTINGS)
    assert rig.unidos.settings is None


# -- integrate, hold, read, reset ----------------------------------------------------------------------------
def test_full_integration_cycle_in_si_units() -> None:
    rig = integrating(
        x("MV", mv("MEAS", charge="1.234;E-9;n", current="5.6;E-12;p", time="3000.0")),
        x("HLD", "HLD"),
        x("MV", mv("HOLD", charge="2.5;E-9;n", time="5000.0")),
        x("RES", "RES"),
    )
    running = rig.unidos.read()
    assert running.value == pytest.approx(1.234e-9)
    assert (running.unit, running.status) == ("C", ("MEAS",))
    assert running.integration_time_s == pytest.approx(3.0)
    rig.unidos.hold()
    assert rig.unidos.state == "holding"
    held = rig.unidos.read()
    assert held.value == pytest.approx(2.5e-9)
    rig.unidos.reset()
    assert rig.unidos.state == "idle"
    rig.done()


def test_current_mode_returns_the_current_field() -> None:
    rig = connected(*CONFIGURE, x("MV", mv("RES", current="5.6;E-09;n", flags="0x30")))
    rig.unidos.configure(DosimeterSettings(mode="current", range="LOW", bias_voltage_v=300.0))
    reading = rig.unidos.read()
    assert reading.value == pytest.approx(5.6e-9)
    assert reading.unit == "A"
    assert reading.status == ("RES", "low_signal_current", "low_signal_charge")
    rig.done()


def test_front_panel_changes_are_followed() -> None:
    rig = integrating(x("MV", mv("RES")))
    rig.unidos.read()
    assert rig.unidos.state == "idle"


def test_hold_after_an_interval_already_ended_follows_the_device() -> None:
    rig = integrating(x("HLD", "E03;"), x("S", "S;EOM"))
    rig.unidos.hold()
    assert rig.unidos.state == "holding"
    rig.done()


def test_hold_refused_for_another_reason_raises() -> None:
    rig = integrating(x("HLD", "E03;"), x("S", "S;MEAS"))
    with pytest.raises(DeviceRejected, match="E03"):
        rig.unidos.hold()
    assert rig.unidos.state == "integrating"


def test_illegal_calls_name_the_state_and_send_nothing() -> None:
    rig = connected()
    with pytest.raises(IllegalStateError, match="'idle'"):
        rig.unidos.hold()
    rig2 = Rig([])
    with pytest.raises(IllegalStateError, match="'disconnected'"):
        rig2.unidos.read()
    with pytest.raises(IllegalStateError, match="'disconnected'"):
        rig2.unidos.start_integration()
    rig.done()
    rig2.done()


def test_stop_holds_a_running_integration_and_is_silent_otherwise() -> None:
    rig = integrating(x("HLD", "HLD"))
    rig.unidos.stop()
    assert rig.unidos.state == "holding"
    rig.unidos.stop()
    assert rig.unidos.state == "holding"
    rig.done()


# -- typed errors instead of plausible numbers ---------------------------------------------------------------
def test_overload_raises_and_enters_fault_then_reset_clears_it() -> None:
    rig = integrating(
        x("MV", mv("MEAS", charge="9.9;E-6;µ", flags="0x2")),
        x("RES", "RES"),
        x("MV", mv("RES")),
    )
    with pytest.raises(DosimeterOverload, match="overload_charge"):
        rig.unidos.read()
    assert rig.unidos.state == "fault"
    with pytest.raises(IllegalStateError, match="'fault'"):
        rig.unidos.read()
    rig.unidos.reset()
    assert rig.unidos.state == "idle"
    rig.done()


def test_hv_error_raises_and_a_reset_does_not_hide_it() -> None:
    rig = integrating(x("MV", mv("MEAS", flags="0x8")), x("RES", "RES"), x("MV", mv("RES", flags="0xC")))
    with pytest.raises(HighVoltageFault, match="hv_error_charge"):
        rig.unidos.read()
    with pytest.raises(HighVoltageFault):
        rig.unidos.reset()
    assert rig.unidos.state == "fault"
    rig.done()


def test_error_status_in_the_record_is_a_fault() -> None:
    rig = integrating(x("MV", mv("ERROR")))
    with pytest.raises(DeviceFault, match="ERROR"):
        rig.unidos.read()
    assert rig.unidos.state == "fault"


def test_dose_units_are_refused_not_converted() -> None:
    rig = connected(x("MV", "MV;RES;2.6;E-3;m;Gy;5.6;E-09;n;Gy;min;3000.0;ms;300.0;V;0x0"))
    with pytest.raises(ProtocolError, match="electrical units are off"):
        rig.unidos.read()


def test_error_codes_are_typed_with_their_meaning() -> None:
    rig = configured(x("STA", "E20;"))
    with pytest.raises(DeviceRejected, match="no write permission") as info:
        rig.unidos.start_integration()
    assert info.value.code == "E20"
    assert rig.unidos.state == "idle"


def test_module_defect_enters_fault() -> None:
    rig = configured(x("STA", "E33;"))
    with pytest.raises(DeviceFault, match="E33"):
        rig.unidos.start_integration()
    assert rig.unidos.state == "fault"


# -- garbled replies -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        ("MV;RES;0.0;E-12;p;C;0.0;E-12;p;A;;0.0;ms;300;V", "15"),
        ("MV;RES;2.6;E-6;n;C;0.0;E-12;p;A;;0.0;ms;300;V;0x0", "disagrees"),
        ("MV;RES;2.6;E-9;n;C;0.0;E-12;p;A;;0.0;ms;300;V;12", "0x-hex"),
        ("MV;RUN;2.6;E-9;n;C;0.0;E-12;p;A;;0.0;ms;300;V;0x0", "not a UNIDOS status"),
        ("MV;RES;2.6;E-9;n;C;0.0;E-12;p;A;;0.0;ks;300;V;0x0", "time unit"),
        ("MV;RES;2,6;E-9;n;C;0.0;E-12;p;A;;0.0;ms;300;V;0x0", "not a number"),
        ("XV;RES", "does not echo"),
    ],
)
def test_garbled_records_name_device_command_and_bytes(reply: str, needle: str) -> None:
    rig = connected(x("MV", reply))
    with pytest.raises(ProtocolError, match=needle) as info:
        rig.unidos.read()
    assert info.value.device == "electrometer"
    assert info.value.command == b"MV\r\n"
    assert info.value.reply == reply.encode() + b"\r\n"


def test_reply_without_terminator_times_out_and_input_is_flushed() -> None:
    rig = connected((b"MV\r\n", b"MV;RES;0.0"))
    with pytest.raises(TransportTimeout):
        rig.unidos.read()
    rig.done()


# -- zero ----------------------------------------------------------------------------------------------------
def test_zero_polls_on_the_clock_until_passed() -> None:
    rig = connected(
        x("NUL", "NUL"),
        x("S", "S;ZERO"),
        x("S", "S;ZERO"),
        x("S", "S;RES"),
        x("NUS", "NUS;Passed;0;82000"),
        poll_interval_s=2.0,
    )
    rig.unidos.zero()
    assert rig.unidos.state == "idle"
    assert rig.clock.sleeps == [2.0, 2.0]
    rig.done()


def test_zero_failure_enters_fault() -> None:
    rig = connected(x("NUL", "NUL"), x("S", "S;RES"), x("NUS", "NUS;Failed;0;82000"))
    with pytest.raises(DeviceFault, match="Failed"):
        rig.unidos.zero()
    assert rig.unidos.state == "fault"


def test_zero_timeout_leaves_zeroing_and_a_second_call_only_waits() -> None:
    rig = connected(
        x("NUL", "NUL"),
        x("S", "S;ZERO"),
        x("S", "S;ZERO"),
        x("S", "S;RES"),
        x("NUS", "NUS;Passed;0;82000"),
        poll_interval_s=1.0,
    )
    with pytest.raises(DosimeterTimeout, match="zero"):
        rig.unidos.zero(timeout_s=1.0)
    assert rig.unidos.state == "zeroing"
    rig.unidos.zero()
    assert rig.unidos.state == "idle"
    rig.done()


# -- queries -------------------------------------------------------------------------------------------------
def test_range_values_parse_micro_and_time_base() -> None:
    rig = connected(
        x("MVM", "MVM;MEDIUM;1.65;E-06;µ;Gy;min"),
        x("MVR", "MVR;MEDIUM;0.5;E-12;p;Gy;0.003;E-09;n;Gy;min"),
        x("MVM", "MVM;LOW;2.0;E-9;n;A;"),
    )
    maximum = rig.unidos.range_maximum()
    assert (maximum.range, maximum.rate_unit) == ("MEDIUM", "Gy/min")
    assert maximum.rate == pytest.approx(1.65e-6)
    resolution = rig.unidos.range_resolution()
    assert resolution.charge == pytest.approx(5e-13)
    assert resolution.rate == pytest.approx(3e-12)
    assert rig.unidos.range_maximum().rate_unit == "A"
    rig.done()


def test_plain_queries() -> None:
    rig = connected(
        x("S", "S;HOLD"),
        x("NUS", "NUS;Passed;0;82000"),
        x("SER", "SER;123456"),
        x("HV", "HV;-13"),
        x("RGE", "RGE;VERY_LOW"),
        x("IT", "IT;600"),
        x("UEL", "UEL;false"),
        x("TOK;1", "TOK;1;true"),
        x("PTW", "PTW;UNIDOS Romeo;TM10051;1.3.0;B02"),
    )
    assert rig.unidos.device_status() == "HOLD"
    assert rig.unidos.zero_status().total_s == pytest.approx(82.0)
    assert rig.unidos.serial_number() == "123456"
    assert rig.unidos.bias_voltage_v() == -13.0
    assert rig.unidos.range_name() == "VERY_LOW"
    assert rig.unidos.integration_time_s() == 600.0
    assert rig.unidos.electrical_units() is False
    assert rig.unidos.write_permission() is True
    assert rig.unidos.identify() == "UNIDOS Romeo;TM10051;1.3.0;B02"
    rig.done()


# -- close ---------------------------------------------------------------------------------------------------
def test_close_releases_permission_and_is_idempotent() -> None:
    rig = connected(x("TOK;0", "TOK;0;true"))
    rig.unidos.close()
    rig.unidos.close()
    assert rig.unidos.state == "disconnected"
    rig.done()


def test_close_never_raises_when_the_device_is_silent() -> None:
    rig = connected((b"TOK;0\r\n", None))
    rig.unidos.close()
    assert rig.unidos.state == "disconnected"


# -- machine and builder -------------------------------------------------------------------------------------
def test_every_state_is_reachable_and_every_edge_is_declared_once() -> None:
    dests = {edge["dest"] for edge in TRANSITIONS}
    assert dests == set(STATES)
    keys = [(edge["trigger"], str(edge["source"])) for edge in TRANSITIONS]
    assert len(keys) == len(set(keys))


def test_builder_makes_one_device_per_port() -> None:
    opened: list[str] = []

    def opener(port: str, label: str) -> ExpectedProtocolTransport:
        opened.append(label)
        return ExpectedProtocolTransport([], device=label)

    pool = PortPool(opener)
    params = UnidosParams.model_validate({"bias_limit_v": 350})
    unidos = build_unidos("chamber-a", "socket://10.0.0.5:8123", params, pool, FakeClock())
    assert isinstance(unidos, PtwUnidos)
    assert unidos.bias_limit_v == 350
    assert opened == ["chamber-a"]
    with pytest.raises(ValueError, match="already carries"):
        build_unidos("chamber-b", "socket://10.0.0.5:8123", params, pool, FakeClock())
    with pytest.raises(ValueError):
        UnidosParams.model_validate({"bias_limit_v": 350, "colour": "red"})


def test_docs_state_diagram_lists_every_transition() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "drivers" / "ptw-unidos.md").read_text()
    drawn = set(re.findall(r"^\s*(\w+) --> (\w+) : (\w+)", doc.split("```mermaid", 1)[1], flags=re.MULTILINE))
    expected: set[tuple[str, str, str]] = set()
    for edge in TRANSITIONS:
        trigger, dest = edge["trigger"], edge["dest"]
        if trigger == "disconnect":
            expected.add(("online", dest, trigger))
        elif trigger.startswith("seen_"):
            expected.add(("active", dest, trigger))
        else:
            sources = [edge["source"]] if isinstance(edge["source"], str) else edge["source"]
            expected.update((source, dest, trigger) for source in sources)
    assert drawn == expected


@pytest.mark.parametrize(
    ("charge", "hv"),
    [
        ("nan;E-9;n", "300.0"),
        ("inf;E-9;n", "300.0"),
        ("-Infinity;E-9;n", "300.0"),
        ("1e308;E+3;k", "300.0"),  # finite mantissa, infinite once scaled
        ("1_0;E-9;n", "300.0"),
        ("1.0;E-9;n", "nan"),
        ("1.0;E-9;n", "9" * 5000),
    ],
)
def test_non_finite_or_loose_numbers_are_protocol_errors_not_readings(charge: str, hv: str) -> None:
    rig = integrating(x("MV", mv("MEAS", charge=charge, hv=hv)))
    with pytest.raises(ProtocolError, match="electrometer: .*(not a number|not a finite number)"):
        rig.unidos.read()
    rig.done()
