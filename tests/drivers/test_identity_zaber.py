"""Zaber identity at connect: device-scope settings on axis 0 of the axis's own device, read once, cached."""

from __future__ import annotations

import pytest

from drivers.errors import IllegalStateError, TransportTimeout
from drivers.roles.identity import DeviceIdentity, Identifiable
from drivers.transport.expected import ExpectedProtocolTransport
from drivers.zaber import ZaberAxis, ZaberConnection
from tests.drivers.test_zaber_axis import FakeClock, Script

LIMITS: Script = [
    (b"/2 1\n", b"@02 1 OK IDLE -- 0\r\n"),
    (b"/2 1 warnings\n", b"@02 1 OK IDLE -- 00\r\n"),
    (b"/2 1 get limit.min\n", b"@02 1 OK IDLE -- 0\r\n"),
    (b"/2 1 get limit.max\n", b"@02 1 OK IDLE -- 3048000\r\n"),
]


def axis(script: Script) -> tuple[ZaberAxis, ExpectedProtocolTransport]:
    transport = ExpectedProtocolTransport(script, device="zaber-chain")
    stage = ZaberAxis(
        ZaberConnection(transport),
        name="phantom-y",
        address=2,
        axis=1,
        microstep_size_um=0.1,
        clock=FakeClock(),
    )
    return stage, transport


def test_connect_reads_id_serial_version_and_build_from_axis_0_of_its_device() -> None:
    stage, transport = axis(
        [
            *LIMITS,
            (b"/2 0 get deviceid\n", b"@02 0 OK IDLE -- 50081\r\n"),
            (b"/2 0 get system.serial\n", b"@02 0 OK IDLE -- 41235\r\n"),
            (b"/2 0 get version\n", b"@02 0 OK IDLE -- 7.32\r\n"),
            (b"/2 0 get version.build\n", b"@02 0 OK IDLE -- 16310\r\n"),
        ]
    )
    stage.connect()
    transport.assert_done()
    identity = stage.device_identity()
    assert isinstance(stage, Identifiable)
    assert identity == DeviceIdentity(
        vendor="Zaber Technologies",
        model="50081",
        serial="41235",
        firmware="7.32.16310",
        raw="deviceid=50081; system.serial=41235; version=7.32; version.build=16310",
    )
    assert identity.key == "Zaber Technologies/50081/41235"
    # cached: asking again sends nothing (the script is exhausted), and it survives close()
    stage.close()
    assert stage.device_identity() is identity


def test_a_setting_the_firmware_rejects_leaves_its_field_empty() -> None:
    stage, transport = axis(
        [
            *LIMITS,
            (b"/2 0 get deviceid\n", b"@02 0 OK IDLE -- 30211\r\n"),
            (b"/2 0 get system.serial\n", b"@02 0 OK IDLE -- 1234\r\n"),
            (b"/2 0 get version\n", b"@02 0 OK IDLE -- 6.28\r\n"),
            (b"/2 0 get version.build\n", b"@02 0 RJ IDLE -- BADCOMMAND\r\n"),
        ]
    )
    stage.connect()
    transport.assert_done()
    assert stage.state == "ready"
    identity = stage.device_identity()
    assert (identity.model, identity.serial, identity.firmware) == ("30211", "1234", "6.28")
    assert identity.raw.endswith("version.build=")


def test_identity_before_connect_is_an_illegal_state() -> None:
    stage, transport = axis([])
    with pytest.raises(IllegalStateError, match="phantom-y: cannot report its identity"):
        stage.device_identity()
    transport.assert_done()


def test_a_silent_device_during_identity_fails_connect() -> None:
    stage, _ = axis([*LIMITS, (b"/2 0 get deviceid\n", None)])
    with pytest.raises(TransportTimeout):
        stage.connect()
    assert stage.state == "disconnected"
    with pytest.raises(IllegalStateError):
        stage.device_identity()
