"""The proton pencil beam: range–energy, Bragg curve, spot, time structure, a chamber on the carriage."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from simulators.clock import VirtualClock
from simulators.electrometer import Electrometer, ElectrometerConfig, add_electrometer
from simulators.proton import (
    BORTFELD_ALPHA_CM,
    BORTFELD_BETA_PER_CM,
    BORTFELD_GAMMA,
    BORTFELD_P,
    PLATEAU_SWITCH_SIGMAS,
    PROTON_NAME,
    ProtonBeamConfig,
    ProtonSource,
    add_proton_source,
    bragg_idd,
    csda_range_cm,
    straggling_sigma_cm,
)
from simulators.rig import SimulatedRig, SimulationConfig
from simulators.stage import StageConfig
from simulators.water_tank import ScannerAxisConfig, WaterTankConfig, WaterTankScanner, add_water_tank
from simulators.world import World
from tests.simulators.helpers import home, move

#: An ideal chamber: no noise, leakage, offset, settling or recombination, so charge = S · dose exactly.
IDEAL_CHAMBER: dict[str, Any] = {
    "source": PROTON_NAME,
    "initial_bias_v": 300.0,
    "leakage_current_a": 0.0,
    "zero_offset_current_a": 0.0,
    "settling_amplitude": 0.0,
    "bias_transient_a_per_v": 0.0,
    "charge_noise_c": 0.0,
    "current_noise_a": 0.0,
    "relative_noise": 0.0,
    "continuous_recombination_v2_s_per_gy": 0.0,
}


def source(clock: VirtualClock, **fields: Any) -> ProtonSource:
    return ProtonSource("p", ProtonBeamConfig(**fields), clock=clock)


# ------------------------------------------------------------------------------------------ range–energy
@pytest.mark.parametrize(("energy", "published_cm"), [(100.0, 7.718), (150.0, 15.77), (200.0, 25.96)])
def test_csda_range_is_the_pstar_value(energy: float, published_cm: float) -> None:
    # NIST PSTAR (ICRU Report 49, 1993), liquid water, CSDA range: 7.718, 15.77, 25.96 g/cm².
    assert csda_range_cm(energy) == pytest.approx(published_cm, rel=1e-9)


def test_interpolated_range_agrees_with_bortfelds_power_law() -> None:
    # Between table points the log-log interpolation stays within 1.5 % of R = αE^p (Bortfeld 1997, Eq. 8).
    for energy in np.linspace(70.0, 230.0, 17):
        power_law = BORTFELD_ALPHA_CM * energy**BORTFELD_P
        assert csda_range_cm(float(energy)) == pytest.approx(power_law, rel=0.015)
    with pytest.raises(ValueError, match="outside"):
        csda_range_cm(30.0)


# ------------------------------------------------------------------------------------------ Bragg curve
def test_closed_form_is_the_straggling_free_curve_convolved_with_a_gaussian() -> None:
    """Bortfeld's closed form equals the plateau (straggling-free) form convolved with N(0, σ) numerically."""
    r0, sigma = 7.628, straggling_sigma_cm(7.628, 100.0, 1.0)
    p, a, b, g = BORTFELD_P, BORTFELD_ALPHA_CM, BORTFELD_BETA_PER_CM, BORTFELD_GAMMA
    u = np.linspace(0.0, r0, 400_001)[:-1]
    r = r0 - u
    plain = (r ** (1 / p - 1) + (b / p + g * b) * p * r ** (1 / p)) / (p * a ** (1 / p) * (1 + b * r0))
    for z in (3.0, 5.0, 6.5, 7.0):
        w = np.exp(-((z - u) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
        numeric = float((plain * w).sum() * (u[1] - u[0]))
        assert bragg_idd(np.array([z]), r0, sigma)[0] == pytest.approx(numeric, rel=1e-5)


def test_plateau_switch_is_continuous() -> None:
    for energy in (70.0, 150.0, 250.0):
        r0 = csda_range_cm(energy)
        sigma = straggling_sigma_cm(r0, energy, 0.01 * energy)
        zs = r0 - PLATEAU_SWITCH_SIGMAS * sigma
        if zs <= 0:
            continue
        near, far = bragg_idd(np.array([zs + 1e-9, zs - 1e-9]), r0, sigma)
        assert near / far == pytest.approx(1.0, abs=3e-4)


def test_r80_sits_at_the_mean_range_and_r90_proximal(clock: VirtualClock) -> None:
    # Bortfeld (1997): with ε = 0 the distal 80 % point is the mean range R₀.
    beam = source(clock, energy_mev=150.0, energy_spread_mev=1.5)
    assert beam.range_at(0.8) == pytest.approx(beam.range_cm * 10.0, abs=0.1)
    assert beam.range_cm * 10.0 - 2.0 < beam.range_at(0.9) < beam.range_at(0.8)
    depths = np.linspace(0.0, 200.0, 2001)
    curve = beam.depth_dose(depths)
    assert 3.0 < curve.max() / curve[0] < 5.0  # a 150 MeV pristine peak: peak/entrance about 3.8
    assert curve[-1] < 1e-6


@pytest.mark.parametrize("shift_mm", [-3.0, 0.7, 2.5])
def test_an_injected_range_shift_moves_r90_and_r80_exactly(clock: VirtualClock, shift_mm: float) -> None:
    nominal, shifted = source(clock), source(clock, range_shift_mm=shift_mm)
    for level in (0.9, 0.8, 0.5):
        assert shifted.range_at(level) - nominal.range_at(level) == pytest.approx(shift_mm, abs=1e-6)


def test_energy_spread_widens_the_distal_falloff(clock: VirtualClock) -> None:
    widths = []
    for extra in (0.0, 1.0, 2.0):
        beam = source(clock, extra_energy_spread_mev=extra)
        widths.append(beam.range_at(0.2) - beam.range_at(0.8))
    assert widths[0] < widths[1] < widths[2]
    assert widths[2] > 1.3 * widths[0]


# ------------------------------------------------------------------------------------------ lateral
def moments(beam: ProtonSource, depth_mm: float, axis: int) -> tuple[float, float]:
    line = np.linspace(-40.0, 40.0, 4001)
    points = [(v, 0.0) if axis == 0 else (0.0, v) for v in line]
    g = np.array([beam.relative_dose((x, y, -depth_mm)) for x, y in points])
    centre = float((line * g).sum() / g.sum())
    return centre, float(math.sqrt(((line - centre) ** 2 * g).sum() / g.sum()))


@pytest.mark.parametrize(
    ("offset", "size_error"), [((0.0, 0.0), 0.0), ((1.3, -0.8), 0.12), ((-2.0, 0.5), -0.1)]
)
def test_profile_recovers_spot_offset_and_size(
    clock: VirtualClock, offset: tuple[float, float], size_error: float
) -> None:
    beam = source(clock, spot_sigma_mm=4.0, spot_offset_mm=offset, spot_size_error=size_error)
    for depth in (0.0, 20.0, 100.0):
        expected_sigma = beam.spot_sigma_mm(depth)
        for axis in (0, 1):
            centre, sigma = moments(beam, depth, axis)
            assert centre == pytest.approx(offset[axis], abs=1e-6)
            assert sigma == pytest.approx(expected_sigma, rel=1e-4)
    assert beam.spot_sigma_mm(0.0) == pytest.approx(4.0 * (1 + size_error), rel=1e-12)


def test_spot_grows_with_depth_by_multiple_scattering(clock: VirtualClock) -> None:
    beam = source(clock, energy_mev=150.0, spot_sigma_mm=3.0)
    sigmas = [beam.spot_sigma_mm(d) for d in (0.0, 50.0, 100.0, 150.0)]
    assert sigmas == sorted(sigmas)
    mcs_at_range = math.sqrt(sigmas[-1] ** 2 - 9.0)
    # Fermi–Eyges with constant (entrance) Highland scattering power: a few mm at the end of a 15 cm range.
    assert 1.5 < mcs_at_range < 4.0


# ------------------------------------------------------------------------------------------ time structure
def test_latency_delays_beam_on_and_off(clock: VirtualClock) -> None:
    beam = source(clock, beam_on_latency_s=0.1, beam_off_latency_s=0.005)
    assert beam.beam_on(6.0) == pytest.approx(0.1)
    assert not beam.is_on(0.099)
    assert beam.is_on(0.101)
    clock.advance_to(10.0)
    assert beam.beam_off() == pytest.approx(10.005)
    assert beam.is_on(10.004)
    assert not beam.is_on(10.006)
    assert beam.dose_between(0.0, 20.0) == pytest.approx(6.0 / 60.0 * 9.905, rel=1e-12)


def test_spills_keep_the_mean_rate_and_gaps_have_no_beam(clock: VirtualClock) -> None:
    beam = source(clock, spill_length_s=0.5, spill_period_s=2.0, beam_on_latency_s=0.0)
    start, end = beam.deliver(20.0, 6.0)
    assert (start, end) == (0.0, 20.0)
    assert beam.dose_between(0.0, 30.0) == pytest.approx(0.1 * 20.0, rel=1e-12)
    assert beam.dose_rate_gy_s(0.25) == pytest.approx(0.1 * 4.0)
    assert beam.dose_rate_gy_s(1.0) == 0.0
    assert len(beam.segments_between(0.0, 30.0)) == 10


def test_spills_raise_recombination_against_a_continuous_beam(world: World, clock: VirtualClock) -> None:
    """Same mean rate, four times the rate inside a spill: the chamber collects less (Boag, continuous)."""
    add_proton_source(world, PROTON_NAME, ProtonBeamConfig(spill_length_s=0.5, spill_period_s=2.0))
    chamber_fields = {**IDEAL_CHAMBER, "continuous_recombination_v2_s_per_gy": 5.4e3}
    meter = add_electrometer(world, "e", ElectrometerConfig(**chamber_fields))
    beam = world.get(PROTON_NAME, ProtonSource)
    g = beam.relative_dose(meter.chamber_position_mm)
    spilled = meter.collection_efficiency(0.4 * g, 300.0)
    continuous = meter.collection_efficiency(0.1 * g, 300.0)
    assert spilled < continuous < 1.0
    beam.deliver(20.0, 6.0)
    q = integrate(meter, clock, 25.0)
    dose = beam.dose_between(0.0, 25.0, meter.chamber_position_mm)
    assert q == pytest.approx(2e-8 * dose * spilled, rel=1e-9)


def test_output_drift_per_hour(clock: VirtualClock) -> None:
    beam = source(clock, output_drift_percent_per_h=2.0, beam_on_latency_s=0.0)
    beam.beam_on(6.0)
    first = beam.dose_between(0.0, 60.0)
    later = beam.dose_between(3600.0, 3660.0)
    assert first == pytest.approx(0.1 * 60.0 * (1 + 0.02 * 30.0 / 3600.0), rel=1e-9)
    assert later / first == pytest.approx((1 + 0.02 * 3630.0 / 3600.0) / (1 + 0.02 * 30.0 / 3600.0), rel=1e-9)


def test_errors_can_change_at_run_time_and_are_validated(clock: VirtualClock) -> None:
    beam = source(clock)
    r80 = beam.range_at(0.8)
    beam.set_error(range_shift_mm=1.0)
    assert beam.range_at(0.8) == pytest.approx(r80 + 1.0, abs=1e-6)
    with pytest.raises(ValidationError):
        beam.set_error(spot_size_error=-2.0)


# ------------------------------------------------------------------------------------------ on the carriage
def tank_world(world: World, tilt_deg: tuple[float, float] = (0.0, 0.0), **beam: Any) -> WaterTankScanner:
    """Depth stage (−Z, 0 mm at the surface) and a lateral stage (+X, centred) carrying a chamber."""
    world.add_stage("sz", StageConfig(travel_mm=(0.0, 300.0)))
    world.add_stage("sx", StageConfig(travel_mm=(0.0, 300.0)))
    add_proton_source(world, PROTON_NAME, ProtonBeamConfig(beam_on_latency_s=0.0, **beam))
    add_electrometer(world, "e", ElectrometerConfig(**IDEAL_CHAMBER, water_tank="tank"))
    config = WaterTankConfig(
        origin_mm=(-150.0, 0.0, 0.0),
        axes={
            "z": ScannerAxisConfig(stage="sz", direction="-Z", tilt_deg=tilt_deg),
            "x": ScannerAxisConfig(stage="sx", direction="+X"),
        },
    )
    tank = add_water_tank(world, "tank", config)
    for axis in ("z", "x"):
        home(tank.stage(axis), world.clock)  # type: ignore[arg-type]
    move(tank.stage("x"), world.clock, 150.0)  # type: ignore[arg-type]
    return tank


def integrate(meter: Electrometer, clock: VirtualClock, seconds: float) -> float:
    meter.reset()
    meter.start()
    clock.advance_to(clock.now() + seconds)
    meter.hold()
    return meter.integrated_charge().charge_c


def scan(world: World, clock: VirtualClock, tank: WaterTankScanner, depths: np.ndarray) -> np.ndarray:
    meter = world.get("e", Electrometer)
    charges = []
    for depth in depths:
        move(tank.stage("z"), clock, float(depth))
        world.get(PROTON_NAME, ProtonSource).deliver(2.0, 6.0)
        charges.append(integrate(meter, clock, 2.5))
    return np.array(charges)


def test_charge_on_the_carriage_follows_the_bragg_curve(world: World, clock: VirtualClock) -> None:
    tank = tank_world(world, detector="integrating")
    beam = world.get(PROTON_NAME, ProtonSource)
    depths = np.array([20.0, 100.0, 150.0, 154.0, 156.0, 157.5, 160.0, 170.0])
    charges = scan(world, clock, tank, depths)
    expected = 2e-8 * 0.1 * 2.0 * beam.depth_dose(depths)
    np.testing.assert_allclose(charges, expected, rtol=1e-9, atol=1e-22)
    assert charges[0] == pytest.approx(2e-8 * 0.2, rel=1e-9)  # the reference depth gives the nominal dose
    assert int(np.argmax(charges)) in (3, 4)


def test_the_tanks_misalignment_reaches_the_chamber(world: World, clock: VirtualClock) -> None:
    """A depth axis tilted 1° toward X drifts the chamber off the spot axis as it goes deeper."""
    tank = tank_world(world, tilt_deg=(1.0, 0.0), spot_sigma_mm=3.0)
    beam = world.get(PROTON_NAME, ProtonSource)
    depths = np.array([20.0, 80.0, 140.0])
    charges = scan(world, clock, tank, depths)
    lateral = depths * math.sin(math.radians(1.0))
    true_depth = depths * math.cos(math.radians(1.0))
    for q, x, d in zip(charges, lateral, true_depth, strict=True):
        g = beam.relative_dose((float(x), 0.0, -float(d)))
        assert q == pytest.approx(2e-8 * 0.2 * g, rel=1e-9)
        on_axis = beam.relative_dose((0.0, 0.0, -float(d)))
        sigma = beam.spot_sigma_mm(float(d))
        assert g / on_axis == pytest.approx(math.exp(-(x**2) / (2 * sigma**2)), rel=1e-9)
    assert charges[2] < 2e-8 * 0.2 * beam.relative_dose((0.0, 0.0, -140.0 * math.cos(math.radians(1.0))))


def test_a_proton_rig_from_config(tmp_path: Any) -> None:
    config = SimulationConfig(
        stages={"sz": StageConfig(travel_mm=(0.0, 300.0))},
        water_tanks={"tank": WaterTankConfig(axes={"z": ScannerAxisConfig(stage="sz", direction="-Z")})},
        proton={"energy_mev": 100.0, "range_shift_mm": 1.0},
        electrometers={"e": ElectrometerConfig(source=PROTON_NAME, water_tank="tank")},
    )
    with SimulatedRig(config) as rig:
        assert rig.proton is not None
        assert rig.proton.range_at(0.8) == pytest.approx(77.18 + 1.0, abs=0.15)
        assert rig.world.get("e", Electrometer).source is rig.proton
    assert SimulationConfig().proton is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"electrometers": {"e": {"source": PROTON_NAME}}}, "unknown beam"),
        ({"proton": {}, "electrometers": {"e": {"source": PROTON_NAME, "water_tank": "none"}}}, "water tank"),
        ({"proton": {"spill_length_s": 3.0, "spill_period_s": 2.0}}, "spill"),
        ({"proton": {"energy_mev": 300.0}}, "250"),
    ],
)
def test_proton_config_validation(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SimulationConfig(**changes)
