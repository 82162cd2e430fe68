"""What a sequence will do on a rig, shown before anything is opened: steps, travel, keep-out, time.

The plan is checked against the rig file exactly as a run checks it (``controller.plan_check``), then
walked once more with the same rig-file envelope to list every message. Nothing is opened: the preview
is what an engineer at a real room reads before saying yes to motion (bluesky's ``summarize_plan`` and
``check_limits`` played the same part). The estimated duration comes from ``controller.plan_estimate``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from controller.config import RigConfig
from controller.devices import monitor_units
from controller.engine import dry_run
from controller.messages import (
    Beam,
    Checkpoint,
    ConfigureDosimeter,
    Dwell,
    HoldIntegration,
    Home,
    LoadCouch,
    Message,
    MoveCouch,
    MoveTo,
    ReadTracker,
    StartIntegration,
    SwapChambers,
)
from controller.plan_check import RigFileContext, check_plan, rig_file_envelope
from controller.plan_estimate import PlanClock, TimingInput
from drivers.roles.couch import COUCH_AXES, CouchSetpoint


class StepPreview(BaseModel):
    """One message of the plan, as an engineer would say it, and its share of the estimate."""

    model_config = ConfigDict(frozen=True)

    index: int
    kind: str
    device: str | None = None
    detail: str = ""
    target_mm: float | None = None
    pose: dict[str, float] | None = None
    seconds: float = 0.0
    category: str = "instant"


class AxisTravel(BaseModel):
    """The travel the plan uses on one axis, against the limit the rig file sets for it."""

    device: str
    axis: str
    unit: str
    used_low: float
    used_high: float
    limit_low: float | None
    limit_high: float | None
    limit_source: str
    within: bool


class KeepOutCheck(BaseModel):
    device: str
    paths_checked: int
    volumes: list[str]
    gantry_deg: float
    max_step_mm: float
    result: str


class BeamRequest(BaseModel):
    step: int
    dose_rate_gy_per_min: float
    duration_s: float | None  # time on within the plan; None: switched on and never off
    requested_s: float | None = None  # beam-on time the message asks the beam control for, if it says
    beam: str | None = None  # which beam, when the message names one
    gy_per_mu: float | None = None  # dose at the chamber per MU, when the message says
    monitor_units: int | None = None  # MU to set for requested_s at this dose rate (rounded up), when known


class OperatorAction(BaseModel):
    step: int
    kind: str
    device: str | None
    detail: str


class Integration(BaseModel):
    device: str
    step: int
    duration_s: float
    with_beam: bool


class Estimate(BaseModel):
    """Rig-clock seconds, by what they are spent on, and the numbers (some assumed) behind them."""

    total_s: float
    by_category: dict[str, float]
    inputs: list[TimingInput]
    notes: list[str]

    @property
    def assumptions(self) -> list[TimingInput]:
        return [item for item in self.inputs if item.assumed]


class PlanPreview(BaseModel):
    """Everything a run of one sequence will do, known before any device is opened."""

    rig: str
    simulated: bool
    sequence: str
    title: str
    step_title: str = ""
    params: dict[str, Any]
    devices: list[str]
    steps: list[StepPreview]
    counts: dict[str, int]
    travel: list[AxisTravel]
    keep_out: list[KeepOutCheck]
    beam_requests: list[BeamRequest]
    operator_actions: list[OperatorAction]
    integrations: list[Integration]
    estimate: Estimate | None
    deferred: list[str]
    warnings: list[str]


class SessionPreview(BaseModel):
    name: str
    rig: str
    simulated: bool
    plans: list[PlanPreview]
    total_s: float | None


def build_preview(
    config: RigConfig,
    sequence_name: str,
    params: BaseModel | Mapping[str, Any] | None = None,
    *,
    source: str | None = None,
    extra_devices: Mapping[str, str] | None = None,
    step_title: str = "",
) -> PlanPreview:
    """The preview of one sequence on ``config``; ``ConfigError`` (exit 2) for anything a run would refuse."""
    from sequences import get_sequence

    sequence = get_sequence(sequence_name)
    where = source or f"{sequence.name} parameters on rig {config.name!r}"
    parsed = params if isinstance(params, BaseModel) else sequence.parse_params(dict(params or {}), where)
    checked = check_plan(config, sequence, parsed, source=where, extra_devices=extra_devices)
    common: dict[str, Any] = {
        "rig": config.name,
        "simulated": config.simulated,
        "sequence": sequence.name,
        "title": sequence.title,
        "step_title": step_title,
        "params": parsed.model_dump(mode="json"),
        "devices": sorted(checked.devices),
        "warnings": list(checked.warnings),
    }
    if checked.steps is None:  # targets derive from travel only the device reports: known at connect
        return PlanPreview(
            **common, steps=[], counts={}, travel=[], keep_out=[], beam_requests=[], operator_actions=[],
            integrations=[], estimate=None, deferred=list(checked.deferred),
        )  # fmt: skip
    envelope = rig_file_envelope(config, set(checked.devices))
    messages = dry_run(sequence.plan(parsed, RigFileContext(config)), envelope)
    clock = PlanClock(config, checked.devices)
    by_category: dict[str, float] = {}
    by_category["connect"] = clock.connect()
    steps: list[StepPreview] = []
    for index, message in enumerate(messages):
        seconds, category = clock.step(message)
        by_category[category] = by_category.get(category, 0.0) + seconds
        steps.append(_step(index, message, seconds, category))
    _label_dwells(messages, steps)
    return PlanPreview(
        **common,
        steps=steps,
        counts=dict(Counter(step.kind for step in steps)),
        travel=_travel(messages, envelope, config),
        keep_out=_keep_out(messages, config),
        beam_requests=_beam_requests(messages, steps),
        operator_actions=_operator_actions(messages, config),
        integrations=_integrations(messages, steps),
        estimate=Estimate(
            total_s=clock.now,
            by_category={k: v for k, v in by_category.items() if v > 0},
            inputs=clock.inputs,
            notes=_notes(config, messages),
        ),
        deferred=list(checked.deferred),
    )


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _pose_text(setpoint: CouchSetpoint) -> str:
    moved = {k: v for k, v in setpoint.as_dict().items() if v != 0.0}
    return ", ".join(f"{k}={_fmt(v)}" for k, v in moved.items()) or "home pose"


def _step(index: int, message: Message, seconds: float, category: str) -> StepPreview:
    device = getattr(message, "device", None)
    kind = type(message).__name__
    extra: dict[str, Any] = {}
    detail = ""
    if isinstance(message, MoveTo):
        detail, extra["target_mm"] = f"{_fmt(message.target_mm)} mm", message.target_mm
    elif isinstance(message, MoveCouch):
        detail, extra["pose"] = _pose_text(message.setpoint), message.setpoint.as_dict()
    elif isinstance(message, Dwell):
        detail = f"{_fmt(message.seconds)} s"
    elif isinstance(message, Checkpoint):
        detail = message.label
    elif isinstance(message, Beam):
        detail = f"on at {_fmt(message.dose_rate_gy_per_min)} Gy/min" if message.on else "off"
    elif isinstance(message, LoadCouch):
        detail = f"{_fmt(message.payload_kg)} kg"
        if message.description:
            detail += f" ({message.description})"
    elif isinstance(message, ConfigureDosimeter):
        s = message.settings
        detail = ", ".join(f"{k}={v}" for k, v in _settings(s).items())
    elif isinstance(message, SwapChambers):
        where = "at each other's positions" if message.swapped else "home"
        detail = f"{where} with {message.other}"
    elif isinstance(message, ReadTracker) and message.samples != 1:
        detail = f"{message.samples} samples"
    return StepPreview(
        index=index, kind=kind, device=device if isinstance(device, str) else None, detail=detail,
        seconds=seconds, category=category, **extra,
    )  # fmt: skip


def _settings(settings: Any) -> dict[str, Any]:
    names = getattr(settings, "__dataclass_fields__", None) or getattr(settings, "model_fields", {})
    return {name: getattr(settings, name) for name in names if getattr(settings, name) is not None}


def _label_dwells(messages: list[Message], steps: list[StepPreview]) -> None:
    """Say what each dwell is for: beam-on time, integration, settling after a setting or a move."""
    beam_on = False
    integrating: set[str] = set()
    previous: Message | None = None
    for index, message in enumerate(messages):
        if isinstance(message, Beam):
            beam_on = message.on
        elif isinstance(message, StartIntegration):
            integrating.add(message.device)
        elif isinstance(message, HoldIntegration):
            integrating.discard(message.device)
        elif isinstance(message, Dwell):
            if beam_on:
                why = "beam on"
            elif integrating:
                why = "integrating"
            elif isinstance(previous, ConfigureDosimeter):
                why = "settle after configuring"
            elif isinstance(previous, MoveTo | MoveCouch | Home):
                why = "settle after a move"
            elif isinstance(previous, LoadCouch):
                why = "settle after the load"
            elif isinstance(previous, Beam):
                why = "after beam off"
            else:
                why = "wait"
            steps[index] = steps[index].model_copy(update={"detail": f"{steps[index].detail} ({why})"})
        if not isinstance(message, Checkpoint):
            previous = message


def _travel(messages: list[Message], envelope: Any, config: RigConfig) -> list[AxisTravel]:
    used: dict[tuple[str, str], list[float]] = {}
    for message in messages:
        if isinstance(message, MoveTo):
            used.setdefault((message.device, "position"), []).append(message.target_mm)
        elif isinstance(message, Home) and envelope.limits(message.device) is not None:
            limits = envelope.limits(message.device)
            used.setdefault((message.device, "position"), []).append(limits.low_mm)
        elif isinstance(message, MoveCouch):
            for axis, value in message.setpoint.as_dict().items():
                used.setdefault((message.device, axis), [0.0]).append(value)
    rows = []
    for (device, axis), values in sorted(used.items(), key=lambda item: _axis_order(item[0])):
        if axis == "position":
            limit = envelope.limits(device)
            unit = "mm"
        else:
            limit = envelope.couch_limits(device).get(axis)
            unit = "deg" if axis.endswith("_deg") else "mm"
            if min(values) == max(values) == 0.0:
                continue  # an axis the plan never moves
        low, high = min(values), max(values)
        finite = limit is not None and math.isfinite(limit.low_mm) and math.isfinite(limit.high_mm)
        rows.append(AxisTravel(
            device=device, axis=axis, unit=unit, used_low=low, used_high=high,
            limit_low=limit.low_mm if finite and limit else None,
            limit_high=limit.high_mm if finite and limit else None,
            limit_source=limit.source if limit is not None else "none in the rig file",
            within=not finite or (limit is not None and limit.low_mm <= low and high <= limit.high_mm),
        ))  # fmt: skip
    return rows


def _axis_order(key: tuple[str, str]) -> tuple[str, int]:
    device, axis = key
    return device, COUCH_AXES.index(axis) if axis in COUCH_AXES else -1


def _keep_out(messages: list[Message], config: RigConfig) -> list[KeepOutCheck]:
    safety = config.motion_safety
    moves = Counter(message.device for message in messages if isinstance(message, MoveCouch))
    if not moves:
        return []
    rows = []
    for device, count in sorted(moves.items()):
        if safety is None:
            rows.append(KeepOutCheck(
                device=device, paths_checked=0, volumes=[], gantry_deg=config.gantry_deg, max_step_mm=0.0,
                result="not checked: the rig file has no motion_safety section",
            ))  # fmt: skip
            continue
        rows.append(KeepOutCheck(
            device=device, paths_checked=count,
            volumes=[f"{v.name} (margin {_fmt(v.margin_mm)} mm)" for v in safety.volumes],
            gantry_deg=config.gantry_deg, max_step_mm=safety.max_step_mm,
            result="clear: every path stays in the couch envelope and clear of every volume",
        ))  # fmt: skip
    return rows


def _beam_requests(messages: list[Message], steps: list[StepPreview]) -> list[BeamRequest]:
    requests: list[BeamRequest] = []
    open_at: int | None = None
    for index, message in enumerate(messages):
        if not isinstance(message, Beam):
            continue
        if message.on:
            open_at = index
            continue
        if open_at is not None:
            duration = sum(step.seconds for step in steps[open_at + 1 : index])
            requests.append(_beam_request(open_at, messages[open_at], duration))
            open_at = None
    if open_at is not None:
        requests.append(_beam_request(open_at, messages[open_at], None))
    return requests


def _beam_request(index: int, message: Message, duration: float | None) -> BeamRequest:
    assert isinstance(message, Beam)
    requested = getattr(message, "duration_s", None)  # newer Beam messages carry MU/time and the beam
    beam = getattr(message, "beam", None)
    requested_s = float(requested) if isinstance(requested, int | float) else None
    return BeamRequest(
        step=index, dose_rate_gy_per_min=message.dose_rate_gy_per_min, duration_s=duration,
        requested_s=requested_s, beam=None if beam is None else str(beam), gy_per_mu=message.gy_per_mu,
        monitor_units=monitor_units(message.dose_rate_gy_per_min, requested_s, message.gy_per_mu),
    )  # fmt: skip


def _operator_actions(messages: list[Message], config: RigConfig) -> list[OperatorAction]:
    """What a person must do on a real rig (the simulated rig's world does it instead)."""
    actions = []
    for index, message in enumerate(messages):
        if isinstance(message, LoadCouch):
            what = f"load {_fmt(message.payload_kg)} kg on the table top"
            actions.append(OperatorAction(
                step=index, kind="LoadCouch", device=message.device,
                detail=what + (f": {message.description}" if message.description else ""),
            ))  # fmt: skip
        elif isinstance(message, SwapChambers):
            where = "at each other's positions" if message.swapped else "back at their own positions"
            actions.append(OperatorAction(
                step=index, kind="SwapChambers", device=message.device,
                detail=f"chambers of {message.device} and {message.other} {where}",
            ))  # fmt: skip
        elif isinstance(message, Beam) and (message.on or not config.simulated):
            what = f"beam on at {_fmt(message.dose_rate_gy_per_min)} Gy/min" if message.on else "beam off"
            actions.append(OperatorAction(step=index, kind="Beam", device=None, detail=what))
    return actions


def _integrations(messages: list[Message], steps: list[StepPreview]) -> list[Integration]:
    started: dict[str, tuple[int, bool]] = {}
    beam = False
    found = []
    for index, message in enumerate(messages):
        if isinstance(message, Beam):
            beam = message.on
            for device, (start, _) in started.items():
                started[device] = (start, started[device][1] or beam)
        elif isinstance(message, StartIntegration):
            started[message.device] = (index, beam)
        elif isinstance(message, HoldIntegration) and message.device in started:
            start, with_beam = started.pop(message.device)
            duration = sum(step.seconds for step in steps[start + 1 : index])
            found.append(
                Integration(device=message.device, step=start, duration_s=duration, with_beam=with_beam)
            )
    return found


def _notes(config: RigConfig, messages: list[Message]) -> list[str]:
    notes = [
        "communication time is not counted: on a real rig each exchange adds milliseconds",
    ]
    if not config.simulated:
        if any(isinstance(m, Beam | LoadCouch) for m in messages):
            notes.append("the operator's time to answer each beam or load request is not counted")
        notes.append("kinematic numbers not in the rig file are assumed (listed as such)")
    return notes
