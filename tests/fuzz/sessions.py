"""Whole driver sessions, each a scripted conversation (from the drivers' expected-protocol tests) and the
role calls that drive it. ``run_session`` plays one with a ``ReplayTransport`` and returns every value
the driver handed out and every typed error it raised."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from drivers.environment import ScpiEnvironmentSensor
from drivers.errors import HilcalDriverError
from drivers.keithley6517b import Keithley6517B
from drivers.ndi import NdiConnection, NdiTracker
from drivers.pi_gcs import GcsConnection, HexapodController, HexapodCouch
from drivers.ptw_unidos import PtwUnidos
from drivers.roles.couch import CouchSetpoint
from drivers.roles.tracker import TrackerFrame
from drivers.transport.base import Transport
from drivers.zaber import ZaberAxis, ZaberConnection
from drivers.zaber.ascii import lrc
from tests.drivers import test_environment as env_t
from tests.drivers import test_keithley6517b as k_t
from tests.drivers import test_ndi_tracker as ndi_t
from tests.drivers import test_pi_gcs_couch as pi_c
from tests.drivers import test_pi_gcs_hexapod as pi_t
from tests.drivers import test_unidos as u_t
from tests.fuzz.harness import assert_finite
from tests.fuzz.mutate import ReplayTransport, reframe_ndi_binary, reframe_ndi_text, reframe_zaber


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


Steps = list[Callable[[], Any]]


@dataclass(frozen=True)
class Session:
    protocol: str
    replies: tuple[bytes | None, ...]
    build: Callable[[Transport], Steps]
    #: Mutates one reply and makes its checksum right again.
    reframe: Callable[[bytes, Callable[[bytes], bytes]], bytes]


def _plain(reply: bytes, edit: Callable[[bytes], bytes]) -> bytes:
    return edit(reply)


# -- Zaber ------------------------------------------------------------------------------------------
def _zaber_ok(data: str = "0", status: str = "IDLE", flag: str = "--") -> bytes:
    payload = f"01 1 OK {status} {flag} {data}".encode()
    return b"@%s:%02X\r\n" % (payload, lrc(payload))


def _zaber_device_ok(data: str) -> bytes:
    """A reply from axis 0: the device-scope settings connect reads for the identity."""
    payload = f"01 0 OK IDLE -- {data}".encode()
    return b"@%s:%02X\r\n" % (payload, lrc(payload))


ZABER_REPLIES = (
    _zaber_ok(),
    _zaber_ok("00"),
    _zaber_ok("0"),
    _zaber_ok("3048000"),
    _zaber_device_ok("50081"),  # get deviceid
    _zaber_device_ok("41234"),  # get system.serial
    _zaber_device_ok("7.32"),  # get version
    _zaber_device_ok("12345"),  # get version.build
    _zaber_ok("7500"),
    _zaber_ok("7501"),
    _zaber_ok("15002"),
    _zaber_ok("01 WT", flag="WT"),
    _zaber_ok("153600"),
    _zaber_ok("205"),
    _zaber_ok(),
    _zaber_ok(status="BUSY"),
    _zaber_ok(),
    _zaber_ok("100000"),
)


def _zaber(transport: Transport) -> Steps:
    axis = ZaberAxis(
        ZaberConnection(transport),
        name="x",
        address=1,
        axis=1,
        microstep_size_um=0.1,
        encoder_count_size_um=0.5,
        clock=FakeClock(),
    )
    return [
        axis.connect,
        axis.travel_mm,
        axis.position_mm,
        axis.encoder_position_mm,
        axis.encoder_count_mm,
        axis.warnings,
        axis.max_speed_mm_s,
        axis.acceleration_mm_s2,
        lambda: axis.move_to(10.0, timeout_s=5.0),  # the planned move takes 1.06 s
        axis.position_mm,
    ]


def _zaber_reframe(reply: bytes, edit: Callable[[bytes], bytes]) -> bytes:
    return reframe_zaber(edit(reply))


# -- PTW UNIDOS -------------------------------------------------------------------------------------
UNIDOS_SCRIPT = [
    *u_t.CONNECT,
    *u_t.CONFIGURE,
    u_t.x("STA", "STA"),
    u_t.x("MV", u_t.mv("MEAS", charge="1.234;E-9;n", current="5.6;E-12;p", time="3000.0")),
    u_t.x("HLD", "HLD"),
    u_t.x("MV", u_t.mv("HOLD", charge="2.5;E-9;n", time="5000.0")),
    u_t.x("RES", "RES"),
]


def _unidos(transport: Transport) -> Steps:
    unidos = PtwUnidos(transport, name="unidos", clock=FakeClock())
    return [
        unidos.connect,
        lambda: unidos.configure(u_t.SETTINGS),
        unidos.start_integration,
        unidos.read,
        unidos.hold,
        unidos.read,
        unidos.reset,
    ]


# -- Keithley 6517B ---------------------------------------------------------------------------------
KEITHLEY_SCRIPT = [
    *k_t.connect_script(),
    *k_t.CONFIGURE_CHARGE_AUTO,
    k_t.w(":SYST:ZCH OFF"),
    k_t.q(":READ?", "+1.000000E-12NCOUL"),
    k_t.q(":SYST:ERR?", k_t.NO_ERROR),
    k_t.q(":READ?", "+2.001000E-09NCOUL"),
    k_t.q(":SYST:ERR?", k_t.NO_ERROR),
    k_t.q(":READ?", "+5.001000E-09NCOUL"),
    k_t.q(":SYST:ERR?", k_t.NO_ERROR),
    k_t.w(":SYST:ZCH ON"),
    k_t.w(":SYST:ZCH ON"),
]


def _keithley(transport: Transport) -> Steps:
    k = Keithley6517B(transport, name="k6517b", clock=FakeClock())
    return [
        k.connect,
        lambda: k.configure(k_t.CHARGE),
        k.start_integration,
        k.read,
        k.hold,
        k.read,
        k.reset,
    ]


# -- environment sensor -----------------------------------------------------------------------------
ENV_SCRIPT = [
    env_t.x("*IDN?", "HILCAL,ENV-SIM,1,1.0"),
    env_t.x("MEAS:TEMP?", "21.37"),
    env_t.x("MEAS:PRES?", "1013.25"),
    env_t.x("MEAS:TEMP?", "21.38"),
    env_t.x("MEAS:PRES?", "1013.20"),
]


def _environment(transport: Transport) -> Steps:
    sensor = ScpiEnvironmentSensor(transport, name="room", clock=FakeClock())
    return [sensor.connect, sensor.read, sensor.read]


# -- NDI --------------------------------------------------------------------------------------------
NDI_SCRIPT = [
    *ndi_t.connect_script(ndi_t.ONE_TOOL),
    ndi_t.TSTART,
    (ndi_t.BX, ndi_t.VERIFIED_BX),
    (ndi_t.BX, ndi_t.frame(ndi_t.bx_valid(1, ndi_t.IDENTITY, (1.0, 2.0, 3.0), 0.2, frame=0x4C))),
    (ndi_t.command("BEEP:1"), ndi_t.text("1")),
    ndi_t.TSTOP,
]
NDI_TX_SCRIPT = [
    *ndi_t.connect_script(ndi_t.ONE_TOOL),
    ndi_t.TSTART,
    (ndi_t.TX, ndi_t.VERIFIED_TX),
    (ndi_t.TX, ndi_t.text(ndi_t.tx_payload([ndi_t.tx_missing(1, frame=0x4C)]))),
    (ndi_t.command("BEEP:1"), ndi_t.text("1")),
    ndi_t.TSTOP,
]


def _ndi(frame_format: str) -> Callable[[Transport], Steps]:
    def build(transport: Transport) -> Steps:
        tracker = NdiTracker(
            NdiConnection(transport),
            name="tracker",
            tools=ndi_t.DEFINITIONS[:1],
            clock=FakeClock(),
            frame_format=frame_format,
        )
        return [
            tracker.connect,
            tracker.start_tracking,
            tracker.read_frame,
            tracker.read_frame,
            lambda: tracker.beep(1),
            tracker.stop,
        ]

    return build


def _ndi_reframe(reply: bytes, edit: Callable[[bytes], bytes]) -> bytes:
    if reply[:2] == b"\xc4\xa5":
        return reframe_ndi_binary(edit(reply[6:-2]))
    return reframe_ndi_text(edit(reply))


# -- PI GCS 2.0 (hexapod couch) ------------------------------------------------------------------------
PI_POSE = pi_t.floats(10, -20, 5, 1.5, -2, 0)
PI_SCRIPT = [
    *pi_c.couch_connect_script(referenced="000000"),
    (b"VLS 25\n", None),
    pi_t.ERR_OK,
    (pi_t.q("SVO?"), pi_t.flags("000000")),
    (b"SVO X 1 Y 1 Z 1 U 1 V 1 W 1\n", None),
    pi_t.ERR_OK,
    (b"FRF X Y Z U V W\n", None),
    pi_t.ERR_OK,
    (b"\x07", pi_t.BUSY_BYTE),
    (b"\x07", pi_t.READY_BYTE),
    (pi_t.q("FRF?"), pi_t.flags("111111")),
    (pi_t.q("POS?"), pi_t.ZERO),
    (b"VMO? X 10 Y -20 Z 5 U 1.5 V -2 W 0\n", b"1\n"),
    (b"MOV X 10 Y -20 Z 5 U 1.5 V -2 W 0\n", None),
    pi_t.ERR_OK,
    (b"\x05", b"3F\n"),
    (b"\x05", b"0\n"),
    (pi_t.q("ONT?"), pi_t.flags("111111")),
    (pi_t.q("POS?"), PI_POSE),
    (pi_t.q("POS?"), PI_POSE),
    (b"VLS?\n", b"25.000000\n"),
    (b"HLT X Y Z U V W\n", None),
    (b"ERR?\n", b"10\n"),
    (b"\x05", b"0\n"),
    (pi_t.q("POS?"), PI_POSE),
    (b"\x18", None),
    (b"ERR?\n", b"10\n"),
    (b"\x05", b"0\n"),
    (pi_t.q("POS?"), PI_POSE),
]
PI_TARGET = CouchSetpoint(lateral_mm=10, longitudinal_mm=-20, vertical_mm=5, pitch_deg=1.5, roll_deg=-2)


def _accept_path(waypoints: Sequence[CouchSetpoint]) -> None:
    """A motion guard that accepts every path, so the couch plans one from whatever ``POS?`` said."""
    assert_finite(list(waypoints), "couch path")


def _pi_gcs(transport: Transport) -> Steps:
    controller = HexapodController(GcsConnection(transport), name="couch", clock=FakeClock())
    couch = HexapodCouch(controller, velocity=25.0, path_guard=_accept_path)
    return [
        couch.connect,
        couch.limits,
        couch.home,
        lambda: couch.move_to(PI_TARGET, timeout_s=1.0),
        couch.read_setpoint,
        controller.velocity,
        couch.stop,
        couch.emergency_stop,
        lambda: controller.last_position,
    ]


SESSIONS = (
    Session("zaber", ZABER_REPLIES, _zaber, _zaber_reframe),
    Session("ptw_unidos", tuple(r for _, r in UNIDOS_SCRIPT), _unidos, _plain),
    Session("keithley6517b", tuple(r for _, r in KEITHLEY_SCRIPT), _keithley, _plain),
    Session("environment", tuple(r for _, r in ENV_SCRIPT), _environment, _plain),
    Session("ndi", tuple(r for _, r in NDI_SCRIPT), _ndi("bx"), _ndi_reframe),
    Session("ndi", tuple(r for _, r in NDI_TX_SCRIPT), _ndi("tx"), _ndi_reframe),
    Session("pi_gcs", tuple(r for _, r in PI_SCRIPT), _pi_gcs, _plain),
)


def check_value(value: Any, where: str) -> None:
    """A value a driver returned: no non-finite measurement (NaN poses only for tools not seen)."""
    if isinstance(value, TrackerFrame):
        for pose in value.tools:
            if pose.status != "missing" and pose.status != "disabled":
                assert_finite((pose.rotation, pose.translation_mm, pose.rms_error_mm), f"{where}:{pose.tool}")
        return
    assert_finite(value, where)


def run_session(session: Session, replies: list[bytes | None]) -> list[Any]:
    """Play ``replies``; every step returns a value or raises a typed driver error, nothing else."""
    transport = ReplayTransport(replies, device=session.protocol)
    outcomes: list[Any] = []
    for index, step in enumerate(session.build(transport)):
        try:
            value = step()
        except HilcalDriverError as err:
            outcomes.append(err)
            continue
        check_value(value, f"{session.protocol} step {index}")
        outcomes.append(value)
    return outcomes
