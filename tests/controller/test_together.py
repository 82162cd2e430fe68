"""``Together``: members on different devices run at once, are waited on as one step, journaled per device,
replayed on resume, walked by the dry run and the plan check; a failing member faults the run safely."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from controller.config import RigConfig, load_rig_config
from controller.devices import DeviceSet
from controller.engine import ReplayMismatch, RunEngine, dry_run
from controller.errors import ConfigError, PreflightError
from controller.interlocks import SafetyEnvelope
from controller.journal import Journal, read_journal
from controller.messages import (
    Checkpoint,
    ConfigureDosimeter,
    Dwell,
    Home,
    MoveTo,
    ReadAxis,
    ReadDosimeter,
    ResetIntegration,
    StartIntegration,
    Together,
    message_from_record,
    message_to_record,
)
from controller.plan_check import check_plan
from controller.together import GroupMemberFailed
from drivers.roles.dosimeter import DosimeterReading, DosimeterSettings
from drivers.testing import InstantAxis
from sequences.base import DeviceNeed, Sequence

WAIT_S = 5.0


class MeetingAxis(InstantAxis):
    """An instant axis whose move returns only once every party of ``meeting`` has arrived."""

    def __init__(self, name: str, meeting: threading.Barrier | None = None) -> None:
        super().__init__(name)
        self.meeting = meeting

    def move_to(self, target_mm: float, timeout_s: float = 120.0) -> None:
        if self.meeting is not None:
            self.meeting.wait(WAIT_S)  # BrokenBarrierError unless the other member runs at the same time
        super().move_to(target_mm)


class FakeDosimeter:
    """A dosimeter answering ``value`` after meeting the other members; ``fail`` makes its read raise."""

    def __init__(self, name: str, value: float, meeting: threading.Barrier | None = None, fail: bool = False):
        self.name = name
        self.value = value
        self.meeting = meeting
        self.fail = fail
        self.calls: list[str] = []
        self.state = "idle"

    def _meet(self) -> None:
        if self.meeting is not None:
            self.meeting.wait(WAIT_S)

    def read(self) -> DosimeterReading:
        self.calls.append("read")
        self._meet()
        if self.fail:
            raise RuntimeError(f"{self.name}: no answer to the read")
        return DosimeterReading(self.value, "C", 0.0)

    def reset(self) -> None:
        self.calls.append("reset")

    def start_integration(self) -> None:
        self.calls.append("start")

    def hold(self) -> None:
        self.calls.append("hold")

    def stop(self) -> None:
        self.calls.append("stop")


def _engine(tmp_path: Path, clock: Any, axis: InstantAxis, *dosimeters: FakeDosimeter) -> RunEngine:
    envelope = SafetyEnvelope()
    envelope.set_axis_limits(axis.name, 0.0, 300.0, "test travel")
    axis.connect()
    devices = DeviceSet(positioners={axis.name: axis}, dosimeters={d.name: d for d in dosimeters})  # type: ignore[misc]
    return RunEngine(devices, clock, Journal(tmp_path, clock), envelope)


def _records(engine: RunEngine) -> list[dict[str, Any]]:
    engine.journal.close()
    return read_journal(engine.journal.path).records


def _scan_plan():
    yield Home("x")
    first = yield Together((MoveTo("x", 10.0), ReadDosimeter("ea"), ReadDosimeter("eb")))
    yield Checkpoint("first")
    second = yield Together((ReadDosimeter("eb"), ReadAxis("x")))
    return first, second


def test_members_run_at_the_same_time_and_answer_in_member_order(tmp_path, step_clock):
    meeting = threading.Barrier(3)  # only passed when all three members are inside their device at once
    axis = MeetingAxis("x", meeting)
    a, b = FakeDosimeter("ea", 1e-9, meeting), FakeDosimeter("eb", 2e-9, meeting)
    engine = _engine(tmp_path, step_clock, axis, a, b)

    def plan():
        yield Home("x")
        return (yield Together((MoveTo("x", 10.0), ReadDosimeter("ea"), ReadDosimeter("eb"))))

    answers = engine.run(plan())
    assert engine.state == "completed"
    assert isinstance(answers, tuple) and answers[0] is None
    assert [r.value for r in answers[1:]] == [1e-9, 2e-9]
    assert axis.position_mm() == 10.0


def test_the_journal_keeps_one_msg_per_group_and_a_reading_per_member(tmp_path, step_clock):
    a, b = FakeDosimeter("ea", 1.0), FakeDosimeter("eb", 2.0)
    engine = _engine(tmp_path, step_clock, InstantAxis("x"), a, b)
    engine.run(_scan_plan())
    records = _records(engine)
    groups = [r for r in records if r["kind"] == "msg" and r["message"]["type"] == "Together"]
    assert [len(r["message"]["messages"]) for r in groups] == [3, 2]
    index = groups[0]["index"]
    members = [r for r in records if r["kind"] == "reading" and r["index"] == index and "member" in r]
    assert sorted((r["member"], r["device"]) for r in members) == [(1, "ea"), (2, "eb")]
    readings = [r for r in records if r["kind"] == "reading" and r["index"] == index]
    group_reading = [r for r in readings if "member" not in r]
    assert len(group_reading) == 1 and group_reading[0]["reading"][0] is None
    assert group_reading[0]["n"] > max(r["n"] for r in members)  # written once every member answered


def test_a_failing_member_faults_the_run_naming_its_device_and_the_axis_is_stopped(tmp_path, step_clock):
    meeting = threading.Barrier(2)
    axis = MeetingAxis("x", meeting)
    broken = FakeDosimeter("ea", 0.0, meeting, fail=True)
    engine = _engine(tmp_path, step_clock, axis, broken)

    def plan():
        yield Home("x")
        yield Together((MoveTo("x", 50.0), ReadDosimeter("ea")))
        yield MoveTo("x", 60.0)

    with pytest.raises(GroupMemberFailed, match="ea: ReadDosimeter failed") as failed:
        engine.run(plan())
    assert failed.value.device == "ea"
    assert engine.state == "faulted"
    assert ("move", 50.0) in axis.commands and ("move", 60.0) not in axis.commands  # finished, no more
    assert axis.stops >= 1 and "stop" in broken.calls
    records = _records(engine)
    fault = next(r for r in records if r["kind"] == "fault")
    assert "ea" in fault["error"]
    stopped = {r["device"] for r in records if r["kind"] == "safe_stop" and r["ok"]}
    assert {"x", "ea"} <= stopped


def test_each_member_is_checked_against_the_envelope_before_any_starts(tmp_path, step_clock):
    a = FakeDosimeter("ea", 1.0)
    engine = _engine(tmp_path, step_clock, InstantAxis("x"), a)

    def plan():
        yield Home("x")
        yield Together((ReadDosimeter("ea"), MoveTo("x", 400.0)))

    with pytest.raises(Exception, match="400"):
        engine.run(plan())
    assert a.calls == ["stop"]  # never read: only the safe stop reached it


def test_a_group_naming_one_device_twice_or_a_dwell_is_refused():
    with pytest.raises(ValueError, match="'x' is named twice"):
        Together((MoveTo("x", 1.0), ReadAxis("x")))
    with pytest.raises(ValueError, match="Dwell"):
        Together((MoveTo("x", 1.0), Dwell(1.0)))
    with pytest.raises(ValueError, match="at least one"):
        Together(())


def test_a_group_round_trips_through_its_record():
    group = Together((MoveTo("x", 1.5), ConfigureDosimeter("ea", DosimeterSettings(range="LOW"))))
    record = message_to_record(group)
    assert record["messages"][0] == {"type": "MoveTo", "device": "x", "target_mm": 1.5}
    assert message_from_record(record) == group


def test_resume_replays_a_group_from_the_journal_without_touching_the_devices(tmp_path, step_clock):
    first_run = tmp_path / "first"
    a, b = FakeDosimeter("ea", 1.0), FakeDosimeter("eb", 2.0)
    engine = _engine(first_run, step_clock, InstantAxis("x"), a, b)
    expected = engine.run(_scan_plan())
    messages: dict[int, dict[str, Any]] = {}
    readings: dict[int, Any] = {}
    for record in _records(engine):  # as ``hilcal resume`` reads a journal: the last reading of an index wins
        if record["kind"] == "msg":
            messages[record["index"]] = record["message"]
        elif record["kind"] == "reading":
            readings[record["index"]] = message_from_record_or_value(record["reading"])
    replay = [(messages[i], readings.get(i)) for i in sorted(messages) if i <= 2]  # up to the checkpoint

    axis, a, b = InstantAxis("x"), FakeDosimeter("ea", 5.0), FakeDosimeter("eb", 6.0)
    resumed = _engine(tmp_path / "second", step_clock, axis, a, b)
    first, second = resumed.run(_scan_plan(), replay=replay)
    assert first == expected[0]  # the group's answers came from the journal, as a tuple in member order
    assert "read" not in a.calls and ("move", 10.0) not in axis.commands
    assert second[0].value == 6.0  # the group after the checkpoint ran live
    records = _records(resumed)
    assert any(r["kind"] == "replayed" and r["message"]["type"] == "Together" for r in records)

    changed = _engine(tmp_path / "third", step_clock, InstantAxis("x"), a, b)

    def other_plan():
        yield Home("x")
        yield Together((MoveTo("x", 10.0), ReadDosimeter("eb"), ReadDosimeter("ea")))

    with pytest.raises(ReplayMismatch):
        changed.run(other_plan(), replay=replay)


def message_from_record_or_value(record: Any) -> Any:
    from controller.engine import reading_from_record

    return reading_from_record(record)


def test_the_dry_run_checks_every_member_and_answers_a_group_with_a_tuple():
    envelope = SafetyEnvelope()
    envelope.set_axis_limits("x", 0.0, 300.0, "test travel")
    seen: list[Any] = []

    def plan(target: float):
        yield Home("x")
        seen.append((yield Together((MoveTo("x", target), ReadDosimeter("ea")))))
        seen.append((yield ReadAxis("x")))

    assert len(dry_run(plan(20.0), envelope)) == 3
    assert seen[0][0] is None and seen[0][1].unit == "C" and seen[1].position_mm == 20.0
    with pytest.raises(PreflightError, match=r"step 1 \(MoveTo x 400 mm\)"):
        dry_run(plan(400.0), envelope)


class _Params(BaseModel):
    pass


class _GroupSequence(Sequence[_Params]):
    """A plan of one group, for the plan check."""

    name: ClassVar[str] = "together-test"
    title: ClassVar[str] = "together test"
    params_model: ClassVar[type[BaseModel]] = _Params

    def __init__(self, needs: list[DeviceNeed], *group: Any) -> None:
        self.needs = needs
        self.group = group

    def device_needs(self, params: _Params) -> list[DeviceNeed]:
        return self.needs

    def plan(self, params: _Params, context: Any):
        yield Together(tuple(self.group))

    def analyze(self, params: _Params, data: Any) -> Any:
        raise NotImplementedError

    def figures(self, result: Any) -> list[Any]:
        return []


def _check(*group: Any):
    config = load_rig_config()
    known = [m.device for m in group if m.device in config.devices]  # an unknown one is left to the walk
    needs = [DeviceNeed("device", name, config.devices[name].role) for name in known]
    return check_plan(config, _GroupSequence(needs, *group), _Params(), source="test")


def test_the_plan_check_walks_groups_and_refuses_a_device_named_twice():
    checked = _check(MoveTo("phantom_z", 10.0), ReadDosimeter("electrometer_unidos"))
    assert checked.devices == {"phantom_z", "electrometer_unidos"} and checked.steps == 1
    with pytest.raises(ConfigError, match="'phantom_z' is named twice"):
        _check(MoveTo("phantom_z", 10.0), ReadAxis("phantom_z"))
    with pytest.raises(ConfigError, match="phantom_x, phantom_z share the port 'sim:phantom'"):
        _check(MoveTo("phantom_x", 10.0), MoveTo("phantom_z", 10.0))
    with pytest.raises(ConfigError, match="not in the rig"):
        _check(MoveTo("phantom_z", 10.0), ReadDosimeter("nowhere"))
    with pytest.raises(ConfigError, match="phantom_z"):
        _check(MoveTo("phantom_z", 400.0), ReadDosimeter("electrometer_unidos"))


def test_on_the_real_time_simulated_rig_the_members_exchanges_interleave_and_each_device_stays_ordered(
    tmp_path,
):
    from controller.rig import build_rig

    electrometers = ("electrometer_unidos", "electrometer_6517b")
    raw = load_rig_config().model_dump(mode="json")
    raw["simulation"]["clock"] = "realtime"  # polling takes real time: the overlap is real
    with build_rig(RigConfig.model_validate(raw), devices=["phantom_z", *electrometers]) as rig:
        rig.connect_all()
        journal = Journal(tmp_path, rig.clock)
        rig.add_exchange_listener(journal.record_exchange)
        envelope = SafetyEnvelope()
        envelope.set_axis_limits("phantom_z", 0.0, 300.0, "test")
        engine = RunEngine(rig.devices, rig.clock, journal, envelope)

        def plan():
            yield Home("phantom_z")
            for device, range_name in zip(electrometers, ("MEDIUM", "auto"), strict=True):
                yield ConfigureDosimeter(device, DosimeterSettings(range=range_name))
            yield MoveTo("phantom_z", 20.0)
            yield Together(tuple(StartIntegration(e) for e in electrometers))
            yield Dwell(0.2)
            answers = yield Together((MoveTo("phantom_z", 40.0), *(ReadDosimeter(e) for e in electrometers)))
            yield Together(tuple(ResetIntegration(e) for e in electrometers))
            return answers

        answers = engine.run(plan())
    journal.close()  # after the rig closed: its goodbyes are journaled too
    assert answers[0] is None and all(isinstance(r, DosimeterReading) for r in answers[1:])
    records = read_journal(journal.path).records
    group = next(
        r for r in records if r["kind"] == "msg" and r["message"]["type"] == "Together" and "MoveTo" in str(r)
    )
    after = [r for r in records if r["n"] > group["n"]]
    ends = [r for r in after if r["kind"] == "reading" and r["index"] == group["index"]]
    end = next(r for r in ends if "member" not in r)
    window = [r for r in after if r["n"] < end["n"] and r["kind"] in ("tx", "rx")]
    by_device: dict[str, list[dict[str, Any]]] = {}
    for record in window:
        by_device.setdefault(record["device"], []).append(record)
    (tank_port,) = [name for name in by_device if not name.startswith("electrometer")]
    tank = by_device.pop(tank_port)
    assert len(tank) >= 4 and by_device  # the move was polled, and the electrometers talked meanwhile
    for exchanges in [tank, *by_device.values()]:
        # each device's own sequence: one request, its reply, in order, on a monotonic clock
        assert [r["kind"] for r in exchanges] == ["tx", "rx"] * (len(exchanges) // 2)
        assert [r["mono"] for r in exchanges] == sorted(r["mono"] for r in exchanges)
    for exchanges in by_device.values():
        # The group lists the move first: run one after the other, the reads would follow the move's end.
        # Run together, they finish while the move goes on (which thread sends its first byte first is the
        # scheduler's choice, so only the move's end is compared).
        assert tank[-1]["mono"] - exchanges[-1]["mono"] > 0.3  # the move went on long after the read


def test_review_counts_each_member_reading_once(tmp_path):
    """The group's tuple repeats its members' readings: review counts the devices' readings, not both."""
    from controller.journal import Journal
    from controller.messages import MoveTo, ReadDosimeter, Together, message_to_record
    from controller.review import summarize_journal
    from controller.verify import VerifyReport

    class Clock:
        def now(self) -> float:
            return 0.0

    journal = Journal(tmp_path, Clock())
    group = Together(messages=(MoveTo("phantom_z", 40.0), ReadDosimeter("electrometer_unidos")))
    journal.append("msg", index=0, message=message_to_record(group))
    reading = {"type": "DosimeterReading", "value": 1e-9, "unit": "C", "clock_s": 1.0}
    journal.append("reading", index=0, member=1, device="electrometer_unidos", reading=reading)
    journal.append("reading", index=0, reading=[None, reading])
    journal.append("msg", index=1, message=message_to_record(ReadDosimeter("electrometer_unidos")))
    journal.append("reading", index=1, reading=reading)
    journal.close()
    text = summarize_journal(tmp_path, VerifyReport(tmp_path))
    assert "readings taken: 2" in text
