"""Both electrometer front-ends and the environment sensor, served over a pty and over TCP; no leaks."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import serial

from simulators.electrometer import (
    BEAM_NAME,
    ElectrometerConfig,
    add_electrometer,
    build_dosimetry_models,
    check_dosimetry_wiring,
)
from simulators.environment import (
    EnvironmentSensorConfig,
    EnvironmentSensorSim,
    RoomEnvironmentConfig,
    add_room_environment,
    build_environment_sensors,
)
from simulators.keithley6517b import Keithley6517bConfig, Keithley6517bSim, build_keithley6517b
from simulators.ptw_unidos import UnidosConfig, UnidosSim, build_unidos
from simulators.radiation import RadiationSource, RadiationSourceConfig, add_radiation_source
from simulators.serve import FrontEnd, PtyServer, TcpServer
from simulators.world import World

pytestmark = pytest.mark.usefixtures("no_leaks")
TIMEOUT_S = 2.0


def unidos(world: World) -> FrontEnd:
    add_radiation_source(world, "beam", RadiationSourceConfig())
    add_electrometer(world, "chamber", ElectrometerConfig(initial_bias_v=300.0))
    return UnidosSim(world, UnidosConfig(electrometer="chamber"))


def keithley(world: World) -> FrontEnd:
    add_radiation_source(world, "beam", RadiationSourceConfig())
    add_electrometer(world, "chamber", ElectrometerConfig())
    return Keithley6517bSim(world, Keithley6517bConfig(electrometer="chamber"))


def sensor(world: World) -> FrontEnd:
    add_room_environment(world, "room", RoomEnvironmentConfig())
    return EnvironmentSensorSim(world, EnvironmentSensorConfig(serial="ENV7"))


CASES: list[tuple[Callable[[World], FrontEnd], bytes, bytes, bytes]] = [
    (unidos, b"PTW\r\n", b"PTW;UNIDOS Tango;TM10052;1.2.4;A16\r\n", b"\r\n"),
    (keithley, b"*IDN?\n", b"KEITHLEY INSTRUMENTS INC.,MODEL 6517B,4096271,A13/700X\n", b"\n"),
    (sensor, b"*IDN?\n", b"HILCAL,SIMENV,ENV7,1.0\n", b"\n"),
]


@pytest.mark.parametrize(("build", "request_", "reply", "end"), CASES, ids=["unidos", "k6517b", "env"])
def test_served_over_a_pty(
    world: World, build: Callable[[World], FrontEnd], request_: bytes, reply: bytes, end: bytes
) -> None:
    with PtyServer(build(world)) as server, serial.Serial(server.path, timeout=TIMEOUT_S) as port:
        port.write(request_)
        assert port.read_until(end) == reply


@pytest.mark.parametrize(("build", "request_", "reply", "end"), CASES, ids=["unidos", "k6517b", "env"])
def test_served_over_tcp(
    world: World, build: Callable[[World], FrontEnd], request_: bytes, reply: bytes, end: bytes
) -> None:
    with TcpServer(build(world)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S) as sock:
            sock.sendall(request_ * 2)
            data = b""
            while data.count(end) < 2:
                data += sock.recv(4096)
        assert data == reply * 2


def test_unidos_write_permission_ends_with_the_connection(world: World) -> None:
    with TcpServer(unidos(world)) as server:
        for expected in (b"TOK;1;false\r\n", b"TOK;1;false\r\n"):
            with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S) as sock:
                sock.sendall(b"TOK;1\r\n")
                assert sock.makefile("rb").readline() == expected
                sock.sendall(b"TOK\r\n")
                assert sock.makefile("rb").readline() == b"TOK;true\r\n"


def test_the_rig_helpers_wire_and_check_names(world: World) -> None:
    radiation = RadiationSourceConfig()
    rooms = {"room": RoomEnvironmentConfig()}
    chambers = {
        "farmer_a": ElectrometerConfig(environment="room", initial_bias_v=300.0),
        "farmer_b": ElectrometerConfig(environment="room", chamber_position_mm=(0.0, 50.0, 0.0)),
    }
    unidos_configs = {"unidos": UnidosConfig(electrometer="farmer_a")}
    keithley_configs = {"k6517b": Keithley6517bConfig(electrometer="farmer_b")}
    front_ends: dict[str, Mapping[str, UnidosConfig | Keithley6517bConfig]] = {
        "unidos": unidos_configs,
        "keithley6517b": keithley_configs,
    }
    sensors = {"env": EnvironmentSensorConfig()}
    check_dosimetry_wiring(radiation, rooms, chambers, front_ends, sensors)
    beam = build_dosimetry_models(world, radiation, rooms, chambers)
    assert beam is world.get(BEAM_NAME, RadiationSource)
    served: dict[str, FrontEnd] = {
        **build_unidos(world, unidos_configs),
        **build_keithley6517b(world, keithley_configs),
        **build_environment_sensors(world, sensors),
    }
    beam.beam_on(6.0)
    servers = [TcpServer(frontend).start() for frontend in served.values()]
    replies: list[bytes] = []
    try:
        for server, probe in zip(servers, (b"S\r\n", b"*OPC?\n", b"MEAS:TEMP?\n"), strict=True):
            with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S) as sock:
                sock.sendall(probe)
                with sock.makefile("rb") as reader:
                    replies.append(reader.readline())
    finally:
        for server in servers:
            server.close()
    assert replies[:2] == [b"S;RES\r\n", b"1\n"]
    assert float(replies[2]) == pytest.approx(22.0, abs=0.1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"radiation": None}, "unknown beam 'beam'"),
        ({"chambers": {"a": ElectrometerConfig(environment="cellar")}}, "unknown room air 'cellar'"),
        ({"front_ends": {"unidos": {"u": UnidosConfig(electrometer="b")}}}, "unknown electrometer 'b'"),
        (
            {
                "front_ends": {
                    "unidos": {"u": UnidosConfig(electrometer="a")},
                    "keithley6517b": {"k": Keithley6517bConfig(electrometer="a")},
                }
            },
            "read twice",
        ),
        ({"sensors": {"s": EnvironmentSensorConfig(environment="attic")}}, "unknown room 'attic'"),
    ],
)
def test_wiring_mistakes_are_refused(change: dict[str, Any], message: str) -> None:
    parts: dict[str, Any] = {
        "radiation": RadiationSourceConfig(),
        "rooms": {"room": RoomEnvironmentConfig()},
        "chambers": {"a": ElectrometerConfig()},
        "front_ends": {},
        "sensors": {},
        **change,
    }
    with pytest.raises(ValueError, match=message):
        check_dosimetry_wiring(
            parts["radiation"], parts["rooms"], parts["chambers"], parts["front_ends"], parts["sensors"]
        )
