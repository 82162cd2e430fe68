"""Every device of the default simulated rig, connected through the rig factory exactly as a run does, says
which device it is: drivers read identity over their own protocols from simulators that answer them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controller.config import load_rig_config
from controller.rig import Rig, build_rig
from drivers.roles.identity import DeviceIdentity, Identifiable


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    built = build_rig(load_rig_config())
    try:
        built.connect_all()
        yield built
    finally:
        built.close()


def identities(rig: Rig) -> dict[str, DeviceIdentity]:
    found: dict[str, DeviceIdentity] = {}
    for name, device in rig.devices.all():
        assert isinstance(device, Identifiable), f"{name}: {type(device).__name__} has no device_identity()"
        found[name] = device.device_identity()
    return found


def test_every_device_reports_a_serial_and_a_model(rig: Rig) -> None:
    found = identities(rig)
    assert set(found) == set(rig.config.devices)
    for name, identity in found.items():
        assert identity.serial, f"{name}: no serial in {identity}"
        assert identity.model, f"{name}: no model in {identity}"
        assert identity.raw, name


def test_the_serials_are_the_simulation_configs(rig: Rig) -> None:
    found = identities(rig)
    assert {name: found[name].serial for name in ("phantom_x", "phantom_y", "phantom_z")} == {
        "phantom_x": "41234",
        "phantom_y": "41235",
        "phantom_z": "41236",
    }
    assert found["couch"].serial == "119046712"
    assert found["couch"].model == "C-887.52"
    assert found["phantom_x"].firmware == "7.32.12345"
    assert found["tracker"].model == "Polaris Vega" and found["tracker"].firmware == "007.000.011"
    assert found["electrometer_unidos"].key == "PTW/UNIDOS Tango TM10052/123456"
    assert found["electrometer_6517b"].model == "6517B"
    # one history per physical device: no two devices share a key
    keys = [identity.key for identity in found.values()]
    assert len(set(keys)) == len(keys)
