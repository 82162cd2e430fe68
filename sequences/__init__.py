"""Calibration sequences: procedure (plan), analysis and tolerances, registered by name."""

from __future__ import annotations

from typing import Any

from sequences.base import Sequence
from sequences.couch_accuracy import CouchTranslationAccuracy
from sequences.couch_load import CouchLoadPositioning
from sequences.couch_pose_readback import CouchPoseReadback
from sequences.couch_rotation import CouchRotationAccuracy
from sequences.couch_walkout import CouchRotationWalkout
from sequences.electrometer_leakage_reproducibility import ElectrometerLeakageReproducibility
from sequences.phantom_axis_iso230 import PhantomAxisIso230
from sequences.tracker_registration import TrackerRegistration
from sequences.water_tank_axes import WaterTankAxes

SEQUENCES: dict[str, Sequence[Any]] = {
    seq.name: seq
    for seq in (
        PhantomAxisIso230(),
        CouchPoseReadback(),
        ElectrometerLeakageReproducibility(),
        TrackerRegistration(),
        WaterTankAxes(),
        CouchTranslationAccuracy(),
        CouchRotationWalkout(),
        CouchRotationAccuracy(),
        CouchLoadPositioning(),
    )
}
DEFAULT_SEQUENCE = PhantomAxisIso230.name


def get_sequence(name: str) -> Sequence[Any]:
    try:
        return SEQUENCES[name]
    except KeyError:
        raise KeyError(f"unknown sequence {name!r}; known: {sorted(SEQUENCES)}") from None
