"""NdiTracker against scripted bytes: connect and tool loading, tracking frames, faults and state guards.

The connect script follows the ndicapi session we recorded (scikit-surgerynditracker 1.0.6) with one change
the driver makes on purpose: after ``INIT`` it lists every handle (``PHSR:00``) and frees it, so a frame
lists only the tools this rig loaded. Waits run on ``FakeClock``, so no test sleeps.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from drivers.errors import IllegalStateError, ProtocolError, TransportTimeout
from drivers.ndi import (
    STATES,
    TRANSITIONS,
    FrameTimeout,
    NdiConnection,
    NdiError,
    NdiTool,
    NdiTracker,
    TrackerFault,
)
from drivers.ndi.framing import rom_chunks
from drivers.roles.tracker import Tracker
from tests.drivers.test_ndi_protocol import (
    IDENTITY,
    VERIFIED_BX,
    VERIFIED_TX,
    Script,
    ScriptedTransport,
    binary,
    bx_body,
    bx_disabled,
    bx_missing,
    bx_valid,
    command,
    text,
    tx_missing,
    tx_payload,
    tx_valid,
)

OKAY = b"OKAYA896\r"
VER_TEXT = (
    "Polaris Vega Control Firmware\nNDI S/N: P9-00000\nCharacterization Date: 01/01/20\n"
    "Freeze Tag: Polaris Vega 009\nFreeze Date: 01/01/20\n(C) Northern Digital Inc.\n"
)
BX = b"BX:080100EC\r"
TX = b"TX:0801C19B\r"
TSTART = (b"TSTART:5423\r", OKAY)
TSTOP = (b"TSTOP:2C14\r", OKAY)


class FakeClock:
    """Virtual time: ``sleep`` only moves ``now`` forward."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def rom(size: int, seed: int) -> bytes:
    return bytes((seed + i) % 256 for i in range(size))


def load_tool(handle: int, image: bytes) -> Script:
    """``PHRQ`` answered with ``handle``, then one ``PVWR`` per 64-byte chunk."""
    script: Script = [(b"PHRQ:*********1****A4C1\r", text(f"{handle:02X}"))]
    for address, data in rom_chunks(image):
        script.append((command(f"PVWR:{handle:02X}{address:04X}{data}"), OKAY))
    return script


#: ``GETINFO:Features.Firmware.Version`` with ndicapi's hard-coded CRC, and the answer its probe accepts.
GETINFO_FIRMWARE = b"GETINFO:Features.Firmware.Version0492\r"
FIRMWARE_REPLY = text("Features.Firmware.Version=007.000.011;0;0;0;0;Firmware version")


def connect_script(
    tools: list[tuple[int, bytes, str]],
    *,
    allocated: str = "00",
    apirev: bytes = b"G.001.0056001\r",
    firmware: bytes = FIRMWARE_REPLY,
) -> Script:
    """INIT … PENA for ``(handle, rom, priority)`` tools; ``allocated`` is the ``PHSR:00`` payload."""
    script: Script = [
        (b"INIT:E3A5\r", OKAY),
        (b"VER:065EE\r", text(VER_TEXT)),
        (b"APIREV:443E\r", apirev),
        (GETINFO_FIRMWARE, firmware),
        (command("PHSR:00"), text(allocated)),
    ]
    count = int(allocated[:2], 16)
    for index in range(count):
        script.append((command(f"PHF:{allocated[2 + 5 * index : 4 + 5 * index]}"), OKAY))
    for handle, image, _ in tools:
        script += load_tool(handle, image)
    script += [(command(f"PINIT:{handle:02X}"), OKAY) for handle, _, _ in tools]
    script += [(command(f"PENA:{handle:02X}{priority}"), OKAY) for handle, _, priority in tools]
    return script


ROM_A, ROM_B, ROM_C = rom(100, 1), rom(64, 2), rom(10, 3)
ONE_TOOL = [(1, ROM_A, "D")]
THREE_TOOLS = [(1, ROM_A, "D"), (2, ROM_B, "S"), (3, ROM_C, "D")]


DEFINITIONS = [NdiTool("reference", ROM_A), NdiTool("couch", ROM_B, "S"), NdiTool("phantom", ROM_C)]


class Rig:
    def __init__(
        self, script: Script, *, tools: int = 1, definitions: list[NdiTool] | None = None, **options: Any
    ) -> None:
        self.transport = ScriptedTransport(script, device="vega-port")
        self.clock = FakeClock()
        self.tracker = NdiTracker(
            NdiConnection(self.transport),
            name="tracker",
            tools=DEFINITIONS[:tools] if definitions is None else definitions,
            clock=self.clock,
            **options,
        )


