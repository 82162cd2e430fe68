"""The tracker role: an independent optical measurement of where tools (marker sets) really are.

Poses cross this boundary in the tracker's own coordinate frame, in millimetres, as the instrument reports
them (unit quaternion q0 qx qy qz and a translation). Registration of that frame to IEC 61217 f is a
separate, measured step (the room-fixed reference tool), never an assumed identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

ToolStatus = Literal["ok", "missing", "out_of_volume", "partially_out_of_volume", "disabled"]


@dataclass(frozen=True, slots=True)
class ToolPose:
    """One tool in one frame; ``rotation``/``translation_mm`` are meaningful only when status is ``ok``."""

    tool: str
    status: ToolStatus
    rotation: tuple[float, float, float, float]  # unit quaternion q0, qx, qy, qz (tracker frame ← tool)
    translation_mm: tuple[float, float, float]
    rms_error_mm: float
    frame_number: int


@dataclass(frozen=True, slots=True)
class TrackerFrame:
    """Every enabled tool at one instant; ``frame`` names the tracker's coordinate system."""

    device: str
    tools: tuple[ToolPose, ...]
    clock_s: float
    frame: str = "tracker"

    def tool(self, name: str) -> ToolPose:
        for pose in self.tools:
            if pose.tool == name:
                return pose
        raise KeyError(f"{self.device}: no tool named {name!r} (have {[p.tool for p in self.tools]})")


@runtime_checkable
class Tracker(Protocol):
    name: str

    @property
    def state(self) -> str:
        """disconnected, initialized, tracking or fault."""
        ...

    def connect(self) -> None:
        """Open, initialise, load the tool definitions and enable the tools."""
        ...

    def close(self) -> None: ...

    def identify(self) -> str: ...

    def tool_names(self) -> list[str]: ...

    def start_tracking(self) -> None: ...

    def stop_tracking(self) -> None: ...

    def read_frame(self) -> TrackerFrame: ...

    def stop(self) -> None:
        """Safe state: a tracker has no motion; stopping tracking is enough."""
        ...
