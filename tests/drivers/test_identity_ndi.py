"""NDI identity: model and serial from the ``VER:0`` text connect reads, firmware from one added
``GETINFO:Features.Firmware.Version`` (the parameter ndicapi's probe reads; CRC 0492 is ndicapi's)."""

from __future__ import annotations

import pytest

from drivers.errors import IllegalStateError, ProtocolError
from drivers.ndi.tracker import identity_from_version
from drivers.roles.identity import DeviceIdentity, Identifiable
from tests.drivers.test_ndi_protocol import text
from tests.drivers.test_ndi_tracker import GETINFO_FIRMWARE, ONE_TOOL, VER_TEXT, Rig, connect_script, loaded


def test_connect_reads_model_and_serial_from_ver_and_firmware_from_getinfo() -> None:
    rig = loaded()
    rig.transport.assert_done()
    identity = rig.tracker.device_identity()
    assert isinstance(rig.tracker, Identifiable)
    assert (identity.vendor, identity.model, identity.serial, identity.firmware) == (
        "Northern Digital Inc.",
        "Polaris Vega",
        "P9-00000",
        "007.000.011",
    )
    assert identity.key == "Northern Digital Inc./Polaris Vega/P9-00000"
    assert "NDI S/N: P9-00000" in identity.raw and "Features.Firmware.Version=007.000.011" in identity.raw
    assert rig.tracker.firmware_version == "007.000.011"
    rig.tracker.close()
    assert rig.tracker.device_identity() is identity


def test_the_getinfo_bytes_are_ndicapis() -> None:
    assert GETINFO_FIRMWARE == b"GETINFO:Features.Firmware.Version0492\r"
    script = connect_script(ONE_TOOL)
    assert script[3][0] == GETINFO_FIRMWARE  # right after INIT, VER:0 and APIREV


def test_old_firmware_without_getinfo_leaves_the_firmware_empty() -> None:
    rig = Rig(connect_script(ONE_TOOL, firmware=b"ERROR016BC2\r"))
    rig.tracker.connect()
    rig.transport.assert_done()
    assert rig.tracker.state == "tools_loaded"
    identity = rig.tracker.device_identity()
    assert (identity.model, identity.serial, identity.firmware) == ("Polaris Vega", "P9-00000", "")


def test_a_getinfo_answer_for_another_parameter_is_a_protocol_error() -> None:
    rig = Rig(connect_script(ONE_TOOL, firmware=text("Features.Hardware.Model=Polaris Vega;0;0;0;0;Model")))
    with pytest.raises(ProtocolError, match="expected Features.Firmware.Version=<value>"):
        rig.tracker.connect()


def test_identity_before_connect_is_an_illegal_state() -> None:
    rig = Rig([])
    with pytest.raises(IllegalStateError, match="tracker: cannot report its identity"):
        rig.tracker.device_identity()


@pytest.mark.parametrize(
    ("version_text", "model", "serial"),
    [
        (VER_TEXT, "Polaris Vega", "P9-00000"),
        (
            "Polaris Vicra Control Firmware\nNDI S/N: P6-00470\nFreeze Tag: Polaris Vicra Rev 007.000\n",
            "Polaris Vicra",
            "P6-00470",
        ),
        ("Some other text\nwithout the documented lines\n", "", ""),
        ("", "", ""),
    ],
)
def test_ver_text_fields_are_taken_only_from_their_documented_lines(
    version_text: str, model: str, serial: str
) -> None:
    identity = identity_from_version(version_text, None)
    assert identity == DeviceIdentity(
        "Northern Digital Inc.",
        model,
        serial,
        "",
        "\n".join(x.strip() for x in version_text.splitlines() if x.strip()),
    )