def loaded(*script: tuple[bytes | None, bytes | None], tools: int = 1, **options: Any) -> Rig:
    definitions = ONE_TOOL if tools == 1 else THREE_TOOLS
    rig = Rig([*connect_script(definitions), *script], tools=tools, **options)
    rig.tracker.connect()
    assert rig.tracker.state == "tools_loaded"
    return rig


def tracking(*script: tuple[bytes | None, bytes | None], tools: int = 1, **options: Any) -> Rig:
    rig = loaded(TSTART, *script, tools=tools, **options)
    rig.tracker.start_tracking()
    assert rig.tracker.state == "tracking"
    return rig


def frame(*entries: bytes, system_status: int = 0) -> bytes:
    return binary(bx_body(list(entries), system_status))


# -- construction and connect ----------------------------------------------------------------------------
def test_construction_sends_nothing_and_satisfies_the_role() -> None:
    rig = Rig([])
    assert isinstance(rig.tracker, Tracker)
    assert rig.tracker.state == "disconnected"
    assert rig.tracker.tool_names() == ["reference"]
    rig.transport.assert_done()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tools": []},
        {"tools": [NdiTool("a", b"x"), NdiTool("a", b"y")]},
        {"frame_format": "gx"},
        {"poll_interval_s": 0.0},
        {"frame_timeout_s": math.inf},
        {"frame_rate_hz": 0.0},
    ],
)
def test_bad_construction_arguments(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"name": "t", "tools": [NdiTool("a", b"x")], "clock": FakeClock()}
    args.update(kwargs)
    with pytest.raises(ValueError):
        NdiTracker(NdiConnection(ScriptedTransport([])), **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs", [{"name": "", "rom": b"x"}, {"name": "a", "rom": b""}, {"name": "a", "rom": bytes(1025)}]
)
def test_bad_tool_definitions(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        NdiTool(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        NdiTool("a", b"x", "X")  # type: ignore[arg-type]


def test_connect_one_tool_matches_the_recorded_session() -> None:
    rig = loaded()
    tracker = rig.tracker
    assert tracker.handles == {"reference": 1}
    assert tracker.version_text == VER_TEXT and tracker.api_revision == "G.001.005"
    assert tracker.identify().startswith("Polaris Vega Control Firmware; NDI S/N: P9-00000; ")
    assert tracker.identify().endswith(
        "Freeze Tag: Polaris Vega 009; Freeze Date: 01/01/20; (C) Northern Digital Inc.; API G.001.005"
    )
    assert rig.clock.sleeps == [0.1]  # the pause after INIT, on the rig clock
    rig.transport.assert_done()


def test_connect_three_tools_frees_stale_handles_and_sets_priorities() -> None:
    rig = Rig(connect_script(THREE_TOOLS, allocated="020A0310B031"), tools=3)
    rig.tracker.connect()
    assert rig.tracker.handles == {"reference": 1, "couch": 2, "phantom": 3}
    assert rig.tracker.state == "tools_loaded"
    rig.transport.assert_done()


def test_a_752_byte_rom_is_written_in_twelve_chunks() -> None:
    image = rom(752, 7)
    script = connect_script([(1, image, "D")])
    assert sum(line is not None and line.startswith(b"PVWR:") for line, _ in script) == 12
    rig = Rig(script, definitions=[NdiTool("reference", image)])
    rig.tracker.connect()
    rig.transport.assert_done()


def test_firmware_without_apirev() -> None:
    rig = Rig(connect_script(ONE_TOOL, apirev=b"ERROR016BC2\r"))
    rig.tracker.connect()
    assert rig.tracker.api_revision is None
    assert "API" not in rig.tracker.identify()
    rig.transport.assert_done()


def test_refused_tool_leaves_the_tracker_initialized_and_connect_can_retry() -> None:
    script = connect_script(ONE_TOOL)
    pinit = script.index((b"PINIT:0131EA\r", OKAY))
    script[pinit] = (b"PINIT:0131EA\r", text("ERROR0D"))
    rig = Rig([*script[: pinit + 1], *connect_script(ONE_TOOL)])
    with pytest.raises(NdiError) as caught:
        rig.tracker.connect()
    assert caught.value.ndi_code == 0x0D and caught.value.device == "tracker"
    assert rig.tracker.state == "initialized" and rig.tracker.handles == {}
    rig.tracker.connect()
    assert rig.tracker.state == "tools_loaded"
    rig.transport.assert_done()


def test_silent_tracker_at_connect_is_a_fault_and_connect_recovers() -> None:
    rig = Rig([(b"INIT:E3A5\r", None), *connect_script(ONE_TOOL)])
    with pytest.raises(TransportTimeout):
        rig.tracker.connect()
    assert rig.tracker.state == "fault"
    rig.tracker.connect()
    assert rig.tracker.state == "tools_loaded"
    rig.transport.assert_done()


def test_garbled_init_reply_changes_nothing() -> None:
    rig = Rig([(b"INIT:E3A5\r", b"OKAYA897\r")])
    with pytest.raises(ProtocolError):
        rig.tracker.connect()
    assert rig.tracker.state == "disconnected"
    rig.transport.assert_done()


def test_reconnect_reloads_and_a_failure_after_init_leaves_initialized() -> None:
    rig = loaded((b"INIT:E3A5\r", OKAY), (b"VER:065EE\r", b"garbled\r"), *connect_script(ONE_TOOL))
    with pytest.raises(ProtocolError, match="VER:065EE"):
        rig.tracker.connect()
    assert rig.tracker.state == "initialized" and rig.tracker.handles == {}  # INIT dropped our tools
    rig.tracker.connect()
    assert rig.tracker.state == "tools_loaded" and rig.tracker.handles == {"reference": 1}
    rig.transport.assert_done()


def test_the_same_handle_twice_is_a_protocol_error() -> None:
    script = connect_script(THREE_TOOLS)
    end = script.index((b"PHRQ:*********1****A4C1\r", text("02")))
    script[end] = (b"PHRQ:*********1****A4C1\r", text("01"))
    rig = Rig(script[: end + 1], tools=3)
    with pytest.raises(ProtocolError, match="the same handle was given twice"):
        rig.tracker.connect()
    rig.transport.assert_done()


# -- tracking --------------------------------------------------------------------------------------------
def test_read_frame_bx_one_tool_verified_bytes() -> None:
    rig = tracking((BX, VERIFIED_BX))
    rig.clock.t = 12.5
    result = rig.tracker.read_frame()
    assert (result.device, result.frame, result.clock_s) == ("tracker", "tracker", 12.5)
    pose = result.tool("reference")
    assert (pose.status, pose.rotation, pose.translation_mm) == ("ok", IDENTITY, (10.0, -20.0, -1500.0))
    assert pose.rms_error_mm == pytest.approx(0.1234, abs=1e-7) and pose.frame_number == 0x4B
    assert rig.tracker.last_system_status == 0
    rig.transport.assert_done()


def test_read_frame_tx_one_tool_verified_bytes() -> None:
    rig = tracking((TX, VERIFIED_TX), frame_format="tx")
    pose = rig.tracker.read_frame().tool("reference")
    assert (pose.status, pose.translation_mm, pose.rms_error_mm, pose.frame_number) == (
        "ok",
        (10.0, -20.0, -1500.0),
        0.1234,
        0x35,
    )
    rig.transport.assert_done()


def test_read_frame_three_tools_missing_out_of_volume_and_disabled() -> None:
    q = (0.0, 1.0, 0.0, 0.0)
    reply = frame(
        bx_missing(3, 0x31, 500),  # order on the wire need not follow the rig file
        bx_valid(1, q, (0.5, -0.25, -1400.0), 0.08, 0x71, 500),
        bx_disabled(2),
    )
    rig = tracking((BX, reply), tools=3)
    result = rig.tracker.read_frame()
    assert [p.tool for p in result.tools] == ["reference", "couch", "phantom"]
    reference, couch, phantom = result.tools
    assert (reference.status, reference.rotation, reference.frame_number) == ("out_of_volume", q, 500)
    assert (couch.status, couch.frame_number) == ("disabled", 0)
    assert (phantom.status, phantom.frame_number) == ("missing", 500)
    assert all(math.isnan(v) for v in (*phantom.rotation, *phantom.translation_mm, phantom.rms_error_mm))
    rig.transport.assert_done()


def test_read_frame_tx_three_tools() -> None:
    payload = tx_payload(
        [
            tx_valid(1, IDENTITY, (1.0, 2.0, -1500.0), 0.1, 0x31, 9),
            tx_missing(2, 0x31, 9),
            tx_valid(3, (0.0, 0.0, 0.0, 1.0), (-1.0, 0.0, -1600.0), 0.2, 0xB1, 9),
        ]
    )
    rig = tracking((TX, text(payload)), tools=3, frame_format="tx")
    statuses = [pose.status for pose in rig.tracker.read_frame().tools]
    assert statuses == ["ok", "missing", "partially_out_of_volume"]
    rig.transport.assert_done()


def test_a_handle_missing_from_the_reply_is_reported_disabled(caplog: pytest.LogCaptureFixture) -> None:
    rig = tracking((BX, frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=4))), tools=3)
    statuses = [pose.status for pose in rig.tracker.read_frame().tools]
    assert statuses == ["ok", "disabled", "disabled"]
    assert "handle 02 (couch) is not in the tracking reply" in caplog.text
    rig.transport.assert_done()


