"""ZaberAxis against scripted bytes: connect, home, moves, stops, faults and the state machine's guards.

The stage in these scripts is a 304.8 mm axis with 0.1 µm microsteps (limit.max = 3 048 000) and a
0.5 µm linear encoder. Polling waits run on ``FakeClock``, so no test sleeps.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from drivers.clock import FAST_POLL_S, next_poll_delay
from drivers.errors import (
    DeviceFault,
    DeviceRejected,
    IllegalStateError,
    LimitViolation,
    ProtocolError,
    TransportTimeout,
)
from drivers.roles.positioner import AxisPositioner
from drivers.transport.expected import ExpectedProtocolTransport
from drivers.zaber import STATES, TRANSITIONS, MotionTimeout, ZaberAxis, ZaberConnection

Script = list[tuple[bytes | None, bytes | None]]


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


def ok(data: str = "0", status: str = "IDLE", flag: str = "--") -> bytes:
    return f"@01 1 OK {status} {flag} {data}\r\n".encode()


def device_ok(data: str, flag: str = "--") -> bytes:
    """A reply from axis 0 (the whole device): where device-scope settings are answered."""
    return f"@01 0 OK IDLE {flag} {data}\r\n".encode()


def identity_steps(flag: str = "--") -> Script:
    """The identity exchange that ends every connect: device-scope settings on axis 0."""
    return [
        (b"/1 0 get deviceid\n", device_ok("50081", flag)),
        (b"/1 0 get system.serial\n", device_ok("41234", flag)),
        (b"/1 0 get version\n", device_ok("7.32", flag)),
        (b"/1 0 get version.build\n", device_ok("12345", flag)),
    ]


STATUS = b"/1 1\n"
IDLE = ok()
BUSY = ok(status="BUSY")

CONNECT_REFERENCED: Script = [
    (STATUS, IDLE),
    (b"/1 1 warnings\n", ok("00")),
    (b"/1 1 get limit.min\n", ok("0")),
    (b"/1 1 get limit.max\n", ok("3048000")),
    *identity_steps(),
]
CONNECT_UNREFERENCED: Script = [
    (STATUS, ok(flag="WR")),
    (b"/1 1 warnings\n", ok("01 WR", flag="WR")),
    (b"/1 1 get limit.min\n", ok("0", flag="WR")),
    (b"/1 1 get limit.max\n", ok("3048000", flag="WR")),
    *identity_steps("WR"),
]


#: What the first move after connect asks before ``move abs``: where the axis is and its motion profile
#: (10 mm/s, 100.1 mm/s² at 0.1 µm microsteps), from which the wait is planned.
FIRST_MOVE: Script = [
    (b"/1 1 get pos\n", ok("0")),
    (b"/1 1 get maxspeed\n", ok("163840")),
    (b"/1 1 get accel\n", ok("164")),
]


def polls_until(deadline_s: float, slow_s: float = 0.05) -> int:
    """How many status queries an unplanned wait makes before ``deadline_s`` on the virtual clock."""
    now, polls = 0.0, 0
    while now < deadline_s:
        now += min(next_poll_delay(now, 0.0, None, slow_s), deadline_s - now)
        polls += 1
    return polls


class Rig:
    def __init__(self, script: Script, *, encoder: float | None = 0.5, **options: bool) -> None:
        self.transport = ExpectedProtocolTransport(script, device="zaber-chain")
        self.clock = FakeClock()
        self.axis = ZaberAxis(
            ZaberConnection(self.transport, **options),
            name="phantom-x",
            address=1,
            axis=1,
            microstep_size_um=0.1,
            encoder_count_size_um=encoder,
            clock=self.clock,
        )


def ready(*script: tuple[bytes | None, bytes | None], **kw: bool) -> Rig:
    rig = Rig([*CONNECT_REFERENCED, *script], **kw)
    rig.axis.connect()
    assert rig.axis.state == "ready"
    return rig


def unreferenced(*script: tuple[bytes | None, bytes | None]) -> Rig:
    rig = Rig([*CONNECT_UNREFERENCED, *script])
    rig.axis.connect()
    assert rig.axis.state == "connected"
    return rig


# -- construction and connect --------------------------------------------------------------------------
def test_construction_sends_nothing_and_satisfies_the_role() -> None:
    rig = Rig([])
    assert isinstance(rig.axis, AxisPositioner)
    assert rig.axis.state == "disconnected"
    rig.transport.assert_done()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"address": 0},
        {"axis": 0},
        {"microstep_size_um": 0.0},
        {"encoder_count_size_um": -1.0},
        {"poll_interval_s": 0},
    ],
)
def test_bad_construction_arguments(kwargs: dict[str, float]) -> None:
    args: dict[str, object] = {
        "name": "x",
        "address": 1,
        "axis": 1,
        "microstep_size_um": 0.1,
        "clock": FakeClock(),
    }
    args.update(kwargs)
    with pytest.raises(ValueError):
        ZaberAxis(ZaberConnection(ExpectedProtocolTransport([])), **args)  # type: ignore[arg-type]


def test_connect_referenced_axis_is_ready_with_travel_in_mm() -> None:
    rig = ready()
    assert rig.axis.travel_mm() == pytest.approx((0.0, 304.8))
    rig.transport.assert_done()


def test_connect_unreferenced_axis_is_connected() -> None:
    rig = unreferenced()
    rig.transport.assert_done()


def test_connect_while_the_device_is_moving() -> None:
    rig = Rig([(STATUS, BUSY), *CONNECT_REFERENCED[1:]])
    rig.axis.connect()
    assert rig.axis.state == "moving"


def test_connect_to_a_faulted_device_enters_fault_and_raises() -> None:
    rig = Rig(
        [
            (STATUS, ok(flag="FS")),
            (b"/1 1 warnings\n", ok("02 FS WR", flag="FS")),
            (b"/1 1 get limit.min\n", ok("0", flag="FS")),
            (b"/1 1 get limit.max\n", ok("3048000", flag="FS")),
            *identity_steps("FS"),
        ]
    )
    with pytest.raises(DeviceFault, match="phantom-x: device fault FS"):
        rig.axis.connect()
    assert rig.axis.state == "fault"
    assert rig.axis.travel_mm() == pytest.approx((0.0, 304.8))


def test_connect_twice_is_illegal() -> None:
    rig = ready()
    with pytest.raises(IllegalStateError, match="cannot connect while in state 'ready'"):
        rig.axis.connect()


def test_connect_with_message_ids_and_checksums() -> None:
    rig = Rig(
        [
            (b"/1 1 00:FE\n", b"@01 1 00 OK IDLE -- 0:0C\r\n"),
            (b"/1 1 01 warnings:74\n", b"@01 1 01 OK IDLE -- 00:DB\r\n"),
            (b"/1 1 02 get limit.min:EB\n", b"@01 1 02 OK IDLE -- 0:0A\r\n"),
            (b"/1 1 03 get limit.max:E8\n", b"@01 1 03 OK IDLE -- 3048000:DA\r\n"),
            (b"/1 0 04 get deviceid:3E\n", b"@01 0 04 OK IDLE -- 50081:3B\r\n"),
            (b"/1 0 05 get system.serial:27\n", b"@01 0 05 OK IDLE -- 41234:3A\r\n"),
            (b"/1 0 06 get version:73\n", b"@01 0 06 OK IDLE -- 7.32:6D\r\n"),
            (b"/1 0 07 get version.build:34\n", b"@01 0 07 OK IDLE -- 12345:37\r\n"),
        ],
        checksums=True,
        message_ids=True,
    )
    rig.axis.connect()
    assert rig.axis.state == "ready"
    rig.transport.assert_done()


# -- homing ------------------------------------------------------------------------------------------
def test_home_polls_on_the_clock_until_idle_then_checks_the_reference() -> None:
    rig = unreferenced(
        (b"/1 1 home\n", ok(status="BUSY", flag="WR")),
        (STATUS, ok(status="BUSY", flag="WR")),
        (STATUS, ok(status="BUSY")),
        (STATUS, IDLE),
        (b"/1 1 warnings\n", ok("00")),
    )
    rig.axis.home()
    assert rig.axis.state == "ready"
    # homing has no planned arrival: the first look comes fast, later ones back off (never above 50 ms)
    assert rig.clock.sleeps[0] == pytest.approx(FAST_POLL_S)
    assert len(rig.clock.sleeps) == 3 and max(rig.clock.sleeps) <= 0.05
    rig.transport.assert_done()


def test_home_that_leaves_the_axis_unreferenced_raises() -> None:
    rig = unreferenced(
        (b"/1 1 home\n", ok(status="BUSY", flag="WR")),
        (STATUS, ok(flag="WR")),
        (b"/1 1 warnings\n", ok("01 WR", flag="WR")),
    )
    with pytest.raises(DeviceFault, match="still unreferenced"):
        rig.axis.home()
    assert rig.axis.state == "connected"


def test_stuck_busy_times_out_on_virtual_time_and_stop_ends_homing() -> None:
    rig = unreferenced(
        (b"/1 1 home\n", ok(status="BUSY", flag="WR")),
        *[(STATUS, ok(status="BUSY", flag="WR"))] * polls_until(0.1),
        (b"/1 1 stop\n", ok(flag="WR")),
    )
    with pytest.raises(MotionTimeout, match=r"phantom-x: home still busy after 0\.1 s") as caught:
        rig.axis.home(timeout_s=0.1)
    assert caught.value.last_reply == ok(status="BUSY", flag="WR")
    assert rig.clock.now() == pytest.approx(0.1)
    assert rig.axis.state == "homing"
    rig.axis.stop()
    assert rig.axis.state == "connected"
    rig.transport.assert_done()


def test_home_fault_during_polling() -> None:
    rig = unreferenced((b"/1 1 home\n", ok(status="BUSY", flag="WR")), (STATUS, ok(flag="FS")))
    with pytest.raises(DeviceFault, match="FS: stalled and stopped; reported in reply to ''"):
        rig.axis.home()
    assert rig.axis.state == "fault"


# -- moves -------------------------------------------------------------------------------------------
def test_move_to_sends_move_abs_and_polls_busy_to_idle() -> None:
    rig = ready(
        *FIRST_MOVE,
        (b"/1 1 move abs 50000\n", BUSY),
        (STATUS, BUSY),
        (STATUS, IDLE),
    )
    rig.axis.move_to(5.0)
    assert rig.axis.state == "ready"
    # 5 mm at 10 mm/s and 100.1 mm/s²: 0.5999 s; first look 1.6 ms before, the next just after
    assert rig.clock.sleeps == pytest.approx([0.5999 - 0.0016, 0.0016 + 1e-4], abs=1e-4)
    rig.transport.assert_done()


def test_start_move_rounds_to_the_nearest_microstep_and_is_moving_settles() -> None:
    rig = ready(*FIRST_MOVE, (b"/1 1 move abs 123457\n", BUSY), (STATUS, BUSY), (STATUS, IDLE))
    rig.axis.start_move_to(12.34567)
    assert rig.axis.state == "moving"
    assert rig.axis.is_moving() is True
    assert rig.axis.is_moving() is False
    assert rig.axis.state == "ready"
    rig.transport.assert_done()


@pytest.mark.parametrize("target", [304.80006, -0.001, 1e9, math.nan, math.inf])
def test_target_outside_travel_sends_nothing(target: float) -> None:
    rig = ready()  # the script ends after connect: any write would fail the test
    with pytest.raises(LimitViolation, match=r"phantom-x: target .* outside the travel .*nothing was sent"):
        rig.axis.start_move_to(target)
    assert rig.axis.state == "ready"
    rig.transport.assert_done()


def test_target_on_the_limit_after_rounding_is_allowed() -> None:
    rig = ready(*FIRST_MOVE, (b"/1 1 move abs 3048000\n", BUSY))
    rig.axis.start_move_to(304.80004)
    rig.transport.assert_done()


def test_move_relative_reads_pos_then_moves_absolute() -> None:
    rig = ready(
        (b"/1 1 get pos\n", ok("7500")),
        *FIRST_MOVE[1:],
        (b"/1 1 move abs 107500\n", BUSY),
        (STATUS, IDLE),
    )
    rig.axis.move_relative(10.0)
    assert rig.axis.state == "ready"
    rig.transport.assert_done()


def test_move_relative_beyond_travel_sends_only_the_position_read() -> None:
    rig = ready((b"/1 1 get pos\n", ok("7500")))
    with pytest.raises(LimitViolation):
        rig.axis.move_relative(-1.0)
    rig.transport.assert_done()


@pytest.mark.parametrize("delta", [math.nan, math.inf])
def test_non_finite_relative_move_sends_nothing(delta: float) -> None:
    rig = ready()
    with pytest.raises(LimitViolation):
        rig.axis.move_relative(delta)
    rig.transport.assert_done()


def test_device_rejection_leaves_the_axis_ready() -> None:
    rig = ready(*FIRST_MOVE, (b"/1 1 move abs 10000\n", b"@01 1 RJ IDLE -- STATUSBUSY\r\n"))
    with pytest.raises(DeviceRejected, match="rejected with STATUSBUSY"):
        rig.axis.start_move_to(1.0)
    assert rig.axis.state == "ready"


def test_fault_during_a_move_enters_fault() -> None:
    rig = ready(*FIRST_MOVE, (b"/1 1 move abs 10000\n", BUSY), (STATUS, ok(flag="FS")))
    with pytest.raises(DeviceFault, match="device fault FS"):
        rig.axis.move_to(1.0)
    assert rig.axis.state == "fault"


def test_unexpected_limit_trigger_during_a_move_is_a_fault_not_an_arrival() -> None:
    """WL is a warning, but the move stopped at a tripped limit sensor: its position is not the target."""
    rig = ready(*FIRST_MOVE, (b"/1 1 move abs 10000\n", BUSY), (STATUS, ok(flag="WL")))
    with pytest.raises(DeviceFault, match="WL: unexpected limit trigger: the motion stopped short"):
        rig.axis.move_to(1.0)
    assert rig.axis.state == "fault"


# -- guards ------------------------------------------------------------------------------------------
def test_illegal_calls_name_the_action_and_the_state() -> None:
    rig = Rig([])
    with pytest.raises(IllegalStateError, match="phantom-x: cannot move while in state 'disconnected'"):
        rig.axis.start_move_to(1.0)
    with pytest.raises(IllegalStateError, match="cannot read position while in state 'disconnected'"):
        rig.axis.position_mm()
    with pytest.raises(IllegalStateError, match="disconnected"):
        rig.axis.travel_mm()
    rig.transport.assert_done()


def test_move_while_unreferenced_is_illegal() -> None:
    rig = unreferenced()
    with pytest.raises(IllegalStateError, match="cannot move while in state 'connected'") as caught:
        rig.axis.move_to(1.0)
    assert (caught.value.action, caught.value.state) == ("move", "connected")
    with pytest.raises(IllegalStateError):
        rig.axis.move_relative(1.0)
    rig.transport.assert_done()


def test_home_or_move_while_moving_is_illegal() -> None:
    rig = ready(*FIRST_MOVE, (b"/1 1 move abs 10000\n", BUSY))
    rig.axis.start_move_to(1.0)
    with pytest.raises(IllegalStateError, match="cannot home while in state 'moving'"):
        rig.axis.home()
    with pytest.raises(IllegalStateError, match="cannot move while in state 'moving'"):
        rig.axis.start_move_to(2.0)
    with pytest.raises(IllegalStateError, match="cannot reset the emergency stop while in state 'moving'"):
        rig.axis.reset_estop()
    rig.transport.assert_done()


def test_close_is_idempotent_and_sends_nothing() -> None:
    rig = ready()
    rig.axis.close()
    rig.axis.close()
    assert rig.axis.state == "disconnected"
    assert not rig.transport.closed  # the chain stays open for the other axes
    rig.transport.assert_done()


# -- stop and estop ----------------------------------------------------------------------------------
def test_stop_while_moving_returns_to_ready() -> None:
    rig = ready(*FIRST_MOVE, (b"/1 1 move abs 10000\n", BUSY), (b"/1 1 stop\n", ok(status="BUSY", flag="NI")))
    rig.axis.start_move_to(1.0)
    rig.axis.stop()
    assert rig.axis.state == "ready"
    rig.transport.assert_done()


def test_stop_reply_with_fault_records_it_without_raising() -> None:
    rig = ready((b"/1 1 stop\n", ok(flag="FS")))
    rig.axis.stop()
    assert rig.axis.state == "fault"


def test_estop_latches_until_home() -> None:
    rig = ready(
        *FIRST_MOVE,
        (b"/1 1 move abs 10000\n", BUSY),
        (b"/1 1 estop\n", IDLE),
        (b"/1 1 home\n", BUSY),
        (STATUS, IDLE),
        (b"/1 1 warnings\n", ok("00")),
    )
    rig.axis.start_move_to(1.0)
    rig.axis.emergency_stop()
    assert rig.axis.state == "estopped"
    with pytest.raises(IllegalStateError, match="cannot move while in state 'estopped'"):
        rig.axis.start_move_to(2.0)
    rig.axis.home()
    assert rig.axis.state == "ready"
    rig.transport.assert_done()


@pytest.mark.parametrize(("warnings", "state"), [(ok("00"), "ready"), (ok("01 WR", flag="WR"), "connected")])
def test_reset_estop_rereads_warnings(warnings: bytes, state: str) -> None:
    rig = ready((b"/1 1 estop\n", IDLE), (b"/1 1 warnings\n", warnings))
    rig.axis.emergency_stop()
    rig.axis.reset_estop()
    assert rig.axis.state == state
    rig.transport.assert_done()


def test_reset_estop_with_a_fault_present_enters_fault() -> None:
    rig = ready((b"/1 1 estop\n", ok(flag="FH")), (b"/1 1 warnings\n", ok("01 FH", flag="FH")))
    rig.axis.emergency_stop()
    assert rig.axis.state == "estopped"  # a fault seen while estopped does not unlatch it
    with pytest.raises(DeviceFault, match="FH"):
        rig.axis.reset_estop()
    assert rig.axis.state == "fault"


def test_rejected_estop_falls_back_to_stop_latches_and_reraises() -> None:
    rig = ready((b"/1 1 estop\n", b"@01 1 RJ IDLE -- BADCOMMAND\r\n"), (b"/1 1 stop\n", IDLE))
    with pytest.raises(DeviceRejected, match="BADCOMMAND"):
        rig.axis.emergency_stop()
    assert rig.axis.state == "estopped"
    rig.transport.assert_done()


def test_estop_latches_even_when_the_device_is_silent() -> None:
    rig = ready((b"/1 1 estop\n", None))
    with pytest.raises(TransportTimeout):
        rig.axis.emergency_stop()
    assert rig.axis.state == "estopped"


# -- readbacks ---------------------------------------------------------------------------------------
def test_position_and_encoder_in_mm() -> None:
    rig = ready(
        (b"/1 1 get pos\n", ok("7500")),
        (b"/1 1 get encoder.pos\n", ok("7505")),  # encoder reading in microstep units
        (b"/1 1 get encoder.count\n", ok("1501")),  # raw counts of 0.5 µm
    )
    assert rig.axis.position_mm() == pytest.approx(0.75)
    assert rig.axis.encoder_position_mm() == pytest.approx(0.7505)
    assert rig.axis.encoder_count_mm() == pytest.approx(0.7505)
    rig.transport.assert_done()


def test_no_encoder_means_none_and_no_bytes() -> None:
    rig = Rig(CONNECT_REFERENCED, encoder=None)
    rig.axis.connect()
    assert rig.axis.encoder_position_mm() is None
    assert rig.axis.encoder_count_mm() is None
    rig.transport.assert_done()


def test_fault_flag_on_a_position_read_enters_fault_once() -> None:
    rig = ready((b"/1 1 get pos\n", ok("7500", flag="FQ")), (b"/1 1 get pos\n", ok("7500", flag="FQ")))
    with pytest.raises(DeviceFault, match="encoder error"):
        rig.axis.position_mm()
    assert rig.axis.state == "fault"
    assert rig.axis.position_mm() == pytest.approx(0.75)  # known fault: reading stays possible


def test_fault_alert_for_this_axis_enters_fault() -> None:
    rig = ready((b"/1 1 get pos\n", b"!01 1 IDLE FS\r\n" + ok("7500")))
    with pytest.raises(DeviceFault, match="FS"):
        rig.axis.position_mm()
    assert rig.axis.state == "fault"


def test_alert_for_another_axis_is_ignored() -> None:
    rig = ready((b"/1 1 get pos\n", b"!01 2 IDLE FS\r\n" + ok("7500")))
    assert rig.axis.position_mm() == pytest.approx(0.75)
    assert rig.axis.state == "ready"


def test_non_integer_position_is_a_protocol_error_naming_the_axis() -> None:
    rig = ready((b"/1 1 get pos\n", ok("7500 7600")))
    with pytest.raises(ProtocolError, match="phantom-x: expected one integer") as caught:
        rig.axis.position_mm()
    assert caught.value.reply == ok("7500 7600")


def test_garbled_and_silent_replies_through_the_axis() -> None:
    rig = ready((b"/1 1 get pos\n", b"@01 1 OK IDLE\r\n"), (b"/1 1 get pos\n", None))
    with pytest.raises(ProtocolError, match="phantom-x: reply has too few fields"):
        rig.axis.position_mm()
    with pytest.raises(TransportTimeout, match=r"zaber-chain: timed out .*get pos"):
        rig.axis.position_mm()
    rig.transport.assert_done()


# -- settings and warnings ---------------------------------------------------------------------------
def test_get_and_set_settings() -> None:
    rig = ready(
        (b"/1 1 get maxspeed\n", ok("153600")),
        (b"/1 1 set maxspeed 163840\n", IDLE),
        (b"/1 1 set knob.enable 0\n", IDLE),
        (b"/1 1 set cloop.settle.period 2.5\n", IDLE),
        (b"/1 1 set foo 1\n", b"@01 1 RJ IDLE -- BADCOMMAND\r\n"),
        (b"/1 1 set maxspeed -5\n", b"@01 1 RJ IDLE -- BADDATA\r\n"),
    )
    axis = rig.axis
    assert axis.get_setting("maxspeed") == "153600"
    axis.set_setting("maxspeed", 163840)
    axis.set_setting("knob.enable", False)
    axis.set_setting("cloop.settle.period", 2.5)
    with pytest.raises(DeviceRejected, match="BADCOMMAND"):
        axis.set_setting("foo", "1")
    with pytest.raises(DeviceRejected, match="BADDATA"):
        axis.set_setting("maxspeed", -5)
    rig.transport.assert_done()


@pytest.mark.parametrize(
    ("name", "value"), [("Max Speed", 1), ("", 1), ("maxspeed", "1 2"), ("maxspeed", "1:2"), ("x", math.nan)]
)
def test_bad_setting_names_and_values_send_nothing(name: str, value: str | float) -> None:
    rig = ready()
    with pytest.raises(ValueError):
        rig.axis.set_setting(name, value)
    rig.transport.assert_done()


def test_speed_and_acceleration_in_mm() -> None:
    rig = ready(
        (b"/1 1 get maxspeed\n", ok("163840")),
        (b"/1 1 set maxspeed 163840\n", IDLE),
        (b"/1 1 get accel\n", ok("164")),
        (b"/1 1 set accel 164\n", IDLE),
    )
    assert rig.axis.max_speed_mm_s() == pytest.approx(10.0)
    rig.axis.set_max_speed_mm_s(10.0)
    assert rig.axis.acceleration_mm_s2() == pytest.approx(100.0, rel=1e-3)
    rig.axis.set_acceleration_mm_s2(100.0)
    rig.transport.assert_done()


def test_warnings_lists_all_flags_and_records_a_fault_without_raising() -> None:
    rig = ready((b"/1 1 warnings\n", ok("02 NI WT", flag="WT")), (b"/1 1 warnings\n", ok("01 FS", flag="FS")))
    assert rig.axis.warnings() == ("NI", "WT")
    assert rig.axis.state == "ready"
    assert rig.axis.warnings() == ("FS",)
    assert rig.axis.state == "fault"


def test_warnings_showing_lost_reference_drops_ready_to_connected() -> None:
    rig = ready((b"/1 1 warnings\n", ok("01 WR", flag="WR")))
    assert rig.axis.warnings() == ("WR",)
    assert rig.axis.state == "connected"


@pytest.mark.parametrize(("remaining", "state"), [(ok("00"), "ready"), (ok("01 WR", flag="WR"), "connected")])
def test_clear_warnings_leaves_fault(remaining: bytes, state: str) -> None:
    rig = ready(
        (b"/1 1 get pos\n", ok("0", flag="FS")),
        (b"/1 1 warnings clear\n", ok("01 FS", flag="FS")),
        (b"/1 1 warnings\n", remaining),
    )
    with pytest.raises(DeviceFault):
        rig.axis.position_mm()
    with pytest.raises(IllegalStateError, match="cannot move while in state 'fault'"):
        rig.axis.start_move_to(1.0)
    assert rig.axis.clear_warnings() == (() if state == "ready" else ("WR",))
    assert rig.axis.state == state
    rig.transport.assert_done()


def test_clear_warnings_that_leaves_a_fault_stays_in_fault() -> None:
    rig = ready(
        (b"/1 1 warnings\n", ok("01 FH", flag="FH")),
        (b"/1 1 warnings clear\n", ok("01 FH", flag="FH")),
        (b"/1 1 warnings\n", ok("01 FH", flag="FH")),
    )
    rig.axis.warnings()
    assert rig.axis.clear_warnings() == ("FH",)
    assert rig.axis.state == "fault"


def test_garbled_warnings_reply_is_a_protocol_error() -> None:
    rig = ready((b"/1 1 warnings\n", ok("03 WR")))
    with pytest.raises(ProtocolError, match="count followed by flags"):
        rig.axis.warnings()


# -- documentation stays in step with the table ------------------------------------------------------
def test_docs_state_diagram_lists_every_transition() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "drivers" / "zaber-ascii.md").read_text()
    diagram = doc.split("```mermaid", 1)[1].split("```", 1)[0]
    drawn = set(re.findall(r"^\s*(\w+) --> (\w+) : (\w+)", diagram, flags=re.MULTILINE))
    expected: set[tuple[str, str, str]] = set()
    for edge in TRANSITIONS:
        sources = [edge["source"]] if isinstance(edge["source"], str) else edge["source"]
        expected.update((source, edge["dest"], edge["trigger"]) for source in sources)
    # estop and disconnect leave every online state; the diagram draws them once, from "online".
    everywhere = {edge for edge in expected if edge[2] in ("estop", "disconnect")}
    assert drawn - expected == {("online", "estopped", "estop"), ("online", "disconnected", "disconnect")}
    assert expected - drawn == everywhere
    assert set(STATES) <= {state for edge in drawn for state in edge[:2]}


@pytest.mark.parametrize(
    ("setting", "data"),
    [
        ("pos", "9" * 400),  # int() fine, then OverflowError on the way to mm
        ("pos", "9" * 5000),  # past Python's 4300-digit int limit: ValueError in int()
        ("pos", "1_000"),  # int() would accept the separator
        ("pos", "-" + "1" * 20),
        ("maxspeed", "9" * 400),
    ],
)
def test_oversized_or_loose_integers_are_protocol_errors(setting: str, data: str) -> None:
    rig = ready((f"/1 1 get {setting}\n".encode(), ok(data)))
    read = rig.axis.position_mm if setting == "pos" else rig.axis.max_speed_mm_s
    with pytest.raises(ProtocolError, match="phantom-x: expected one integer"):
        read()
