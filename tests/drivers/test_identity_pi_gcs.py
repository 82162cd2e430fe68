"""PI GCS identity: the ``*IDN?`` connect already sends, split into its four fields; no extra traffic."""

from __future__ import annotations

import pytest

from drivers.errors import IllegalStateError, ProtocolError
from drivers.pi_gcs import GcsConnection, HexapodController
from drivers.roles.identity import DeviceIdentity, Identifiable
from drivers.transport.expected import ExpectedProtocolTransport
from tests.drivers.test_pi_gcs_couch import connected, make_couch
from tests.drivers.test_pi_gcs_hexapod import ERR_OK, FakeClock, connect_script


def test_idn_at_connect_fills_vendor_model_serial_and_firmware() -> None:
    transport = ExpectedProtocolTransport(connect_script(), device="hexapod-port")
    hexapod = HexapodController(GcsConnection(transport), name="couch", clock=FakeClock())
    hexapod.connect()
    transport.assert_done()  # the connect exchange is unchanged: *IDN? was already part of it
    assert hexapod.device_identity() == DeviceIdentity(
        vendor="Physik Instrumente (PI) GmbH & Co. KG",
        model="C-887.52",
        serial="0123456789",
        firmware="3.2.0.0",
        raw="Physik Instrumente (PI) GmbH & Co. KG, C-887.52, 0123456789, 3.2.0.0",
    )
    hexapod.close()
    assert hexapod.device_identity().serial == "0123456789"


def test_the_couch_role_reports_its_controllers_identity() -> None:
    couch, transport = connected()
    transport.assert_done()
    assert isinstance(couch, Identifiable)
    assert couch.device_identity().key == "Physik Instrumente (PI) GmbH & Co. KG/C-887.52/0123456789"


def test_an_idn_without_four_fields_keeps_only_the_raw_text() -> None:
    script = connect_script()
    script[1] = (b"*IDN?\n", b"C-887 hexapod controller\n")
    transport = ExpectedProtocolTransport(script, device="hexapod-port")
    hexapod = HexapodController(GcsConnection(transport), name="couch", clock=FakeClock())
    hexapod.connect()
    assert hexapod.device_identity() == DeviceIdentity("", "", "", "", "C-887 hexapod controller")


def test_identity_before_connect_is_an_illegal_state() -> None:
    couch, transport, _ = make_couch([])
    with pytest.raises(IllegalStateError, match="couch: cannot report its identity"):
        couch.device_identity()
    transport.assert_done()


def test_identity_survives_a_connect_that_fails_after_idn() -> None:
    transport = ExpectedProtocolTransport(
        [ERR_OK, connect_script()[1], (b"CSV?\n", b"3.0\n")], device="hexapod-port"
    )
    hexapod = HexapodController(GcsConnection(transport), name="couch", clock=FakeClock())
    with pytest.raises(ProtocolError, match="GCS syntax version"):
        hexapod.connect()
    assert hexapod.device_identity().model == "C-887.52"
