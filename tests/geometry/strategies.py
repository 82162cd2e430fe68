"""Hypothesis strategies and settings shared by the geometry tests (kept modest so the suite stays fast)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from geometry import MachineState, System

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Fits under noise compare against k·u bounds, which a random search will eventually break by pure chance;
# fixing the examples keeps CI deterministic while still covering 50 varied cases.
STATISTICAL = settings(FAST, derandomize=True)

angles_deg = st.floats(min_value=-360.0, max_value=360.0, allow_nan=False)
small_angles_deg = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False)
travel_mm = st.floats(min_value=-800.0, max_value=800.0, allow_nan=False)
coordinates_mm = st.tuples(travel_mm, travel_mm, travel_mm)
systems = st.sampled_from(list(System))
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def machine_states(draw: st.DrawFn) -> MachineState:
    """Any state: angles ±360°, translations ±800 mm, pitch/roll kept off ±90° only by chance."""
    return MachineState(
        gantry_deg=draw(angles_deg),
        gantry_pitch_deg=draw(angles_deg),
        collimator_deg=draw(angles_deg),
        wedge_deg=draw(angles_deg),
        receptor_deg=draw(angles_deg),
        receptor_x_mm=draw(travel_mm),
        receptor_y_mm=draw(travel_mm),
        receptor_z_mm=draw(travel_mm),
        couch_rotation_deg=draw(angles_deg),
        eccentric_distance_mm=draw(st.floats(min_value=0.0, max_value=800.0)),
        eccentric_rotation_deg=draw(angles_deg),
        table_lateral_mm=draw(travel_mm),
        table_longitudinal_mm=draw(travel_mm),
        table_vertical_mm=draw(travel_mm),
        table_pitch_deg=draw(angles_deg),
        table_roll_deg=draw(angles_deg),
        patient_x_mm=draw(travel_mm),
        patient_y_mm=draw(travel_mm),
        patient_z_mm=draw(travel_mm),
        patient_pitch_deg=draw(angles_deg),
        patient_roll_deg=draw(angles_deg),
        patient_rotation_deg=draw(angles_deg),
    )