def test_a_repeated_frame_is_asked_again_after_the_poll_interval() -> None:
    first = frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=10))
    rig = tracking(
        (BX, first), (BX, first), (BX, first), (BX, frame(bx_missing(1, frame=11))), poll_interval_s=0.02
    )
    assert rig.tracker.read_frame().tool("reference").frame_number == 10
    rig.clock.sleeps.clear()
    second = rig.tracker.read_frame().tool("reference")
    assert (second.status, second.frame_number) == ("missing", 11)
    assert rig.clock.sleeps == [0.02, 0.02]
    rig.transport.assert_done()


def test_with_the_frame_rate_the_next_frame_is_asked_for_once_a_period_after_the_last() -> None:
    """50 Hz: frame 10 arrives, then the driver waits 1.02 periods on the clock and one BX brings 11."""
    rig = tracking(
        (BX, frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=10))),
        (BX, frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=11))),
        frame_rate_hz=50.0,
    )
    assert rig.tracker.frame_period_s() == pytest.approx(0.02)
    rig.clock.sleeps.clear()  # INIT's settle
    assert rig.tracker.read_frame().tool("reference").frame_number == 10
    assert rig.clock.sleeps == []  # nothing read before: no wait
    assert rig.tracker.read_frame().tool("reference").frame_number == 11
    assert rig.clock.sleeps == [pytest.approx(0.0204)]
    rig.transport.assert_done()  # two BX, no repeated request


