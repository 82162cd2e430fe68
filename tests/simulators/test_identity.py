"""Every simulated front-end answers its protocol's identity commands with the serials of the simulation
config (and its defaults), byte for byte, written from the protocol notes, not from the drivers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulators.ndi.protocol import crc16
from simulators.rig import SimulatedRig, SimulationConfig, ZaberDeviceConfig

DEFAULT_RIG = Path(__file__).resolve().parents[2] / "controller" / "default_rig.yaml"


def simulation(**overrides: Any) -> SimulationConfig:
    """The default rig's simulation section with ``overrides`` merged into its sections."""
    raw = yaml.safe_load(DEFAULT_RIG.read_text())["simulation"]
    for section, entries in overrides.items():
        for name, fields in entries.items():
            raw[section][name] = {**raw[section][name], **fields}
    return SimulationConfig.model_validate(raw)


@pytest.fixture(scope="module")
def rig() -> Iterator[SimulatedRig]:
    config = simulation(
        pi_gcs_controllers={"couch_c887": {"serial": "119046713", "firmware": "3.3.1.2"}},
        unidos={"unidos": {"serial": 4711, "firmware": "1.4.0"}},
        keithley6517b={"k6517b": {"serial": "4123456", "firmware": "A14/700X"}},
        environment_sensors={"room_sensor": {"serial": "ENV0042", "firmware": "2.1"}},
        ndi_sensors={"vega": {"serial_number": "P9-01234", "firmware_version": "007.001.002"}},
    )
    with SimulatedRig(config) as simulated:
        yield simulated


def ask(rig: SimulatedRig, endpoint: str, line: bytes) -> bytes:
    return rig.frontends[endpoint][1].feed(line)


def test_zaber_devices_answer_their_own_identity_settings_on_axis_0(rig: SimulatedRig) -> None:
    for address, serial in ((1, 41234), (2, 41235), (3, 41236)):  # controller/default_rig.yaml
        assert ask(rig, "phantom", f"/{address} 0 get system.serial\n".encode()) == (
            f"@0{address} 0 OK IDLE WR {serial}\r\n".encode()
        )
    assert ask(rig, "phantom", b"/2 0 get deviceid\n") == b"@02 0 OK IDLE WR 50081\r\n"
    assert ask(rig, "phantom", b"/2 0 get device.id\n") == b"@02 0 OK IDLE WR 50081\r\n"
    assert ask(rig, "phantom", b"/2 0 get version\n") == b"@02 0 OK IDLE WR 7.32\r\n"
    assert ask(rig, "phantom", b"/2 0 get version.build\n") == b"@02 0 OK IDLE WR 12345\r\n"
    # device-scope settings belong to axis 0
    assert ask(rig, "phantom", b"/2 1 get system.serial\n") == b"@02 1 RJ IDLE WR DEVICEONLY\r\n"


def test_zaber_identity_is_configurable_per_device() -> None:
    config = simulation(
        zaber_chains={
            "phantom": {
                "devices": {
                    1: ZaberDeviceConfig(
                        axes=["phantom_x"], serial=70001, device_id=30341, firmware="7.38", build=17000
                    ),
                    2: {"axes": ["phantom_y"], "serial": 70002},
                    3: {"axes": ["phantom_z"], "serial": 70003},
                }
            }
        },
    )
    with SimulatedRig(config) as simulated:
        assert ask(simulated, "phantom", b"/1 0 get deviceid\n") == b"@01 0 OK IDLE WR 30341\r\n"
        assert ask(simulated, "phantom", b"/1 0 get system.serial\n") == b"@01 0 OK IDLE WR 70001\r\n"
        assert ask(simulated, "phantom", b"/1 0 get version\n") == b"@01 0 OK IDLE WR 7.38\r\n"
        assert ask(simulated, "phantom", b"/1 0 get version.build\n") == b"@01 0 OK IDLE WR 17000\r\n"
        assert ask(simulated, "phantom", b"/3 0 get system.serial\n") == b"@03 0 OK IDLE WR 70003\r\n"


def test_zaber_serial_must_be_given_per_device() -> None:
    with pytest.raises(ValueError, match="serial"):
        ZaberDeviceConfig.model_validate({"axes": ["x"]})


def test_pi_controller_idn(rig: SimulatedRig) -> None:
    assert ask(rig, "couch_c887", b"*IDN?\n") == (
        b"Physik Instrumente (PI) GmbH & Co. KG, C-887.52, 119046713, 3.3.1.2\n"
    )


def test_unidos_ptw_and_ser(rig: SimulatedRig) -> None:
    assert ask(rig, "unidos", b"PTW\r\n") == b"PTW;UNIDOS Tango;TM10052;1.4.0;A16\r\n"
    assert ask(rig, "unidos", b"SER\r\n") == b"SER;4711\r\n"


def test_keithley_idn(rig: SimulatedRig) -> None:
    assert ask(rig, "k6517b", b"*IDN?\n") == b"KEITHLEY INSTRUMENTS INC.,MODEL 6517B,4123456,A14/700X\n"


def test_environment_sensor_idn(rig: SimulatedRig) -> None:
    assert ask(rig, "room_sensor", b"*IDN?\n") == b"HILCAL,SIMENV,ENV0042,2.1\n"


def ndi_command(text: str) -> bytes:
    return text.encode() + b"%04X\r" % crc16(text.encode())


def ndi_text(payload: str) -> bytes:
    return payload.encode() + b"%04X\r" % crc16(payload.encode())


def test_ndi_ver_and_getinfo(rig: SimulatedRig) -> None:
    assert ndi_command("GETINFO:Features.Firmware.Version") == b"GETINFO:Features.Firmware.Version0492\r"
    ver = ask(rig, "vega", b"VER:065EE\r")
    assert ver.startswith(b"Polaris Vega Control Firmware\nNDI S/N: P9-01234\n")
    assert ver == ndi_text(ver[:-5].decode())  # CRC over the payload
    assert ask(rig, "vega", ndi_command("GETINFO:Features.Firmware.Version")) == ndi_text(
        "Features.Firmware.Version=007.001.002;0;0;0;0;Firmware version"
    )
    assert ask(rig, "vega", b"GETINFO Features.Hardware.Serial Number\r") == ndi_text(
        "Features.Hardware.Serial Number=P9-01234;0;0;0;0;Serial number"
    )
    assert ask(rig, "vega", b"GETINFO Features.Hardware.Model\r") == ndi_text(
        "Features.Hardware.Model=Polaris Vega;0;0;0;0;Model"
    )


def test_defaults_when_the_config_names_no_serial() -> None:
    with SimulatedRig(simulation()) as simulated:
        assert ask(simulated, "couch_c887", b"*IDN?\n").split(b", ")[2] == b"119046712"  # default_rig.yaml
        assert ask(simulated, "unidos", b"SER\r\n") == b"SER;123456\r\n"
        assert ask(simulated, "k6517b", b"*IDN?\n").split(b",")[2] == b"4096271"
        assert ask(simulated, "room_sensor", b"*IDN?\n") == b"HILCAL,SIMENV,ENV0001,1.0\n"
        assert b"NDI S/N: P9-00000\n" in ask(simulated, "vega", b"VER:065EE\r")
