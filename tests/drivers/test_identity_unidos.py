"""PTW UNIDOS identity: the ``PTW`` and ``SER`` exchanges connect makes (as in PyMeasure), as fields."""

from __future__ import annotations

import pytest

from drivers.errors import DeviceFault, IllegalStateError
from drivers.roles.identity import DeviceIdentity, Identifiable
from tests.drivers.test_unidos import CONNECT, Rig, connected, x


def test_connect_reads_ptw_and_ser_into_the_identity_with_no_extra_traffic() -> None:
    rig = connected()
    rig.done()
    assert [step[0] for step in CONNECT][:2] == [b"PTW\r\n", b"SER\r\n"]
    identity = rig.unidos.device_identity()
    assert isinstance(rig.unidos, Identifiable)
    assert identity == DeviceIdentity(
        vendor="PTW",
        model="UNIDOS Tango TM10052",
        serial="123456",
        firmware="1.2.4",
        raw="PTW;UNIDOS Tango;TM10052;1.2.4;A16; SER;123456",
    )
    assert identity.key == "PTW/UNIDOS Tango TM10052/123456"


def test_identity_is_kept_after_close_and_identify_still_asks_the_device() -> None:
    rig = connected(x("PTW", "PTW;UNIDOS Tango;TM10052;1.2.4;A16"), x("TOK;0", "TOK;0;true"))
    assert rig.unidos.identify() == "UNIDOS Tango;TM10052;1.2.4;A16"
    rig.unidos.close()
    rig.done()
    assert rig.unidos.device_identity().serial == "123456"


def test_a_device_in_error_at_connect_still_reports_who_it_is() -> None:
    rig = Rig([*CONNECT[:3], x("S", "S;ERROR")])
    with pytest.raises(DeviceFault):
        rig.unidos.connect()
    assert rig.unidos.state == "fault"
    assert rig.unidos.device_identity().model == "UNIDOS Tango TM10052"


def test_a_romeo_reports_its_own_name_and_type_number() -> None:
    """(The Romeo type number and serial here are illustrative, not a real instrument's.)"""
    rig = Rig(
        [
            x("PTW", "PTW;UNIDOS Romeo;TM10053;1.3.0;B02"),
            x("SER", "SER;004711"),
            *CONNECT[2:],
        ]
    )
    rig.unidos.connect()
    rig.done()
    identity = rig.unidos.device_identity()
    assert (identity.model, identity.serial, identity.firmware) == ("UNIDOS Romeo TM10053", "004711", "1.3.0")


def test_identity_before_connect_is_an_illegal_state() -> None:
    rig = Rig([])
    with pytest.raises(IllegalStateError, match="electrometer: cannot report its identity"):
        rig.unidos.device_identity()
    rig.done()
