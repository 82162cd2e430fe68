"""The PI GCS 2.0 front-end, byte for byte: framing, queries, motion, the latched error, serving, wiring.

The ``pi`` fixture is a C-887.52 (serial 0123456789, firmware 3.2.0.0) driving a default hexapod "couch":
servo off and unreferenced at power-up, referencing takes 15 s, 10 mm/s, 50 mm/s², settle 0.1 s.
"""

from __future__ import annotations

import socket

import pytest
import serial

from simulators.clock import VirtualClock
from simulators.hexapod import HexapodConfig
from simulators.pi_gcs import (
    HELP,
    ErrorCode,
    PiGcsControllerConfig,
    PiGcsControllerSim,
    build_pi_gcs_controllers,
    check_pi_gcs_wiring,
)
from simulators.serve import PtyServer, TcpServer
from simulators.world import World

IDN = b"Physik Instrumente (PI) GmbH & Co. KG, C-887.52, 0123456789, 3.2.0.0\n"
ALL_ZERO = b"X=0.000000 \nY=0.000000 \nZ=0.000000 \nU=0.000000 \nV=0.000000 \nW=0.000000\n"
TIMEOUT_S = 2.0


@pytest.fixture
def pi(world: World) -> PiGcsControllerSim:
    controllers = build_pi_gcs_controllers(
        world, {"couch": HexapodConfig()}, {"pi": PiGcsControllerConfig(hexapod="couch")}
    )
    return controllers["pi"]


def ask(pi: PiGcsControllerSim, line: str) -> bytes:
    return pi.feed(line.encode("cp1252") + b"\n")


def err(pi: PiGcsControllerSim) -> int:
    return int(ask(pi, "ERR?"))


def referenced(pi: PiGcsControllerSim, clock: VirtualClock) -> PiGcsControllerSim:
    assert ask(pi, "SVO X 1") == b""
    assert ask(pi, "FRF") == b""
    clock.advance_to(15.1)
    assert err(pi) == 0
    return pi


# ---------------------------------------------------------------------------------------- identity, framing
def test_identification_and_syntax_version(pi: PiGcsControllerSim) -> None:
    assert ask(pi, "*IDN?") == IDN
    assert ask(pi, "CSV?") == b"2.0\n"
    assert ask(pi, "ERR?") == b"0\n"
    assert ask(pi, "SAI?") == ask(pi, "SAI? ALL") == b"X \nY \nZ \nU \nV \nW\n"
    assert ask(pi, "CST? X W") == b"X=HEXAPOD \nW=HEXAPOD\n"


def test_help_lists_every_command_and_ends_with_the_footer(pi: PiGcsControllerSim) -> None:
    answer = ask(pi, "HLP?").decode("cp1252")
    lines = answer.split("\n")
    assert lines[-1] == "" and lines[-2] == "end of help"
    assert all(line.endswith(" ") for line in lines[:-2])  # space+LF on every line but the last
    tokens = [line.split()[0] for line in lines[1:-2]]
    assert tokens == [syntax.split()[0] for syntax, _ in HELP]
    assert {"ONT?", "#5", "#7", "#24", "FRF?", "SVO?", "POS?", "MOV", "MVR", "HLT", "STP", "VLS"} <= set(
        tokens
    )
    for token in tokens:  # every listed command is implemented, none answers "unknown command"
        pi.execute_line(token.encode() + (b" X" if token in ("MOV", "MVR", "SVO", "VMO?", "SPI") else b""))
        assert pi.error != ErrorCode.UNKNOWN_COMMAND, token
        ask(pi, "ERR?")


def test_lines_may_arrive_in_pieces_and_single_bytes_act_at_once(pi: PiGcsControllerSim) -> None:
    assert pi.feed(b"POS? ") == b""
    assert pi.feed(b"\x05") == b"0\n"  # #5 in the middle of a partial line is answered at once
    assert pi.feed(b"\x07") == b"\xb1\n"  # #7: B1h, "±" in cp1252 = ready
    assert pi.feed(b"X W\n") == b"X=0.000000 \nW=0.000000\n"
    assert pi.feed(b"CSV?\r\n") == b"2.0\n"  # a CR before the LF is tolerated
    assert pi.feed(b"\n\n   \n") == b""  # blank lines are nothing
    assert pi.feed(b"csv?\n*idn?\n") == b"2.0\n" + IDN  # mnemonics are not case-sensitive
    assert b"\xb1\n".decode("cp1252") == "±\n"


