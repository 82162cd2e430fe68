"""What a calibration sequence is: parameters, a plan (messages), an analysis (verdicts), figures.

A sequence is split the way a physicist thinks of a test: the *procedure* (``plan``: which moves and
readings, yielded as data), the *analysis* (``analyze``: metrics with uncertainties from the raw data),
and the *tolerances* (named profiles, each limit with its source). The raw data a plan returns is plain
JSON-able records, so a journal replay reproduces the analysis exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, Field, ValidationError

from controller.config import TrackerRegistrationConfig, read_structured_file
from controller.errors import ConfigError, describe_validation_errors
from controller.interlocks import AxisLimits
from controller.messages import Message
from controller.results import SequenceResult
from drivers.environment import EnvironmentReading
from geometry import AxisMounting

#: Dose per monitor unit of the beam set up, so a beam prompt can state the MU and MU/min to set (photon
#: sequences default to 1 cGy/MU; proton ones leave it unset: proton MU have no common calibration).
GyPerMu = Annotated[
    float | None,
    Field(
        gt=0,
        le=1,
        description="dose at the chamber per monitor unit for the beam set up, so every beam prompt states "
        "the MU and MU/min to set (photons: 0.01 Gy/MU = 1 cGy/MU, the usual calibration at reference "
        "conditions; give the output at this set-up's depth and field; protons: unset by default, proton MU "
        "have no common calibration; null: MU not stated)",
    ),
]


ParamsT = TypeVar("ParamsT", bound=BaseModel)
Plan = Generator[Message, Any, Any]


def require_known_profile(profile: str, override: object | None, profiles: Mapping[str, object]) -> None:
    """A params validator's check: the named tolerance profile exists, unless a site profile replaces it."""
    if override is None and profile not in profiles:
        raise ValueError(f"profile {profile!r} is unknown; known: {sorted(profiles)}")


def environment_record(reading: EnvironmentReading) -> dict[str, Any]:
    """A room-air reading as plan data: what k_TP needs, when it was read, and who or what gave it."""
    return {
        "temperature_c": reading.temperature_c,
        "pressure_kpa": reading.pressure_kpa,
        "provenance": reading.provenance,
        "operator": reading.operator,
        "clock_s": reading.clock_s,
    }


DeviceRole = Literal["positioner", "couch", "dosimeter", "environment", "tracker"]


@dataclass(frozen=True, slots=True)
class DeviceNeed:
    """A rig device a plan will use, and the parameter that names it (for an error that says which)."""

    parameter: str
    device: str
    role: DeviceRole


@dataclass(frozen=True, slots=True)
class ToolNeed:
    """A tracker tool a plan reads (on the rig's registration tracker), and the parameter naming it."""

    parameter: str
    tool: str


def chamber_needs(dosimeter: str, environment: str | None) -> list[DeviceNeed]:
    """An electrometer sequence's devices: the electrometer, and the air sensor or entry when one is named."""
    needs = [DeviceNeed("dosimeter", dosimeter, "dosimeter")]
    if environment is not None:
        needs.append(DeviceNeed("environment", environment, "environment"))
    return needs


class SequenceContext(Protocol):
    """What a plan may know about the rig before it runs (never a live device handle)."""

    def axis_limits(self, device: str) -> AxisLimits: ...

    def axis_mounting(self, device: str) -> AxisMounting | None:
        """Where the axis sits in the room (IEC 61217), when the rig file says so."""
        ...

    def tracker_registration(self) -> TrackerRegistrationConfig | None:
        """The registration phantom's fiducials (tracker tools at known IEC f positions)."""
        ...


class Sequence(ABC, Generic[ParamsT]):
    name: ClassVar[str]
    title: ClassVar[str]
    params_model: ClassVar[type[BaseModel]]
    #: Whether the plan measures with the rig's registered tracker (``tracker_registration`` in the rig).
    uses_registration: ClassVar[bool] = False

    @abstractmethod
    def device_needs(self, params: ParamsT) -> list[DeviceNeed]:
        """Every rig device the plan will address (the registration tracker aside), known from params alone.

        The run checks these against the rig file before any device is opened, and opens only them.
        """

    def tool_needs(self, params: ParamsT) -> list[ToolNeed]:
        """Tracker tools the plan reads besides the registration fiducials."""
        return []

    @abstractmethod
    def plan(self, params: ParamsT, context: SequenceContext) -> Plan:
        """Yield messages; return the raw data (list of JSON-able records) for ``analyze``."""

    @abstractmethod
    def analyze(self, params: ParamsT, data: Any) -> SequenceResult: ...

    @abstractmethod
    def figures(self, result: SequenceResult) -> list[Any]:
        """matplotlib Figures for the report (created lazily, only when a report is written)."""

    def device_of(self, params: ParamsT) -> str:
        return str(params.model_dump().get("axis", ""))

    def parse_params(self, raw: dict[str, Any], source: str = "sequence parameters") -> ParamsT:
        try:
            return self.params_model.model_validate(raw)  # type: ignore[return-value]
        except ValidationError as err:
            raise ConfigError(source, describe_validation_errors(err.errors())) from err

    def load_params(self, path: Path | None, overrides: dict[str, Any] | None = None) -> ParamsT:
        raw: dict[str, Any] = read_structured_file(path) if path is not None else {}
        raw.update(overrides or {})
        source = f"sequence file {str(path)!r}" if path is not None else f"{self.name} parameters"
        return self.parse_params(raw, source)
