"""NDI Combined API driver for optical trackers: Polaris Vega over TCP, Polaris Spectra/Vicra over serial.

``NdiConnection`` is one tracker on one transport; ``NdiTracker`` the ``drivers.roles.tracker.Tracker`` on
top, with its state machine and tool loading; ``drivers.ndi.poses`` turns its poses into matrices.
``build_ndi_tracker`` is the registry builder (key ``ndi-combined-api``, role ``tracker``) and
``NdiParams`` its rig-file parameters. See docs/drivers/ndi-combined-api.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.clock import Clock
from drivers.ndi.connection import (
    PHRQ_WIRELESS_TOOL,
    PHSR_ALL,
    PHSR_ENABLED,
    PHSR_NOT_ENABLED,
    PHSR_NOT_INITIALIZED,
    PHSR_TO_FREE,
    NdiConnection,
    TrackingPriority,
)
from drivers.ndi.errors import ERROR_CODES, FrameTimeout, NdiError, TrackerFault, ndi_error
from drivers.ndi.frames import (
    PORT_ENABLED,
    PORT_INITIALIZED,
    PORT_OCCUPIED,
    PORT_OUT_OF_VOLUME,
    PORT_PARTIALLY_OUT_OF_VOLUME,
    SYSTEM_HARDWARE_FAILURE,
    HandleReport,
    TrackingReply,
    parse_bx,
    parse_handle,
    parse_handle_status,
    parse_tx,
    tool_status,
)
from drivers.ndi.framing import build_command, crc16, parse_text_reply, rom_chunks
from drivers.ndi.roms import BUILTIN_PREFIX, BUILTIN_TOOLS, read_rom, resolve_rom
from drivers.ndi.tracker import STATES, TRANSITIONS, TRIGGER_SOURCES, FrameFormat, NdiTool, NdiTracker

if TYPE_CHECKING:  # the registry imports this package to register it: no runtime import back
    from drivers.registry import PortPool

#: Registry key the lead registers ``build_ndi_tracker`` under.
DRIVER_KEY: Final = "ndi-combined-api"
#: TCP port of the Combined API on a Polaris Vega: ``socket://<host>:8765``.
VEGA_TCP_PORT: Final = 8765
#: A serial tracker talks at this rate after power-up or reset (8N1, no handshake); see the docs on COMM.
SERIAL_BAUDRATE: Final = 9600

Priority = Literal["dynamic", "static", "button_box"]
PRIORITY_CODES: Final[dict[str, TrackingPriority]] = {"dynamic": "D", "static": "S", "button_box": "B"}


class NdiParams(BaseModel):
    """``params:`` of an ``ndi-combined-api`` tracker in a rig file."""

    model_config = ConfigDict(extra="forbid")

    tools: dict[str, str] = Field(
        min_length=1,
        description="tool name → ROM file: an absolute or working-directory-relative path, or "
        f"'{BUILTIN_PREFIX}<name>' for a placeholder shipped with hilcal ({', '.join(BUILTIN_TOOLS)}; "
        "simulated rigs only)",
    )
    priority: dict[str, Priority] = Field(
        default_factory=dict, description="tracking priority per tool (PENA); tools not listed are dynamic"
    )
    frame_format: FrameFormat = Field(default="bx", description="'bx' (binary, float32) or 'tx' (text)")
    poll_interval_s: float = Field(
        default=0.02, gt=0, le=5, description="wait between requests while the tracker repeats its last frame"
    )
    frame_timeout_s: float = Field(
        default=1.0, gt=0, le=60, description="longest wait on the rig clock for a frame newer than the last"
    )
    frame_rate_hz: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="the tracker's frame rate; the next frame is asked for one period after the last "
        "(unset: the period is learned from the frame numbers it reports)",
    )

    @field_validator("tools")
    @classmethod
    def _roms_exist(cls, tools: dict[str, str]) -> dict[str, str]:
        """Every tool's problem at once (a rig check lists them all, not the first of five missing ROMs)."""
        problems = []
        for name, source in tools.items():
            if not name or not name.isprintable():
                problems.append(f"a tool name must be printable and non-empty, got {name!r}")
                continue
            try:
                resolve_rom(source)
            except ValueError as err:
                problems.append(f"{name}: {err}")
        if problems:
            raise ValueError("; ".join(problems))
        return tools

    @model_validator(mode="after")
    def _priorities_name_tools(self) -> Self:
        unknown = sorted(set(self.priority) - set(self.tools))
        if unknown:
            raise ValueError(f"priority: {unknown} are not tools of this tracker ({sorted(self.tools)})")
        return self

    def tool_definitions(self) -> list[NdiTool]:
        """Each tool with its ROM read from disk, in the order of the rig file."""
        return [
            NdiTool(name, read_rom(source), PRIORITY_CODES[self.priority.get(name, "dynamic")])
            for name, source in self.tools.items()
        ]


def build_ndi_tracker(name: str, port: str, params: BaseModel, pool: PortPool, clock: Clock) -> NdiTracker:
    """Registry builder: reads the ROM files, opens (or reuses) the port; no device I/O.

    One tracker per port: the Combined API is one conversation, and ``INIT`` resets the whole device.
    """
    if not isinstance(params, NdiParams):
        raise TypeError(f"{name}: expected NdiParams, got {type(params).__name__}")
    key = (DRIVER_KEY, port)
    if key in pool.sessions:
        raise ValueError(f"{name}: port {port!r} already carries an NDI tracker; one tracker per port")
    tools = params.tool_definitions()  # before the port opens: a bad ROM leaves nothing open
    transport = pool.transport(port, name)
    connection = NdiConnection(transport)
    pool.sessions[key] = connection
    return NdiTracker(
        connection,
        name=name,
        tools=tools,
        clock=clock,
        frame_format=params.frame_format,
        poll_interval_s=params.poll_interval_s,
        frame_timeout_s=params.frame_timeout_s,
        frame_rate_hz=params.frame_rate_hz,
    )


__all__ = [
    "DRIVER_KEY",
    "ERROR_CODES",
    "PHRQ_WIRELESS_TOOL",
    "PHSR_ALL",
    "PHSR_ENABLED",
    "PHSR_NOT_ENABLED",
    "PHSR_NOT_INITIALIZED",
    "PHSR_TO_FREE",
    "PORT_ENABLED",
    "PORT_INITIALIZED",
    "PORT_OCCUPIED",
    "PORT_OUT_OF_VOLUME",
    "PORT_PARTIALLY_OUT_OF_VOLUME",
    "PRIORITY_CODES",
    "SERIAL_BAUDRATE",
    "STATES",
    "SYSTEM_HARDWARE_FAILURE",
    "TRANSITIONS",
    "TRIGGER_SOURCES",
    "VEGA_TCP_PORT",
    "FrameFormat",
    "FrameTimeout",
    "HandleReport",
    "NdiConnection",
    "NdiError",
    "NdiParams",
    "NdiTool",
    "NdiTracker",
    "Priority",
    "TrackerFault",
    "TrackingPriority",
    "TrackingReply",
    "build_command",
    "build_ndi_tracker",
    "crc16",
    "ndi_error",
    "parse_bx",
    "parse_handle",
    "parse_handle_status",
    "parse_text_reply",
    "parse_tx",
    "read_rom",
    "resolve_rom",
    "rom_chunks",
    "tool_status",
]
