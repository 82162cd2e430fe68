"""HexapodCouch: the couch role over scripted GCS bytes; every refusal happens before the first byte."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
import yaml
from pydantic import ValidationError

from drivers.errors import HilcalDriverError, IllegalStateError, LimitViolation, ProtocolError
from drivers.pi_gcs import (
    DRIVER_KEY,
    GcsConnection,
    HexapodController,
    HexapodCouch,
    HexapodMounting,
    HexapodParams,
    PivotMismatch,
    UnreachablePose,
    build_hexapod_couch,
    setpoint_to_hexapod,
    wire_pose,
)
from drivers.registry import PortPool
from drivers.roles.couch import COUCH_AXES, CouchPositioner, CouchSetpoint
from drivers.transport.base import Transport
from drivers.transport.expected import ExpectedProtocolTransport
from tests.drivers.test_pi_gcs_hexapod import (
    AXES,
    ERR_OK,
    FakeClock,
    connect_script,
    flags,
    floats,
    keyed,
    q,
)

Script = list[tuple[bytes | None, bytes | None]]


class Refusal(Exception):
    pass


class RecordingGuard:
    def __init__(self, refuse: bool = False) -> None:
        self.paths: list[list[CouchSetpoint]] = []
        self.refuse = refuse

    def __call__(self, waypoints: Sequence[CouchSetpoint]) -> None:
        self.paths.append(list(waypoints))
        if self.refuse:
            raise Refusal("keep-out volume 'nozzle' entered by 12 mm")


def spi_reply(r: float = 0.0, s: float = 0.0, t: float = 0.0) -> bytes:
    return f"R={r:.6f} \nS={s:.6f} \nT={t:.6f}\n".encode()


def couch_connect_script(*, pivot: tuple[float, float, float] = (0.0, 0.0, 0.0), **kwargs: str) -> Script:
    """The controller's connect exchange, then the couch's pivot check (``SPI?``)."""
    return [*connect_script(**kwargs), (b"SPI?\n", spi_reply(*pivot))]  # type: ignore[arg-type]


def make_couch(
    script: Script, **options: object
) -> tuple[HexapodCouch, ExpectedProtocolTransport, FakeClock]:
    transport = ExpectedProtocolTransport(script, device="hexapod-port")
    clock = FakeClock()
    controller = HexapodController(GcsConnection(transport), name="couch", clock=clock)
    return HexapodCouch(controller, **options), transport, clock  # type: ignore[arg-type]


def connected(
    *script: tuple[bytes | None, bytes | None], **options: object
) -> tuple[HexapodCouch, ExpectedProtocolTransport]:
    couch, transport, _ = make_couch([*couch_connect_script(), *script], **options)
    couch.connect()
    return couch, transport


def test_construction_sends_nothing_and_satisfies_the_role() -> None:
    couch, transport, _ = make_couch([])
    assert isinstance(couch, CouchPositioner)
    assert couch.state == "disconnected" and couch.name == "couch"
    with pytest.raises(IllegalStateError, match="cannot report limits while in state 'disconnected'"):
        couch.limits()
    transport.assert_done()


@pytest.mark.parametrize(
    "options",
    [
        {"soft_limits": {"height_mm": (0.0, 1.0)}},
        {"soft_limits": {"lateral_mm": (5.0, -5.0)}},
        {"soft_limits": {"lateral_mm": (0.0, math.inf)}},
        {"velocity": 0.0},
    ],
)
def test_bad_options_are_refused_at_construction(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_couch([], **options)


def test_limits_are_the_mapped_travel_intersected_with_soft_limits() -> None:
    couch, transport = connected(soft_limits={"lateral_mm": (-20.0, 80.0), "pitch_deg": (-3.0, 3.0)})
    limits = couch.limits()
    assert set(limits) == set(COUCH_AXES)
    assert limits["lateral_mm"] == pytest.approx((-20.0, 50.0), abs=1e-6)
    assert limits["pitch_deg"] == (-3.0, 3.0)
    assert limits["couch_rotation_deg"] == pytest.approx((-30.0, 30.0), abs=1e-6)
    transport.assert_done()


def test_soft_limits_that_miss_the_travel_are_a_configuration_error() -> None:
    couch, _, _ = make_couch(couch_connect_script(), soft_limits={"vertical_mm": (100.0, 200.0)})
    with pytest.raises(ValueError, match="do not overlap"):
        couch.connect()


def test_connect_reads_the_pivot_and_accepts_the_mounting_pivot_within_tolerance() -> None:
    mounting = HexapodMounting(table_top_origin_mm=(0.0, 0.0, 120.0))  # pivot = the table-top origin
    script = [*connect_script(), (b"SPI?\n", spi_reply(0.004, -0.003, 120.005))]
    couch, transport, _ = make_couch(script, mounting=mounting)
    couch.connect()
    assert couch.state == "ready" and couch.limits()["lateral_mm"] == pytest.approx((-50.0, 50.0), abs=1e-6)
    transport.assert_done()


@pytest.mark.parametrize(
    ("reported", "expected", "worst"),
    [
        ((30.0, 0.0, 0.0), (0.0, 0.0, 0.0), 30.0),  # 30 mm lateral: C4 would see ~1.9 mm at the isocentre
        ((0.0, 0.0, 0.0), (0.0, 0.0, 800.0), 800.0),  # the controller was never told the table-top height
        ((0.0, 0.0, 800.02), (0.0, 0.0, 800.0), 0.02),  # just beyond 0.01 mm
    ],
)
def test_a_pivot_other_than_the_mounting_is_refused_at_connect_before_any_motion(
    reported: tuple[float, float, float], expected: tuple[float, float, float], worst: float
) -> None:
    script = [*connect_script(), (b"SPI?\n", spi_reply(*reported))]
    couch, transport, _ = make_couch(script, mounting=HexapodMounting(pivot_mm=expected), velocity=10.0)
    with pytest.raises(PivotMismatch) as caught:  # any further byte (VLS, FRF, MOV) would be UnexpectedWrite
        couch.connect()
    err = caught.value
    assert isinstance(err, HilcalDriverError)
    assert (err.device, err.expected, err.reported) == ("couch", expected, reported)
    assert err.difference_mm == pytest.approx(worst)
    text = str(err)
    assert text.startswith("couch: the controller's pivot point (SPI?) is ")
    assert "R=" in text and "nothing moved" in text and "0.01 mm tolerance" in text
    with pytest.raises(IllegalStateError):  # the couch never got its limits: nothing can be planned
        couch.limits()
    transport.assert_done()


def test_a_wider_pivot_tolerance_comes_from_the_params_and_none_skips_the_check() -> None:
    script = [*connect_script(), (b"SPI?\n", spi_reply(0.3, 0.0, 0.0))]
    couch, transport, _ = make_couch(script, pivot_tolerance_mm=0.5)
    couch.connect()
    transport.assert_done()
    couch, transport, _ = make_couch(connect_script(), pivot_tolerance_mm=None)
    couch.connect()  # no SPI? on the wire
    transport.assert_done()
    with pytest.raises(ValueError, match="pivot_tolerance_mm"):
        make_couch([], pivot_tolerance_mm=0.0)


def test_velocity_is_sent_at_connect() -> None:
    couch, transport = connected((b"VLS 25\n", None), ERR_OK, velocity=25.0)
    transport.assert_done()


def test_move_to_maps_iec_to_hexapod_asks_vmo_then_moves_and_waits() -> None:
    couch, transport = connected(
        (b"VMO? X 10 Y -20 Z 5 U 1.5 V -2 W 0\n", b"1\n"),
        (b"MOV X 10 Y -20 Z 5 U 1.5 V -2 W 0\n", None),
        ERR_OK,
        (b"\x05", b"3F\n"),
        (b"\x05", b"0\n"),
        (q("ONT?"), flags("111111")),
        (q("POS?"), floats(10, -20, 5, 1.5, -2, 0)),
        (q("POS?"), floats(10, -20, 5, 1.5, -2, 0)),
    )
    target = CouchSetpoint(lateral_mm=10, longitudinal_mm=-20, vertical_mm=5, pitch_deg=1.5, roll_deg=-2)
    couch.move_to(target)
    assert couch.state == "ready"
    back = couch.read_setpoint()
    for axis in COUCH_AXES:
        assert getattr(back, axis) == pytest.approx(getattr(target, axis), abs=1e-9)
    transport.assert_done()


def test_a_target_exactly_on_the_travel_limit_is_accepted() -> None:
    couch, transport = connected(
        (b"VMO? X 50 Y 0 Z 0 U 0 V 0 W 0\n", b"1\n"), (b"MOV X 50 Y 0 Z 0 U 0 V 0 W 0\n", None), ERR_OK
    )
    assert couch.limits()["lateral_mm"] == (-50.0, 50.0)
    couch.start_move_to(CouchSetpoint(lateral_mm=50.0))
    transport.assert_done()


@pytest.mark.parametrize(
    ("setpoint", "match"),
    [
        (CouchSetpoint(lateral_mm=50.5), r"couch: lateral 50.5 mm is outside the travel \[.*\] mm by 0.5"),
        (CouchSetpoint(roll_deg=-4.0), r"couch: roll -4 deg is outside the travel \[-3, 3\] deg by 1"),
        (CouchSetpoint(couch_rotation_deg=math.nan), "couch rotation nan deg"),
        # each IEC value within its range, but the yaw needs Y = 50·sin20° + 50·cos20° = 64 mm of travel:
        (CouchSetpoint(lateral_mm=50, longitudinal_mm=50, couch_rotation_deg=20), r"couch: axis Y 64.\d+ mm"),
        (CouchSetpoint(lateral_mm=50.0000001), "lateral 50 mm is outside the travel"),
    ],
)
def test_targets_outside_limits_are_refused_before_any_byte(setpoint: CouchSetpoint, match: str) -> None:
    guard = RecordingGuard()
    couch, transport = connected(soft_limits={"roll_deg": (-3.0, 3.0)}, path_guard=guard)
    with pytest.raises(LimitViolation, match=match):
        couch.start_move_to(setpoint)
    assert guard.paths == []  # limits come before the (more expensive) path check
    assert couch.state == "ready"
    transport.assert_done()


def test_guard_sees_the_hexapod_path_and_refusal_sends_nothing() -> None:
    guard = RecordingGuard(refuse=True)
    couch, transport = connected(path_guard=guard)
    target = CouchSetpoint(lateral_mm=20.0, couch_rotation_deg=1.0)
    with pytest.raises(Refusal, match="nozzle"):
        couch.start_move_to(target)
    (path,) = guard.paths
    assert path[0] == CouchSetpoint() and path[-1] == target
    assert len(path) == 5  # X travels 20 mm: waypoints every 5 mm
    hexapod_path = [setpoint_to_hexapod(p) for p in path]
    sent = wire_pose(setpoint_to_hexapod(target))  # the MOV target as GCS carries it (6 decimals)
    for k, pose in enumerate(hexapod_path[:-1]):  # the waypoints lie on the straight X..W path to it
        for axis in AXES:
            assert pose[axis] == pytest.approx(sent[axis] * k / 4, abs=1e-9)
    transport.assert_done()


def test_unreachable_pose_is_refused_with_nothing_moved() -> None:
    couch, transport = connected((b"VMO? X 40 Y 40 Z -20 U 10 V 10 W 0\n", b"0\n"))
    setpoint = CouchSetpoint(lateral_mm=40, longitudinal_mm=40, vertical_mm=-20, pitch_deg=10, roll_deg=10)
    expected = setpoint_to_hexapod(setpoint)
    assert expected["X"] == pytest.approx(40)
    with pytest.raises(UnreachablePose, match="not reachable"):
        couch.start_move_to(setpoint)
    assert couch.state == "ready"
    transport.assert_done()


# -- garbled but parseable replies (found by the fuzz suite, tests/fuzz) -----------------------------------
def wire(**values: str) -> bytes:
    """A six-axis reply with the numbers exactly as given (``1e308`` stays ``1e308`` on the wire)."""
    return keyed([(axis, values.get(axis, "0")) for axis in AXES])


HUGE_POSE = wire(X="-1.7976931348623157e308", Y="1e308", Z="1e308", W="45")


@pytest.mark.parametrize(
    "pose",
    [HUGE_POSE, wire(U="90"), wire(U="-90")],
    ids=["overflows to inf", "pitch +90", "pitch -90"],
)
def test_a_pose_with_no_finite_iec_set_point_is_a_protocol_error_not_a_measurement(pose: bytes) -> None:
    couch, transport = connected((q("POS?"), pose))
    with pytest.raises(ProtocolError, match=r"IEC 61217 set point.*POS\?"):
        couch.read_setpoint()  # was a CouchSetpoint with longitudinal_mm=inf, or a GimbalLockError
    transport.assert_done()


@pytest.mark.parametrize(
    ("low", "high"),
    [
        (wire(V="80"), wire(X="50", Y="50", Z="25", U="15", V="100", W="30")),  # home V=90 does not map back
        (wire(X="1e308"), wire(X="1e308", Y="50", Z="25", U="15", V="15", W="30")),  # matrices overflow
    ],
    ids=["home does not map back", "overflow"],
)
def test_a_travel_with_no_iec_ranges_is_a_protocol_error_at_connect(low: bytes, high: bytes) -> None:
    script = couch_connect_script()
    script[6], script[7] = (q("TMN?"), low), (q("TMX?"), high)
    couch, transport, _ = make_couch(script)
    with pytest.raises(ProtocolError, match=r"IEC 61217 ranges.*TMN\?/TMX\?"):
        couch.connect()  # was a ValueError / InvalidInputError out of the IEC mapping
    transport.assert_done()


def test_a_guarded_move_from_a_pose_far_outside_the_travel_is_refused_not_planned_forever() -> None:
    guard = RecordingGuard()
    couch, transport, _ = make_couch(couch_connect_script(pos=wire(X="1e30")), path_guard=guard)
    couch.connect()
    with pytest.raises(ProtocolError, match="outside the travel of X"):
        couch.start_move_to(CouchSetpoint(lateral_mm=1.0))  # was a loop over 2·10^29 waypoints
    assert guard.paths == []
    transport.assert_done()


def test_a_guarded_move_in_a_travel_of_astronomical_width_is_refused() -> None:
    huge = wire(X="1e300", Y="50", Z="25", U="15", V="15", W="30")
    script = couch_connect_script(pos=wire(X="1e299"))
    script[6], script[7] = (
        (q("TMN?"), wire(X="-1e300", Y="-50", Z="-25", U="-15", V="-15", W="-30")),
        (
            q("TMX?"),
            huge,
        ),
    )
    couch, transport, _ = make_couch(script, path_guard=RecordingGuard())
    couch.connect()
    with pytest.raises(ProtocolError, match="waypoints"):
        couch.start_move_to(CouchSetpoint(lateral_mm=1.0))
    transport.assert_done()


def test_a_guarded_move_from_an_unknown_pose_is_illegal() -> None:
    guard = RecordingGuard()
    couch, transport = connected(path_guard=guard)
    couch.controller._position = None  # as after a stop whose pose could not be read back
    with pytest.raises(IllegalStateError, match="plan a move from an unknown pose"):
        couch.start_move_to(CouchSetpoint(lateral_mm=1.0))
    assert guard.paths == []
    transport.assert_done()


def test_home_stop_and_emergency_stop_bytes() -> None:
    script: Script = [
        *couch_connect_script(referenced="000000"),
        (q("SVO?"), flags("111111")),
        (b"FRF X Y Z U V W\n", None),
        ERR_OK,
        (b"\x07", b"\xb1\n"),
        (q("FRF?"), flags("111111")),
        (q("POS?"), floats(0, 0, 0, 0, 0, 0)),
        (b"HLT X Y Z U V W\n", None),
        ERR_OK,
        (b"\x05", b"0\n"),
        (q("POS?"), floats(0, 0, 0, 0, 0, 0)),
        (b"\x18", None),
        (b"ERR?\n", b"10\n"),
        (b"\x05", b"0\n"),
        (q("POS?"), floats(0, 0, 0, 0, 0, 0)),
    ]
    couch, transport, _ = make_couch(script)
    couch.connect()
    assert couch.state == "connected"
    couch.home()
    assert couch.state == "ready"
    couch.stop()
    assert couch.state == "ready"
    couch.emergency_stop()
    assert couch.state == "stopped"
    couch.close()
    assert couch.state == "disconnected"
    transport.assert_done()


# -- params and the registry builder ----------------------------------------------------------------------
RIG_PARAMS = """
mounting:
  origin_mm: [0.0, 0.0, -800.0]
  table_top_origin_mm: [0.0, 0.0, 800.0]
  pivot_mm: [0.0, 0.0, 800.0]
  uvw_convention: moving_axes