def test_the_frame_period_is_learned_from_the_frame_numbers_on_the_rig_clock() -> None:
    """No rate in the rig file: 30 frames in 0.5 s of rig clock teach a 1/60 s period; the next read waits
    1.02 periods and asks once. A tracker still on the old frame then is asked again after the poll
    interval."""
    rig = tracking(
        (BX, frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=10))),
        (BX, frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=40))),
        (BX, frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=41))),
        (BX, frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=41))),
        (BX, frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=42))),
        poll_interval_s=0.02,
    )
    tracker, clock = rig.tracker, rig.clock
    tracker.read_frame()
    assert tracker.frame_period_s() is None  # one frame teaches nothing
    clock.sleep(0.5)
    tracker.read_frame()
    assert tracker.frame_period_s() == pytest.approx(1 / 60)
    clock.sleeps.clear()
    assert tracker.read_frame().tool("reference").frame_number == 41
    assert clock.sleeps == [pytest.approx(1.02 / 60)]
    clock.sleeps.clear()
    period = tracker.frame_period_s()  # (0.5 s + 1.02 / 60 s) over 31 frames
    assert period == pytest.approx((0.5 + 1.02 / 60) / 31)
    assert tracker.read_frame().tool("reference").frame_number == 42  # 41 came again first
    assert clock.sleeps == [pytest.approx(1.02 * period), 0.02]
    rig.transport.assert_done()


def test_a_restart_forgets_the_learned_period() -> None:
    rig = tracking(
        (BX, frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=10))),
        (BX, frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=40))),
        TSTOP,
        TSTART,
        (BX, frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=1))),
    )
    rig.tracker.read_frame()
    rig.clock.sleep(0.5)
    rig.tracker.read_frame()
    assert rig.tracker.frame_period_s() is not None
    rig.tracker.stop_tracking()
    rig.tracker.start_tracking()
    assert rig.tracker.frame_period_s() is None
    rig.clock.sleeps.clear()
    assert rig.tracker.read_frame().tool("reference").frame_number == 1
    assert rig.clock.sleeps == []
    rig.transport.assert_done()


