"""The Zaber ASCII front-end, byte for byte: framing, replies, settings, rejections, flags, alerts.

The ``chain`` fixture is device 1 with one ideal 0–300 mm axis powered up at 10 mm (64000 microsteps),
serial 4242. Homing from there takes 1.1 s of virtual time; 100 mm takes 5.2 s.
"""

from __future__ import annotations

import pytest

from simulators.clock import VirtualClock
from simulators.stage import StageConfig
from simulators.world import World
from simulators.zaber import ZaberChainSimulator, ZaberDeviceSim, lrc


def ask(chain: ZaberChainSimulator, command: str) -> bytes:
    return chain.feed(command.encode() + b"\r\n")


def homed(chain: ZaberChainSimulator, clock: VirtualClock) -> ZaberChainSimulator:
    assert ask(chain, "/1 0 home") == b"@01 0 OK BUSY WR 0\r\n"
    clock.sleep(1.1)
    assert ask(chain, "/1 0") == b"@01 0 OK IDLE -- 0\r\n"
    return chain


# ------------------------------------------------------------------------------------------- framing
@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n", b"\n\r", b"\r\n\r\n"])
def test_any_line_ending_gives_exactly_one_reply(chain: ZaberChainSimulator, ending: bytes) -> None:
    assert chain.feed(b"/1 0" + ending) == b"@01 0 OK IDLE WR 0\r\n"


def test_partial_lines_are_buffered(chain: ZaberChainSimulator) -> None:
    assert chain.feed(b"/1 0 get p") == b""
    assert chain.feed(b"os\r") == b"@01 0 OK IDLE WR 64000\r\n"
    assert chain.feed(b"\n") == b""  # the LF of a CRLF is not a second command
    assert chain.feed(b"/1 0 get pos\n/1 0 get limit.max\n") == (
        b"@01 0 OK IDLE WR 64000\r\n@01 0 OK IDLE WR 1920000\r\n"
    )


def test_noise_and_overlong_lines_are_ignored(chain: ZaberChainSimulator) -> None:
    assert chain.feed(b"hello\r\n@01 0 OK IDLE -- 0\r\n") == b""
    assert chain.feed(b"x" * 5000) == b""
    assert chain.feed(b"/1 0\n") == b"@01 0 OK IDLE WR 0\r\n"  # the junk was dropped, not prepended


def test_sessions_buffer_independently(chain: ZaberChainSimulator) -> None:
    first, second = chain.session(), chain.session()
    assert first.feed(b"/1 0 get p") == b""
    assert second.feed(b"/1 0\n") == b"@01 0 OK IDLE WR 0\r\n"
    assert first.feed(b"os\n") == b"@01 0 OK IDLE WR 64000\r\n"


# ------------------------------------------------------------------------------------------- ids, checksums
def test_message_ids_are_echoed_as_two_digits(chain: ZaberChainSimulator) -> None:
    assert ask(chain, "/1 0 7 get pos") == b"@01 0 07 OK IDLE WR 64000\r\n"
    assert ask(chain, "/1 0 42") == b"@01 0 42 OK IDLE WR 0\r\n"
    assert ask(chain, "/1 0 123 get pos") == b"@01 0 123 RJ IDLE WR BADMESSAGEID\r\n"


def test_checksummed_command_gets_checksummed_reply(chain: ZaberChainSimulator, clock: VirtualClock) -> None:
    homed(chain, clock)
    ask(chain, "/1 0 move abs 7500")
    clock.sleep(1.0)
    # The exact exchange zaber-motion 10.3.0 produced and accepted when we tried it against a fake device.
    assert ask(chain, "/1 0 00 get pos:2D") == b"@01 0 00 OK IDLE -- 7500:71\r\n"
    assert ask(chain, "/1 0 00 get pos:2E") == b""  # corrupted: dropped, no reply at all
    assert ask(chain, "/1 0 get pos") == b"@01 0 OK IDLE -- 7500\r\n"


def test_comm_checksum_setting_adds_checksums(chain: ZaberChainSimulator) -> None:
    body = b"01 0 OK IDLE WR 0"
    assert ask(chain, "/1 0 set comm.checksum 1") == b"@" + body + b":" + lrc(body).encode() + b"\r\n"
    body = b"01 0 OK IDLE WR 1"
    assert ask(chain, "/1 0 get comm.checksum") == b"@" + body + b":" + lrc(body).encode() + b"\r\n"


# ------------------------------------------------------------------------------------------- addressing
@pytest.fixture
def two_devices(world: World) -> ZaberChainSimulator:
    """Device 1: axes a, b; device 2 (id 50082): axis c. All powered up at 10 mm."""
    for name in "abc":
        world.add_stage(name, StageConfig(power_on_position_mm=10.0))
    return ZaberChainSimulator(
        world,
        {2: ZaberDeviceSim(["c"], device_id=50082, serial=2), 1: ZaberDeviceSim(["a", "b"], serial=1)},
    )


