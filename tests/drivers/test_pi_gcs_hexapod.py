"""HexapodController against scripted bytes: connect, reference, moves, stops, errors and the state guard.

The hexapod in these scripts has the travel X, Y ±50 mm, Z ±25 mm, U, V ±15° and W ±30°. Waits run on
``FakeClock`` (virtual time), so no test sleeps.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from drivers.clock import FAST_POLL_S, next_poll_delay
from drivers.errors import IllegalStateError, LimitViolation, ProtocolError, TransportTimeout
from drivers.pi_gcs import (
    STATES,
    TRANSITIONS,
    GcsConnection,
    GcsMotionError,
    GcsNotReferenced,
    GcsOutOfLimits,
    GcsPivotError,
    GcsStopped,
    GcsSyntaxError,
    GcsVelocityOutOfLimits,
    HexapodController,
    HexapodFault,
    MotionTimeout,
    UnreachablePose,
)
from drivers.transport.expected import ExpectedProtocolTransport

Script = list[tuple[bytes | None, bytes | None]]
AXES = ("X", "Y", "Z", "U", "V", "W")
LOW = (-50.0, -50.0, -25.0, -15.0, -15.0, -30.0)
HIGH = (50.0, 50.0, 25.0, 15.0, 15.0, 30.0)
IDN = b"Physik Instrumente (PI) GmbH & Co. KG, C-887.52, 0123456789, 3.2.0.0\n"
ERR_OK = (b"ERR?\n", b"0\n")
READY_BYTE, BUSY_BYTE = b"\xb1\n", b"\xb0\n"


class FakeClock:
    """Virtual time: ``sleep`` only moves ``now`` forward."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def keyed(pairs: list[tuple[str, str]]) -> bytes:
    """A GCS multi-line reply: every line but the last ends in space + LF."""
    return (" \n".join(f"{key}={value}" for key, value in pairs) + "\n").encode()


def floats(*values: float) -> bytes:
    return keyed([(axis, f"{value:.6f}") for axis, value in zip(AXES, values, strict=True)])


def flags(bits: str) -> bytes:
    return keyed(list(zip(AXES, bits, strict=True)))


ZERO = floats(0, 0, 0, 0, 0, 0)


def q(command: str) -> bytes:
    return f"{command} X Y Z U V W\n".encode()


def connect_script(
    *, servo: str = "111111", referenced: str = "111111", mask: bytes = b"0\n", pos: bytes = ZERO
) -> Script:
    return [
        ERR_OK,
        (b"*IDN?\n", IDN),
        (b"CSV?\n", b"2.0\n"),
        (b"SAI?\n", b"X \nY \nZ \nU \nV \nW\n"),
        (q("SVO?"), flags(servo)),
        (q("FRF?"), flags(referenced)),
        (q("TMN?"), floats(*LOW)),
        (q("TMX?"), floats(*HIGH)),
        (b"\x05", mask),
        (q("POS?"), pos),
        (q("MOV?"), pos),
    ]


def polls_until(deadline_s: float, slow_s: float = 0.05) -> int:
    """How many status queries an unplanned wait makes before ``deadline_s`` on the virtual clock."""
    now, polls = 0.0, 0
    while now < deadline_s:
        now += min(next_poll_delay(now, 0.0, None, slow_s), deadline_s - now)
        polls += 1
    return polls


def unplanned_sleeps(sleeps: list[float], count: int) -> bool:
    """An unplanned wait: the first look comes fast, later ones back off, never above the 50 ms poll."""
    return len(sleeps) == count and sleeps[0] == pytest.approx(FAST_POLL_S) and max(sleeps) <= 0.05


class Rig:
    def __init__(self, script: Script) -> None:
        self.transport = ExpectedProtocolTransport(script, device="hexapod-port")
        self.clock = FakeClock()
        self.hexapod = HexapodController(GcsConnection(self.transport), name="couch", clock=self.clock)


