"""PTW UNIDOS Tango front-end, byte for byte: identity, write permission, states, MV records, E-codes."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.clock import VirtualClock
from simulators.electrometer import Electrometer, ElectrometerConfig, add_electrometer
from simulators.ptw_unidos import UnidosConfig, UnidosSim, engineering, parse_request
from simulators.ptw_unidos.protocol import UnidosError
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
    "initial_bias_v": 300.0,
}


def build(
    world: World, chamber: dict[str, Any] | None = None, **unidos: Any
) -> tuple[UnidosSim, RadiationSource]:
    source = add_radiation_source(world, "beam", RadiationSourceConfig())
    add_electrometer(world, "chamber", ElectrometerConfig(**{**IDEAL, **(chamber or {})}))
    return UnidosSim(world, UnidosConfig(electrometer="chamber", **unidos)), source


def ask(device: UnidosSim, line: str) -> bytes:
    return device.feed(line.encode("ascii") + b"\r\n")


@pytest.fixture
def unidos(world: World) -> UnidosSim:
    device, _ = build(world)
    return device


@pytest.fixture
def writable(unidos: UnidosSim) -> UnidosSim:
    assert ask(unidos, "TOK") == b"TOK;true\r\n"
    return unidos


# ------------------------------------------------------------------------------------------- framing
def test_identity_and_query_replies(unidos: UnidosSim) -> None:
    assert ask(unidos, "PTW") == b"PTW;UNIDOS Tango;TM10052;1.2.4;A16\r\n"
    assert ask(unidos, "SER") == b"SER;123456\r\n"
    assert ask(unidos, "MAC") == b"MAC;00-1A-2B-3C-4D-5E\r\n"
    assert ask(unidos, "S") == b"S;RES\r\n"
    assert ask(unidos, "HV") == b"HV;300\r\n"
    assert ask(unidos, "RGE") == b"RGE;MEDIUM\r\n"
    assert ask(unidos, "IT") == b"IT;60\r\n"
    assert ask(unidos, "UEL") == b"UEL;false\r\n"
    assert ask(unidos, "TFI") == b"TFI;-\r\n"
    assert ask(unidos, "NUS") == b"NUS;Idle;0;82000\r\n"


def test_line_endings_case_and_split_writes(unidos: UnidosSim) -> None:
    assert unidos.feed(b"ser\n") == b"SER;123456\r\n"
    assert unidos.feed(b"S\rS\r\n") == b"S;RES\r\nS;RES\r\n"
    assert unidos.feed(b"PT") == b""
    assert unidos.feed(b"W\r\n") == b"PTW;UNIDOS Tango;TM10052;1.2.4;A16\r\n"
    assert unidos.feed(b"\r\n\r\n") == b""


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("XYZ", b"E01;\r\n"),
        ("PTW;1", b"E19;\r\n"),
        ("HV;1;2", b"E19;\r\n"),
        ("HV;", b"E18;\r\n"),
        ("HV;300", b"E20;\r\n"),  # no write permission yet
        ("STA", b"E20;\r\n"),
        ("TOK;2", b"E08;\r\n"),
        ("X" * 300, b"E16;\r\n"),
    ],
)
def test_error_codes(unidos: UnidosSim, line: str, reply: bytes) -> None:
    assert ask(unidos, line) == reply


def test_write_permission_token(world: World) -> None:
    device, _ = build(world)
    session = device.session()
    assert session.feed(b"TOK;1\r\n") == b"TOK;1;false\r\n"
    assert session.feed(b"TOK\r\n") == b"TOK;true\r\n"
    assert session.feed(b"TOK;1\r\n") == b"TOK;1;true\r\n"
    assert device.session().feed(b"TOK;1\r\n") == b"TOK;1;false\r\n"  # per connection
    assert session.feed(b"TOK;0\r\n") == b"TOK;0;true\r\n"
    assert session.feed(b"RES\r\n") == b"E20;\r\n"


def test_front_panel_lock_refuses_the_token(world: World) -> None:
    device, _ = build(world, remote_write_allowed=False)
    assert ask(device, "TOK") == b"TOK;false\r\n"
    assert ask(device, "RES") == b"E20;\r\n"


# ------------------------------------------------------------------------------------------- settings
def test_settings_echo_and_validate(writable: UnidosSim) -> None:
    assert ask(writable, "HV;-300") == b"HV;-300\r\n"
    assert ask(writable, "HV") == b"HV;-300\r\n"
    assert writable.electrometer.bias_v == -300.0
    assert ask(writable, "HV;401") == b"E08;\r\n"
    assert ask(writable, "HV;12.5") == b"E08;\r\n"
    assert ask(writable, "RGE;LOW") == b"RGE;LOW\r\n"
    assert ask(writable, "RGE;huge") == b"E08;\r\n"
    assert ask(writable, "IT;3599999") == b"IT;3599999\r\n"
    assert ask(writable, "IT;0") == b"E08;\r\n"
    assert ask(writable, "UEL;true") == b"UEL;true\r\n"
    assert ask(writable, "UEL;yes") == b"E08;\r\n"
    assert ask(writable, "ASE;true") == b"ASE;true\r\n"
    assert ask(writable, "ASR") == b"ASR;false\r\n"
    assert ask(writable, "ASL;HIGH") == b"ASL;HIGH\r\n"
    assert ask(writable, "ASL;MAX") == b"E08;\r\n"
    assert ask(writable, "CHR") == b"CHR\r\n"


def test_detector_voltage_limits_come_from_the_detector(world: World) -> None:
    device, _ = build(world, detector_hv_min_v=0, detector_hv_max_v=350)
    ask(device, "TOK")
    assert ask(device, "HV;-100") == b"E08;\r\n"
    assert ask(device, "HV;350") == b"HV;350\r\n"


# ------------------------------------------------------------------------------------------- states
def test_measure_hold_resume_reset(writable: UnidosSim, clock: VirtualClock) -> None:
    assert ask(writable, "STA") == b"STA\r\n"
    assert ask(writable, "S") == b"S;MEAS\r\n"
    assert ask(writable, "STA") == b"E03;\r\n"
    assert ask(writable, "HV;200") == b"E03;\r\n"  # not while measuring
    assert ask(writable, "RGE;HIGH") == b"E03;\r\n"
    assert ask(writable, "NUL") == b"E03;\r\n"
    clock.sleep(2.0)
    assert ask(writable, "HLD") == b"HLD\r\n"
    assert ask(writable, "S") == b"S;HOLD\r\n"
    assert ask(writable, "HLD") == b"E03;\r\n"
    assert ask(writable, "STA") == b"STA\r\n"
    clock.sleep(1.0)
    assert writable.electrometer.integrated_charge().integration_time_s == 3.0
    assert ask(writable, "RES") == b"RES\r\n"
    assert ask(writable, "S") == b"S;RES\r\n"


def test_interval_measurement(writable: UnidosSim, clock: VirtualClock) -> None:
    ask(writable, "IT;10")
    assert ask(writable, "INT") == b"INT\r\n"
    assert ask(writable, "S") == b"S;INT\r\n"
    assert ask(writable, "IT;20") == b"E03;\r\n"
    clock.sleep(4.0)
    assert ask(writable, "HLD") == b"HLD\r\n"
    assert ask(writable, "S") == b"S;INTHLD\r\n"
    clock.sleep(100.0)
    assert ask(writable, "STA") == b"STA\r\n"
    assert ask(writable, "S") == b"S;INT\r\n"
    clock.sleep(100.0)
    assert ask(writable, "S") == b"S;EOM\r\n"
    assert writable.electrometer.integrated_charge().integration_time_s == pytest.approx(10.0)
    assert ask(writable, "STA") == b"E03;\r\n"
    assert ask(writable, "INT") == b"E03;\r\n"
    assert ask(writable, "RES") == b"RES\r\n"


def test_zero_takes_its_time(writable: UnidosSim, clock: VirtualClock) -> None:
    assert ask(writable, "NUL") == b"NUL\r\n"
    assert ask(writable, "S") == b"S;ZERO\r\n"
    assert ask(writable, "NUS") == b"NUS;Running;82000;82000\r\n"
    assert ask(writable, "STA") == b"E03;\r\n"
    assert ask(writable, "RES") == b"E03;\r\n"
    clock.sleep(41.0)
    assert ask(writable, "NUS") == b"NUS;Running;41000;82000\r\n"
    assert ask(writable, "MV") == b"MV;ZERO;0.0;E-12;p;Gy;0.0;E-12;p;Gy;min;0.0;ms;300.0;V;0x0\r\n"
    clock.sleep(41.0)
    assert ask(writable, "NUS") == b"NUS;Passed;0;82000\r\n"
    assert ask(writable, "S") == b"S;RES\r\n"


# ------------------------------------------------------------------------------------------- records
def test_mv_record_in_dose_and_electrical_units(world: World, clock: VirtualClock) -> None:
    device, source = build(world)
    ask(device, "TOK")
    ask(device, "STA")
    source.deliver(100)  # 1 Gy in 10 s: 2e-8 C with f = 1, k_pol = 1
    clock.sleep(5.0)
    assert ask(device, "MV") == b"MV;MEAS;500.0;E-03;m;Gy;6.0;E+00;;Gy;min;5000.0;ms;300.0;V;0x0\r\n"
    clock.sleep(5.0)
    assert ask(device, "HLD") == b"HLD\r\n"
    assert ask(device, "MV") == b"MV;HOLD;1.0;E+00;;Gy;6.0;E+00;;Gy;min;10000.0;ms;300.0;V;0x0\r\n"
    clock.sleep(1.0)
    assert ask(device, "UEL;true") == b"UEL;true\r\n"
    assert ask(device, "MV") == b"MV;HOLD;20.0;E-09;n;C;0.0;E-12;p;A;;10000.0;ms;300.0;V;0x0\r\n"


def test_range_maximum_and_resolution(writable: UnidosSim) -> None:
    assert ask(writable, "MVM") == b"MVM;MEDIUM;15.0;E+00;;Gy;min\r\n"
    assert ask(writable, "MVR") == "MVR;MEDIUM;5.0;E-06;µ;Gy;30.0;E-06;µ;Gy;min\r\n".encode()
    ask(writable, "UEL;true")
    ask(writable, "RGE;LOW")
    assert ask(writable, "MVM") == b"MVM;LOW;500.0;E-12;p;A;\r\n"
    assert ask(writable, "MVR") == b"MVR;LOW;10.0;E-15;f;C;1.0;E-15;f;A;\r\n"


def test_overload_flags_latch_until_reset(world: World, clock: VirtualClock) -> None:
    device, source = build(world, initial_range="LOW", electrical_units=True)  # LOW: 500 pA full scale
    ask(device, "TOK")
    ask(device, "STA")
    source.deliver(100)  # 2 nA for 10 s
    clock.sleep(20.0)
    assert ask(device, "MV").endswith(b";0x1\r\n")  # the beam is off now, the overload stays
    ask(device, "RES")
    assert ask(device, "MV").endswith(b";0x0\r\n")
    ask(device, "RGE;VERY_LOW")  # 1 µC charge full scale
    ask(device, "STA")
    source.deliver(6000, duration_s=3000.0)  # 60 Gy at 1.2 Gy/min: 0.4 nA (over 50 pA), 1.2 µC
    clock.sleep(3000.0)
    assert ask(device, "MV").endswith(b";0x3\r\n")


def test_hv_error_and_uncalibrated_flags(world: World) -> None:
    device, _ = build(world, calibration_factor_gy_per_c=None)
    assert ask(device, "MV") == b"MV;RES;0.0;E-12;p;C;0.0;E-12;p;A;;0.0;ms;300.0;V;0x800\r\n"
    device.inject_hv_error()
    assert ask(device, "MV").endswith(b";0x80c\r\n")
    device.inject_hv_error(False)
    ask(device, "TOK")
    ask(device, "UEL;true")
    assert ask(device, "MV").endswith(b";0x0\r\n")


def test_dose_sign_follows_the_reference_polarity(world: World, clock: VirtualClock) -> None:
    device, source = build(world, chamber={"initial_bias_v": -300.0, "reference_polarity": -1})
    ask(device, "TOK")
    ask(device, "STA")
    delivery = source.deliver(100)
    clock.advance_to(delivery.end)
    ask(device, "HLD")
    assert ask(device, "MV").startswith(b"MV;HOLD;1.0;E+00;;Gy;")
    ask(device, "UEL;true")
    assert ask(device, "MV").startswith(b"MV;HOLD;-20.0;E-09;n;C;")


# ------------------------------------------------------------------------------------------- helpers
@pytest.mark.parametrize(
    ("value", "resolution", "expected"),
    [
        (2.6e-3, None, ("2.6", "E-03", "m")),
        (5.6e-9, None, ("5.6", "E-09", "n")),
        (0.0, None, ("0.0", "E-12", "p")),
        (1.65e-6, None, ("1.65", "E-06", "µ")),
        (-19.8989e-9, 1e-13, ("-19.899", "E-09", "n")),
        (123456.0, None, ("123.46", "E+03", "k")),
        (4e-14, 1e-13, ("0.0", "E-12", "p")),  # below the resolution
    ],
)
def test_engineering_fields(value: float, resolution: float | None, expected: tuple[str, str, str]) -> None:
    assert engineering(value, resolution) == expected


def test_parse_request() -> None:
    request = parse_request(" hv;300 ")
    assert (request.command, request.params) == ("HV", ("300",))
    with pytest.raises(UnidosError, match="E16"):
        parse_request("A" * 257)


def test_the_device_reads_its_chamber_from_the_world(unidos: UnidosSim) -> None:
    assert isinstance(unidos.electrometer, Electrometer) and "UnidosSim" in repr(unidos)
