"""Environment identity: the sensor's ``*IDN?`` (connect already sends it) as IEEE 488.2 fields; an operator
entry has no device behind it and says so."""

from __future__ import annotations

import pytest

from drivers.environment import OPERATOR_ENTRY, OperatorEntry, ScpiEnvironmentSensor
from drivers.errors import IllegalStateError
from drivers.roles.identity import DeviceIdentity, Identifiable, from_idn, identity_of
from drivers.transport.expected import ExpectedProtocolTransport
from tests.drivers.test_environment import FakeClock, x


def test_sensor_identity_comes_from_the_idn_at_connect() -> None:
    transport = ExpectedProtocolTransport([x("*IDN?", "HILCAL,SIMENV,ENV0001,1.0")])
    sensor = ScpiEnvironmentSensor(transport, name="room", clock=FakeClock())
    with pytest.raises(IllegalStateError, match="room: cannot report its identity"):
        sensor.device_identity()
    sensor.connect()
    transport.assert_done()
    assert isinstance(sensor, Identifiable)
    assert sensor.device_identity() == DeviceIdentity(
        "HILCAL", "SIMENV", "ENV0001", "1.0", "HILCAL,SIMENV,ENV0001,1.0"
    )
    sensor.close()
    assert sensor.device_identity().serial == "ENV0001"


def test_a_sensor_answering_a_free_text_idn_still_connects_with_only_raw_filled() -> None:
    transport = ExpectedProtocolTransport([x("*IDN?", "Barometer v2")])
    sensor = ScpiEnvironmentSensor(transport, name="room", clock=FakeClock())
    sensor.connect()
    assert sensor.state == "ready"
    assert sensor.device_identity() == DeviceIdentity("", "", "", "", "Barometer v2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ACME, TH-1 , 77, 2.1\r", DeviceIdentity("ACME", "TH-1", "77", "2.1", "ACME, TH-1 , 77, 2.1")),
        (
            "ACME,TH-1,0,0",
            DeviceIdentity("ACME", "TH-1", "", "", "ACME,TH-1,0,0"),
        ),  # 488.2: 0 = not available
        ("ACME,TH-1,77", DeviceIdentity("", "", "", "", "ACME,TH-1,77")),
    ],
)
def test_idn_parsing_follows_488_2(text: str, expected: DeviceIdentity) -> None:
    assert from_idn(text) == expected


def test_operator_entry_is_an_operator_with_no_serial_in_any_state() -> None:
    entry = OperatorEntry(clock=FakeClock())
    identity = entry.device_identity()
    assert identity == DeviceIdentity("operator", OPERATOR_ENTRY, "", "", "")
    assert identity.key == "operator/operator entry/"
    assert identity_of(entry) == identity
    assert identity_of(object()) is None


def test_as_record_is_json_ready_and_carries_the_key() -> None:
    record = DeviceIdentity("PTW", "UNIDOS Tango TM10052", "123456", "1.2.4", "PTW;…").as_record()
    assert record == {
        "vendor": "PTW",
        "model": "UNIDOS Tango TM10052",
        "serial": "123456",
        "firmware": "1.2.4",
        "key": "PTW/UNIDOS Tango TM10052/123456",
        "raw": "PTW;…",
    }
