"""Simulator front-ends fed garbage and near-valid commands: the protocol's error reply (or silence),
never an exception that would kill the server thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.clock import VirtualClock
from simulators.electrometer import ElectrometerConfig, add_electrometer
from simulators.environment import (
    EnvironmentSensorConfig,
    EnvironmentSensorSim,
    RoomEnvironmentConfig,
    add_room_environment,
)
from simulators.hexapod import HexapodConfig
from simulators.keithley6517b import Keithley6517bConfig, Keithley6517bSim
from simulators.ndi import NdiCombinedApiSim, NdiConfig, crc16
from simulators.pi_gcs import PiGcsControllerConfig, build_pi_gcs_controllers
from simulators.ptw_unidos import UnidosConfig, UnidosSim
from simulators.radiation import RadiationSourceConfig, add_radiation_source
from simulators.stage import StageConfig
from simulators.tracker import Placement, ToolMount, TrackedToolConfig, TrackerConfig, add_tracker
from simulators.world import World
from simulators.zaber import ZaberChainSimulator, ZaberDeviceSim
from tests.fuzz.harness import FUZZ, bad_numbers, bounded, noise


def _world() -> World:
    return World(VirtualClock(), seed=7)


def zaber() -> Any:
    world = _world()
    world.add_stage("x", StageConfig(power_on_position_mm=10.0))
    return ZaberChainSimulator(world, {1: ZaberDeviceSim(["x"], serial=4242)})


def _chamber(world: World) -> None:
    add_radiation_source(world, "beam", RadiationSourceConfig())
    add_electrometer(world, "chamber", ElectrometerConfig())


def unidos() -> Any:
    world = _world()
    _chamber(world)
    return UnidosSim(world, UnidosConfig(electrometer="chamber"))


def keithley() -> Any:
    world = _world()
    _chamber(world)
    return Keithley6517bSim(world, Keithley6517bConfig(electrometer="chamber"))


def ndi() -> Any:
    world = _world()
    tool = TrackedToolConfig(mount=ToolMount(kind="room"), pose=Placement(translation_mm=(0.0, 0.0, -1500.0)))
    add_tracker(world, "tracker", TrackerConfig(tools={"reference": tool}))
    return NdiCombinedApiSim(world, NdiConfig(tracker="tracker", tools=["reference"]))


def environment() -> Any:
    world = _world()
    add_room_environment(world, "room", RoomEnvironmentConfig())
    return EnvironmentSensorSim(world, EnvironmentSensorConfig())


def pi_gcs() -> Any:
    """Referenced with the servo on, so motion commands reach the hexapod past the reference check."""
    world = _world()
    pi = build_pi_gcs_controllers(
        world, {"couch": HexapodConfig()}, {"pi": PiGcsControllerConfig(hexapod="couch")}
    )["pi"]
    pi.feed(b"SVO X 1\nFRF\n")
    world.clock.advance_to(16.0)
    assert pi.feed(b"ERR?\n") == b"0\n"
    return pi


def _ndi_line(text: str) -> bytes:
    raw = text.encode("utf-8", "replace")
    return raw + b"%04X\r" % crc16(raw)  # a right CRC, so the command reaches the parser behind it


ZABER_WORDS = [
    "get pos",
    "move abs",
    "move rel",
    "move vel",
    "home",
    "stop",
    "estop",
    "warnings",
    "warnings clear",
    "set maxspeed",
    "set accel",
    "get limit.max",
    "set comm.alert",
    "get",
]
UNIDOS_WORDS = [
    "PTW",
    "SER",
    "TOK",
    "S",
    "MV",
    "MVM",
    "MVR",
    "HV",
    "RGE",
    "UEL",
    "STA",
    "HLD",
    "RES",
    "INT",
    "NUS",
    "NUL",
    "IT",
    "E01",
]
SCPI_WORDS = [
    "*IDN?",
    "*CLS",
    "*RST",
    ":FORM:ELEM",
    ":SENS:FUNC",
    ":SENS:CHAR:RANG",
    ":SENS:CURR:NPLC",
    ":SYST:ZCH",
    ":SYST:ERR?",
    ":READ?",
    ":TRAC:POIN",
    ":TRIG:COUN",
    ":SOUR:VOLT:LEV",
    ":OUTP",
    ":TRAC:DATA?",
    ":INIT",
    ":SENS:CHAR:ADIS",
]
NDI_WORDS = [
    "INIT:",
    "VER:",
    "APIREV:",
    "PHSR:",
    "PHF:",
    "PHRQ:",
    "PVWR:",
    "PINIT:",
    "PENA:",
    "TSTART:",
    "TSTOP:",
    "BX:",
    "TX:",
    "BEEP:",
    "RESET:",
]
PI_WORDS = [
    "*IDN?", "CSV?", "ERR?", "HLP?", "SAI?", "CST?", "POS?", "MOV?", "ONT?", "FRF?", "SVO?", "TMN?",
    "TMX?", "VLS?", "SPI?", "VMO? X", "VMO? X 1 U", "MOV X", "MOV U", "MOV X 1 Y", "MVR Z", "FRF", "HLT",
    "STP", "SVO X", "VLS", "SPI R", "SPI X 0 S", "\x05", "\x07", "\x18", "\x03", "\x1b",
]  # fmt: skip
ENV_WORDS = ["*IDN?", "MEAS:TEMP?", "MEAS:PRES?", "SYST:ERR?", "MEAS:"]  # fmt: skip

arg = st.one_of(bad_numbers, st.text(max_size=12), st.integers(-(10**30), 10**30).map(str))


def _lines(words: list[str], sep: str, end: str, frame: Callable[[str], bytes] | None = None) -> Any:
    line = st.builds(
        lambda w, args: w + (sep if args else "") + sep.join(args),
        st.sampled_from(words),
        st.lists(arg, max_size=4),
    )
    if frame is None:
        return line.map(lambda text: text.encode("utf-8", "replace") + end.encode())
    return line.map(frame)


ZABER_HEADS = st.one_of(st.just("1 1"), bad_numbers, st.text(max_size=8))


def _zaber_line(head: str, rest: bytes) -> bytes:
    return b"/" + head.encode("utf-8", "replace") + b" " + rest


FRONT_ENDS: list[tuple[str, Callable[[], Any], Any]] = [
    ("zaber", zaber, st.builds(_zaber_line, ZABER_HEADS, _lines(ZABER_WORDS, " ", "\n"))),
    ("ptw_unidos", unidos, _lines(UNIDOS_WORDS, ";", "\r\n")),
    ("keithley6517b", keithley, _lines(SCPI_WORDS, " ", "\n")),
    ("ndi", ndi, _lines(NDI_WORDS, "", "\r", _ndi_line)),
    ("environment", environment, _lines(ENV_WORDS, " ", "\n")),
    ("pi_gcs", pi_gcs, _lines(PI_WORDS, " ", "\n")),
]  # fmt: skip


#: Up to four chunks per case, command lines twice as likely as noise; built once per front-end.
CHUNKS = {
    protocol: st.lists(st.one_of(lines, noise(), lines), min_size=1, max_size=4)
    for protocol, _, lines in FRONT_ENDS
}


@pytest.mark.parametrize(("protocol", "make", "lines"), FRONT_ENDS, ids=[f[0] for f in FRONT_ENDS])
@FUZZ
@given(data=st.data())
def test_front_end_answers_anything(protocol: str, make: Callable[[], Any], lines: Any, data: Any) -> None:
    chunks = data.draw(CHUNKS[protocol], label="input")
    session = make().session()
    lines_in = sum(chunk.count(b"\r") + chunk.count(b"\n") for chunk in chunks)
    with bounded(protocol, "simulator", commands=lines_in):
        for chunk in chunks:
            reply = session.feed(chunk)
            assert isinstance(reply, bytes)


@pytest.mark.parametrize(
    ("make", "line"),
    [
        (zaber, b"/" + b"9" * 5000 + b" 1 get pos\n"),  # ValueError past the 4300-digit int limit
        (keithley, b":SYST:ZCH inf\n"),  # OverflowError in round(float("inf"))
        (unidos, b"IT;" + b"9" * 4400 + b"\r\n"),
    ],
)
def test_known_killers_get_an_error_reply(make: Callable[[], Any], line: bytes) -> None:
    session = make().session()
    session.feed(line)  # raised before the fix, which killed the server thread