def test_broadcasts_are_answered_by_every_device_in_address_order(two_devices: ZaberChainSimulator) -> None:
    assert ask(two_devices, "/0 0 get device.id") == b"@01 0 OK IDLE WR 50081\r\n@02 0 OK IDLE WR 50082\r\n"
    assert ask(two_devices, "/") == b"@01 0 OK IDLE WR 0\r\n@02 0 OK IDLE WR 0\r\n"
    serials = b"@01 0 05 OK IDLE WR 1\r\n@02 0 05 OK IDLE WR 2\r\n"
    assert ask(two_devices, "/0 0 05 get system.serial") == serials


def test_absent_address_gets_no_reply(two_devices: ZaberChainSimulator) -> None:
    assert ask(two_devices, "/3 0") == b""


def test_multi_axis_device(two_devices: ZaberChainSimulator, clock: VirtualClock) -> None:
    chain = two_devices
    assert ask(chain, "/1 0 get pos") == b"@01 0 OK IDLE WR 64000 64000\r\n"
    assert ask(chain, "/1 0 get system.axiscount") == b"@01 0 OK IDLE WR 2\r\n"
    assert ask(chain, "/1 3 get pos") == b"@01 3 RJ IDLE WR BADAXIS\r\n"
    assert ask(chain, "/1 0 home") == b"@01 0 OK BUSY WR 0\r\n"
    assert ask(chain, "/2 0") == b"@02 0 OK IDLE WR 0\r\n"  # device 2 untouched
    clock.sleep(1.1)
    assert ask(chain, "/1 0") == b"@01 0 OK IDLE -- 0\r\n"
    assert ask(chain, "/1 2 move abs 6400") == b"@01 2 OK BUSY -- 0\r\n"
    assert ask(chain, "/1 1") == b"@01 1 OK IDLE -- 0\r\n"
    assert ask(chain, "/1 0") == b"@01 0 OK BUSY -- 0\r\n"
    clock.sleep(1.0)
    assert ask(chain, "/1 0 get pos") == b"@01 0 OK IDLE -- 0 6400\r\n"
    assert ask(chain, "/1 2 get pos") == b"@01 2 OK IDLE -- 6400\r\n"


# ------------------------------------------------------------------------------------------- motion
def test_wr_until_homed_and_moves_refused_before(chain: ZaberChainSimulator, clock: VirtualClock) -> None:
    assert ask(chain, "/1 0") == b"@01 0 OK IDLE WR 0\r\n"
    assert ask(chain, "/1 1 move abs 1000") == b"@01 1 RJ IDLE WR BADDATA\r\n"
    assert ask(chain, "/1 0 home") == b"@01 0 OK BUSY WR 0\r\n"
    clock.sleep(0.5)
    assert ask(chain, "/1 0 get pos") == b"@01 0 OK BUSY WR 35200\r\n"  # 10 mm − 0.05 mm ramp − 4 mm
    clock.sleep(0.6)
    assert ask(chain, "/1 0") == b"@01 0 OK IDLE -- 0\r\n"
    assert ask(chain, "/1 0 get limit.home.triggered") == b"@01 0 OK IDLE -- 1\r\n"


def test_busy_then_idle_as_virtual_time_advances(chain: ZaberChainSimulator, clock: VirtualClock) -> None:
    homed(chain, clock)
    assert ask(chain, "/1 1 move abs 640000") == b"@01 1 OK BUSY -- 0\r\n"
    clock.sleep(5.19)
    assert ask(chain, "/1 1") == b"@01 1 OK BUSY -- 0\r\n"
    clock.sleep(0.01)
    assert ask(chain, "/1 1") == b"@01 1 OK IDLE -- 0\r\n"
    assert ask(chain, "/1 1 get pos") == b"@01 1 OK IDLE -- 640000\r\n"
    assert ask(chain, "/1 1 get encoder.pos") == b"@01 1 OK IDLE -- 640000\r\n"
    assert ask(chain, "/1 1 get encoder.count") == b"@01 1 OK IDLE -- 1000000\r\n"


