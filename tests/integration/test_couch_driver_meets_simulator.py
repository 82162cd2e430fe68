"""Driver and simulator implement the PI manual independently; the geometry core is the referee.

Our driver maps an IEC 61217 table-top set point to hexapod X Y Z U V W; the simulator (its own reading
of the manual) turns that into a true platform pose. With the hexapod's origin at the isocentre and no
injected error, the true pose must be exactly where ``geometry.transform("t", "f", state)`` puts the
table top. A misreading on either side (rotation order, sign, pivot) fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from controller.config import load_rig_config
from controller.rig import build_rig
from drivers.roles.couch import CouchSetpoint
from geometry import MachineState, transform

SETPOINTS = [
    CouchSetpoint(lateral_mm=12.0, longitudinal_mm=-7.0, vertical_mm=4.0),
    CouchSetpoint(pitch_deg=2.0, roll_deg=-1.5),
    CouchSetpoint(couch_rotation_deg=3.0),
    CouchSetpoint(
        lateral_mm=5.0,
        longitudinal_mm=-5.0,
        vertical_mm=3.0,
        couch_rotation_deg=-2.0,
        pitch_deg=1.5,
        roll_deg=2.5,
    ),
]


@pytest.fixture(scope="module")
def live_couch():
    raw = load_rig_config().model_dump(mode="json")
    raw["devices"] = {"couch": raw["devices"]["couch"]}
    raw["simulation"]["hexapods"]["couch_hexapod"]["errors"] = {}
    from controller.config import RigConfig

    rig = build_rig(RigConfig.model_validate(raw))
    couch = rig.devices.couches["couch"]
    couch.connect()
    couch.home()
    try:
        yield couch, rig.simulation.world.get("couch_hexapod", object)
    finally:
        rig.close()


@pytest.mark.parametrize(
    "setpoint", SETPOINTS, ids=lambda s: ",".join(f"{k}={v:g}" for k, v in s.as_dict().items() if v)
)
def test_true_table_top_pose_matches_iec_geometry(live_couch, setpoint):
    couch, hexapod = live_couch
    couch.move_to(setpoint)
    state = MachineState(
        couch_rotation_deg=setpoint.couch_rotation_deg,
        table_lateral_mm=setpoint.lateral_mm,
        table_longitudinal_mm=setpoint.longitudinal_mm,
        table_vertical_mm=setpoint.vertical_mm,
        table_pitch_deg=setpoint.pitch_deg,
        table_roll_deg=setpoint.roll_deg,
    )
    expected = transform("t", "f", state)
    markers = np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0], [0.0, -300.0, 0.0], [50.0, -600.0, 40.0]])
    true_points = hexapod.table_top_to_room(markers)
    expected_points = markers @ expected[:3, :3].T + expected[:3, 3]
    # GCS carries 6 decimals: 1e-6 mm and 1e-6° (≈1e-5 mm at a 600 mm lever) is the wire's own resolution.
    np.testing.assert_allclose(true_points, expected_points, atol=3e-5)
    readback = couch.read_setpoint()
    for axis, value in setpoint.as_dict().items():
        assert getattr(readback, axis) == pytest.approx(value, abs=1e-5), axis


# -- the pivot: the driver and the controller must agree on it before anything turns ------------------------
@pytest.mark.parametrize("sequence", ["couch-pose-readback", "couch-rotation-accuracy"])
def test_a_controller_pivot_30_mm_off_faults_the_run_before_any_motion(tmp_path, sequence):
    """Simulated C-887 pivot at R = 30 mm, rig file expecting the table-top origin: the run faults at connect
    with ``PivotMismatch`` naming the device and both pivots; no motion command reaches the wire."""
    from controller.config import RigConfig
    from controller.journal import read_journal
    from controller.session import run_sequence

    raw = load_rig_config().model_dump(mode="json")
    raw["simulation"]["hexapods"]["couch_hexapod"]["pivot_mm"] = [30.0, 0.0, 0.0]
    worlds = []
    outcome = run_sequence(
        RigConfig.model_validate(raw),
        sequence,
        {},
        runs_dir=tmp_path,
        write_report=False,
        on_rig_ready=lambda rig: worlds.append(rig.simulation.world),
    )
    assert outcome.summary.state == "faulted" and outcome.result is None
    error = outcome.summary.error or ""
    assert error.startswith("PivotMismatch: couch: the controller's pivot point (SPI?) is R=30 S=0 T=0 mm")
    assert "expects R=0 S=0 T=0 mm" in error
    records = read_journal(outcome.run_dir / "journal.jsonl").records
    sent = [r["data"] for r in records if r["kind"] == "tx"]
    assert any(cmd.startswith("SPI?") for cmd in sent)
    assert not [cmd for cmd in sent if cmd.split(" ")[0].strip() in {"MOV", "MVR", "FRF", "SVO", "SPI"}]
    assert not [r for r in records if r["kind"] == "preflight"]  # ended before the plan was even dry-run
    assert [r["expected"] for r in records if r["kind"] == "error"] == [True]
    hexapod = worlds[0].get("couch_hexapod", object)
    assert not hexapod.referenced and not hexapod.servo  # the world never moved
    assert hexapod.true_pose_matrix() == pytest.approx(np.eye(4))


def test_the_default_rig_states_the_pivot_the_simulated_controller_has():
    raw = load_rig_config().model_dump(mode="json")
    expected = raw["devices"]["couch"]["params"]["mounting"]["pivot_mm"]
    simulated = raw["simulation"]["hexapods"]["couch_hexapod"].get("pivot_mm", [0.0, 0.0, 0.0])
    assert list(expected) == list(simulated)


# -- what the readback can show: the struts, through the controller's own kinematics ------------------------
def _rig_with(**hexapod_fields):
    from controller.config import RigConfig

    raw = load_rig_config().model_dump(mode="json")
    raw["devices"] = {"couch": raw["devices"]["couch"]}
    raw["simulation"]["hexapods"]["couch_hexapod"].update(hexapod_fields)
    return build_rig(RigConfig.model_validate(raw))


def test_a_strut_error_reaches_the_driver_readback_and_the_true_pose_alike():
    rig = _rig_with(errors={"strut_error_mm": [0.6, 0.0, -0.4, 0.0, 0.3, 0.0]})
    try:
        couch = rig.devices.couches["couch"]
        couch.connect()
        couch.home()
        target = CouchSetpoint(lateral_mm=10.0, pitch_deg=1.0)
        couch.move_to(target)
        readback = couch.read_setpoint()
        hexapod = rig.simulation.world.get("couch_hexapod", object)
        measured = hexapod.measured_pose()  # FK of the encoder lengths, in X..W
        reported = couch.controller.position()  # POS? as the driver parsed it
        assert [reported[axis] for axis in "XYZUVW"] == pytest.approx(measured, abs=2e-6)
        assert abs(readback.lateral_mm - 10.0) > 0.1  # the readback differs from the command
        assert hexapod.true_pose() == pytest.approx(measured, abs=1e-9)  # and the table top is really there
    finally:
        rig.close()


def test_a_strut_outside_the_on_target_window_times_the_move_out():
    from drivers.pi_gcs import MotionTimeout

    rig = _rig_with(on_target_window_mm=0.01, errors={"strut_error_mm": [0.0, 0.0, 0.05, 0.0, 0.0, 0.0]})
    try:
        couch = rig.devices.couches["couch"]
        couch.connect()
        couch.home()
        with pytest.raises(MotionTimeout, match="couch: move not finished after 5 s"):
            couch.move_to(CouchSetpoint(lateral_mm=1.0), timeout_s=5.0)
    finally:
        rig.close()
