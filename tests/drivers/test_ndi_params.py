"""Rig-file parameters, ROM resolution, the built-in placeholder ROMs and the registry builder."""

from __future__ import annotations

import itertools
import math
import struct
from pathlib import Path

import pytest
from pydantic import ValidationError

from drivers.ndi import DRIVER_KEY, NdiParams, NdiTracker, build_ndi_tracker, crc16, read_rom
from drivers.ndi.roms import BUILTIN_TOOLS, PLACEHOLDER_SIZE, ROM_FOLDER, builtin_roms, placeholder_rom
from drivers.pi_gcs.params import HexapodParams
from drivers.registry import PortPool
from drivers.transport.base import Transport
from drivers.transport.expected import ExpectedProtocolTransport


class FakeClock:
    def now(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        raise AssertionError("building a tracker must not wait")


# -- built-in ROMs ---------------------------------------------------------------------------------------
def test_shipped_roms_are_the_generated_placeholders() -> None:
    generated = builtin_roms()
    assert sorted(generated) == sorted(BUILTIN_TOOLS) == ["couch", "phantom", "pointer", "reference"]
    for name, image in generated.items():
        assert (ROM_FOLDER / f"{name}.rom").read_bytes() == image
        assert read_rom(f"builtin:{name}") == image
        assert len(image) == PLACEHOLDER_SIZE == 752


def test_placeholder_layout_is_self_describing() -> None:
    image = builtin_roms()["couch"]
    assert image[:16] == b"HILCAL-NDI-ROM\x00\x01"
    assert image[16:48].rstrip(b"\x00") == b"couch"
    assert image[48:64].rstrip(b"\x00") == b"HILCAL-PH-002"
    count = image[64]
    markers = [struct.unpack_from("<3f", image, 68 + 12 * i) for i in range(count)]
    assert markers == [tuple(m) for m in BUILTIN_TOOLS["couch"][1]]
    assert crc16(image) == 0  # CRC of the first 750 bytes in the last two: the residue is zero


def test_placeholder_marker_sets_have_distinct_segment_lengths() -> None:
    for name, (_, markers) in BUILTIN_TOOLS.items():
        lengths = [round(math.dist(a, b), 3) for a, b in itertools.combinations(markers, 2)]
        assert len(set(lengths)) == len(lengths), name


@pytest.mark.parametrize(
    ("name", "markers"),
    [("", [(0.0, 0.0, 0.0)] * 3), ("x" * 32, [(0.0, 0.0, 0.0)] * 3), ("x", [(0.0, 0.0, 0.0)])],
)
def test_placeholder_arguments(name: str, markers: list[tuple[float, float, float]]) -> None:
    with pytest.raises(ValueError):
        placeholder_rom(name, 1, markers)


# -- params ----------------------------------------------------------------------------------------------
def test_defaults_and_builtin_tools() -> None:
    params = NdiParams.model_validate({"tools": {"ref": "builtin:reference", "couch": "builtin:couch"}})
    assert (params.frame_format, params.poll_interval_s, params.frame_timeout_s) == ("bx", 0.02, 1.0)
    tools = params.tool_definitions()
    assert [(t.name, t.priority, len(t.rom)) for t in tools] == [("ref", "D", 752), ("couch", "D", 752)]


def test_paths_absolute_and_relative_and_priorities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "8700339.rom").write_bytes(b"\x01" * 752)
    (tmp_path / "roms").mkdir()
    (tmp_path / "roms" / "probe.rom").write_bytes(b"\x02" * 100)
    monkeypatch.chdir(tmp_path)
    params = NdiParams.model_validate(
        {
            "tools": {"reference": str(tmp_path / "8700339.rom"), "probe": "roms/probe.rom"},
            "priority": {"reference": "static", "probe": "button_box"},
            "frame_format": "tx",
        }
    )
    tools = params.tool_definitions()
    assert [(t.name, t.rom[:1], t.priority) for t in tools] == [
        ("reference", b"\x01", "S"),
        ("probe", b"\x02", "B"),
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"tools": {}}, "at least 1 item"),
        ({"tools": {"a": "builtin:nope"}}, "unknown built-in ROM 'builtin:nope'"),
        ({"tools": {"a": "/nonexistent/tool.rom"}}, "does not exist"),
        ({"tools": {"a": "  "}}, "must not be empty"),
        ({"tools": {"": "builtin:couch"}}, "printable and non-empty"),
        ({"tools": {"a": "builtin:couch"}, "priority": {"b": "static"}}, "not tools of this tracker"),
        ({"tools": {"a": "builtin:couch"}, "priority": {"a": "fast"}}, "dynamic"),
        ({"tools": {"a": "builtin:couch"}, "frame_format": "gx"}, "'bx' or 'tx'"),
        ({"tools": {"a": "builtin:couch"}, "poll_interval_s": 0}, "greater than 0"),
        ({"tools": {"a": "builtin:couch"}, "baud": 9600}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_params(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NdiParams.model_validate(params)


@pytest.mark.parametrize("size", [0, 1025])
def test_rom_files_of_impossible_size(tmp_path: Path, size: int) -> None:
    path = tmp_path / "tool.rom"
    path.write_bytes(bytes(size))
    with pytest.raises(ValidationError, match=f"has {size} bytes"):
        NdiParams.model_validate({"tools": {"a": str(path)}})


# -- builder ---------------------------------------------------------------------------------------------
def pool() -> tuple[PortPool, list[str]]:
    opened: list[str] = []

    def opener(port: str, label: str) -> Transport:
        opened.append(port)
        return ExpectedProtocolTransport([], device=label)

    return PortPool(opener), opened


def test_builder_opens_the_port_and_sends_nothing() -> None:
    ports, opened = pool()
    params = NdiParams.model_validate({"tools": {"couch": "builtin:couch"}, "frame_format": "tx"})
    tracker = build_ndi_tracker("tracker", "socket://10.0.0.20:8765", params, ports, FakeClock())
    assert isinstance(tracker, NdiTracker)
    assert (tracker.state, tracker.tool_names(), tracker.frame_format) == ("disconnected", ["couch"], "tx")
    assert opened == ["socket://10.0.0.20:8765"]
    assert (DRIVER_KEY, "socket://10.0.0.20:8765") in ports.sessions
    transport = ports.transports["socket://10.0.0.20:8765"]
    assert isinstance(transport, ExpectedProtocolTransport) and transport.device == "tracker"
    transport.assert_done()


def test_builder_refuses_a_second_tracker_on_one_port_and_foreign_params() -> None:
    ports, _ = pool()
    params = NdiParams.model_validate({"tools": {"couch": "builtin:couch"}})
    build_ndi_tracker("a", "/dev/ttyUSB0", params, ports, FakeClock())
    with pytest.raises(ValueError, match="already carries an NDI tracker"):
        build_ndi_tracker("b", "/dev/ttyUSB0", params, ports, FakeClock())
    with pytest.raises(TypeError, match="expected NdiParams"):
        build_ndi_tracker("c", "/dev/ttyUSB1", HexapodParams(), ports, FakeClock())


def test_builder_reads_roms_before_opening_the_port(tmp_path: Path) -> None:
    path = tmp_path / "tool.rom"
    path.write_bytes(b"\x01" * 10)
    params = NdiParams.model_validate({"tools": {"a": str(path)}})
    path.unlink()
    ports, opened = pool()
    with pytest.raises(ValueError, match="does not exist"):
        build_ndi_tracker("t", "/dev/ttyUSB0", params, ports, FakeClock())
    assert opened == [] and ports.sessions == {}