def test_a_frozen_tracker_times_out_on_the_clock() -> None:
    same = frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=10))
    rig = tracking(*[(BX, same)] * 7, poll_interval_s=0.05, frame_timeout_s=0.25)
    rig.tracker.read_frame()
    with pytest.raises(FrameTimeout, match=r"no new tracker frame after 0.25 s .* stayed \(10,\)"):
        rig.tracker.read_frame()
    assert rig.tracker.state == "tracking"  # a slow camera is not a broken link
    rig.transport.assert_done()


def test_frames_with_only_disabled_tools_are_not_held_back() -> None:
    rig = tracking((BX, frame(bx_disabled(1))), (BX, frame(bx_disabled(1))))
    rig.tracker.read_frame()
    assert rig.tracker.read_frame().tool("reference").status == "disabled"
    assert rig.clock.sleeps == [0.1]
    rig.transport.assert_done()


def test_restart_accepts_the_same_frame_number_again() -> None:
    same = frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1, frame=10))
    rig = tracking((BX, same), TSTOP, TSTART, (BX, same))
    rig.tracker.read_frame()
    rig.tracker.stop_tracking()
    rig.tracker.start_tracking()
    assert rig.tracker.read_frame().tool("reference").frame_number == 10
    rig.transport.assert_done()


def test_hardware_failure_in_the_system_status_is_a_fault() -> None:
    rig = tracking((BX, frame(bx_valid(1, IDENTITY, (0, 0, 0), 0.1), system_status=0x0010)))
    with pytest.raises(TrackerFault, match="system status 0010"):
        rig.tracker.read_frame()
    assert rig.tracker.state == "fault" and rig.tracker.last_system_status == 0x10
    rig.transport.assert_done()


def test_error_reply_while_tracking_is_a_fault() -> None:
    rig = tracking((BX, b"ERROR0C4E42\r"))
    with pytest.raises(NdiError) as caught:
        rig.tracker.read_frame()
    assert caught.value.ndi_code == 0x0C and caught.value.command == "BX:0801"
    assert rig.tracker.state == "fault"
    rig.transport.assert_done()


def test_bad_crc_while_tracking_keeps_tracking() -> None:
    rig = tracking((BX, VERIFIED_BX[:-1] + b"\x00"), (BX, VERIFIED_BX))
    with pytest.raises(ProtocolError, match="bad binary body CRC") as caught:
        rig.tracker.read_frame()
    assert caught.value.device == "tracker" and caught.value.command == BX
    assert rig.tracker.state == "tracking"
    assert rig.tracker.read_frame().tool("reference").status == "ok"
    rig.transport.assert_done()


def test_silence_while_tracking_is_a_fault() -> None:
    rig = tracking((BX, None))
    with pytest.raises(TransportTimeout):
        rig.tracker.read_frame()
    assert rig.tracker.state == "fault"
    rig.transport.assert_done()


# -- stop, close, extras ---------------------------------------------------------------------------------
def test_stop_sends_tstop_only_when_tracking() -> None:
    rig = tracking(TSTOP)
    rig.tracker.stop()
    assert rig.tracker.state == "tools_loaded"
    rig.tracker.stop()  # nothing to do, no bytes
    rig.transport.assert_done()


def test_close_stops_tracking_never_raises_and_is_idempotent() -> None:
    rig = tracking((b"TSTOP:2C14\r", None))
    rig.tracker.close()
    assert rig.tracker.state == "disconnected" and rig.tracker.handles == {}
    rig.tracker.close()
    assert not rig.transport.closed  # the port belongs to the rig's pool
    rig.transport.assert_done()


def test_beep_and_handle_status() -> None:
    rig = loaded((b"BEEP:18404\r", b"1D4C1\r"), (b"PHSR:04E3FE\r", b"0101031F1AF\r"))
    assert rig.tracker.beep() is True
    assert rig.tracker.handle_status(4) == ((1, 0x031),)
    rig.transport.assert_done()


# -- state guards ----------------------------------------------------------------------------------------
def test_calls_refused_in_the_wrong_state_send_nothing() -> None:
    rig = Rig([])
    tracker = rig.tracker
    for call, action in (
        (tracker.read_frame, "read a frame"),
        (tracker.start_tracking, "start tracking"),
        (tracker.stop_tracking, "stop tracking"),
        (tracker.identify, "identify"),
        (tracker.beep, "beep"),
        (tracker.handle_status, "read handle status"),
    ):
        with pytest.raises(IllegalStateError, match=f"cannot {action} while in state 'disconnected'"):
            call()
    tracker.stop()  # safe in every state
    tracker.close()
    rig.transport.assert_done()


