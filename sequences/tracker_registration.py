"""Registration of the tracker to IEC 61217 f, as a sequence of its own with a verdict on its residual.

The registration phantom, set up on the room lasers, carries fiducial tools at positions known in IEC f
(the rig file's ``tracker_registration``). The tracker reads them all; a rigid fit of known to measured
positions gives f ← tracker. The fit residual is the honest measure of how far every later tracker-based
result can be trusted; each geometric sequence repeats this registration at its own start.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from controller.errors import PreflightError
from controller.messages import ReadTracker, to_record
from controller.results import DecisionRule, Measurement, SequenceResult, Tolerance, decide
from sequences.base import Plan, Sequence, SequenceContext
from sequences.tracking import TrackerRegistrationConfig, mean_tool_position, register

RESIDUAL_LIMIT = Tolerance(
    limit=0.35,
    unit="mm",
    source="3× the optical tracker's 0.12 mm RMS volumetric accuracy (qa-tests.md §2, NDI-class [V S12])",
    confidence="[T] derived",
)


class RegistrationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    samples: int = Field(default=30, ge=1, le=1000, description="tracker frames averaged")
    residual_limit: Tolerance = RESIDUAL_LIMIT
    rule: DecisionRule = DecisionRule.SIMPLE


class TrackerRegistration(Sequence[RegistrationParams]):
    name = "tracker-registration"
    title = "Tracker registration to IEC 61217 f on the registration phantom"
    params_model = RegistrationParams

    def device_of(self, params: RegistrationParams) -> str:
        return "tracker"

    def plan(self, params: RegistrationParams, context: SequenceContext) -> Plan:
        registration = context.tracker_registration()
        if registration is None:
            raise PreflightError("the rig file has no tracker_registration (fiducials at known IEC spots)")
        frames = []
        for _ in range(params.samples):
            frames.append(to_record((yield ReadTracker(registration.tracker))))
        return {"registration": registration.model_dump(mode="json"), "frames": frames}

    def analyze(self, params: RegistrationParams, data: Any) -> SequenceResult:
        config = TrackerRegistrationConfig.model_validate(data["registration"])
        registration = register(data["frames"], config)
        rows = []
        for name in sorted(config.points_mm):
            mean, standard_error = mean_tool_position(data["frames"], name)
            mapped = registration.to_iec(mean[None, :])[0]
            known = np.array(config.points_mm[name])
            rows.append(
                {
                    "fiducial": name,
                    "known_x_mm": known[0],
                    "known_y_mm": known[1],
                    "known_z_mm": known[2],
                    "residual_mm": float(np.linalg.norm(mapped - known)),
                    "tracker_standard_error_mm": standard_error,
                }
            )
        dof = max(3 * registration.fiducials - 6, 1)
        u_rms = registration.rms_residual_mm / math.sqrt(2 * dof)
        verdicts = [
            decide(
                "residual",
                "RMS distance of the fiducials from their known IEC positions after the rigid fit",
                Measurement(value=registration.rms_residual_mm, standard_uncertainty=u_rms, unit="mm"),
                params.residual_limit,
                params.rule,
            )
        ]
        return SequenceResult(
            sequence=self.name,
            title=self.title,
            device=config.tracker,
            profile="registration",
            verdicts=verdicts,
            informative={
                "max_residual": Measurement(
                    value=registration.max_residual_mm, standard_uncertainty=u_rms, unit="mm"
                ),
                "mapped_point_uncertainty": Measurement(
                    value=registration.standard_uncertainty_mm, standard_uncertainty=0.0, unit="mm"
                ),
            },
            tables={"fiducials": rows, "matrix": [{"row": list(r)} for r in registration.matrix]},
            frame="IEC 61217 fixed system f ← tracker",
            notes=[f"{registration.fiducials} fiducials, {len(data['frames'])} frames averaged"],
        )

    def figures(self, result: SequenceResult) -> list[Any]:
        return []
