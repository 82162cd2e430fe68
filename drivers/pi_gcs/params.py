"""Rig-file parameters of a PI hexapod couch (``params:`` of a ``pi-gcs-hexapod`` device)."""

from __future__ import annotations

import math
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.pi_gcs.iec import HexapodMounting
from drivers.roles.couch import COUCH_AXES


class HexapodParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    mounting: HexapodMounting = Field(
        default_factory=HexapodMounting, description="where the hexapod sits in IEC 61217 terms"
    )
    soft_limits: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="per IEC couch axis (lateral_mm, …, roll_deg): [low, high], narrower than the travel",
    )
    poll_interval_s: float = Field(
        default=0.05, gt=0, le=5, description="longest pause between status queries while waiting"
    )
    # The motion profile the controller moves with (data sheet or controller settings): with VLS it plans
    # each move's wait (sleep until just before the expected arrival). Unknown: a shorter, safe plan.
    accel_mm_s2: float | None = Field(default=None, gt=0, description="platform acceleration (plans waits)")
    angular_velocity_deg_s: float | None = Field(
        default=None, gt=0, description="platform angular velocity (plans waits)"
    )
    angular_accel_deg_s2: float | None = Field(
        default=None, gt=0, description="platform angular acceleration (plans waits)"
    )
    settle_s: float | None = Field(
        default=None, ge=0, description="time from the end of a motion to on target (plans waits)"
    )
    reference_time_s: float | None = Field(
        default=None, ge=0, description="how long a reference run (FRF) takes (plans its wait)"
    )
    velocity_mm_s: float | None = Field(default=None, gt=0, description="platform velocity sent with VLS")
    check_queries: bool = Field(default=False, description="send ERR? after every query, as pipython does")
    pivot_tolerance_mm: float = Field(
        default=0.01,
        gt=0,
        le=1.0,
        description="largest difference per coordinate between SPI? and the mounting's pivot, at connect",
    )

    @model_validator(mode="after")
    def _known_axes_ordered_limits(self) -> Self:
        for axis, (low, high) in self.soft_limits.items():
            if axis not in COUCH_AXES:
                raise ValueError(f"soft_limits: unknown couch axis {axis!r}; expected one of {COUCH_AXES}")
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(f"soft_limits.{axis}: expected finite [low, high] with low <= high")
        return self