def ready(*script: tuple[bytes | None, bytes | None]) -> Rig:
    rig = Rig([*connect_script(), *script])
    rig.hexapod.connect()
    assert rig.hexapod.state == "ready"
    return rig


def unreferenced(*script: tuple[bytes | None, bytes | None], servo: str = "111111") -> Rig:
    rig = Rig([*connect_script(servo=servo, referenced="000000"), *script])
    rig.hexapod.connect()
    assert rig.hexapod.state == "connected"
    return rig


MOV_X10 = [(b"VMO? X 10\n", b"1\n"), (b"MOV X 10\n", None), ERR_OK]
ARRIVE = [(b"\x05", b"0\n"), (q("ONT?"), flags("111111")), (q("POS?"), floats(10, 0, 0, 0, 0, 0))]
STOPPED_AT_ZERO = [(b"\x05", b"0\n"), (q("POS?"), ZERO)]


# -- construction and connect --------------------------------------------------------------------------
def test_construction_sends_nothing() -> None:
    rig = Rig([])
    assert rig.hexapod.state == "disconnected"
    rig.transport.assert_done()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"poll_interval_s": 0},
        {"poll_interval_s": float("nan")},
        {"axes": ()},
        {"axes": ("X", "X")},
        {"axes": ("X Y",)},
    ],
)
def test_bad_construction_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        HexapodController(GcsConnection(ExpectedProtocolTransport([])), name="c", clock=FakeClock(), **kwargs)  # type: ignore[arg-type]


def test_connect_referenced_hexapod_is_ready_with_identity_travel_and_pose() -> None:
    rig = ready()
    hexapod = rig.hexapod
    assert hexapod.identity == IDN.decode().strip()
    assert hexapod.travel() == {axis: (lo, hi) for axis, lo, hi in zip(AXES, LOW, HIGH, strict=True)}
    assert hexapod.last_position == dict.fromkeys(AXES, 0.0) == hexapod.last_target
    rig.transport.assert_done()


@pytest.mark.parametrize(
    ("servo", "referenced"), [("111111", "000000"), ("000000", "111111"), ("111110", "111111")]
)
def test_connect_unreferenced_or_servo_off_is_connected(servo: str, referenced: str) -> None:
    rig = Rig(connect_script(servo=servo, referenced=referenced))
    rig.hexapod.connect()
    assert rig.hexapod.state == "connected"
    rig.transport.assert_done()


def test_connect_while_moving() -> None:
    rig = Rig(connect_script(mask=b"3F\n"))
    rig.hexapod.connect()
    assert rig.hexapod.state == "moving"


def test_stale_error_is_cleared_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig([(b"ERR?\n", b"5\n"), *connect_script()[1:]])
    with caplog.at_level(logging.WARNING):
        rig.hexapod.connect()
    assert rig.hexapod.state == "ready"
    assert "GCS error 5 latched from before" in caplog.text


def test_gcs_3_controller_is_refused() -> None:
    script = connect_script()
    script[2] = (b"CSV?\n", b"3.0\n")
    rig = Rig(script[:3])
    with pytest.raises(ProtocolError, match="GCS syntax version is not 2.0"):
        rig.hexapod.connect()
    assert rig.hexapod.state == "disconnected"


def test_controller_without_the_six_axes_is_refused() -> None:
    script = connect_script()
    script[3] = (b"SAI?\n", b"X \nY \nZ \nU \nV\n")
    rig = Rig(script[:4])
    with pytest.raises(ProtocolError, match=r"lacks axes \['W'\]"):
        rig.hexapod.connect()


def test_extra_axes_are_tolerated() -> None:
    script = connect_script()
    script[3] = (b"SAI?\n", b"X \nY \nZ \nU \nV \nW \nA \nB\n")
    rig = Rig(script)
    rig.hexapod.connect()
    assert rig.hexapod.axis_list() == ("X", "Y", "Z", "U", "V", "W", "A", "B")


