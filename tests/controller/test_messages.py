"""Messages and readings survive the journal: records round-trip to equal objects, nested values included."""

from __future__ import annotations

import json

import pytest

from controller.messages import (
    MESSAGE_TYPES,
    AxisReading,
    Beam,
    ConfigureDosimeter,
    CouchReading,
    MoveCouch,
    MoveTo,
    from_record,
    message_from_record,
    message_to_record,
    to_record,
)
from drivers.roles.couch import CouchSetpoint
from drivers.roles.dosimeter import DosimeterReading, DosimeterSettings
from drivers.roles.tracker import ToolPose, TrackerFrame


@pytest.mark.parametrize(
    "message",
    [
        MoveTo("x", 12.5),
        MoveCouch("couch", CouchSetpoint(lateral_mm=1.0, couch_rotation_deg=90.0, pitch_deg=-1.5)),
        ConfigureDosimeter("k6517b", DosimeterSettings(mode="current", range="2e-8", bias_voltage_v=-300.0)),
        Beam(on=True, dose_rate_gy_per_min=6.0),
    ],
)
def test_message_round_trip_through_json(message):
    record = json.loads(json.dumps(message_to_record(message)))
    assert message_from_record(record) == message


@pytest.mark.parametrize(
    "reading",
    [
        AxisReading("x", 1.0, 1.01, 3.0),
        CouchReading("couch", CouchSetpoint(vertical_mm=-50.0), 4.0),
        DosimeterReading(value=1.2e-9, unit="C", clock_s=5.0, status=("OVR",)),
        TrackerFrame(
            "vega",
            (
                ToolPose("couch_tool", "ok", (1.0, 0.0, 0.0, 0.0), (1.0, 2.0, -1500.0), 0.12, 42),
                ToolPose("tank_tool", "missing", (0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 0.0, 42),
            ),
            7.5,
        ),
    ],
)
def test_reading_round_trip_through_json(reading):
    assert from_record(json.loads(json.dumps(to_record(reading)))) == reading


def test_unknown_record_type_is_refused():
    with pytest.raises(ValueError, match="unknown type 'Teleport'"):
        from_record({"type": "Teleport", "device": "x"})
    with pytest.raises(ValueError, match="not a message"):
        message_from_record(
            {"type": "AxisReading", "device": "x", "position_mm": 0, "encoder_mm": 0, "clock_s": 0}
        )
    assert "MoveCouch" in MESSAGE_TYPES