soft_limits:
  lateral_mm: [-40.0, 40.0]
  pitch_deg: [-3.0, 3.0]
  roll_deg: [-3.0, 3.0]
poll_interval_s: 0.05
velocity_mm_s: 10.0
"""


def test_params_parse_from_yaml_and_refuse_unknown_fields() -> None:
    params = HexapodParams.model_validate(yaml.safe_load(RIG_PARAMS))
    assert params.mounting.pivot == (0.0, 0.0, 800.0)
    assert params.soft_limits["pitch_deg"] == (-3.0, 3.0)
    for bad in (
        {"speed": 3},
        {"soft_limits": {"height_mm": [0, 1]}},
        {"soft_limits": {"roll_deg": [3, -3]}},
        {"mounting": {"x_axis": [1, 1, 0]}},
        {"poll_interval_s": 0},
    ):
        with pytest.raises(ValidationError):
            HexapodParams.model_validate(bad)


def test_builder_matches_the_registry_signature_and_does_no_io() -> None:
    transports: list[ExpectedProtocolTransport] = []

    def opener(port: str, label: str) -> Transport:
        transport = ExpectedProtocolTransport([], device=label)
        transports.append(transport)
        return transport

    pool = PortPool(opener)
    params = HexapodParams.model_validate(yaml.safe_load(RIG_PARAMS))
    couch = build_hexapod_couch("couch", "socket://10.0.0.20:50000", params, pool, FakeClock())
    assert isinstance(couch, CouchPositioner) and couch.state == "disconnected"
    assert couch.mounting == params.mounting and couch.velocity == 10.0
    assert pool.sessions[(DRIVER_KEY, "socket://10.0.0.20:50000")] is couch.controller.connection
    assert transports[0].device == "hexapod socket://10.0.0.20:50000"
    transports[0].assert_done()
    with pytest.raises(ValueError, match="already drives a hexapod"):
        build_hexapod_couch("couch2", "socket://10.0.0.20:50000", params, pool, FakeClock())
    with pytest.raises(TypeError, match="HexapodParams"):
        build_hexapod_couch("couch3", "/dev/ttyS0", HexapodMounting(), pool, FakeClock())