def test_inverted_travel_is_garbled() -> None:
    script = connect_script()
    script[6] = (q("TMN?"), floats(60, -50, -25, -15, -15, -30))
    rig = Rig(script[:8])
    with pytest.raises(ProtocolError, match="TMN. is above TMX"):
        rig.hexapod.connect()


def test_connect_twice_is_illegal_and_sends_nothing_more() -> None:
    rig = ready()
    with pytest.raises(IllegalStateError, match="couch: cannot connect while in state 'ready'"):
        rig.hexapod.connect()
    rig.transport.assert_done()


# -- referencing ---------------------------------------------------------------------------------------
def test_reference_switches_servo_on_sends_frf_and_polls_ready_on_the_clock() -> None:
    rig = unreferenced(
        (q("SVO?"), flags("000000")),
        (b"SVO X 1 Y 1 Z 1 U 1 V 1 W 1\n", None),
        ERR_OK,
        (b"FRF X Y Z U V W\n", None),
        ERR_OK,
        (b"\x07", BUSY_BYTE),
        (b"\x07", BUSY_BYTE),
        (b"\x07", READY_BYTE),
        (q("FRF?"), flags("111111")),
        (q("POS?"), ZERO),
        servo="000000",
    )
    rig.hexapod.reference()
    assert rig.hexapod.state == "ready"
    assert unplanned_sleeps(rig.clock.sleeps, 3)
    rig.transport.assert_done()


def test_reference_with_servo_on_skips_svo() -> None:
    rig = unreferenced(
        (q("SVO?"), flags("111111")),
        (b"FRF X Y Z U V W\n", None),
        ERR_OK,
        (b"\x07", READY_BYTE),
        (q("FRF?"), flags("111111")),
        (q("POS?"), ZERO),
    )
    rig.hexapod.reference()
    assert rig.hexapod.state == "ready"
    rig.transport.assert_done()


def test_reference_that_leaves_axes_unreferenced_is_a_fault_back_in_connected() -> None:
    rig = unreferenced(
        (q("SVO?"), flags("111111")),
        (b"FRF X Y Z U V W\n", None),
        ERR_OK,
        (b"\x07", READY_BYTE),
        (q("FRF?"), flags("110111")),
        ERR_OK,
    )
    with pytest.raises(HexapodFault, match="reference move ended with Z unreferenced; no error code latched"):
        rig.hexapod.reference()
    assert rig.hexapod.state == "connected"
    rig.transport.assert_done()


def test_reference_timeout_leaves_referencing_and_halt_ends_it() -> None:
    rig = unreferenced(
        (q("SVO?"), flags("111111")),
        (b"FRF X Y Z U V W\n", None),
        ERR_OK,
        *[(b"\x07", BUSY_BYTE)] * polls_until(0.1),
        (b"HLT X Y Z U V W\n", None),
        (b"ERR?\n", b"10\n"),
        *STOPPED_AT_ZERO,
    )
    with pytest.raises(MotionTimeout, match=r"couch: reference not finished after 0.1 s on the rig clock"):
        rig.hexapod.reference(timeout_s=0.1)
    assert rig.hexapod.state == "referencing"
    rig.hexapod.halt()
    assert rig.hexapod.state == "connected"
    rig.transport.assert_done()


def test_reference_refused_by_the_controller_stays_connected() -> None:
    rig = unreferenced((q("SVO?"), flags("111111")), (b"FRF X Y Z U V W\n", None), (b"ERR?\n", b"2\n"))
    with pytest.raises(GcsSyntaxError, match="GCS error 2"):
        rig.hexapod.reference()
    assert rig.hexapod.state == "connected"


# -- moves ---------------------------------------------------------------------------------------------
def test_move_asks_vmo_sends_mov_checks_err_then_polls_5_and_ont() -> None:
    rig = ready(*MOV_X10, (b"\x05", b"1\n"), (b"\x05", b"1\n"), *ARRIVE)
    rig.hexapod.start_move({"X": 10.0})
    assert rig.hexapod.state == "moving"
    rig.hexapod.wait_until_idle()
    assert rig.hexapod.state == "ready"
    assert rig.hexapod.motion_plan is None  # no velocity known to this controller: nothing to plan from
    assert unplanned_sleeps(rig.clock.sleeps, 3)
    assert rig.hexapod.last_position == {"X": 10.0, "Y": 0.0, "Z": 0.0, "U": 0.0, "V": 0.0, "W": 0.0}
    rig.transport.assert_done()