def test_sessions_buffer_independently_but_share_the_error(pi: PiGcsControllerSim) -> None:
    first, second = pi.session(), pi.session()
    assert first.feed(b"CSV") == b""
    assert second.feed(b"MOV X 1\n") == b""
    assert first.feed(b"?\n") == b"2.0\n"
    assert first.feed(b"ERR?\n") == b"5\n"
    assert first.poll() == b""


def test_an_overlong_line_is_dropped_with_error_3(pi: PiGcsControllerSim) -> None:
    assert pi.feed(b"X" * 5000) == b""
    assert pi.feed(b"\n") == b""  # the tail of the junk is an unknown command, but 3 was latched first
    assert err(pi) == 3
    assert ask(pi, "CSV?") == b"2.0\n"


# ------------------------------------------------------------------------------------------- errors
def test_errors_latch_the_first_code_until_err_reads_it(pi: PiGcsControllerSim) -> None:
    assert ask(pi, "MOV X 1") == b""  # servo off
    assert ask(pi, "FOO") == b""  # unknown command, but the first error sticks
    assert ask(pi, "ERR?") == b"5\n"
    assert ask(pi, "ERR?") == b"0\n"
    assert ask(pi, "FOO") == b"" and err(pi) == 2


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("MOV", 26),
        ("MOV X", 24),
        ("MOV X abc", 1),
        ("MOV X nan", 1),
        ("MOV Q 1", 15),
        ("FRF Q", 15),
        ("SVO X 2", 1),
        ("VLS", 26),
        ("VLS 1 2", 24),
        ("VLS 0", 8),
        ("VLS 31", 8),
        ("SPI Q 1", 15),
        ("*IDN? X", 24),
        ("SAI? X", 1),
        ("STP X", 24),
        ("HLT Q", 15),
        ("VMO? X", 24),
    ],
)
def test_malformed_commands_latch_their_code(pi: PiGcsControllerSim, line: str, code: int) -> None:
    assert ask(pi, line) == b""
    assert err(pi) == code


@pytest.mark.parametrize("line", ["SPI R 1e300 S 1e300 T 1e300", "SPI T -10000.001", "SPI X 1e308"])
def test_a_pivot_beyond_10_m_is_error_17_and_the_next_rotation_is_computed(
    pi: PiGcsControllerSim, clock: VirtualClock, line: str
) -> None:
    referenced(pi, clock)
    assert ask(pi, line) == b"" and err(pi) == 17  # found by the fuzz suite: accepted before
    assert ask(pi, "SPI?") == b"R=0.000000 \nS=0.000000 \nT=0.000000\n"
    assert ask(pi, "MOV U 1 V 1 W 1") == b""  # overflowed the strut check (RuntimeWarning) with that pivot
    assert err(pi) == 0


def test_a_failed_query_answers_nothing(pi: PiGcsControllerSim) -> None:
    assert ask(pi, "POS? Q") == b""
    assert err(pi) == 15
    assert ask(pi, "ONT? X Q") == b"" and err(pi) == 15


# ------------------------------------------------------------------------------------------- referencing
def test_referencing_over_time(pi: PiGcsControllerSim, clock: VirtualClock) -> None:
    assert ask(pi, "SVO?") == b"X=0 \nY=0 \nZ=0 \nU=0 \nV=0 \nW=0\n"
    assert ask(pi, "FRF X") == b"" and err(pi) == 5  # servo off
    assert ask(pi, "SVO X 1") == b""
    assert ask(pi, "SVO? Y W") == b"Y=1 \nW=1\n"  # one servo for the whole platform
    assert ask(pi, "FRF X") == b""
    assert pi.feed(b"\x07") == b"\xb0\n"  # "°": busy referencing
    assert pi.feed(b"\x05") == b"3F\n"
    assert ask(pi, "FRF? X Y") == b"X=0 \nY=0\n"
    assert ask(pi, "POS?") == ALL_ZERO
    clock.advance_to(15.0)
    assert pi.feed(b"\x07") == b"\xb1\n" and pi.feed(b"\x05") == b"0\n"
    assert ask(pi, "FRF?") == b"X=1 \nY=1 \nZ=1 \nU=1 \nV=1 \nW=1\n"
    assert ask(pi, "ONT? X") == b"X=0\n"  # settling
    clock.advance_to(15.1)
    assert ask(pi, "ONT?") == b"X=1 \nY=1 \nZ=1 \nU=1 \nV=1 \nW=1\n"
    assert err(pi) == 0


def test_no_motion_before_referencing(pi: PiGcsControllerSim) -> None:
    assert ask(pi, "SVO X 1") == b""
    assert ask(pi, "MOV X 1") == b"" and err(pi) == 5
    assert ask(pi, "MVR Y 1") == b"" and err(pi) == 5
    assert ask(pi, "MOV?") == ALL_ZERO