def test_tracking_state_refuses_connect_and_start() -> None:
    rig = tracking()
    with pytest.raises(IllegalStateError, match="cannot connect while in state 'tracking'"):
        rig.tracker.connect()
    with pytest.raises(IllegalStateError, match="cannot start tracking while in state 'tracking'"):
        rig.tracker.start_tracking()
    rig.transport.assert_done()


def test_loaded_state_refuses_frames_and_stop_tracking() -> None:
    rig = loaded()
    with pytest.raises(IllegalStateError, match="cannot read a frame while in state 'tools_loaded'"):
        rig.tracker.read_frame()
    with pytest.raises(IllegalStateError, match="cannot stop tracking"):
        rig.tracker.stop_tracking()
    rig.transport.assert_done()


def test_fault_state_allows_only_connect_and_close() -> None:
    rig = tracking((BX, None))
    with pytest.raises(TransportTimeout):
        rig.tracker.read_frame()
    for call in (rig.tracker.read_frame, rig.tracker.start_tracking, rig.tracker.stop_tracking):
        with pytest.raises(IllegalStateError, match="state 'fault'"):
            call()
    rig.tracker.close()
    assert rig.tracker.state == "disconnected"
    rig.transport.assert_done()


def test_docs_state_diagram_lists_every_transition() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "drivers" / "ndi-combined-api.md").read_text()
    diagram = doc.split("```mermaid", 1)[1].split("```", 1)[0]
    drawn = set(re.findall(r"^\s*(\w+) --> (\w+) : (\w+)", diagram, flags=re.MULTILINE))
    expected: set[tuple[str, str, str]] = set()
    for edge in TRANSITIONS:
        sources = [edge["source"]] if isinstance(edge["source"], str) else edge["source"]
        expected.update((source, edge["dest"], edge["trigger"]) for source in sources)
    assert drawn == expected
    assert set(STATES) <= {state for edge in drawn for state in edge[:2]}


# -- Ctrl-C in the middle of a binary reply (issue 10) ---------------------------------------------------
def interrupt_read(rig: Rig, count: int) -> None:
    """Raise ``KeyboardInterrupt`` the first time the driver asks for ``count`` bytes, as Ctrl-C would
    while the rest of a frame is still on the line."""
    transport = rig.transport
    original = transport._read_exactly
    armed = [True]

    def read_exactly(n: int, timeout_s: float, command: bytes | None) -> bytes:
        if armed[0] and n == count:
            armed[0] = False
            transport._buffer += transport._receive(0)  # the tail of the frame has arrived meanwhile
            raise KeyboardInterrupt
        return original(n, timeout_s, command)

    transport._read_exactly = read_exactly  # type: ignore[method-assign]


def test_ctrl_c_inside_a_bx_body_then_tstop_reads_its_own_okay() -> None:
    rig = tracking((BX, VERIFIED_BX), TSTOP)
    interrupt_read(rig, len(VERIFIED_BX) - 6)  # the body and its CRC, after the header
    with pytest.raises(KeyboardInterrupt):
        rig.tracker.read_frame()
    assert rig.tracker.state == "tracking"
    rig.tracker.stop()  # reads the rest of the frame by its length header, then sends TSTOP
    assert rig.tracker.state == "tools_loaded"
    rig.transport.assert_done()


def test_ctrl_c_before_the_bx_header_drains_the_line_before_tstop() -> None:
    rig = tracking((BX, VERIFIED_BX), TSTOP)
    interrupt_read(rig, 6)  # nothing of the reply consumed: its length is unknown
    with pytest.raises(KeyboardInterrupt):
        rig.tracker.read_frame()
    rig.tracker.stop()
    assert rig.tracker.state == "tools_loaded"
    rig.transport.assert_done()


def test_ctrl_c_inside_a_text_reply_then_the_next_command_reads_its_own_reply() -> None:
    rig = tracking((TX, VERIFIED_TX), TSTOP, frame_format="tx")
    transport = rig.transport
    original = transport._read_until
    armed = [True]

    def read_until(terminator: bytes, timeout_s: float, command: bytes | None) -> bytes:
        if armed[0]:
            armed[0] = False
            raise KeyboardInterrupt
        return original(terminator, timeout_s, command)

    transport._read_until = read_until  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        rig.tracker.read_frame()
    rig.tracker.stop()
    assert rig.tracker.state == "tools_loaded"
    rig.transport.assert_done()