def test_six_axis_move_pins_every_byte() -> None:
    rig = ready(
        (b"VMO? X 1.5 Y -2 Z 0.25 U 1 V -0.5 W 3\n", b"1\n"),
        (b"MOV X 1.5 Y -2 Z 0.25 U 1 V -0.5 W 3\n", None),
        ERR_OK,
    )
    rig.hexapod.start_move({"X": 1.5, "Y": -2.0, "Z": 0.25, "U": 1.0, "V": -0.5, "W": 3.0})
    rig.transport.assert_done()


def test_settling_inside_the_window_keeps_polling() -> None:
    rig = ready(*MOV_X10, (b"\x05", b"0\n"), (q("ONT?"), flags("101111")), ERR_OK, *ARRIVE)
    rig.hexapod.start_move({"X": 10.0})
    assert rig.hexapod.is_moving() is True
    assert rig.hexapod.is_moving() is False
    assert rig.hexapod.state == "ready"
    rig.transport.assert_done()


def test_unreachable_pose_is_refused_after_vmo_and_nothing_moves() -> None:
    rig = ready((b"VMO? X 10 U 15\n", b"0\n"))
    with pytest.raises(UnreachablePose, match=r"couch: pose X=10 U=15 is not reachable \(VMO\? answered 0\)"):
        rig.hexapod.start_move({"X": 10.0, "U": 15.0})
    assert rig.hexapod.state == "ready"
    rig.transport.assert_done()


def test_garbled_vmo_answer_is_a_protocol_error() -> None:
    rig = ready((b"VMO? X 10\n", b"yes\n"))
    with pytest.raises(ProtocolError, match="neither 0 nor 1"):
        rig.hexapod.start_move({"X": 10.0})


@pytest.mark.parametrize(
    ("targets", "match"),
    [
        ({"X": 50.001}, "axis X 50.001 mm is outside the travel"),
        ({"W": -30.5}, "axis W -30.5 deg"),
        ({"Z": float("nan")}, "axis Z nan mm"),
        ({"U": float("inf")}, "axis U inf deg"),
    ],
)
def test_target_outside_travel_sends_nothing(targets: dict[str, float], match: str) -> None:
    rig = ready()
    with pytest.raises(LimitViolation, match=match):
        rig.hexapod.start_move(targets)
    rig.transport.assert_done()


def test_unknown_or_missing_axes_send_nothing() -> None:
    rig = ready()
    with pytest.raises(ValueError, match="unknown axis 'A'"):
        rig.hexapod.start_move({"A": 1.0})
    with pytest.raises(ValueError, match="at least one axis"):
        rig.hexapod.start_move({})
    rig.transport.assert_done()


def test_error_7_from_the_controller_keeps_ready() -> None:
    rig = ready((b"VMO? X 10\n", b"1\n"), (b"MOV X 10\n", None), (b"ERR?\n", b"7\n"))
    with pytest.raises(GcsOutOfLimits, match="couch: command 'MOV X 10' rejected with GCS error 7"):
        rig.hexapod.start_move({"X": 10.0})
    assert rig.hexapod.state == "ready"
    rig.transport.assert_done()


def test_a_stop_from_elsewhere_ends_the_move_with_error_10() -> None:
    rig = ready(
        *MOV_X10,
        (b"\x05", b"0\n"),
        (q("ONT?"), flags("011111")),
        (b"ERR?\n", b"10\n"),
        (q("POS?"), floats(3, 0, 0, 0, 0, 0)),
    )
    rig.hexapod.start_move({"X": 10.0})
    with pytest.raises(GcsStopped, match="stopped by command"):
        rig.hexapod.wait_until_idle()
    assert rig.hexapod.state == "ready"
    assert rig.hexapod.last_target == {"X": 3.0, "Y": 0.0, "Z": 0.0, "U": 0.0, "V": 0.0, "W": 0.0}
    rig.transport.assert_done()