# ------------------------------------------------------------------------------------------- motion
def test_move_status_on_target_and_positions(pi: PiGcsControllerSim, clock: VirtualClock) -> None:
    referenced(pi, clock)
    assert ask(pi, "MOV X 10 W 1.5") == b""
    assert ask(pi, "MOV? X W") == b"X=10.000000 \nW=1.500000\n"
    assert pi.feed(b"\x05") == b"21\n"  # bit 0 (X) + bit 5 (W)
    assert pi.feed(b"\x07") == b"\xb1\n"  # ready for commands while moving
    assert ask(pi, "ONT? X Y") == b"X=0 \nY=1\n"
    clock.advance_to(15.1 + 0.4)  # rotation-limited: ṡ ≤ 5/1.5, s̈ ≤ 20/1.5
    assert 0.0 < float(ask(pi, "POS? X").split(b"=")[1]) < 10.0
    clock.advance_to(20.0)
    assert ask(pi, "POS? X W U") == b"X=10.000000 \nW=1.500000 \nU=0.000000\n"
    assert ask(pi, "ONT?") == b"X=1 \nY=1 \nZ=1 \nU=1 \nV=1 \nW=1\n"
    assert (
        pi.feed(b"\x03") == b"X=10.000000 \nY=0.000000 \nZ=0.000000 \nU=0.000000 \nV=0.000000 \nW=1.500000\n"
    )
    assert ask(pi, "MVR X -2.5") == b""
    assert ask(pi, "MOV? X") == b"X=7.500000\n"
    assert err(pi) == 0


def test_limits_workspace_and_virtual_move(pi: PiGcsControllerSim, clock: VirtualClock) -> None:
    referenced(pi, clock)
    assert (
        ask(pi, "TMN?")
        == b"X=-50.000000 \nY=-50.000000 \nZ=-30.000000 \nU=-3.000000 \nV=-3.000000 \nW=-5.000000\n"
    )
    assert ask(pi, "TMX? Z W") == b"Z=30.000000 \nW=5.000000\n"
    assert ask(pi, "VMO? X 50") == b"1\n"
    assert ask(pi, "VMO? X 50 Y 50 Z 30") == b"0\n"  # inside every axis range, but not reachable together
    assert ask(pi, "VMO? X 51") == b"0\n"
    assert err(pi) == 0  # VMO? only answers; it latches nothing
    assert ask(pi, "MOV X 50 Y 50 Z 30") == b"" and err(pi) == 7
    assert ask(pi, "MOV X 999") == b"" and err(pi) == 7
    assert ask(pi, "MOV?") == ALL_ZERO  # a refused move changes no target
    assert pi.feed(b"\x05") == b"0\n"


def test_stop_commands_latch_error_10(pi: PiGcsControllerSim, clock: VirtualClock) -> None:
    referenced(pi, clock)
    assert ask(pi, "HLT") == b"" and err(pi) == 10  # even at rest
    assert ask(pi, "MOV Y 20") == b""
    clock.advance_to(clock.now() + 1.0)  # cruising at 10 mm/s, at 9 mm
    assert ask(pi, "HLT Y") == b"" and err(pi) == 10
    assert pi.feed(b"\x05") == b"2\n"  # still braking
    clock.advance_to(clock.now() + 0.2)
    assert ask(pi, "POS? Y") == ask(pi, "MOV? Y") == b"Y=10.000000\n"
    assert ask(pi, "MOV Y 0") == b""
    clock.advance_to(clock.now() + 0.5)
    assert pi.feed(b"\x18") == b""  # #24: stop dead
    assert err(pi) == 10
    assert pi.feed(b"\x05") == b"0\n"
    assert ask(pi, "POS? Y") == ask(pi, "MOV? Y") == b"Y=6.000000\n"
    assert ask(pi, "STP") == b"" and err(pi) == 10


def test_velocity_and_pivot_settings(pi: PiGcsControllerSim, clock: VirtualClock) -> None:
    referenced(pi, clock)
    assert ask(pi, "VLS?") == b"10.000000\n"
    assert ask(pi, "VLS 20") == b"" and ask(pi, "VLS?") == b"20.000000\n"
    assert ask(pi, "SPI?") == b"R=0.000000 \nS=0.000000 \nT=0.000000\n"
    assert ask(pi, "SPI R 10 T 250") == b"" and err(pi) == 0
    assert ask(pi, "SPI Y -3") == b""  # older firmware's X/Y/Z names are accepted
    assert ask(pi, "SPI? T S") == b"T=250.000000 \nS=-3.000000\n"
    assert ask(pi, "MOV U 1") == b""
    assert ask(pi, "VLS 15") == b"" and err(pi) == 53  # not while moving
    assert ask(pi, "SPI R 0") == b"" and err(pi) == 9  # U is not 0
    clock.advance_to(clock.now() + 5.0)
    assert ask(pi, "SPI R 0") == b"" and err(pi) == 9
    assert ask(pi, "MOV U 0") == b""
    clock.advance_to(clock.now() + 5.0)
    assert ask(pi, "SPI R 0") == b"" and err(pi) == 0


