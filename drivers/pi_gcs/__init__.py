"""PI GCS 2.0 driver for hexapod couch positioners (C-887 class; see docs/drivers/pi-gcs.md).

``GcsConnection`` is one controller on one transport, ``HexapodController`` its state machine, and
``HexapodCouch`` the ``drivers.roles.couch.CouchPositioner`` on top, speaking IEC 61217 through
``drivers.pi_gcs.iec``. ``build_hexapod_couch`` is the registry builder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from drivers.clock import Clock
from drivers.pi_gcs.connection import GcsConnection
from drivers.pi_gcs.couch import WAYPOINT_SPACING, HexapodCouch, PathGuard
from drivers.pi_gcs.errors import (
    GCS_ERRORS,
    GcsBusy,
    GcsError,
    GcsInvalidAxis,
    GcsMotionError,
    GcsNotReferenced,
    GcsOutOfLimits,
    GcsParameterOutOfRange,
    GcsPivotError,
    GcsStopped,
    GcsSyntaxError,
    GcsVelocityOutOfLimits,
    HexapodFault,
    MotionTimeout,
    PivotMismatch,
    UnreachablePose,
    gcs_error,
)
from drivers.pi_gcs.gcs import HEXAPOD_AXES
from drivers.pi_gcs.hexapod import STATES, TRANSITIONS, HexapodController
from drivers.pi_gcs.iec import (
    DEFAULT_MOUNTING,
    HexapodMounting,
    UvwConvention,
    hexapod_to_setpoint,
    iec_ranges,
    setpoint_to_hexapod,
    wire_pose,
)
from drivers.pi_gcs.params import HexapodParams

if TYPE_CHECKING:  # the registry imports this package for HexapodParams; no import back at run time
    from drivers.registry import PortPool

#: Registry key the lead registers ``build_hexapod_couch`` under.
DRIVER_KEY = "pi-gcs-hexapod"


def build_hexapod_couch(
    name: str, port: str, params: BaseModel, pool: PortPool, clock: Clock
) -> HexapodCouch:
    """Registry builder, same signature as ``_build_zaber_axis``: opens (or reuses) the port, no device I/O.

    One C-887 drives one hexapod, so a second hexapod on the same port is a configuration error.
    """
    if not isinstance(params, HexapodParams):
        raise TypeError(f"{name}: expected HexapodParams, got {type(params).__name__}")
    key = (DRIVER_KEY, port)
    if key in pool.sessions:
        raise ValueError(f"{name}: port {port!r} already drives a hexapod; one C-887 serves one hexapod")
    transport = pool.transport(port, f"hexapod {port}")
    connection = GcsConnection(transport, check_queries=params.check_queries)
    pool.sessions[key] = connection
    controller = HexapodController(
        connection,
        name=name,
        clock=clock,
        poll_interval_s=params.poll_interval_s,
        accel_mm_s2=params.accel_mm_s2,
        angular_velocity_deg_s=params.angular_velocity_deg_s,
        angular_accel_deg_s2=params.angular_accel_deg_s2,
        settle_s=params.settle_s,
        reference_time_s=params.reference_time_s,
    )
    return HexapodCouch(
        controller,
        name=name,
        mounting=params.mounting,
        soft_limits=params.soft_limits,
        velocity=params.velocity_mm_s,
        pivot_tolerance_mm=params.pivot_tolerance_mm,
    )


__all__ = [
    "DEFAULT_MOUNTING",
    "DRIVER_KEY",
    "GCS_ERRORS",
    "HEXAPOD_AXES",
    "STATES",
    "TRANSITIONS",
    "WAYPOINT_SPACING",
    "GcsBusy",
    "GcsConnection",
    "GcsError",
    "GcsInvalidAxis",
    "GcsMotionError",
    "GcsNotReferenced",
    "GcsOutOfLimits",
    "GcsParameterOutOfRange",
    "GcsPivotError",
    "GcsStopped",
    "GcsSyntaxError",
    "GcsVelocityOutOfLimits",
    "HexapodController",
    "HexapodCouch",
    "HexapodFault",
    "HexapodMounting",
    "HexapodParams",
    "MotionTimeout",
    "PathGuard",
    "PivotMismatch",
    "UnreachablePose",
    "UvwConvention",
    "build_hexapod_couch",
    "gcs_error",
    "hexapod_to_setpoint",
    "iec_ranges",
    "setpoint_to_hexapod",
    "wire_pose",
]