def test_error_5_means_the_reference_was_lost() -> None:
    """The controller's own answer to a MOV before FRF: the driver learns it was not referenced after all."""
    rig = ready((b"VMO? X 10\n", b"1\n"), (b"MOV X 10\n", None), (b"ERR?\n", b"5\n"))
    with pytest.raises(GcsNotReferenced, match="GCS error 5"):
        rig.hexapod.start_move({"X": 10.0})
    assert rig.hexapod.state == "connected"


def test_move_before_reference_is_illegal_and_sends_nothing() -> None:
    rig = unreferenced()
    with pytest.raises(IllegalStateError, match="couch: cannot move while in state 'connected'") as caught:
        rig.hexapod.start_move({"X": 1.0})
    assert (caught.value.action, caught.value.state) == ("move", "connected")
    rig.transport.assert_done()


def test_motion_error_1024_enters_fault_and_clear_fault_needs_a_new_reference() -> None:
    rig = ready(
        *MOV_X10,
        (b"\x05", b"0\n"),
        (q("ONT?"), flags("011111")),
        (b"ERR?\n", b"1024\n"),
        ERR_OK,
        (q("SVO?"), flags("000000")),
        (q("FRF?"), flags("111111")),
    )
    rig.hexapod.start_move({"X": 10.0})
    with pytest.raises(GcsMotionError, match="servo switched off"):
        rig.hexapod.wait_until_idle()
    assert rig.hexapod.state == "fault"
    with pytest.raises(IllegalStateError, match="cannot move while in state 'fault'"):
        rig.hexapod.start_move({"X": 0.0})
    rig.hexapod.clear_fault()
    assert rig.hexapod.state == "connected"
    rig.transport.assert_done()


def test_move_timeout_then_stp_latches_stopped_until_reset() -> None:
    rig = ready(
        *MOV_X10,
        *[(b"\x05", b"1\n")] * polls_until(0.1),
        (b"STP\n", None),
        (b"ERR?\n", b"10\n"),
        (b"\x05", b"1\n"),
        *STOPPED_AT_ZERO,
        (q("SVO?"), flags("111111")),
        (q("FRF?"), flags("111111")),
    )
    rig.hexapod.start_move({"X": 10.0})
    with pytest.raises(MotionTimeout, match=r"move not finished after 0.1 s .*state 'moving'"):
        rig.hexapod.wait_until_idle(timeout_s=0.1)
    rig.hexapod.stop()
    assert rig.hexapod.state == "stopped"
    assert rig.hexapod.last_position == rig.hexapod.last_target == dict.fromkeys(AXES, 0.0)
    with pytest.raises(IllegalStateError, match="cannot move while in state 'stopped'"):
        rig.hexapod.start_move({"X": 1.0})
    rig.hexapod.reset_stop()
    assert rig.hexapod.state == "ready"
    rig.transport.assert_done()


def test_stop_all_is_byte_24_then_err_10_and_latches() -> None:
    rig = ready(*MOV_X10, (b"\x18", None), (b"ERR?\n", b"10\n"), *STOPPED_AT_ZERO)
    rig.hexapod.start_move({"X": 10.0})
    rig.hexapod.stop_all()
    assert rig.hexapod.state == "stopped"
    rig.transport.assert_done()


def test_stop_all_latches_even_when_the_controller_is_silent() -> None:
    rig = ready((b"\x18", None), (b"ERR?\n", None))
    with pytest.raises(TransportTimeout):
        rig.hexapod.stop_all()
    assert rig.hexapod.state == "stopped"