def test_move_variants(chain: ZaberChainSimulator, clock: VirtualClock) -> None:
    homed(chain, clock)
    assert ask(chain, "/1 move rel 1000") == b"@01 0 OK BUSY -- 0\r\n"
    clock.sleep(1.0)
    assert ask(chain, "/1 get pos") == b"@01 0 OK IDLE -- 1000\r\n"
    assert ask(chain, "/1 move rel -2000") == b"@01 0 RJ IDLE -- BADDATA\r\n"
    assert ask(chain, "/1 move max") == b"@01 0 OK BUSY -- 0\r\n"
    clock.sleep(20.0)
    assert ask(chain, "/1 get pos") == b"@01 0 OK IDLE -- 1920000\r\n"
    assert ask(chain, "/1 get limit.away.triggered") == b"@01 0 OK IDLE -- 1\r\n"
    assert ask(chain, "/1 move min") == b"@01 0 OK BUSY -- 0\r\n"
    assert ask(chain, "/1 move vel -104858") == b"@01 0 OK BUSY -- 0\r\n"  # ≈ −10 mm/s, redirects the move
    clock.sleep(40.0)
    assert ask(chain, "/1 get pos") == b"@01 0 OK IDLE -- 0\r\n"


@pytest.mark.parametrize(
    "command",
    ["/1 move abs 1920001", "/1 move abs -1", "/1 move abs", "/1 move abs 1.5", "/1 move abs 1 2",
     "/1 move min 5", "/1 move vel 209716", "/1 move vel x", "/1 home now", "/1 warnings foo"],
)  # fmt: skip
def test_bad_data(chain: ZaberChainSimulator, clock: VirtualClock, command: str) -> None:
    homed(chain, clock)
    assert ask(chain, command) == b"@01 0 RJ IDLE -- BADDATA\r\n"


def test_stop_decelerates_and_sets_ni(chain: ZaberChainSimulator, clock: VirtualClock) -> None:
    homed(chain, clock)
    ask(chain, "/1 move abs 640000")
    clock.sleep(1.0)
    assert ask(chain, "/1 stop") == b"@01 0 OK BUSY NI 0\r\n"
    clock.sleep(0.21)
    assert ask(chain, "/1") == b"@01 0 OK IDLE NI 0\r\n"
    assert ask(chain, "/1 warnings") == b"@01 0 OK IDLE NI 01 NI\r\n"
    assert ask(chain, "/1 warnings clear") == b"@01 0 OK IDLE -- 01 NI\r\n"
    assert ask(chain, "/1 warnings") == b"@01 0 OK IDLE -- 00\r\n"


def test_estop_stops_at_once(chain: ZaberChainSimulator, clock: VirtualClock) -> None:
    homed(chain, clock)
    ask(chain, "/1 move abs 640000")
    clock.sleep(1.0)
    assert ask(chain, "/1 estop") == b"@01 0 OK IDLE NI 0\r\n"
    assert ask(chain, "/1 get pos") == b"@01 0 OK IDLE NI 115200\r\n"  # 18 mm, where it was


def test_stall_raises_fs_until_cleared(chain: ZaberChainSimulator, world: World, clock: VirtualClock) -> None:
    homed(chain, clock)
    world.stage("x").inject_stall()
    assert ask(chain, "/1 move abs 640000") == b"@01 0 OK BUSY -- 0\r\n"
    clock.sleep(3.0)
    assert ask(chain, "/1") == b"@01 0 OK IDLE FS 0\r\n"
    assert ask(chain, "/1 get pos") == b"@01 0 OK IDLE FS 320000\r\n"  # stalled half-way through 5.2 s
    assert ask(chain, "/1 warnings clear") == b"@01 0 OK IDLE -- 01 FS\r\n"


def test_fault_outranks_warning(chain: ZaberChainSimulator, world: World, clock: VirtualClock) -> None:
    world.stage("x").inject_stall()
    ask(chain, "/1 home")
    clock.sleep(2.0)
    assert ask(chain, "/1 warnings") == b"@01 0 OK IDLE FS 02 FS WR\r\n"
    assert ask(chain, "/1 warnings clear") == b"@01 0 OK IDLE WR 02 FS WR\r\n"  # WR clears only by homing


def test_encoder_sees_backlash_the_motor_does_not(world: World, clock: VirtualClock) -> None:
    world.add_stage("x", StageConfig(backlash_mm=0.05, power_on_position_mm=10.0))
    chain = ZaberChainSimulator(world, {1: ZaberDeviceSim(["x"])})
    homed(chain, clock)
    ask(chain, "/1 move abs 640000")
    clock.sleep(6.0)
    assert ask(chain, "/1 get pos") == b"@01 0 OK IDLE -- 640000\r\n"
    assert ask(chain, "/1 get encoder.pos") == b"@01 0 OK IDLE -- 639680\r\n"  # 0.05 mm = 320 µsteps short


