"""Keithley 6517B front-end, byte for byte: SCPI parsing, error queue, readings, trigger, buffer, V-source."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.clock import VirtualClock
from simulators.electrometer import Electrometer, ElectrometerConfig, add_electrometer
from simulators.keithley6517b import Keithley6517bConfig, Keithley6517bSim, format_value
from simulators.keithley6517b.scpi import (
    ErrorQueue,
    ScpiError,
    compile_pattern,
    match_header,
    parse_unit,
    short_form,
)
from simulators.radiation import RadiationSource, RadiationSourceConfig, add_radiation_source
from simulators.world import World

IDEAL: dict[str, Any] = {
    "charge_noise_c": 0.0,
    "current_noise_a": 0.0,
    "relative_noise": 0.0,
    "leakage_current_a": 0.0,
    "zero_offset_current_a": 0.0,
    "settling_amplitude": 0.0,
    "bias_transient_a_per_v": 0.0,
    "pulsed_recombination_v_per_gy": 0.0,
}


def build(world: World, **chamber: Any) -> tuple[Keithley6517bSim, RadiationSource, Electrometer]:
    source = add_radiation_source(world, "beam", RadiationSourceConfig())
    model = add_electrometer(world, "chamber", ElectrometerConfig(**{**IDEAL, **chamber}))
    return Keithley6517bSim(world, Keithley6517bConfig(electrometer="chamber")), source, model


BIAS_300 = ":SOUR:VOLT:RANG 1000;:SOUR:VOLT 300;:OUTP ON"


def ask(device: Keithley6517bSim, message: str) -> bytes:
    return device.feed(message.encode("ascii") + b"\n")


def errors(device: Keithley6517bSim) -> list[bytes]:
    out = []
    while (reply := ask(device, ":SYST:ERR?")) != b'0,"No error"\n':
        out.append(reply)
    return out


@pytest.fixture
def k6517(world: World) -> Keithley6517bSim:
    return build(world)[0]


# ------------------------------------------------------------------------------------------- scpi
def test_short_forms_and_patterns() -> None:
    assert [short_form(w) for w in ("ZCHeck", "ACQuire", "NPLCycles", "SENSe", "LEVel")] == [
        "ZCH",
        "ACQ",
        "NPLC",
        "SENS",
        "LEV",
    ]
    nodes = compile_pattern("[:SENSe[1]]:CURRent[:DC]:RANGe[:UPPer]")
    for words in (["SENS", "CURR", "RANG"], ["sense1", "current", "dc", "range", "upper"], ["CURR", "RANG"]):
        assert match_header(nodes, words), words
    for words in (["SENSE2", "CURR", "RANG"], ["SENSEX", "CURR", "RANG"], ["CUR", "RANG"], ["CURR"]):
        assert not match_header(nodes, words), words


def test_parse_unit() -> None:
    unit = parse_unit(":SENS:FUNC 'CURR'")
    assert (unit.words, unit.query, unit.params, unit.absolute) == (
        ("SENS", "FUNC"),
        False,
        ("'CURR'",),
        True,
    )
    assert parse_unit(":*CLS").common and parse_unit("*idn?").words == ("*IDN",)
    assert parse_unit(":FORM:ELEM READ, STAT,UNIT").params == ("READ", "STAT", "UNIT")
    with pytest.raises(ScpiError, match="-102"):
        parse_unit(":SENS::FUNC")
    with pytest.raises(ScpiError, match="-102"):
        parse_unit(":SENS:FUNC ,")


def test_error_queue_overflows_into_minus_350() -> None:
    queue = ErrorQueue(size=3)
    for code in (-113, -222, -224, -109):
        queue.push(code)
    assert [queue.pop() for _ in range(4)] == [
        (-113, "Undefined header"),
        (-222, "Data out of range"),
        (-350, "Queue overflow"),
        (0, "No error"),
    ]


# ------------------------------------------------------------------------------------------- common
def test_identity_and_common_commands(k6517: Keithley6517bSim) -> None:
    assert ask(k6517, "*IDN?") == b"KEITHLEY INSTRUMENTS INC.,MODEL 6517B,4096271,A13/700X\n"
    assert ask(k6517, "*ESR?") == b"128\n"  # power on
    assert ask(k6517, "*ESR?") == b"0\n"
    assert ask(k6517, "*OPC?") == b"1\n"
    assert ask(k6517, "*IDN?;*OPC?") == b"KEITHLEY INSTRUMENTS INC.,MODEL 6517B,4096271,A13/700X;1\n"
    assert ask(k6517, "*SRE 255;*SRE?") == b"191\n"  # bit 6 cannot be enabled
    assert ask(k6517, "*RST;:stat:pres;:*CLS;") == b""  # what PyMeasure's reset() sends
    assert errors(k6517) == []


def test_crlf_and_split_messages(k6517: Keithley6517bSim) -> None:
    assert k6517.feed(b"*OPC?\r\n") == b"1\n"
    assert k6517.feed(b"*ID") == b""
    assert k6517.feed(b"N?\n*OPC?\n") == b"KEITHLEY INSTRUMENTS INC.,MODEL 6517B,4096271,A13/700X\n1\n"


def test_error_queue_and_status_bits(k6517: Keithley6517bSim) -> None:
    assert ask(k6517, ":FOO:BAR") == b""
    assert ask(k6517, "*STB?") == b"4\n"  # EAV
    assert ask(k6517, ":SENS:CURR:NPLC 20") == b""
    assert ask(k6517, ":SENS:FUNC 'FOO'") == b""
    assert ask(k6517, ":SENS:CURR:NPLC") == b""
    assert ask(k6517, ":SENS:CURR:NPLC 1,2") == b""
    assert ask(k6517, ":TRIG:SOUR NOWHERE") == b""
    assert ask(k6517, ":SYST:ZCH maybe") == b""
    assert errors(k6517) == [
        b'-113,"Undefined header"\n',
        b'-222,"Data out of range"\n',
        b'-224,"Illegal parameter value"\n',
        b'-109,"Missing parameter"\n',
        b'-108,"Parameter not allowed"\n',
        b'-141,"Invalid character data"\n',
        b'-104,"Data type error"\n',
    ]
    assert ask(k6517, "*ESR?") == b"176\n"  # PON + CME + EXE
    for _ in range(12):
        ask(k6517, ":BOGUS")
    assert len(errors(k6517)) == 10
    ask(k6517, ":BOGUS")
    assert ask(k6517, "*CLS;*STB?") == b"0\n"


def test_command_error_discards_the_rest_of_the_message(k6517: Keithley6517bSim) -> None:
    assert ask(k6517, ":SOUR:VOLT:RANG:AUTO 0;:SOUR:VOLT:RANG 1000") == b""  # PyMeasure's range setter
    assert errors(k6517) == [b'-113,"Undefined header"\n']  # the 6517B V-source has no auto range
    assert ask(k6517, ":SOUR:VOLT:RANG?") == b"+1.000000E+02\n"
    assert ask(k6517, ":SENS:CURR:NPLC 20;:SENS:CURR:NPLC 2;:SENS:CURR:NPLC?") == b"+2.000000E+00\n"
    assert errors(k6517) == [b'-222,"Data out of range"\n']  # an execution error does not stop the message


def test_relative_paths_and_long_forms(k6517: Keithley6517bSim) -> None:
    assert ask(k6517, ":SENS:CURR:NPLC 0.5;RANG 2e-9;RANG?;NPLC?") == b"+2.000000E-09;+5.000000E-01\n"
    assert ask(k6517, ":sense:current:dc:range:auto?") == b"0\n"
    assert ask(k6517, ":CURR:RANG:AUTO ON;:CURRENT:RANGE:AUTO?") == b"1\n"
    assert ask(k6517, ":SENS:FUNC 'CHARge';:FUNC?") == b'"CHAR"\n'
    assert ask(k6517, ":FUNC 'VOLT:DC';:SENS:FUNC?") == b'"VOLT:DC"\n'
    assert errors(k6517) == []


# ------------------------------------------------------------------------------------------- readings
def test_reset_state_reads_zero_check(k6517: Keithley6517bSim) -> None:
    ask(k6517, "*RST")
    assert ask(k6517, ":SENS:FUNC?;:SYST:ZCH?;:SYST:ZCOR?;:OUTP?") == b'"VOLT:DC";1;0;0\n'
    assert ask(k6517, ":FORM:ELEM?") == b"READ,RNUM,UNIT,TST,STAT\n"
    assert ask(k6517, ":TRIG:SOUR?;COUN?;:INIT:CONT?") == b"IMM;+1.000000E+00;0\n"
    ask(k6517, ":SENS:FUNC 'CURR'")
    assert ask(k6517, ":READ?") == b"+9.91E37ZADC,+0000000.000000secs,+00000RDNG#\n"


def test_current_reading_string(world: World, clock: VirtualClock) -> None:
    device, source, _ = build(world)
    ask(device, BIAS_300)
    ask(device, ":SENS:FUNC 'CURR';:SENS:CURR:RANG 2e-9;:SYST:ZCH OFF")
    source.beam_on(3.0)  # 0.05 Gy/s → 1 nA
    clock.sleep(12.5)
    assert ask(device, ":READ?") == b"+1.000000E-09NADC,+0000012.500000secs,+00000RDNG#\n"
    ask(device, ":SENS:CURR:RANG 200e-12")
    assert ask(device, ":READ?") == b"+9.9E37OADC,+0000012.500000secs,+00001RDNG#\n"
    ask(device, ":SENS:CURR:RANG:AUTO 1")
    assert ask(device, ":READ?").startswith(b"+1.000000E-09NADC,")
    ask(device, ":FORM:ELEM READ")
    assert ask(device, ":FETC?") == b"+1.000000E-09\n"
    ask(device, ":FORM:ELEM READ,UNIT,RNUM")
    assert ask(device, ":FETC?") == b"+1.000000E-09ADC,+00002RDNG#\n"
    ask(device, ":FORM:ELEM READ,STAT,TST,RNUM,CHAN,VSO,ETEM,HUM")
    assert (
        ask(device, ":SENS:DATA?")
        == b"+1.000000E-09N,+0000012.500000,+00002,000,+9999.99,+999.99,+0300.000\n"
    )


@pytest.mark.parametrize(
    ("value", "range_used", "text"),
    [
        (198.4891e-12, 200e-12, "+198.4891E-12"),
        (-0.00374e-12, 20e-12, "-00.00374E-12"),
        (1.5e-9, 2e-9, "+1.500000E-09"),
        (19.99e-9, 20e-9, "+19.99000E-09"),
        (2.05e-6, 2e-6, "+2.050000E-06"),
        (9.9e37, 2e-9, "+9.9E37"),
        (9.91e37, 2e-9, "+9.91E37"),
    ],
)
def test_reading_value_layout(value: float, range_used: float, text: str) -> None:
    assert format_value(value, range_used) == text


def test_charge_integrates_while_zero_check_is_off(world: World, clock: VirtualClock) -> None:
    device, source, _ = build(world)
    ask(device, ":SOUR:VOLT 100;:OUTP ON;:SENS:FUNC 'CHAR';:FORM:ELEM READ,STAT,UNIT")
    assert ask(device, ":READ?") == b"+9.91E37ZCOUL\n"
    ask(device, ":SYST:ZCH OFF")
    delivery = source.deliver(50)  # 0.5 Gy → 10 nC
    clock.advance_to(delivery.end + 5.0)
    assert ask(device, ":READ?") == b"+10.00000E-09NCOUL\n"
    ask(device, ":SENS:CHAR:RANG 2e-9")  # a new range discharges; then the next 0.5 Gy overflows it
    assert ask(device, ":READ?") == b"+0.000000E-09NCOUL\n"
    delivery = source.deliver(50)
    clock.advance_to(delivery.end)
    assert ask(device, ":READ?") == b"+9.9E37OCOUL\n"
    ask(device, ":SYST:ZCH ON;:SYST:ZCH OFF;:SENS:CHAR:RANG:AUTO 1")  # zero check discharges
    assert ask(device, ":READ?") == b"+0.000000E-09NCOUL\n"


def test_zero_correct_removes_the_input_offset(world: World, clock: VirtualClock) -> None:
    device, _, _ = build(world, zero_offset_current_a=5e-14)
    ask(device, ":SENS:FUNC 'CURR';:SENS:CURR:RANG 200e-12;:FORM:ELEM READ")
    ask(device, ":SYST:ZCH OFF")
    assert ask(device, ":READ?") == b"+000.0500E-12\n"
    ask(device, ":SYST:ZCOR:ACQ")
    assert errors(device) == [b'-221,"Settings conflict"\n']  # acquire with zero check on
    ask(device, ":SYST:ZCH ON;:SYST:ZCOR:ACQ;:SYST:ZCOR ON;:SYST:ZCH OFF")
    clock.sleep(1.0)  # a conversion integrates the last NPLC: let it see the corrected input
    assert ask(device, ":READ?") == b"+000.0000E-12\n"
    ask(device, ":SYST:ZCOR OFF")
    clock.sleep(1.0)
    assert ask(device, ":READ?") == b"+000.0500E-12\n"


def test_vsource_biases_the_chamber(world: World) -> None:
    device, _, model = build(world)
    ask(device, ":SOUR:VOLT 90")
    assert model.bias_v == 0.0  # output off
    ask(device, ":OUTP ON")
    assert model.bias_v == 90.0
    ask(device, ":SOUR:VOLT:LEV -90")
    assert model.bias_v == -90.0
    ask(device, ":SOUR:VOLT 300")
    assert errors(device) == [b'-222,"Data out of range"\n']  # the 100 V range
    ask(device, ":SOUR:VOLT:RANG 1000;:SOUR:VOLT 300;:SOUR:VOLT?;:SOUR:VOLT:RANG?")
    assert model.bias_v == 300.0
    assert ask(device, ":SOUR:VOLT:RANG 100") == b""
    assert errors(device) == [b'-221,"Settings conflict"\n']
    ask(device, "OUTPUT OFF")
    assert model.bias_v == 0.0 and ask(device, ":OUTP?") == b"0\n"


# ------------------------------------------------------------------------------------------- trigger
def test_buffer_fills_and_raises_the_service_request(world: World, clock: VirtualClock) -> None:
    device, source, _ = build(world)
    ask(device, BIAS_300)
    source.beam_on(3.0)
    ask(device, ":SENS:FUNC 'CURR';:SENS:CURR:RANG 2e-9;:SYST:ZCH OFF")
    ask(device, ":STAT:PRES;*CLS;*SRE 1;:STAT:MEAS:ENAB 512;")  # PyMeasure's config_buffer()
    ask(device, ":TRAC:CLEAR;")
    ask(device, ":TRAC:POIN 5")
    ask(device, ":TRAC:FEED SENSE;:TRAC:FEED:CONT NEXT;")
    ask(device, ":TRIG:COUN 5;:INIT")
    assert ask(device, ":INIT") == b""
    assert errors(device) == [b'-213,"Init ignored"\n']
    clock.sleep(2.5 / 60)  # two conversions of 1 PLC at 60 Hz
    assert ask(device, "*STB?;:TRAC:POIN:ACT?") == b"0;2\n"
    clock.sleep(1.0)
    assert ask(device, "*STB?;:TRAC:POIN:ACT?") == b"65;5\n"
    assert ask(device, ":TRAC:DATA?").count(b"NADC") == 5
    ask(device, ":FORM:ELEM READ,TST,RNUM,UNIT")
    data = ask(device, ":TRAC:DATA?").decode().strip().split(",")
    assert data[:3] == ["+1.000000E-09ADC", "+0000000.000000secs", "+00000RDNG#"]
    assert data[-2:] == ["+0000000.066667secs", "+00004RDNG#"]
    ask(device, ":FORM:ELEM READ")
    assert ask(device, ":FORM:DATA ASCII;:TRAC:DATA?") == b",".join([b"+1.000000E-09"] * 5) + b"\n"
    assert ask(device, ":STAT:MEAS?;:STAT:MEAS?") == b"928;0\n"  # RAV, BAV, BHF, BFL; reading clears


def test_bus_and_timer_triggers(world: World, clock: VirtualClock) -> None:
    device, _, _ = build(world)
    ask(device, ":SYST:ZCH OFF;:FORM:ELEM READ,TST;:TRAC:POIN 10;:TRAC:FEED:CONT NEXT")
    ask(device, ":TRIG:SOUR BUS;:TRIG:COUN 2;:INIT")
    assert ask(device, ":READ?") == b""
    assert errors(device) == [b'-214,"Trigger deadlock"\n']
    clock.sleep(3.0)
    assert ask(device, ":TRAC:POIN:ACT?") == b"0\n"
    ask(device, "*TRG")
    clock.sleep(1.0)
    ask(device, "*TRG;*TRG")
    assert errors(device) == [b'-211,"Trigger ignored"\n']
    assert ask(device, ":TRAC:POIN:ACT?") == b"2\n"
    ask(device, ":TRAC:CLE;:TRAC:FEED:CONT NEXT;:TRIG:SOUR TIM;:TRIG:TIM 0.5;:TRIG:COUN 4;:INIT")
    clock.sleep(10.0)
    stamps = ask(device, ":FORM:ELEM TST;:TRAC:DATA?").decode().strip().split(",")
    assert stamps == ["+0000000.000000", "+0000000.500000", "+0000001.000000", "+0000001.500000"]


def test_fetch_before_any_reading_and_infinite_count(k6517: Keithley6517bSim, clock: VirtualClock) -> None:
    assert ask(k6517, ":FETC?") == b""
    assert ask(k6517, ":SENS:DATA:FRES?") == b""
    ask(k6517, ":TRIG:COUN INF")
    assert ask(k6517, ":TRIG:COUN?") == b"+9.900000E+37\n"
    assert ask(k6517, ":READ?") == b""
    assert errors(k6517) == [
        b'-230,"Data corrupt or stale"\n',
        b'-230,"Data corrupt or stale"\n',
        b'-214,"Trigger deadlock"\n',
    ]
    ask(k6517, ":INIT")  # runs until :ABORt; an hour of conversions costs nothing
    clock.sleep(3600.0)
    ask(k6517, ":ABOR;:FORM:ELEM RNUM")
    assert ask(k6517, ":FETC?") == b"+215999\n"
    assert ask(k6517, ":SENS:DATA:FRES?;:SENS:DATA?") == b"+215999;+215999\n"


def test_measure_query_configures_a_one_shot(world: World, clock: VirtualClock) -> None:
    device, source, _ = build(world)
    ask(device, BIAS_300)
    source.beam_on(3.0)
    clock.sleep(10.0)
    ask(device, ":SYST:ZCH OFF;:TRIG:COUN 7;:FORM:ELEM READ,UNIT")
    assert ask(device, ":MEAS:CURR?") == b"+1.000000E-09ADC\n"
    assert ask(device, ":TRIG:COUN?;:SENS:FUNC?") == b'+1.000000E+00;"CURR:DC"\n'
    assert ask(device, ":MEAS?") == b"+1.000000E-09ADC\n"
    assert ask(device, ":CONF:CHAR;:CONF?") == b'"CHAR"\n'