def test_halt_while_moving_returns_to_ready_at_the_stop_pose() -> None:
    rig = ready(
        *MOV_X10,
        (b"HLT X Y Z U V W\n", None),
        (b"ERR?\n", b"10\n"),
        (b"\x05", b"0\n"),
        (q("POS?"), floats(4.2, 0, 0, 0, 0, 0)),
    )
    rig.hexapod.start_move({"X": 10.0})
    rig.hexapod.halt()
    assert rig.hexapod.state == "ready"
    assert rig.hexapod.last_target == {"X": 4.2, "Y": 0.0, "Z": 0.0, "U": 0.0, "V": 0.0, "W": 0.0}
    rig.transport.assert_done()


def test_halt_when_idle_may_latch_no_error() -> None:
    rig = ready((b"HLT X Y Z U V W\n", None), ERR_OK, *STOPPED_AT_ZERO)
    rig.hexapod.halt()
    assert rig.hexapod.state == "ready"
    rig.transport.assert_done()


def test_relative_move_checks_the_absolute_target_and_sends_mvr() -> None:
    rig = ready((b"VMO? X 5 W -2\n", b"1\n"), (b"MVR X 5 W -2\n", None), ERR_OK)
    rig.hexapod.start_move_relative({"X": 5.0, "W": -2.0})
    assert rig.hexapod.last_target == {"X": 5.0, "Y": 0.0, "Z": 0.0, "U": 0.0, "V": 0.0, "W": -2.0}
    rig.transport.assert_done()


def test_relative_move_beyond_travel_sends_nothing() -> None:
    rig = ready()
    with pytest.raises(LimitViolation, match="axis X 51 mm"):
        rig.hexapod.start_move_relative({"X": 51.0})
    rig.transport.assert_done()


# -- settings and readbacks ----------------------------------------------------------------------------
def test_velocity_pivot_help_ready_and_motion_mask() -> None:
    rig = ready(
        (b"VLS 20\n", None),
        ERR_OK,
        (b"VLS?\n", b"20.000000\n"),
        (b"SPI?\n", b"R=0.000000 \nS=0.000000 \nT=100.000000\n"),
        (
            b"HLP?\n",
            b"The following commands are available: \nMOV {<AxisID> <Position>} \nPOS? [{<AxisID>}] \n"
            b"end of help\n",
        ),
        (b"\x07", READY_BYTE),
        (b"\x05", b"5\n"),
        (q("ONT?"), flags("111111")),
        (q("MOV?"), ZERO),
        (q("SVO?"), flags("111111")),
        (q("FRF?"), flags("111111")),
    )
    hexapod = rig.hexapod
    hexapod.set_velocity(20.0)
    assert hexapod.velocity() == 20.0
    assert hexapod.pivot() == (0.0, 0.0, 100.0)
    assert hexapod.help_lines()[1] == "MOV {<AxisID> <Position>}"
    assert hexapod.is_ready() is True
    assert hexapod.moving_axes() == ("X", "Z")
    assert all(hexapod.on_target().values())
    assert hexapod.target() == dict.fromkeys(AXES, 0.0)
    assert all(hexapod.servo().values()) and all(hexapod.referenced().values())
    rig.transport.assert_done()


def test_velocity_errors() -> None:
    rig = ready((b"VLS 500\n", None), (b"ERR?\n", b"8\n"), *MOV_X10)
    with pytest.raises(GcsVelocityOutOfLimits):
        rig.hexapod.set_velocity(500.0)
    with pytest.raises(ValueError, match="positive"):
        rig.hexapod.set_velocity(-1.0)
    rig.hexapod.start_move({"X": 10.0})
    with pytest.raises(IllegalStateError, match="cannot set the velocity while in state 'moving'"):
        rig.hexapod.set_velocity(10.0)


def test_pivot_refused_while_rotated_is_error_9() -> None:
    rig = ready((b"SPI R 0 S 0 T 100\n", None), (b"ERR?\n", b"9\n"))
    with pytest.raises(GcsPivotError, match="U, V and W are not all 0"):
        rig.hexapod.set_pivot(0.0, 0.0, 100.0)
    rig.transport.assert_done()


