"""The NDI Combined API front-end byte for byte: CRCs, a recorded transcript, BX/TX layouts, errors, ROMs."""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

import numpy as np
import pytest
import serial
from pydantic import ValidationError

from simulators.ndi import (
    NdiCombinedApiSim,
    NdiConfig,
    ToolRecord,
    binary_reply,
    bx_body,
    check_ndi_wiring,
    crc16,
    parse_command,
    rom_digest,
    text_reply,
    tx_payload,
)
from simulators.ndi.protocol import NdiError
from simulators.serve import PtyServer, TcpServer
from simulators.tracker import (
    Placement,
    ToolMount,
    TrackedToolConfig,
    TrackerConfig,
    TrackerMounting,
    add_tracker,
    quaternion_from_matrix,
)
from simulators.world import World

AT_ORIGIN = TrackerMounting(position_mm=(0.0, 0.0, 0.0), look_at_mm=None)
FRAME = 1.0 / 60.0


def with_crc(text: str) -> bytes:
    """A command as ndicapi sends it: text + CRC + CR."""
    return text.encode() + b"%04X\r" % crc16(text.encode())


def room_tool(x: float, y: float, z: float, rotation: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Any:
    return TrackedToolConfig(
        mount=ToolMount(kind="room"), pose=Placement(translation_mm=(x, y, z), rotation_deg=rotation)
    )


def make_sim(world: World, noise: float = 0.0, **fields: Any) -> NdiCombinedApiSim:
    """Tracker at the room origin (tracker frame = room frame) with tools the tests place by hand."""
    tools = {
        "reference": room_tool(10.0, -20.0, -1500.0),
        "second": room_tool(100.0, 50.0, -1800.0, (0.0, 0.0, 30.0)),
        "beyond": room_tool(0.0, 0.0, -2700.0),  # seen, outside the characterized volume
        "straddle": room_tool(0.0, 0.0, -2440.0, (90.0, 0.0, 0.0)),  # partly outside
        "unseen": room_tool(0.0, 0.0, -3500.0),  # outside the field of view
    }
    tracker_config = TrackerConfig(
        mounting=AT_ORIGIN, tools=tools, marker_noise_rms_mm=noise, initial_frame=0x4B
    )
    add_tracker(world, "tracker", tracker_config)
    fields.setdefault("tools", ["reference", "second", "unseen"])
    return NdiCombinedApiSim(world, NdiConfig(tracker="tracker", **fields))


def load(sim: NdiCombinedApiSim, rom: bytes = b"", *, enable: bool = True) -> int:
    """PHRQ + 16 PVWR (as ndiPVWRFromFile: 1024 zero-padded bytes) + PINIT [+ PENA]; returns the handle."""
    reply = sim.feed(with_crc("PHRQ:*********1****"))
    handle = int(reply[:2], 16)
    image = rom[:1024].ljust(1024, b"\x00")
    for address in range(0, 1024, 64):
        chunk = image[address : address + 64].hex().upper()
        assert sim.feed(with_crc(f"PVWR:{handle:02X}{address:04X}{chunk}")) == b"OKAYA896\r"
    assert sim.feed(with_crc(f"PINIT:{handle:02X}")) == b"OKAYA896\r"
    if enable:
        assert sim.feed(with_crc(f"PENA:{handle:02X}D")) == b"OKAYA896\r"
    return handle


def tracking(sim: NdiCombinedApiSim, roms: list[bytes]) -> list[int]:
    assert sim.feed(b"INIT:E3A5\r") == b"OKAYA896\r"
    handles = [load(sim, rom) for rom in roms]
    assert sim.feed(b"TSTART:5423\r") == b"OKAYA896\r"
    return handles


def decode_bx(reply: bytes) -> list[dict[str, Any]]:
    """Parse a BX:0801 reply the way ndicapi does (after checking both CRCs)."""
    assert reply[:2] == b"\xc4\xa5"
    length = struct.unpack("<H", reply[2:4])[0]
    assert struct.unpack("<H", reply[4:6])[0] == crc16(reply[:4])
    body = reply[6 : 6 + length]
    assert len(reply) == length + 8 and struct.unpack("<H", reply[-2:])[0] == crc16(body)
    entries, at = [], 1
    for _ in range(body[0]):
        handle, status = body[at], body[at + 1]
        at += 2
        entry: dict[str, Any] = {"handle": handle, "status": status}
        if status == 0x01:
            entry["transform"] = struct.unpack("<8f", body[at : at + 32])
            at += 32
        entry["port_status"], entry["frame"] = struct.unpack("<II", body[at : at + 8])
        at += 8
        entries.append(entry)
    assert at + 2 == len(body)
    return entries


# ==================================================================================================== framing
@pytest.mark.parametrize(
    ("data", "crc"),
    [(b"123456789", 0xBB3D), (b"INIT:", 0xE3A5), (b"OKAY", 0xA896), (b"RESET", 0xBE6F), (b"VER:0", 0x65EE),
     (b"GETINFO:Features.Firmware.Version", 0x0492), (b"G.001.005", 0x6001)],
)  # fmt: skip
def test_crc16_matches_ndicapi_constants(data: bytes, crc: int) -> None:
    assert crc16(data) == crc


def test_research_bx_example_is_byte_exact() -> None:
    record = ToolRecord(1, "valid", 0x31, 0x4B, (1.0, 0.0, 0.0, 0.0, 10.0, -20.0, -1500.0, 0.1234))
    expected = bytes.fromhex(
        "c4a52d003043 01 0101 0000803f000000000000000000000000"
        "00002041 0000a0c1 0080bbc4 24b9fc3d 31000000 4b000000 0000 6d7b"
    )
    reply = binary_reply(bx_body([record], 0x0801))
    assert reply == expected and len(reply) == 53


def test_research_tx_example_is_byte_exact() -> None:
    record = ToolRecord(1, "valid", 0x31, 0x35, (1.0, 0.0, 0.0, 0.0, 10.0, -20.0, -1500.0, 0.1234))
    payload = tx_payload([record], 0x0801)
    assert payload == "0101+10000+00000+00000+00000+001000-002000-150000+012340000003100000035\n0000"
    assert text_reply(payload) == payload.encode() + b"E8FA\r"


def test_missing_and_disabled_layouts() -> None:
    records = [ToolRecord(2, "missing", 0x31, 7), ToolRecord(3, "disabled", 0x11, 7)]
    assert bx_body(records, 0x0801) == bytes.fromhex("02 0202 31000000 07000000 0304 0000")
    assert bx_body(records, 0x0000) == bytes.fromhex("02 0202 0304 0000")
    text = tx_payload(records, 0x0801)
    assert text == "0202MISSING0000003100000007\n03DISABLED0000001100000007\n0000"
    assert tx_payload(records, 0x0000) == "0202\n03\n0000"
    far = ToolRecord(1, "valid", 0x31, 1, (1.0, 0.0, 0.0, 0.0, 12345.678, -0.001, 0.0, 12.0))
    assert "+999999+000000+000000+99999" in tx_payload([far], 1)  # clamped to the field width


def test_parse_command_forms() -> None:
    assert parse_command(b"INIT:E3A5") == parse_command(b"INIT:e3a5")
    assert parse_command(b"BX:080100EC").args == "0801"
    assert parse_command(b"VER 0").args == "0" and not parse_command(b"VER 0").crc
    assert parse_command(b"INIT").name == "INIT"
    for bad, code in ((b"INIT:E3A6", 0x04), (b"INIT:", 0x04), (b"init:E3A5", 0x01), (b"PHSR;01", 0x01)):
        with pytest.raises(NdiError) as error:
            parse_command(bad)
        assert error.value.code == code


# ================================================================================= the session, byte by byte
def test_scikit_surgery_session_transcript(world: World) -> None:
    """The command/reply pairs we recorded from NDITracker 1.0.6 (ndicapi 3.7.6) against a prototype."""
    sim = make_sim(world)
    script: list[tuple[bytes, bytes]] = [
        (b"INIT:E3A5\r", b"OKAYA896\r"),
        (b"PHSR:01E03E\r", b"001414\r"),
        (b"PHRQ:*********1****A4C1\r", b"01D4D5\r"),
    ]
    script += [(with_crc(f"PVWR:01{a:04X}" + "00" * 64), b"OKAYA896\r") for a in range(0, 1024, 64)]
    script += [
        (b"PHSR:01E03E\r", b"001414\r"),
        (b"PHSR:02E17E\r", b"010100101AF\r"),
        (b"PINIT:0131EA\r", b"OKAYA896\r"),
        (b"PHSR:0321BF\r", b"010101191AE\r"),
        (b"PENA:01D6D3B\r", b"OKAYA896\r"),
        (b"PHSR:04E3FE\r", b"0101031F1AF\r"),
        (b"APIREV:443E\r", b"G.001.0056001\r"),
        (b"BEEP:18404\r", b"1D4C1\r"),
        (b"COMM:500000048\r", b"OKAYA896\r"),
        (b"BX:080100EC\r", b"ERROR0C4E42\r"),
        (b"TSTART:5423\r", b"OKAYA896\r"),
    ]
    for command, reply in script:
        assert sim.feed(command) == reply, command
    ver = sim.feed(b"VER:065EE\r")
    text = (
        "Polaris Vega Control Firmware\nNDI S/N: P9-00000\nCharacterization Date: 01/01/20\n"
        "Freeze Tag: Polaris Vega 009\nFreeze Date: 01/01/20\n(C) Northern Digital Inc.\n"
    )
    assert ver == text_reply(text)
    bx = sim.feed(b"BX:080100EC\r")
    (entry,) = decode_bx(bx)
    assert entry["handle"] == 1 and entry["status"] == 0x01 and entry["port_status"] == 0x31
    assert entry["frame"] == 0x4B
    np.testing.assert_allclose(entry["transform"][:7], (1, 0, 0, 0, 10, -20, -1500), atol=1e-4)
    assert sim.feed(b"TX:0801C19B\r") == text_reply(
        "0101+10000+00000+00000+00000+001000-002000-150000" + "+00000" + "00000031" + "0000004B\n0000"
    )
    assert sim.feed(b"TSTOP:2C14\r") == b"OKAYA896\r"
    assert sim.feed(b"TX:0801C19B\r") == b"ERROR0C4E42\r"


def test_bx_and_tx_are_the_tracker_frame(world: World) -> None:
    sim = make_sim(world, noise=0.1, tools=["reference", "second", "unseen"])
    tracking(sim, [b"a", b"b", b"c"])
    frame = sim.tracker.measure()
    expected = []
    for handle, tool in ((1, "reference"), (2, "second")):
        m = frame.tools[tool]
        assert m.matrix is not None
        q, t = quaternion_from_matrix(m.matrix), m.translation_mm
        expected.append(ToolRecord(handle, "valid", 0x31, frame.frame, (*q, *t, m.rms_error_mm)))
    expected.append(ToolRecord(3, "missing", 0x31, frame.frame))
    assert sim.feed(b"BX:080100EC\r") == binary_reply(bx_body(expected, 0x0801))
    assert sim.feed(b"TX:0801C19B\r") == text_reply(tx_payload(expected, 0x0801))
    assert sim.feed(with_crc("BX:0001")) == binary_reply(bx_body(expected, 0x0001))
    assert sim.feed(with_crc("BX:")) == binary_reply(bx_body(expected, 0x0001))  # no option = 0001
    entries = decode_bx(sim.feed(b"BX:080100EC\r"))
    second = np.array(entries[1]["transform"][4:7])
    np.testing.assert_allclose(second, (100.0, 50.0, -1800.0), atol=0.5)
    assert entries[1]["transform"][7] > 0  # a real RMS error with noise
    world.clock.sleep(FRAME)
    assert decode_bx(sim.feed(b"BX:080100EC\r"))[0]["frame"] == 0x4C


def test_volume_statuses_on_the_wire(world: World) -> None:
    sim = make_sim(world, tools=["beyond", "straddle"])
    tracking(sim, [b"", b""])
    normal, extra = decode_bx(sim.feed(with_crc("BX:0001"))), decode_bx(sim.feed(with_crc("BX:0801")))
    # Out of volume: MISSING unless option 0800 asks for "transformations not normally reported".
    assert (normal[0]["status"], normal[0]["port_status"]) == (0x02, 0x71)
    assert (extra[0]["status"], extra[0]["port_status"]) == (0x01, 0x71)
    # Partially out of volume: always reported, bit 7 set.
    assert (normal[1]["status"], normal[1]["port_status"]) == (0x01, 0xB1)
    assert sim.feed(with_crc("TX:0001")).startswith(b"0201MISSING000000710000004B\n02+")


def test_errors(world: World) -> None:
    sim = make_sim(world)
    assert sim.feed(b"PHSR:01E03E\r") == text_reply("ERROR10")  # before INIT
    assert sim.feed(b"BX:080100EC\r") == text_reply("ERROR10")
    assert sim.feed(b"VER:065EE\r").startswith(b"Polaris Vega")  # allowed before INIT
    assert sim.feed(b"INIT:E3A5\r") == b"OKAYA896\r"
    assert sim.feed(with_crc("FOO:")) == b"ERROR016BC2\r"  # the CRC is checked first
    assert sim.feed(b"INIT:0000\r") == b"ERROR046802\r"
    assert sim.feed(with_crc("PVWR:01" + "0000" + "00" * 64)) == b"ERROR2BEE82\r"
    handle = int(sim.feed(with_crc("PHRQ:*********1****"))[:2], 16)
    assert sim.feed(with_crc(f"PINIT:{handle:02X}")) == text_reply("ERROR0D")  # no ROM yet
    assert sim.feed(with_crc(f"PENA:{handle:02X}D")) == text_reply("ERROR0E")  # not initialised
    assert sim.feed(with_crc(f"PVWR:{handle:02X}0010" + "00" * 64)) == text_reply("ERROR23")  # not aligned
    assert sim.feed(with_crc(f"PVWR:{handle:02X}0400" + "00" * 64)) == text_reply("ERROR23")  # past 1 KiB
    assert sim.feed(with_crc(f"PVWR:{handle:02X}0000" + "0G" * 64)) == text_reply("ERROR07")
    assert sim.feed(with_crc(f"PVWR:{handle:02X}0000" + "00" * 63)) == text_reply("ERROR07")
    assert sim.feed(with_crc(f"PVWR:{handle:02X}0000" + "ab" * 64)) == b"OKAYA896\r"  # either case
    assert sim.feed(with_crc(f"PINIT:{handle:02x}")) == b"OKAYA896\r"  # sksurgery writes lower-case
    assert sim.feed(with_crc(f"PENA:{handle:02X}X")) == text_reply("ERROR09")
    assert sim.feed(with_crc(f"PENA:{handle:02X}")) == text_reply("ERROR07")
    assert sim.feed(with_crc("PHSR:07")) == text_reply("ERROR23")
    assert sim.feed(with_crc("PHRQ:*")) == text_reply("ERROR07")
    assert sim.feed(with_crc("BEEP:0")) == text_reply("ERROR23")
    assert sim.feed(with_crc("VER:4")) == text_reply("ERROR23")
    assert sim.feed(with_crc("COMM:90000")) == text_reply("ERROR23")
    assert sim.feed(with_crc("INIT:1")) == text_reply("ERROR07")
    assert sim.feed(with_crc("TSTART:")) == b"OKAYA896\r"
    assert sim.feed(with_crc("TSTART:")) == text_reply("ERROR0C")
    for command in ("PHRQ:*********1****", f"PHF:{handle:02X}", f"PINIT:{handle:02X}", f"PDIS:{handle:02X}"):
        assert sim.feed(with_crc(command)) == text_reply("ERROR0C"), command
    assert sim.feed(with_crc("BX:0002")) == text_reply("ERROR23")  # option not simulated
    assert sim.feed(with_crc("BX:08")) == text_reply("ERROR07")
    assert sim.feed(b"X" * 3000) == text_reply("ERROR02")
    assert sim.feed(b"\r") == b"ERROR016BC2\r"  # an empty line is no command


def test_handles_are_allocated_freed_and_reported(world: World) -> None:
    sim = make_sim(world)
    sim.feed(b"INIT:E3A5\r")
    assert [sim.feed(with_crc("PHRQ:*********1****")) for _ in range(3)] == [
        b"01D4D5\r",
        b"02D595\r",
        b"031554\r",
    ]
    assert sim.feed(with_crc("PHSR:00")) == text_reply("03" + "01000" + "02000" + "03000")
    assert sim.feed(with_crc("PHSR:")) == text_reply("03" + "01000" + "02000" + "03000")
    assert sim.feed(with_crc("PHF:02")) == b"OKAYA896\r"
    assert sim.feed(with_crc("PHF:02")) == b"ERROR2BEE82\r"
    assert sim.feed(with_crc("PHRQ:*********1****")) == b"02D595\r"  # the lowest free number again
    for _ in range(21):
        sim.feed(with_crc("PHRQ:*********1****"))
    assert sim.feed(with_crc("PHRQ:*********1****")) == text_reply("ERROR2D")
    assert sim.feed(b"INIT:E3A5\r") == b"OKAYA896\r"  # INIT frees every handle
    assert sim.feed(with_crc("PHSR:00")) == text_reply("00")
    h = load(sim, b"rom", enable=True)
    assert sim.feed(with_crc(f"PDIS:{h:02X}")) == b"OKAYA896\r"
    assert sim.feed(with_crc("PHSR:03")) == text_reply(f"01{h:02X}011")


def test_rom_binding_by_load_order_and_by_digest(world: World) -> None:
    rom_a, rom_b, rom_c = b"ROM-A" * 10, b"ROM-B" * 100, bytes(range(256)) * 3
    sim = make_sim(world, tools=["reference", "second"], rom_sha256={rom_digest(rom_c): "second"})
    handles = tracking(sim, [rom_c, rom_a, rom_b])
    assert [sim.handles[h].tool for h in handles] == ["second", "reference", "second"]
    entries = decode_bx(sim.feed(b"BX:080100EC\r"))
    np.testing.assert_allclose(entries[0]["transform"][4:7], (100, 50, -1800), atol=1e-3)
    np.testing.assert_allclose(entries[1]["transform"][4:7], (10, -20, -1500), atol=1e-3)
    sim.feed(b"TSTOP:2C14\r")
    sim.feed(with_crc(f"PHF:{handles[1]:02X}"))  # frees the "reference" slot
    sim.feed(with_crc(f"PHF:{handles[2]:02X}"))
    extra = [load(sim, b"x"), load(sim, b"y"), load(sim, b"z")]
    assert [sim.handles[h].tool for h in extra] == ["reference", "second", None]
    sim.feed(b"TSTART:5423\r")
    assert [e["status"] for e in decode_bx(sim.feed(b"BX:080100EC\r"))] == [1, 1, 1, 2]  # unbound: MISSING


def test_rom_digest_ignores_padding() -> None:
    assert rom_digest(b"abc") == rom_digest(b"abc".ljust(1024, b"\0")) == rom_digest(bytearray(b"abc\0"))
    assert rom_digest(b"") == rom_digest(bytes(1024))
    with pytest.raises(ValidationError, match="64 lower-case hex"):
        NdiConfig(tracker="t", rom_sha256={"ABC": "x"})


def test_reset_break_getinfo_and_old_firmware(world: World) -> None:
    sim = make_sim(world)
    sim.feed(b"INIT:E3A5\r")
    assert sim.feed(b"GETINFO:Features.Firmware.Version0492\r") == text_reply(
        "Features.Firmware.Version=007.000.011;0;0;0;0;Firmware version"
    )
    assert sim.feed(with_crc("GETINFO:Param.Nope")) == text_reply("ERROR34")
    assert sim.feed(with_crc("RESET:")) == b"RESETBE6F\r"
    assert sim.feed(b"PHSR:01E03E\r") == text_reply("ERROR10")  # back to power-up
    sim.feed(b"INIT:E3A5\r")
    assert sim.feed(b"PHS\x00") == b"RESETBE6F\r"  # a BREAK (NUL) drops the partial command too
    assert sim.feed(b"PHSR:01E03E\r") == text_reply("ERROR10")
    assert sim.feed(b"\nVER 0\r").startswith(b"Polaris Vega Control Firmware\n")  # no-CRC form, stray LF
    old = make_sim(World(world.clock, seed=1), firmware_version=None, freeze_tag="Polaris Spectra Rev 007")
    assert old.feed(b"GETINFO:Features.Firmware.Version0492\r") == b"ERROR016BC2\r"
    assert b"Freeze Tag: Polaris Spectra Rev 007\n" in old.feed(b"VER:065EE\r")


def test_device_state_is_shared_by_sessions(world: World) -> None:
    sim = make_sim(world)
    first, second = sim.session(), sim.session()
    assert first.feed(b"INIT:E3A5\r") == b"OKAYA896\r"
    assert first.feed(b"PHRQ:*********1") == b""  # partial: nothing yet
    assert second.feed(b"PHSR:00") == b""
    assert first.feed(b"****A4C1\r") == b"01D4D5\r"
    assert second.feed(b"%04X\r" % crc16(b"PHSR:00")) == text_reply("0101000")


def test_wiring_checks(world: World) -> None:
    trackers = {"t": TrackerConfig(tools={"a": room_tool(0.0, 0.0, -1500.0)})}
    check_ndi_wiring(trackers, {"vega": NdiConfig(tracker="t", tools=["a"])})
    with pytest.raises(ValueError, match="unknown tracker"):
        check_ndi_wiring(trackers, {"vega": NdiConfig(tracker="nope")})
    with pytest.raises(ValueError, match="lacks"):
        check_ndi_wiring(trackers, {"vega": NdiConfig(tracker="t", tools=["b"])})
    add_tracker(world, "t", trackers["t"])
    with pytest.raises(KeyError, match="has no tools"):
        NdiCombinedApiSim(world, NdiConfig(tracker="t", tools=["zz"]))


# ================================================================================================== serving
@pytest.mark.usefixtures("no_leaks")
def test_served_over_tcp_and_a_pty(world: World) -> None:
    sim = make_sim(world)
    with TcpServer(sim) as server, socket.create_connection(("127.0.0.1", server.port), timeout=2.0) as conn:
        conn.sendall(b"INIT:E3A5\r")
        assert conn.recv(64) == b"OKAYA896\r"
        conn.sendall(b"PHRQ:*********1****A4C1\r")
        assert conn.recv(64) == b"01D4D5\r"
    with PtyServer(sim) as pty, serial.Serial(pty.path, 9600, timeout=2.0) as port:
        assert os.path.exists(pty.path)
        port.write(b"PHSR:00")
        port.write(b"%04X\r" % crc16(b"PHSR:00"))
        assert port.read_until(b"\r") == text_reply("0101000")  # the same device behind both
