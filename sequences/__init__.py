"""Calibration sequences: procedure (plan), analysis and tolerances, registered by name.

Besides the built-ins, installed packages add sequences under the entry-point group ``hilcal.sequences``
(a ``Sequence`` instance or class; see docs/plugins.md). They are read once, at import.
"""

from __future__ import annotations

import inspect
from typing import Any

from drivers.plugins import PluginProblem, load_plugins
from sequences.air_density_stability import AirDensityStability
from sequences.base import Sequence
from sequences.chamber_cross_calibration import ChamberCrossCalibration
from sequences.chamber_polarity_recombination import ChamberPolarityRecombination
from sequences.couch_accuracy import CouchTranslationAccuracy
from sequences.couch_load import CouchLoadPositioning
from sequences.couch_pose_readback import CouchPoseReadback
from sequences.couch_rotation import CouchRotationAccuracy
from sequences.couch_walkout import CouchRotationWalkout
from sequences.electrometer_end_effect import ElectrometerEndEffect
from sequences.electrometer_leakage_reproducibility import ElectrometerLeakageReproducibility
from sequences.electrometer_linearity import ElectrometerLinearity
from sequences.phantom_axis_iso230 import PhantomAxisIso230
from sequences.proton_lateral_profile import ProtonLateralProfile
from sequences.proton_output_constancy import ProtonOutputConstancy
from sequences.proton_range_check import ProtonRangeCheck
from sequences.tracker_registration import TrackerRegistration
from sequences.water_tank_axes import WaterTankAxes

BUILTIN_SEQUENCES: dict[str, Sequence[Any]] = {
    seq.name: seq
    for seq in (
        PhantomAxisIso230(),
        CouchPoseReadback(),
        ElectrometerLeakageReproducibility(),
        ElectrometerLinearity(),
        ElectrometerEndEffect(),
        TrackerRegistration(),
        WaterTankAxes(),
        CouchTranslationAccuracy(),
        CouchRotationWalkout(),
        CouchRotationAccuracy(),
        CouchLoadPositioning(),
        ChamberPolarityRecombination(),
        ChamberCrossCalibration(),
        AirDensityStability(),
        ProtonLateralProfile(),
        ProtonRangeCheck(),
        ProtonOutputConstancy(),
    )
}
DEFAULT_SEQUENCE = PhantomAxisIso230.name
SEQUENCE_GROUP = "hilcal.sequences"


def _as_sequence(name: str, obj: object) -> Sequence[Any]:
    if inspect.isclass(obj) and issubclass(obj, Sequence):
        obj = obj()
    if not isinstance(obj, Sequence):
        raise TypeError(f"is a {type(obj).__name__}, expected a sequences.base.Sequence (instance or class)")
    if obj.name != name:
        raise ValueError(f"the sequence calls itself {obj.name!r}; the entry point's name must be the same")
    return obj


#: Every sequence by name: the built-ins, then those of installed plugins.
SEQUENCES: dict[str, Sequence[Any]] = dict(BUILTIN_SEQUENCES)
#: Plugins of ``hilcal.sequences`` that did not load (each also logged as a warning).
SEQUENCE_PLUGIN_PROBLEMS: list[PluginProblem] = []


def reload_sequence_plugins() -> list[PluginProblem]:
    """Read the ``hilcal.sequences`` entry points again (updating ``SEQUENCES`` in place); their problems."""
    plugins, problems = load_plugins(SEQUENCE_GROUP, BUILTIN_SEQUENCES, _as_sequence)
    SEQUENCES.clear()
    SEQUENCES.update(BUILTIN_SEQUENCES)
    SEQUENCES.update(plugins)
    SEQUENCE_PLUGIN_PROBLEMS[:] = problems
    return problems


reload_sequence_plugins()


def get_sequence(name: str) -> Sequence[Any]:
    try:
        return SEQUENCES[name]
    except KeyError:
        broken = "".join(f"; {problem}" for problem in SEQUENCE_PLUGIN_PROBLEMS if problem.name == name)
        raise KeyError(f"unknown sequence {name!r}; known: {sorted(SEQUENCES)}{broken}") from None