def test_servo_off_leaves_ready() -> None:
    rig = ready((b"SVO X 0 Y 0 Z 0 U 0 V 0 W 0\n", None), ERR_OK)
    rig.hexapod.set_servo(False)
    assert rig.hexapod.state == "connected"
    rig.transport.assert_done()


def test_garbled_position_is_reported_and_the_next_query_reads_its_own_reply() -> None:
    rig = ready(
        (q("POS?"), b"X=1.0 \nY=2.0 \nZ=oops \nU=0 \nV=0 \nW=0\n"),
        ERR_OK,
        (q("POS?"), floats(1, 2, 3, 0, 0, 0)),
    )
    with pytest.raises(
        ProtocolError, match=r"couch: 'oops' is not a number; command b'POS\? X Y Z U V W\\n'"
    ):
        rig.hexapod.position()
    assert rig.hexapod.position()["Z"] == 3.0
    rig.transport.assert_done()


def test_silent_position_query_times_out() -> None:
    rig = ready((q("POS?"), None), ERR_OK)
    with pytest.raises(TransportTimeout, match=r"POS\? X Y Z U V W"):
        rig.hexapod.position()
    rig.transport.assert_done()


# -- the state machine as data -------------------------------------------------------------------------
def test_every_state_is_reachable_and_every_edge_uses_known_states() -> None:
    destinations = {edge["dest"] for edge in TRANSITIONS}
    assert destinations == set(STATES)
    for edge in TRANSITIONS:
        sources = [edge["source"]] if isinstance(edge["source"], str) else edge["source"]
        assert set(sources) <= set(STATES)


def test_illegal_calls_name_the_action_and_the_state() -> None:
    rig = Rig([])
    for call, action in [
        (lambda: rig.hexapod.position(), "read the position"),
        (lambda: rig.hexapod.start_move({"X": 1.0}), "move"),
        (lambda: rig.hexapod.reference(), "reference"),
        (lambda: rig.hexapod.halt(), "halt"),
        (lambda: rig.hexapod.stop_all(), "stop all"),
        (lambda: rig.hexapod.travel(), "read the travel"),
    ]:
        with pytest.raises(IllegalStateError, match=f"couch: cannot {action} while in state 'disconnected'"):
            call()
    rig.transport.assert_done()


def test_reference_or_move_while_moving_is_illegal() -> None:
    rig = ready(*MOV_X10)
    rig.hexapod.start_move({"X": 10.0})
    with pytest.raises(IllegalStateError, match="cannot reference while in state 'moving'"):
        rig.hexapod.reference()
    with pytest.raises(IllegalStateError, match="cannot move while in state 'moving'"):
        rig.hexapod.start_move({"X": 0.0})
    with pytest.raises(IllegalStateError, match="cannot reset the stop while in state 'moving'"):
        rig.hexapod.reset_stop()
    rig.transport.assert_done()


def test_close_is_idempotent_and_sends_nothing() -> None:
    rig = ready()
    rig.hexapod.close()
    rig.hexapod.close()
    assert rig.hexapod.state == "disconnected"
    assert not rig.transport.closed
    rig.transport.assert_done()


def test_docs_state_diagram_lists_every_transition() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "drivers" / "pi-gcs.md").read_text(encoding="utf-8")
    diagram = doc.split("```mermaid", 1)[1].split("```", 1)[0]
    drawn = set(re.findall(r"^\s*(\w+) --> (\w+) : (\w+)", diagram, flags=re.MULTILINE))
    expected: set[tuple[str, str, str]] = set()
    for edge in TRANSITIONS:
        sources = [edge["source"]] if isinstance(edge["source"], str) else edge["source"]
        expected.update((source, edge["dest"], edge["trigger"]) for source in sources)
    # disconnect leaves every online state; the diagram draws it once, from "online".
    everywhere = {edge for edge in expected if edge[2] == "disconnect"}
    assert drawn - expected == {("online", "disconnected", "disconnect")}
    assert expected - drawn == everywhere
