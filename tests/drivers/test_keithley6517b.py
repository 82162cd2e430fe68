"""Keithley6517B against scripted bytes: SCPI lines with their LF, reading strings, errors, zero check.

Writes that the instrument does not answer are scripted as ``(command, None)``; queries carry their reply.
The reading strings follow the 6517A/B ASCII data format exactly: ``<number><status letter><unit>``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drivers.errors import (
    DeviceRejected,
    DosimeterOverload,
    HighVoltageFault,
    IllegalStateError,
    LimitViolation,
    ProtocolError,
    TransportTimeout,
    ZeroCheckActive,
)
from drivers.keithley6517b import (
    STATES,
    TRANSITIONS,
    Keithley6517B,
    Keithley6517BParams,
    build_keithley6517b,
    parse_reading,
    parse_readings,
)
from drivers.keithley6517b.electrometer import bias_commands
from drivers.registry import PortPool
from drivers.roles.dosimeter import Dosimeter, DosimeterSettings
from drivers.transport.expected import ExpectedProtocolTransport

Script = list[tuple[bytes | None, bytes | None]]
IDN = "KEITHLEY INSTRUMENTS INC.,MODEL 6517B,4096123,A13/700x"
NO_ERROR = '0,"No error"'


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def w(command: str) -> tuple[bytes, None]:
    """A command the instrument does not answer."""
    return command.encode() + b"\n", None


def q(command: str, reply: str) -> tuple[bytes, bytes]:
    """A query and its LF-terminated reply."""
    return command.encode() + b"\n", reply.encode() + b"\n"


def connect_script(function: str = '"CHAR"', zero_check: str = "1") -> Script:
    return [
        q("*IDN?", IDN),
        w("*CLS"),
        w(":FORM:DATA ASC"),
        w(":FORM:ELEM READ,STAT,UNIT"),
        q(":SENS:FUNC?", function),
        q(":SYST:ZCH?", zero_check),
        q(":SYST:ERR?", NO_ERROR),
    ]


CONFIGURE_CHARGE_AUTO: Script = [
    w(":SENS:FUNC 'CHAR'"),
    w(":SENS:CHAR:RANG:AUTO 1"),
    w(":SENS:CHAR:NPLC 1"),
    w(":SENS:CHAR:ADIS OFF"),
    w(":TRIG:SOUR IMM"),
    w(":TRIG:COUN 1"),
    w(":SOUR:VOLT:RANG 1000"),
    w(":SOUR:VOLT:LEV 300"),
    w(":OUTP ON"),
    q(":OUTP?", "1"),
    q(":SYST:ERR?", NO_ERROR),
]
CHARGE = DosimeterSettings(mode="charge", range="auto", bias_voltage_v=300.0)


class Rig:
    def __init__(self, script: Script, **options: float | bool) -> None:
        self.transport = ExpectedProtocolTransport(script, device="gpib0-27")
        self.clock = FakeClock()
        self.k = Keithley6517B(self.transport, name="electrometer", clock=self.clock, **options)  # type: ignore[arg-type]

    def done(self) -> None:
        self.transport.assert_done()


def connected(*script: tuple[bytes | None, bytes | None], **options: float | bool) -> Rig:
    rig = Rig([*connect_script(), *script], **options)
    rig.k.connect()
    assert rig.k.state == "idle"
    return rig


def configured(*script: tuple[bytes | None, bytes | None], **options: float | bool) -> Rig:
    rig = connected(*CONFIGURE_CHARGE_AUTO, *script, **options)
    rig.k.configure(CHARGE)
    return rig


def integrating(*script: tuple[bytes | None, bytes | None], **options: float | bool) -> Rig:
    rig = configured(
        w(":SYST:ZCH OFF"), q(":READ?", "+1.000000E-12NCOUL"), q(":SYST:ERR?", NO_ERROR), *script, **options
    )
    rig.k.start_integration()
    assert rig.k.state == "integrating"
    return rig


# -- reading strings -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value", "status", "unit"),
    [
        ("+1.234567E-10NADC", 1.234567e-10, "N", "ADC"),
        ("-2.500000E-09NCOUL", -2.5e-9, "N", "COUL"),
        ("+9.910000E+37ZCOUL", 9.91e37, "Z", "COUL"),
        ("+9.900000E+37OADC", 9.9e37, "O", "ADC"),
        ("+1.5E-15UADC", 1.5e-15, "U", "ADC"),
        ("+1.000E+00RVDC", 1.0, "R", "VDC"),
        ("+1.0E+12NOHMCM", 1e12, "N", "OHMCM"),
    ],
)
def test_reading_strings_parse_exactly(text: str, value: float, status: str, unit: str) -> None:
    reading = parse_reading(text, device="k", command=b":READ?\n")
    assert reading.value == pytest.approx(value)
    assert (reading.status, reading.unit) == (status, unit)


@pytest.mark.parametrize(
    "text", ["+1.234567E-10", "+1.234567E-10ADC", "+1.2E-10NAMP", "1.2E-10 NADC", "+1.2E-10XADC", "NADC"]
)
def test_malformed_reading_strings_are_refused(text: str) -> None:
    with pytest.raises(ProtocolError, match="not a reading"):
        parse_reading(text, device="k", command=b":READ?\n")


def test_overflow_and_zero_check_are_recognised_by_value_too() -> None:
    assert parse_reading("+9.910000E+37NCOUL", device="k", command=b"").zero_check
    assert parse_reading("+9.900000E+37NCOUL", device="k", command=b"").overflow
    assert not parse_reading("+9.910000E+37NCOUL", device="k", command=b"").overflow


def test_buffer_text_parses_into_readings() -> None:
    readings = parse_readings("+1.0E-12NADC,+2.0E-12NADC", device="k", command=b":TRAC:DATA?\n")
    assert [r.value for r in readings] == [pytest.approx(1e-12), pytest.approx(2e-12)]


# -- connect -------------------------------------------------------------------------------------------------
def test_construction_sends_nothing_and_satisfies_the_role() -> None:
    rig = Rig([])
    assert isinstance(rig.k, Dosimeter)
    assert rig.k.state == "disconnected"
    rig.done()


@pytest.mark.parametrize("kwargs", [{"bias_limit_v": 0.0}, {"bias_limit_v": 1500.0}, {"nplc": 20.0}])
def test_bad_construction_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Rig([], **kwargs)


def test_connect_sets_the_format_and_reads_function_and_zero_check() -> None:
    rig = connected()
    assert rig.k.identity is not None and rig.k.identity.serial == "4096123"
    assert rig.k.function == "CHAR"
    rig.done()


def test_connect_with_zero_check_off_means_integrating() -> None:
    rig = Rig(connect_script(function='"CURR:DC"', zero_check="0"))
    rig.k.connect()
    assert (rig.k.state, rig.k.function) == ("integrating", "CURR")


def test_connect_refuses_another_instrument() -> None:
    rig = Rig([q("*IDN?", "KEITHLEY INSTRUMENTS INC.,MODEL 2000,1,A01")])
    with pytest.raises(ProtocolError, match="Keithley 6517"):
        rig.k.connect()
    assert rig.k.state == "disconnected"


def test_connect_reports_queued_errors() -> None:
    script = connect_script()
    script[-1] = q(":SYST:ERR?", '-113,"Undefined header"')
    rig = Rig([*script, q(":SYST:ERR?", NO_ERROR)])
    with pytest.raises(DeviceRejected, match="-113"):
        rig.k.connect()
    assert rig.k.state == "disconnected"
    rig.done()


# -- configure -----------------------------------------------------------------------------------------------
def test_configure_charge_with_auto_range() -> None:
    rig = configured()
    assert rig.k.settings == CHARGE
    rig.done()


def test_configure_current_with_fixed_range_low_bias_and_nplc() -> None:
    rig = connected(
        w(":SENS:FUNC 'CURR'"),
        w(":SENS:CURR:RANG:AUTO 0"),
        w(":SENS:CURR:RANG 2e-08"),
        w(":SENS:CURR:NPLC 0.1"),
        w(":TRIG:SOUR IMM"),
        w(":TRIG:COUN 1"),
        w(":SOUR:VOLT:LEV -50"),  # a level the 100 V range holds goes first: the range may still be 1000 V
        w(":SOUR:VOLT:RANG 100"),
        w(":OUTP ON"),
        q(":OUTP?", "1"),
        q(":SYST:ERR?", NO_ERROR),
        nplc=0.1,
    )
    rig.k.configure(DosimeterSettings(mode="current", range="2e-8", bias_voltage_v=-50.0))
    assert rig.k.function == "CURR"
    rig.done()


def test_configure_zero_bias_switches_the_source_off() -> None:
    script = [*CONFIGURE_CHARGE_AUTO[:6], w(":SOUR:VOLT:LEV 0"), w(":OUTP OFF"), q(":OUTP?", "0")]
    rig = connected(*script, q(":SYST:ERR?", NO_ERROR))
    rig.k.configure(DosimeterSettings(mode="charge", range="auto", bias_voltage_v=0.0))
    rig.done()


@pytest.mark.parametrize(
    ("settings", "error", "needle"),
    [
        (DosimeterSettings(range="LOW"), ValueError, "neither 'auto' nor a number"),
        (DosimeterSettings(range="5e-6"), ValueError, "outside"),
        (DosimeterSettings(mode="current", range="0.1"), ValueError, "outside"),
        (DosimeterSettings(range="auto", bias_voltage_v=-600.0), LimitViolation, "bias voltage"),
        (DosimeterSettings(range="auto", integration_time_s=-1.0), ValueError, "positive"),
    ],
)
def test_configure_refuses_bad_settings_before_any_byte(
    settings: DosimeterSettings, error: type[Exception], needle: str
) -> None:
    rig = connected()
    with pytest.raises(error, match=needle):
        rig.k.configure(settings)
    rig.done()


def test_output_that_stays_off_is_a_high_voltage_fault() -> None:
    script = [*CONFIGURE_CHARGE_AUTO[:-2], q(":OUTP?", "0")]
    rig = connected(*script)
    with pytest.raises(HighVoltageFault, match="interlock"):
        rig.k.configure(CHARGE)
    assert rig.k.state == "fault"
    rig.done()


def test_configure_surfaces_scpi_errors() -> None:
    script = [
        *CONFIGURE_CHARGE_AUTO[:-1],
        q(":SYST:ERR?", '-222,"Data out of range"'),
        q(":SYST:ERR?", NO_ERROR),
    ]
    rig = connected(*script)
    with pytest.raises(DeviceRejected, match="-222"):
        rig.k.configure(CHARGE)
    assert rig.k.settings is None
    assert rig.k.state == "idle"


# -- integrate, hold, read, reset ----------------------------------------------------------------------------
def test_charge_cycle_subtracts_the_zero_check_hop() -> None:
    rig = integrating(
        q(":READ?", "+2.001000E-09NCOUL"),
        q(":SYST:ERR?", NO_ERROR),
        q(":READ?", "+5.001000E-09NCOUL"),
        q(":SYST:ERR?", NO_ERROR),
        w(":SYST:ZCH ON"),
        w(":SYST:ZCH ON"),
    )
    rig.clock.t += 10.0
    running = rig.k.read()
    assert running.value == pytest.approx(2.0e-9)
    assert (running.unit, running.status) == ("C", ())
    assert running.integration_time_s == pytest.approx(10.0)
    assert running.bias_voltage_v == 300.0
    rig.k.hold()
    assert rig.k.state == "holding"
    held = rig.k.read()  # no bytes: the held value
    assert held.value == pytest.approx(5.0e-9)
    assert rig.k.read() is held
    rig.k.reset()
    assert rig.k.state == "idle"
    rig.done()


def test_without_hop_correction_start_reads_nothing() -> None:
    rig = configured(
        w(":SYST:ZCH OFF"),
        q(":READ?", "+3.000000E-09NCOUL"),
        q(":SYST:ERR?", NO_ERROR),
        zero_check_hop_correction=False,
    )
    rig.k.start_integration()
    assert rig.k.read().value == pytest.approx(3e-9)
    rig.done()


def test_timed_integration_holds_at_the_first_read_after_the_deadline() -> None:
    timed = DosimeterSettings(mode="charge", range="auto", bias_voltage_v=300.0, integration_time_s=60.0)
    rig = connected(
        *CONFIGURE_CHARGE_AUTO,
        w(":SYST:ZCH OFF"),
        q(":READ?", "+0.000000E+00NCOUL"),
        q(":SYST:ERR?", NO_ERROR),
        q(":READ?", "+1.000000E-09NCOUL"),
        q(":SYST:ERR?", NO_ERROR),
        q(":READ?", "+2.050000E-09NCOUL"),
        q(":SYST:ERR?", NO_ERROR),
        w(":SYST:ZCH ON"),
    )
    rig.k.configure(timed)
    rig.k.start_integration()
    rig.clock.t = 30.0
    assert rig.k.read().value == pytest.approx(1e-9)
    rig.clock.t = 61.5
    final = rig.k.read()
    assert rig.k.state == "holding"
    assert final.integration_time_s == pytest.approx(61.5)  # the actual time, not the nominal 60 s
    rig.done()


def test_reading_in_idle_raises_zero_check_from_the_reply() -> None:
    rig = connected(q(":READ?", "+9.910000E+37ZCOUL"))
    with pytest.raises(ZeroCheckActive, match="zero check"):
        rig.k.read()
    assert rig.k.state == "idle"
    rig.done()


def test_zero_check_seen_while_integrating_returns_to_idle() -> None:
    rig = integrating(q(":READ?", "+9.910000E+37ZCOUL"))
    with pytest.raises(ZeroCheckActive):
        rig.k.read()
    assert rig.k.state == "idle"


def test_overflow_raises_and_enters_fault_and_reset_leaves_it() -> None:
    rig = integrating(q(":READ?", "+9.900000E+37OCOUL"), w(":SYST:ZCH ON"))
    with pytest.raises(DosimeterOverload, match="overflow"):
        rig.k.read()
    assert rig.k.state == "fault"
    with pytest.raises(IllegalStateError, match="'fault'"):
        rig.k.read()
    rig.k.reset()
    assert rig.k.state == "idle"
    rig.done()


def test_overflow_at_hold_still_engages_zero_check() -> None:
    rig = integrating(q(":READ?", "+9.900000E+37OCOUL"), w(":SYST:ZCH ON"))
    with pytest.raises(DosimeterOverload):
        rig.k.hold()
    assert rig.k.state == "fault"
    rig.done()


def test_underflow_is_a_status_not_an_error() -> None:
    rig = integrating(q(":READ?", "+1.000000E-15UCOUL"), q(":SYST:ERR?", NO_ERROR))
    assert rig.k.read().status == ("underflow",)


def test_unit_that_contradicts_the_function_is_a_protocol_error() -> None:
    rig = integrating(q(":READ?", "+1.000000E-10NADC"))
    with pytest.raises(ProtocolError, match="unit ADC"):
        rig.k.read()


def test_garbled_reading_names_device_command_and_bytes() -> None:
    rig = integrating(q(":READ?", "+1.0E-10#COUL"))
    with pytest.raises(ProtocolError) as info:
        rig.k.read()
    assert info.value.device == "electrometer"
    assert info.value.command == b":READ?\n"
    assert info.value.reply == b"+1.0E-10#COUL\n"


def test_silence_is_a_transport_timeout() -> None:
    rig = integrating((b":READ?\n", None))
    with pytest.raises(TransportTimeout):
        rig.k.read()


def test_crlf_replies_are_tolerated() -> None:
    rig = integrating((b":READ?\n", b"+2.000000E-09NCOUL\r\n"), (b":SYST:ERR?\n", b'0,"No error"\r\n'))
    assert rig.k.read().value == pytest.approx(1.999e-9)


def test_illegal_calls_name_the_state() -> None:
    rig = connected()
    with pytest.raises(IllegalStateError, match="cannot hold while in state 'idle'"):
        rig.k.hold()
    with pytest.raises(IllegalStateError, match="'idle'"):
        rig.k.start_buffer(10)
    rig2 = integrating()
    with pytest.raises(IllegalStateError, match="'integrating'"):
        rig2.k.configure(CHARGE)
    with pytest.raises(IllegalStateError, match="'integrating'"):
        rig2.k.zero()
    rig.done()


def test_start_needs_a_charge_or_current_function() -> None:
    rig = Rig(connect_script(function='"VOLT:DC"'))
    rig.k.connect()
    with pytest.raises(IllegalStateError, match="VOLT"):
        rig.k.start_integration()
    rig.done()


def test_stop_holds_when_integrating_and_is_silent_otherwise() -> None:
    rig = integrating(q(":READ?", "+4.000000E-09NCOUL"), q(":SYST:ERR?", NO_ERROR), w(":SYST:ZCH ON"))
    rig.k.stop()
    assert rig.k.state == "holding"
    rig.k.stop()
    rig.done()


# -- zero correction -----------------------------------------------------------------------------------------
def test_zero_correction_sequence() -> None:
    rig = connected(
        w(":SYST:ZCH ON"),
        w(":SYST:ZCOR:ACQ"),
        q("*OPC?", "1"),
        w(":SYST:ZCOR ON"),
        q(":SYST:ERR?", NO_ERROR),
    )
    rig.k.zero()
    assert rig.k.state == "idle"
    rig.done()


def test_zero_correction_refused_returns_to_idle() -> None:
    rig = connected(
        w(":SYST:ZCH ON"),
        w(":SYST:ZCOR:ACQ"),
        q("*OPC?", "1"),
        w(":SYST:ZCOR ON"),
        q(":SYST:ERR?", '-221,"Settings conflict"'),
        q(":SYST:ERR?", NO_ERROR),
    )
    with pytest.raises(DeviceRejected, match="-221"):
        rig.k.zero()
    assert rig.k.state == "idle"


# -- V-source, errors, trigger, buffer, reset ----------------------------------------------------------------
def test_set_bias_voltage_and_read_the_output() -> None:
    rig = connected(
        w(":SOUR:VOLT:RANG 1000"),
        w(":SOUR:VOLT:LEV -400"),
        w(":OUTP ON"),
        q(":OUTP?", "1"),
        q(":SYST:ERR?", NO_ERROR),
        q(":OUTP?", "ON"),
    )
    rig.k.set_bias_voltage(-400.0)
    assert rig.k.bias_output_enabled() is True
    rig.done()


def test_error_queue_reads() -> None:
    rig = connected(
        q(":SYST:ERR?", '-224,"Illegal parameter value"'),
        q(":SYST:ERR?", '-230,"Data corrupt or stale"'),
        q(":SYST:ERR?", NO_ERROR),
        q(":SYST:ERR?", "garbage"),
    )
    assert rig.k.next_error() == (-224, "Illegal parameter value")
    assert rig.k.errors() == [(-230, "Data corrupt or stale")]
    with pytest.raises(ProtocolError, match="error-queue entry"):
        rig.k.next_error()


def test_trigger_and_buffer() -> None:
    rig = integrating(
        w(":TRAC:CLE"),
        w(":TRAC:POIN 3"),
        w(":TRAC:FEED SENS"),
        w(":TRAC:FEED:CONT NEXT"),
        w(":TRIG:COUN 3"),
        w(":INIT"),
        q(":TRAC:POIN:ACT?", "3"),
        q(":TRAC:DATA?", "+1.0E-09NCOUL,+1.1E-09NCOUL,+1.2E-09NCOUL"),
        w(":ABOR"),
        w(":TRAC:FEED:CONT NEV"),
        w(":TRIG:COUN 1"),
        q(":FETC?", "+1.201000E-09NCOUL"),
        q(":SYST:ERR?", NO_ERROR),
    )
    rig.k.start_buffer(3)
    assert rig.k.buffer_count() == 3
    assert [r.value for r in rig.k.buffer_readings()] == pytest.approx([1.0e-9, 1.1e-9, 1.2e-9])
    rig.k.stop_buffer()
    assert rig.k.fetch().value == pytest.approx(1.2e-9)
    rig.done()


def test_buffer_with_an_overflow_raises() -> None:
    rig = integrating(q(":TRAC:DATA?", "+1.0E-09NCOUL,+9.9E+37OCOUL"))
    with pytest.raises(DosimeterOverload):
        rig.k.buffer_readings()


def test_set_trigger_timer_source() -> None:
    rig = connected(w(":TRIG:SOUR TIM"), w(":TRIG:COUN 5"), w(":TRIG:TIM 0.5"), q(":SYST:ERR?", NO_ERROR))
    rig.k.set_trigger("TIM", 5, 0.5)
    with pytest.raises(ValueError):
        rig.k.set_trigger("IMM", 1, 0.5)
    rig.done()


def test_reset_instrument_and_opc_and_identify() -> None:
    rig = integrating(
        w("*RST"),
        w("*CLS"),
        w(":FORM:DATA ASC"),
        w(":FORM:ELEM READ,STAT,UNIT"),
        w(":SYST:ZCH ON"),
        q(":SENS:FUNC?", '"VOLT:DC"'),
        q(":SYST:ERR?", NO_ERROR),
        q("*OPC?", "1"),
        q("*IDN?", IDN),
    )
    rig.k.reset_instrument()
    assert (rig.k.state, rig.k.function, rig.k.settings) == ("idle", "VOLT", None)
    rig.k.operation_complete()
    assert rig.k.identify() == IDN
    rig.done()


def test_close_sends_nothing_and_is_idempotent() -> None:
    rig = integrating()
    rig.k.close()
    rig.k.close()
    assert rig.k.state == "disconnected"
    rig.done()


# -- machine and builder -------------------------------------------------------------------------------------
def test_every_state_is_reachable() -> None:
    assert {edge["dest"] for edge in TRANSITIONS} == set(STATES)


def test_builder_makes_one_device_per_port() -> None:
    pool = PortPool(lambda port, label: ExpectedProtocolTransport([], device=label))
    params = Keithley6517BParams.model_validate({"nplc": 2, "bias_limit_v": 500})
    device = build_keithley6517b("electrometer", "GPIB0::27::INSTR", params, pool, FakeClock())
    assert isinstance(device, Keithley6517B)
    assert (device.nplc, device.bias_limit_v) == (2, 500)
    with pytest.raises(ValueError, match="already carries"):
        build_keithley6517b("other", "GPIB0::27::INSTR", params, pool, FakeClock())
    with pytest.raises(ValueError):
        Keithley6517BParams.model_validate({"nplc": 50})


def test_fetch_returns_the_last_reading_of_a_set_and_checks_them_all() -> None:
    rig = integrating(
        q(":FETC?", "+1.0E-09NCOUL,+1.1E-09NCOUL,+1.2E-09NCOUL"),
        q(":SYST:ERR?", NO_ERROR),
        q(":FETC?", "+9.9E+37OCOUL,+1.2E-09NCOUL"),
    )
    assert rig.k.fetch().value == pytest.approx(1.2e-9 - 1e-12)
    with pytest.raises(DosimeterOverload):
        rig.k.fetch()


def test_docs_state_diagram_lists_every_transition() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "drivers" / "keithley-6517b.md").read_text()
    drawn = set(re.findall(r"^\s*(\w+) --> (\w+) : (\w+)", doc.split("```mermaid", 1)[1], flags=re.MULTILINE))
    expected: set[tuple[str, str, str]] = set()
    for edge in TRANSITIONS:
        trigger, dest = edge["trigger"], edge["dest"]
        if trigger in ("disconnect", "instrument_reset"):
            expected.add(("online", dest, trigger))
        else:
            sources = [edge["source"]] if isinstance(edge["source"], str) else edge["source"]
            expected.update((source, dest, trigger) for source in sources)
    assert drawn == expected


@pytest.mark.parametrize("text", ["+1.0E+999NADC", "-1E400NCOUL", "1" * 400 + "NADC"])
def test_non_finite_or_oversized_readings_are_refused(text: str) -> None:
    with pytest.raises(ProtocolError, match="not a (reading|finite number)"):
        parse_reading(text, device="k", command=b":READ?\n")


def test_a_16_kb_reading_is_refused_in_linear_time() -> None:
    import time

    text = "1" * 16384 + "."  # made the old regex backtrack quadratically (11 s)
    start = time.perf_counter()
    with pytest.raises(ProtocolError, match="not a reading"):
        parse_readings(",".join([text] * 4), device="k", command=b":TRAC:DATA?\n")
    assert time.perf_counter() - start < 0.1


def test_an_error_queued_during_a_reading_makes_the_reading_an_error() -> None:
    """The reading's status says normal, but the instrument queued an error meanwhile: never a measurement."""
    rig = integrating(
        q(":READ?", "+2.000000E-09NCOUL"),
        q(":SYST:ERR?", '-310,"System error"'),
        q(":SYST:ERR?", NO_ERROR),
    )
    with pytest.raises(DeviceRejected, match="-310") as refused:
        rig.k.read()
    assert "read (:READ?)" in str(refused.value)
    rig.done()


def test_bias_from_300_v_down_to_100_v_sets_the_level_before_the_low_range() -> None:
    """Range 100 V while the level is still 300 V is refused by the instrument (-221): level first."""
    assert bias_commands("k", 100.0, 400.0) == [":SOUR:VOLT:LEV 100", ":SOUR:VOLT:RANG 100", ":OUTP ON"]
    assert bias_commands("k", 300.0, 400.0) == [":SOUR:VOLT:RANG 1000", ":SOUR:VOLT:LEV 300", ":OUTP ON"]