# ------------------------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("command", "data"),
    [
        ("/1 0 get device.id", b"50081"),
        ("/1 0 get deviceid", b"50081"),
        ("/1 0 get system.serial", b"4242"),
        ("/1 0 get version", b"7.32"),
        ("/1 0 get version.build", b"12345"),
        ("/1 0 get system.axiscount", b"1"),
        ("/1 0 get comm.checksum", b"0"),
        ("/1 0 get comm.alert", b"0"),
        ("/1 0 get maxspeed", b"209715"),  # 20 mm/s = 128000 µsteps/s × 1.6384
        ("/1 0 get accel", b"105"),  # 100 mm/s² = 640000 µsteps/s² × 1.6384 / 10000 = 104.86
        ("/1 0 get limit.min", b"0"),
        ("/1 0 get limit.max", b"1920000"),
        ("/1 1 get resolution", b"64"),
        ("/1 1 get peripheral.id", b"0"),
        ("/1 1 get peripheralid", b"0"),
        ("/1 0 get limit.home.triggered", b"0"),
        ("/1 0 get limit.away.triggered", b"0"),
    ],
)
def test_get_settings(chain: ZaberChainSimulator, command: str, data: bytes) -> None:
    address_axis = command[1:].split()[:2]
    prefix = f"@0{address_axis[0]} {address_axis[1]} OK IDLE WR ".encode()
    assert ask(chain, command) == prefix + data + b"\r\n"


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("/1 0 foo", "BADCOMMAND"),
        ("/1 0 get foo.bar", "BADCOMMAND"),
        ("/1 0 get", "BADCOMMAND"),
        ("/1 0 move sideways 5", "BADCOMMAND"),
        ("/1 0 set", "BADCOMMAND"),
        ("/1 0 set foo 1", "BADCOMMAND"),
        ("/1 0 set device.id 5", "BADCOMMAND"),
        ("/1 0 set pos 5", "BADCOMMAND"),
        ("/1 0 set maxspeed", "BADDATA"),
        ("/1 0 set maxspeed 0", "BADDATA"),
        ("/1 0 set accel -5", "BADDATA"),
        ("/1 0 set maxspeed fast", "BADDATA"),
        ("/1 0 set comm.checksum 2", "BADDATA"),
        ("/1 0 set limit.max 2000000", "BADDATA"),
        ("/1 0 set limit.min 1920000", "BADDATA"),
        ("/1 0 set maxspeed 99999999999", "BADDATA"),
        ("/1 1 get device.id", "DEVICEONLY"),
        ("/1 1 set comm.alert 1", "DEVICEONLY"),
        ("/1 2 get pos", "BADAXIS"),
    ],
)
def test_rejections(chain: ZaberChainSimulator, command: str, reason: str) -> None:
    axis = command.split()[1]
    assert ask(chain, command) == f"@01 {axis} RJ IDLE WR {reason}\r\n".encode()


def test_set_settings_take_effect(chain: ZaberChainSimulator, world: World, clock: VirtualClock) -> None:
    homed(chain, clock)
    assert ask(chain, "/1 set maxspeed 104858") == b"@01 0 OK IDLE -- 0\r\n"  # ≈ 10 mm/s
    assert ask(chain, "/1 get maxspeed") == b"@01 0 OK IDLE -- 104858\r\n"
    t0 = clock.now()
    ask(chain, "/1 move abs 640000")
    assert world.stage("x").busy_until() - t0 == pytest.approx(10.1, abs=1e-3)
    assert ask(chain, "/1 set limit.max 960000") == b"@01 0 RJ BUSY -- STATUSBUSY\r\n"
    assert ask(chain, "/1 set accel 210") == b"@01 0 OK BUSY -- 0\r\n"  # kinematics may change while moving
    clock.sleep(20.0)
    assert ask(chain, "/1 set limit.max 960000") == b"@01 0 OK IDLE -- 0\r\n"
    assert ask(chain, "/1 move abs 960001") == b"@01 0 RJ IDLE -- BADDATA\r\n"
    assert ask(chain, "/1 get accel") == b"@01 0 OK IDLE -- 210\r\n"


# ------------------------------------------------------------------------------------------- alerts
def test_alerts_when_enabled(chain: ZaberChainSimulator, clock: VirtualClock) -> None:
    homed(chain, clock)
    assert ask(chain, "/1 set comm.alert 1") == b"@01 0 OK IDLE -- 0\r\n"
    ask(chain, "/1 1 move abs 6400")
    assert chain.poll() == b""
    clock.sleep(0.5)
    assert chain.poll() == b"!01 1 IDLE --\r\n"
    assert chain.poll() == b""
    ask(chain, "/1 0 move abs 0")
    clock.sleep(0.5)
    # Due alerts go out before the reply to the next command, as they would on the wire.
    assert ask(chain, "/1 0") == b"!01 1 IDLE --\r\n@01 0 OK IDLE -- 0\r\n"


def test_no_alerts_by_default(chain: ZaberChainSimulator, clock: VirtualClock) -> None:
    homed(chain, clock)
    ask(chain, "/1 1 move abs 6400")
    clock.sleep(0.5)
    assert chain.poll() == b""