def test_servo_off_stops_the_platform_and_blocks_motion(pi: PiGcsControllerSim, clock: VirtualClock) -> None:
    referenced(pi, clock)
    assert ask(pi, "MOV Z 20") == b""
    clock.advance_to(clock.now() + 1.0)
    assert ask(pi, "SVO Z 0") == b"" and err(pi) == 0
    assert pi.feed(b"\x05") == b"0\n"
    assert ask(pi, "ONT? Z") == b"Z=0\n"
    assert ask(pi, "MOV Z 0") == b"" and err(pi) == 5


# ------------------------------------------------------------------------------------------- serving, wiring
@pytest.mark.usefixtures("no_leaks")
def test_served_over_a_pty_and_tcp(pi: PiGcsControllerSim) -> None:
    with PtyServer(pi) as pty, serial.Serial(pty.path, timeout=TIMEOUT_S) as port:
        port.write(b"*IDN?\n")
        assert port.readline() == IDN
        port.write(b"\x07")
        assert port.read(2) == b"\xb1\n"
    with TcpServer(pi) as tcp, socket.create_connection(("127.0.0.1", tcp.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(b"SAI?\nERR?\n")
        data = b""
        while not data.endswith(b"W\n0\n"):
            data += sock.recv(4096)
        assert data == b"X \nY \nZ \nU \nV \nW\n0\n"


def test_wiring_checks_and_builds_one_front_end_per_controller(world: World) -> None:
    hexapods = {"couch": HexapodConfig(), "chair": HexapodConfig()}
    with pytest.raises(ValueError, match="unknown hexapod"):
        check_pi_gcs_wiring(hexapods, {"pi": PiGcsControllerConfig(hexapod="table")})
    with pytest.raises(ValueError, match="driven twice"):
        check_pi_gcs_wiring(
            hexapods,
            {"a": PiGcsControllerConfig(hexapod="couch"), "b": PiGcsControllerConfig(hexapod="couch")},
        )
    controllers = {"pi": PiGcsControllerConfig(hexapod="chair", serial="42", tcp_port=50000)}
    built = build_pi_gcs_controllers(world, hexapods, controllers)
    assert set(built) == {"pi"} and built["pi"].hexapod is world.get("chair", type(built["pi"].hexapod))
    assert "couch" in world
    assert ask(built["pi"], "*IDN?") == b"Physik Instrumente (PI) GmbH & Co. KG, C-887.52, 42, 3.2.0.0\n"
    with pytest.raises(ValueError):
        PiGcsControllerConfig(hexapod="x", serial="1,2")


def test_pos_reports_the_strut_encoders_and_ont_judges_them(world: World, clock: VirtualClock) -> None:
    """POS? is the forward kinematics of the measured strut lengths; with an on-target window, a strut
    outside it keeps ONT? at 0 although nothing moves."""
    config = HexapodConfig(on_target_window_mm=0.1, errors={"strut_error_mm": (0.05, 0, 0, 0, 0, 0.05)})
    pi = build_pi_gcs_controllers(world, {"couch": config}, {"pi": PiGcsControllerConfig(hexapod="couch")})[
        "pi"
    ]
    referenced(pi, clock)
    hexapod = pi.hexapod
    expected = hexapod.measured_pose()
    assert ask(pi, "POS? X Z") == f"X={expected[0]:.6f} \nZ={expected[2]:.6f}\n".encode()
    assert abs(expected[2] - 0.0179) < 0.001  # two struts 0.05 mm long lift the platform ~18 µm
    assert ask(pi, "MOV? Z") == b"Z=0.000000\n"
    assert ask(pi, "ONT? X W") == b"X=1 \nW=1\n"
    hexapod.set_error(strut_error_mm=(0.0, 0.2, 0.0, 0.0, 0.0, 0.0))
    assert pi.feed(b"\x05") == b"0\n"
    assert ask(pi, "ONT? X W") == b"X=0 \nW=0\n"
    assert err(pi) == 0
