"""Vendor machine scales ↔ IEC 61217, per axis, hub-and-spoke through IEC.

Why refuse instead of guess: a wrong couch sense turns a 10° walkout check into a 20° error that still looks
like data. Every rule here has a public source (pylinac ``core/scale.py``, TrajectoryLogReader's Varian
converters, the IBA proton Clinical User's Guide); anything unsourced or known to vary by
machine configuration raises :class:`UnknownConventionError` / :class:`AmbiguousConventionError`. Sites state
translation readouts explicitly with :class:`TranslationScale`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum, unique
from typing import Literal

from pydantic import BaseModel, ConfigDict

from geometry.angles import wrap180, wrap360
from geometry.errors import AmbiguousConventionError, UnknownConventionError
from geometry.machine import MachineState


@unique
class MachineScale(StrEnum):
    """A named machine scale (how a console displays axis values)."""

    IEC61217 = "iec61217"
    #: Varian's "IEC 601-2-1" / "Varian IEC" scale: IEC 61217 except that the couch sense is reversed.
    VARIAN_IEC = "varian_iec"
    #: Varian Standard (native, machine) scale: gantry, collimator and couch are 180 − IEC.
    VARIAN_STANDARD = "varian_standard"
    #: IBA proton PTS table-top convention: IEC senses, pitch and roll shown in (−180, 180], own Y/Z zeros.
    IBA = "iba"

    @classmethod
    def parse(cls, name: MachineScale | str) -> MachineScale:
        """Accept a member or a common spelling; refuse names that could mean two scales."""
        if isinstance(name, MachineScale):
            return name
        key = re.sub(r"[^a-z0-9]", "", name.lower())
        if key in _REFUSED_NAMES:
            raise AmbiguousConventionError(f"machine scale {name!r} is not accepted: {_REFUSED_NAMES[key]}")
        if key in _ALIASES:
            return _ALIASES[key]
        known = ", ".join(m.value for m in cls)
        raise UnknownConventionError(f"unknown machine scale {name!r}; known: {known}")


@unique
class ScaleAxis(StrEnum):
    """A machine axis as a console shows it; each maps to one MachineState field."""

    GANTRY = "gantry"
    COLLIMATOR = "collimator"
    COUCH_ROTATION = "couch_rotation"
    ECCENTRIC_ROTATION = "eccentric_rotation"
    TABLE_PITCH = "table_pitch"
    TABLE_ROLL = "table_roll"
    TABLE_LATERAL = "table_lateral"
    TABLE_LONGITUDINAL = "table_longitudinal"
    TABLE_VERTICAL = "table_vertical"

    @property
    def state_field(self) -> str:
        return _STATE_FIELDS[self]

    @property
    def is_rotation(self) -> bool:
        return self.state_field.endswith("_deg")


_STATE_FIELDS: Mapping[ScaleAxis, str] = {
    ScaleAxis.GANTRY: "gantry_deg",
    ScaleAxis.COLLIMATOR: "collimator_deg",
    ScaleAxis.COUCH_ROTATION: "couch_rotation_deg",
    ScaleAxis.ECCENTRIC_ROTATION: "eccentric_rotation_deg",
    ScaleAxis.TABLE_PITCH: "table_pitch_deg",
    ScaleAxis.TABLE_ROLL: "table_roll_deg",
    ScaleAxis.TABLE_LATERAL: "table_lateral_mm",
    ScaleAxis.TABLE_LONGITUDINAL: "table_longitudinal_mm",
    ScaleAxis.TABLE_VERTICAL: "table_vertical_mm",
}

_ALIASES: Mapping[str, MachineScale] = {
    "iec61217": MachineScale.IEC61217,
    "iec612172011": MachineScale.IEC61217,
    "varianiec": MachineScale.VARIAN_IEC,
    "iec60121": MachineScale.VARIAN_IEC,
    "iec6012": MachineScale.VARIAN_IEC,
    "iec606012": MachineScale.VARIAN_IEC,
    "iec6060121": MachineScale.VARIAN_IEC,
    "varianiec60121": MachineScale.VARIAN_IEC,
    "varianstandard": MachineScale.VARIAN_STANDARD,
    "variannative": MachineScale.VARIAN_STANDARD,
    "iba": MachineScale.IBA,
    "ibatabletop": MachineScale.IBA,
    "ibapts": MachineScale.IBA,
}

_REFUSED_NAMES: Mapping[str, str] = {
    "iec": "say 'IEC 61217' or 'IEC 601-2-1' (Varian IEC); their couch senses are opposite",
    "varian": "say 'Varian IEC' or 'Varian Standard'; they differ on every rotation axis",
    "elekta": "only pylinac states an Elekta couch sense and its users report confusion "
    "(forum.pylinac.com/t/105); check on the machine and use IEC 61217 or a site rule",
    "elektaiec": "only pylinac states this scale (ELEKTA_IEC) and its couch sense is unconfirmed",
    "siemens": "no public source describes Siemens scales",
}


@dataclass(frozen=True)
class _Rule:
    to_iec: Callable[[float], float]
    from_iec: Callable[[float], float]
    source: str


def _mirror(value: float) -> float:
    return wrap360(360.0 - value)


def _shift_mirror(value: float) -> float:
    return wrap360(180.0 - value)


_IEC = _Rule(wrap360, wrap360, "identity")
_MIRROR = _Rule(_mirror, _mirror, "IEC = 360 − v (pylinac VARIAN_IEC; TrajectoryLogReader; Juntendo)")
_SHIFT_MIRROR = _Rule(
    _shift_mirror, _shift_mirror, "IEC = 180 − v (pylinac VARIAN_STANDARD; TrajectoryLogReader native)"
)
_BIPOLAR = _Rule(wrap360, wrap180, "IEC sense shown in (−180, 180] (IBA user's guide p.124)")
_IEC_MM = _Rule(lambda v: v, lambda v: v, "identity")

_RULES: Mapping[tuple[MachineScale, ScaleAxis], _Rule] = {
    **{(MachineScale.IEC61217, axis): (_IEC if axis.is_rotation else _IEC_MM) for axis in ScaleAxis},
    (MachineScale.VARIAN_IEC, ScaleAxis.GANTRY): _IEC,
    (MachineScale.VARIAN_IEC, ScaleAxis.COLLIMATOR): _IEC,
    (MachineScale.VARIAN_IEC, ScaleAxis.COUCH_ROTATION): _MIRROR,
    (MachineScale.VARIAN_STANDARD, ScaleAxis.GANTRY): _SHIFT_MIRROR,
    (MachineScale.VARIAN_STANDARD, ScaleAxis.COLLIMATOR): _SHIFT_MIRROR,
    (MachineScale.VARIAN_STANDARD, ScaleAxis.COUCH_ROTATION): _SHIFT_MIRROR,
    (MachineScale.IBA, ScaleAxis.GANTRY): _IEC,
    (MachineScale.IBA, ScaleAxis.COUCH_ROTATION): _IEC,
    (MachineScale.IBA, ScaleAxis.TABLE_PITCH): _BIPOLAR,
    (MachineScale.IBA, ScaleAxis.TABLE_ROLL): _BIPOLAR,
    (MachineScale.IBA, ScaleAxis.TABLE_LATERAL): _IEC_MM,
}

_TRANSLATION_REASON = {
    MachineScale.VARIAN_IEC: "Varian couch translation readouts have configuration-dependent offsets "
    "(the public TrajectoryLogReader converters disagree with each other)",
    MachineScale.VARIAN_STANDARD: "Varian couch translation readouts have configuration-dependent offsets "
    "(the public TrajectoryLogReader converters disagree with each other)",
    MachineScale.IBA: "the IBA TTCS puts the Y and Z zeros at the table-centre point, not at IEC's "
    "(IBA user's guide p.124)",
}


def _axis(axis: ScaleAxis | str) -> ScaleAxis:
    try:
        return ScaleAxis(axis)
    except ValueError:
        known = ", ".join(a.value for a in ScaleAxis)
        raise UnknownConventionError(f"unknown machine axis {axis!r}; known: {known}") from None


def _rule(axis: ScaleAxis | str, scale: MachineScale | str) -> tuple[ScaleAxis, _Rule]:
    parsed_scale = MachineScale.parse(scale)
    parsed_axis = _axis(axis)
    rule = _RULES.get((parsed_scale, parsed_axis))
    if rule is not None:
        return parsed_axis, rule
    if not parsed_axis.is_rotation and parsed_scale in _TRANSLATION_REASON:
        raise AmbiguousConventionError(
            f"{parsed_axis.value} in the {parsed_scale.value} scale is not converted: "
            f"{_TRANSLATION_REASON[parsed_scale]}; describe the readout with TranslationScale"
        )
    raise UnknownConventionError(
        f"no sourced definition of the {parsed_axis.value} axis in the {parsed_scale.value} scale"
    )


def to_iec(value: float, axis: ScaleAxis | str, scale: MachineScale | str) -> float:
    """A console value on ``scale`` as IEC 61217 (angles in [0, 360) degrees, translations in mm)."""
    return _rule(axis, scale)[1].to_iec(value)


def from_iec(value: float, axis: ScaleAxis | str, scale: MachineScale | str) -> float:
    """An IEC 61217 value as ``scale`` displays it."""
    return _rule(axis, scale)[1].from_iec(value)


def convert(
    value: float, axis: ScaleAxis | str, from_scale: MachineScale | str, to_scale: MachineScale | str
) -> float:
    """Convert between any two scales through IEC 61217."""
    return from_iec(to_iec(value, axis, from_scale), axis, to_scale)


def rule_source(axis: ScaleAxis | str, scale: MachineScale | str) -> str:
    """Where the conversion rule for this axis and scale comes from (for reports)."""
    return _rule(axis, scale)[1].source


class TranslationScale(BaseModel):
    """A site's statement of how a translation readout relates to IEC 61217 (measured, not assumed).

    ``iec_mm = sense · (reading_mm − reading_at_iec_zero_mm)``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    reading_at_iec_zero_mm: float
    sense: Literal[1, -1] = 1

    def to_iec(self, reading_mm: float) -> float:
        return self.sense * (reading_mm - self.reading_at_iec_zero_mm)

    def from_iec(self, iec_mm: float) -> float:
        return self.reading_at_iec_zero_mm + self.sense * iec_mm


def iec_state(
    readings: Mapping[ScaleAxis | str, float],
    scale: MachineScale | str,
    translations: Mapping[ScaleAxis | str, TranslationScale] | None = None,
    base: MachineState | None = None,
) -> MachineState:
    """A MachineState from console readings on ``scale``; translations may use site TranslationScales."""
    site = {_axis(axis): rule for axis, rule in (translations or {}).items()}
    changes: dict[str, float] = {}
    for raw_axis, value in readings.items():
        axis = _axis(raw_axis)
        if axis in site:
            changes[axis.state_field] = site[axis].to_iec(value)
        else:
            changes[axis.state_field] = to_iec(value, axis, scale)
    return (base or MachineState()).replace(**changes)
