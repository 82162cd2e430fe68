"""Run engine: state machine, journaling of every message, safe stop on fault and abort, replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.devices import DeviceSet
from controller.engine import ReplayMismatch, RunEngine, dry_run
from controller.errors import PreflightError, RunAborted
from controller.interlocks import SafetyEnvelope
from controller.journal import Journal, read_journal
from controller.messages import AxisReading, Beam, Checkpoint, Dwell, Home, MoveTo, ReadAxis
from drivers.errors import LimitViolation
from drivers.testing import InstantAxis


def _envelope(low: float = 0.0, high: float = 300.0) -> SafetyEnvelope:
    envelope = SafetyEnvelope()
    envelope.set_axis_limits("x", low, high, "test travel")
    return envelope


def _plan(targets: list[float]):
    yield Home("x")
    readings = []
    for target in targets:
        yield MoveTo("x", target)
        yield Dwell(2.0)
        readings.append((yield ReadAxis("x")))
        yield Checkpoint()
    return readings


def _engine(tmp_path: Path, clock, axis: InstantAxis) -> tuple[RunEngine, Journal]:
    journal = Journal(tmp_path, clock)
    axis.connect()
    return RunEngine(DeviceSet(positioners={"x": axis}), clock, journal, _envelope()), journal


def test_runs_plan_to_completion_and_journals_each_message(tmp_path, step_clock):
    axis = InstantAxis("x", backlash_mm=0.1)
    engine, journal = _engine(tmp_path, step_clock, axis)
    readings = engine.run(_plan([10.0, 20.0]))
    journal.close()
    assert engine.state == "completed"
    assert [r.position_mm for r in readings] == [10.0, 20.0]
    assert isinstance(readings[0], AxisReading)
    assert step_clock.now() == pytest.approx(4.0)  # two dwells on the injected clock
    records = read_journal(journal.path).records
    kinds = [r["kind"] for r in records]
    assert kinds.count("msg") == 9 and kinds.count("reading") == 2
    assert [r["state"] for r in records if r["kind"] == "state"] == ["running", "completed"]
    assert records[-1]["kind"] == "state"


def test_fault_stops_every_axis_and_ends_faulted(tmp_path, step_clock):
    axis = InstantAxis("x", fail_on_move=2)
    other = InstantAxis("y")
    other.connect()
    journal = Journal(tmp_path, step_clock)
    axis.connect()
    envelope = _envelope()
    envelope.set_axis_limits("y", 0, 10, "test")
    engine = RunEngine(DeviceSet(positioners={"x": axis, "y": other}), step_clock, journal, envelope)
    with pytest.raises(RuntimeError, match="injected fault"):
        engine.run(_plan([10.0, 20.0, 30.0]))
    journal.close()
    assert engine.state == "faulted"
    assert axis.stops == 1 and other.stops == 1
    records = read_journal(journal.path).records
    stops = [r for r in records if r["kind"] == "safe_stop"]
    assert {r["device"] for r in stops} == {"x", "y"}
    assert any(r["kind"] == "fault" and "injected fault" in r["error"] for r in records)


def test_target_outside_envelope_is_refused_before_the_device_sees_it(tmp_path, step_clock):
    axis = InstantAxis("x", travel_mm=(0.0, 500.0))  # the device would accept it; the envelope must not
    engine, journal = _engine(tmp_path, step_clock, axis)
    with pytest.raises(LimitViolation, match="400"):
        engine.run(_plan([10.0, 400.0]))
    assert ("move", 400.0) not in axis.commands
    assert engine.state == "faulted"


def test_dry_run_rejects_the_whole_plan_before_any_motion():
    with pytest.raises(PreflightError, match="step 5"):
        dry_run(_plan([10.0, 350.0]), _envelope())
    assert len(dry_run(_plan([10.0, 20.0]), _envelope())) == 9


def test_abort_request_ends_aborted_and_stops(tmp_path, step_clock):
    axis = InstantAxis("x")
    engine, journal = _engine(tmp_path, step_clock, axis)

    def plan():
        yield Home("x")
        engine.request_abort()
        yield MoveTo("x", 5.0)

    with pytest.raises(RunAborted):
        engine.run(plan())
    assert engine.state == "aborted"
    assert axis.stops == 1
    assert ("move", 5.0) not in axis.commands


def test_pause_at_checkpoint_then_resume(tmp_path, step_clock):
    axis = InstantAxis("x")
    engine, journal = _engine(tmp_path, step_clock, axis)
    seen_states: list[str] = []

    def plan():
        yield Home("x")
        engine.request_pause()
        engine.request_resume()  # pre-arm so the single-threaded test continues
        yield Checkpoint("pause here")
        seen_states.append(engine.state)
        yield MoveTo("x", 1.0)

    engine.run(plan())
    journal.close()
    states = [r["state"] for r in read_journal(journal.path).records if r["kind"] == "state"]
    assert states == ["running", "paused", "running", "completed"]
    assert seen_states == ["running"]


def test_replay_feeds_recorded_responses_and_then_goes_live(tmp_path, step_clock):
    axis = InstantAxis("x")
    engine, journal = _engine(tmp_path, step_clock, axis)
    recorded = AxisReading("x", 10.0, 10.5, 3.0)
    replay = [
        ({"type": "Home", "device": "x"}, None),
        ({"type": "MoveTo", "device": "x", "target_mm": 10.0}, None),
        ({"type": "Dwell", "seconds": 2.0}, None),
        ({"type": "ReadAxis", "device": "x"}, recorded),
    ]
    homed = []
    readings = engine.run(_plan([10.0, 20.0]), replay=replay, before_live=lambda: homed.append(axis.home()))
    assert readings[0] is recorded  # answered from the journal, not the device
    assert readings[1].position_mm == 20.0
    assert axis.commands[0] == ("home", None) and ("move", 10.0) not in axis.commands
    assert len(homed) == 1


def test_replay_refuses_a_plan_that_diverges_from_the_journal(tmp_path, step_clock):
    axis = InstantAxis("x")
    engine, _ = _engine(tmp_path, step_clock, axis)
    replay = [
        ({"type": "Home", "device": "x"}, None),
        ({"type": "MoveTo", "device": "x", "target_mm": 99.0}, None),
    ]
    with pytest.raises(ReplayMismatch, match="99.0"):
        engine.run(_plan([10.0]), replay=replay)
    assert ("move", 10.0) not in axis.commands


class _CountingBeam:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def beam_on(self, dose_rate_gy_per_min: float) -> None:
        self.calls.append("on")

    def beam_off(self) -> None:
        self.calls.append("off")


def _faulting_plan(with_beam: bool):
    yield Home("x")
    if with_beam:
        yield Beam(on=True, dose_rate_gy_per_min=1.0)
    yield MoveTo("x", 10.0)
    yield MoveTo("x", 20.0)


@pytest.mark.parametrize(("with_beam", "calls"), [(False, []), (True, ["on", "off"])])
def test_a_fault_switches_the_beam_off_only_if_the_run_used_it(tmp_path, step_clock, with_beam, calls):
    """On a real rig beam_off is a prompt to the operator: a phantom-only run must not raise it."""
    axis = InstantAxis("x", fail_on_move=2)
    axis.connect()
    beam = _CountingBeam()
    journal = Journal(tmp_path, step_clock)
    engine = RunEngine(DeviceSet(positioners={"x": axis}, beam=beam), step_clock, journal, _envelope())
    with pytest.raises(Exception):  # noqa: B017 - the axis's injected fault, whatever its type
        engine.run(_faulting_plan(with_beam))
    journal.close()
    assert engine.state == "faulted" and beam.calls == calls


def test_a_run_keeps_the_old_heap_frozen_and_gives_it_back_even_on_a_fault(tmp_path, step_clock):
    """The collector's full collections skip the objects that existed before the run (controller.heap);
    after the run, completed or faulted, nothing is left frozen."""
    import gc

    seen: list[int] = []

    def plan(fail: bool):
        yield Home("x")
        seen.append(gc.get_freeze_count())
        yield MoveTo("x", 999.0 if fail else 10.0)  # 999 mm is outside the envelope: a fault

    gc.unfreeze()
    for fail in (False, True):
        engine, journal = _engine(tmp_path / str(fail), step_clock, InstantAxis("x"))
        if fail:
            with pytest.raises(LimitViolation):
                engine.run(plan(fail))
        else:
            engine.run(plan(fail))
        journal.close()
        assert gc.get_freeze_count() == 0
    assert len(seen) == 2 and all(count > 0 for count in seen)
