"""Tracker-based sequences end to end: our NDI driver against the simulated tracker, blind injected errors.

Each test draws its injected error at random (printed on failure) and asserts the sequence measures it within
its stated expanded uncertainty; an error-free rig passes.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from controller.config import load_rig_config
from controller.results import Outcome
from controller.session import run_sequence

FAST_W2 = {"positions": 5, "samples": 3, "registration_samples": 10, "dwell_s": 0.5}


def test_registration_passes_with_a_small_residual(tmp_path: Path):
    outcome = run_sequence(
        load_rig_config(), "tracker-registration", {}, runs_dir=tmp_path, write_report=False
    )
    assert outcome.result is not None, outcome.summary.error
    assert outcome.result.outcome is Outcome.PASS
    assert outcome.result.verdicts[0].measured.value < 0.05  # 0.1 mm marker noise, 30 frames, 4 fiducials


def test_water_tank_without_errors_passes(tmp_path: Path):
    outcome = run_sequence(
        load_rig_config(), "water-tank-axes", FAST_W2, runs_dir=tmp_path, write_report=False
    )
    assert outcome.result is not None, outcome.summary.error
    assert outcome.result.outcome is Outcome.PASS, [v.statement for v in outcome.result.verdicts]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("draw", range(2))
def test_blind_tank_misalignment_is_measured(tmp_path: Path, draw: int):
    # seeded: ±U is an honest 95 % interval now (validated over 200 blind rigs by the W2 scenario), so an
    # unseeded draw would fail a few % of runs by design
    rng = random.Random(draw)
    sign = lambda: rng.choice((-1.0, 1.0))  # noqa: E731
    x_level = sign() * rng.uniform(0.05, 0.4)  # X tilted toward Z: a levelling error
    z_beam = sign() * rng.uniform(0.05, 0.4)  # Z tilted toward X: off the beam axis
    y_twist = sign() * rng.uniform(0.05, 0.4)  # Y tilted toward Z
    drawn = f"injected x→z {x_level:.3f}°, z→x {z_beam:.3f}°, y→z {y_twist:.3f}°"

    def inject(rig) -> None:
        rig.simulation.water_tanks["tank"].set_error(
            tilt_deg={"x": (0.0, x_level), "y": (y_twist, 0.0), "z": (z_beam, 0.0)}
        )

    outcome = run_sequence(
        load_rig_config(),
        "water-tank-axes",
        FAST_W2,
        runs_dir=tmp_path,
        write_report=False,
        on_rig_ready=inject,
    )
    result = outcome.result
    assert result is not None, (outcome.summary.error, drawn)
    dx = _unit(np.array([1.0, 0.0, math.tan(math.radians(x_level))]))
    dy = _unit(np.array([0.0, 1.0, math.tan(math.radians(y_twist))]))
    dz = _unit(np.array([math.tan(math.radians(z_beam)), 0.0, 1.0]))
    truth_xz = math.degrees(math.acos(float(dx @ dz))) - 90.0
    truth_yz = math.degrees(math.acos(float(dy @ dz))) - 90.0
    for name, truth in (("orthogonality_xz", truth_xz), ("orthogonality_yz", truth_yz)):
        measured = result.informative[name]
        assert abs(measured.value - truth) <= measured.expanded_uncertainty, (name, measured, truth, drawn)
    verdicts = {v.metric: v.measured for v in result.verdicts}
    truth_level = max(abs(x_level), abs(math.degrees(math.asin(dy[2]))))
    assert abs(verdicts["level"].value - truth_level) <= verdicts["level"].expanded_uncertainty, drawn
    assert abs(verdicts["beam_axis"].value - abs(z_beam)) <= verdicts["beam_axis"].expanded_uncertainty, drawn
