"""Keithley 6517B identity: the ``*IDN?`` connect already sends (6517B-901-01 §14), as its four fields."""

from __future__ import annotations

import pytest

from drivers.errors import IllegalStateError, ProtocolError
from drivers.keithley6517b.electrometer import keithley_identity
from drivers.keithley6517b.scpi import KeithleyIdentity
from drivers.roles.identity import DeviceIdentity, Identifiable
from tests.drivers.test_keithley6517b import IDN, Rig, connect_script, connected, q


def test_connect_splits_idn_into_vendor_model_serial_firmware_with_no_extra_traffic() -> None:
    rig = connected()
    rig.done()
    assert connect_script()[0] == (b"*IDN?\n", IDN.encode() + b"\n")
    assert isinstance(rig.k, Identifiable)
    assert rig.k.device_identity() == DeviceIdentity(
        vendor="KEITHLEY INSTRUMENTS INC.",
        model="6517B",
        serial="4096123",
        firmware="A13/700x",
        raw=IDN,
    )
    assert rig.k.device_identity().key == "KEITHLEY INSTRUMENTS INC./6517B/4096123"


def test_identity_is_the_connect_answer_and_survives_close() -> None:
    rig = connected(q("*IDN?", IDN))
    assert rig.k.identify() == IDN  # identify() still asks the instrument and returns its line
    rig.k.close()
    rig.done()
    assert rig.k.device_identity().serial == "4096123"


def test_another_instrument_is_refused_and_reports_no_identity() -> None:
    rig = Rig([q("*IDN?", "KEITHLEY INSTRUMENTS INC.,MODEL 2000,1,A01")])
    with pytest.raises(ProtocolError):
        rig.k.connect()
    with pytest.raises(IllegalStateError, match="electrometer: cannot report its identity"):
        rig.k.device_identity()


def test_a_model_field_without_the_model_word_is_kept_as_sent() -> None:
    identity = keithley_identity(KeithleyIdentity("KEITHLEY INSTRUMENTS INC.", "6517B", "1", "A1"), "x")
    assert identity.model == "6517B"
