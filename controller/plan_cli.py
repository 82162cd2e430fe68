"""``hilcal plan`` and the confirmation a real-rig run asks for: the plan preview as text, 80 columns wide.

Repeated work is grouped (blocks between checkpoints that do the same thing are shown once, with a count)
so a 300-step ISO 230-2 run reads in a screen. ``--json`` gives the whole ``PlanPreview`` instead.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from controller.config import RigConfig, load_rig_config
from controller.errors import ConfigError
from controller.plan_preview import PlanPreview, SessionPreview, StepPreview, build_preview

WIDTH = 80
#: Exit code of a real-rig run the operator did not confirm: nothing was opened, as for bad input.
DECLINED_EXIT = 2


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _wrap(text: str, indent: int = 2, hang: int = 4) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=" " * indent, subsequent_indent=" " * (indent + hang),
        break_on_hyphens=False,
    ) or [""]  # fmt: skip


def _blocks(steps: list[StepPreview]) -> list[list[StepPreview]]:
    """Steps cut after each checkpoint: a sequence places them where its work is whole."""
    blocks: list[list[StepPreview]] = [[]]
    for step in steps:
        blocks[-1].append(step)
        if step.kind == "Checkpoint":
            blocks.append([])
    return [block for block in blocks if block]


def _signature(block: list[StepPreview]) -> tuple[Any, ...]:
    return tuple((s.kind, s.device, s.detail) for s in block if s.kind != "Checkpoint")


def _num(value: float) -> str:
    return f"{value:.6g}"


def _summarise(block: list[StepPreview]) -> list[str]:
    """One line per (message type, device) of a block, in order of first appearance."""
    groups: dict[tuple[str, str | None], list[StepPreview]] = {}
    for step in block:
        if step.kind != "Checkpoint":
            groups.setdefault((step.kind, step.device), []).append(step)
    lines = []
    for (kind, device), members in groups.items():
        count = f"{len(members)} × " if len(members) > 1 else ""
        who = f" {device}" if device else ""
        if kind == "MoveTo":
            targets = [m.target_mm for m in members if m.target_mm is not None]
            distinct = len(set(targets))
            what = f"{_num(targets[0])} mm"
            if distinct > 1:
                what = f"{_num(min(targets))} … {_num(max(targets))} mm ({distinct} targets)"
            lines.append(f"{count}{kind}{who} {what}")
        elif kind == "MoveCouch":
            poses = list(dict.fromkeys(m.detail for m in members))
            if len(poses) <= 3:
                lines.append(f"{count}{kind}{who}: " + "; ".join(poses))
            else:
                lines.append(f"{count}{kind}{who}, {len(poses)} poses: {_pose_ranges(members)}")
        else:
            details = Counter(m.detail for m in members)
            if len(details) == 1:
                detail = next(iter(details))
                lines.append(f"{count}{kind}{who} {detail}".rstrip())
            else:
                parts = ", ".join(f"{n} × {d}" if n > 1 else d for d, n in details.items() if d)
                lines.append(f"{count}{kind}{who}" + (f": {parts}" if parts else ""))
    return lines


def _pose_ranges(members: list[StepPreview]) -> str:
    axes: dict[str, list[float]] = {}
    for member in members:
        for axis, value in (member.pose or {}).items():
            axes.setdefault(axis, []).append(value)
    moved = {a: v for a, v in axes.items() if min(v) != max(v) or min(v) != 0.0}
    return ", ".join(f"{a} {_num(min(v))} … {_num(max(v))}" for a, v in moved.items())


def render_preview(preview: PlanPreview) -> list[str]:
    """The preview as lines of at most 80 characters."""
    title = preview.title + (f" — {preview.step_title}" if preview.step_title else "")
    where = f"rig {preview.rig} ({'simulated' if preview.simulated else 'REAL HARDWARE'})"
    lines = [f"Plan: {preview.sequence}", *_wrap(title, 2)]
    lines += _wrap(f"{where}; devices {', '.join(preview.devices)}")
    for warning in preview.warnings:
        lines += _wrap(f"warning: {warning}")
    if not preview.steps:
        lines += _wrap("No step list before connect: " + "; ".join(preview.deferred))
        return lines
    counts = ", ".join(f"{n} {kind}" for kind, n in preview.counts.items())
    lines += _wrap(f"{len(preview.steps)} steps: {counts}")
    lines += ["", "Steps"]
    blocks = _blocks(preview.steps)
    index = 0
    while index < len(blocks):
        block = blocks[index]
        same = index + 1
        while same < len(blocks) and _signature(blocks[same]) == _signature(block):
            same += 1
        repeats = same - index
        first, last = block[0].index, blocks[same - 1][-1].index
        end = blocks[same - 1][-1]
        label = end.detail if end.kind == "Checkpoint" else "to the end"
        seconds = sum(s.seconds for b in blocks[index:same] for s in b)
        head = f"  {first}–{last}" if last > first else f"  {first}"
        if repeats > 1:
            label = f"{repeats} × the same (last: {label})"
        lines.append(f"{head}  {label}"[: WIDTH - 12].ljust(WIDTH - 12) + format_duration(seconds).rjust(12))
        for line in _summarise(block):
            lines += _wrap(line, 6)
        index = same
    lines += _travel_lines(preview)
    if preview.operator_actions or preview.beam_requests:
        lines += ["", "Operator actions and beam requests"]
        requests: dict[tuple[float, float | None, str | None, int | None], list[int]] = {}
        for r in preview.beam_requests:
            key = (r.dose_rate_gy_per_min, r.duration_s, r.beam, r.monitor_units)
            requests.setdefault(key, []).append(r.step)
        for (rate, duration, beam, mu), at in requests.items():
            length = "until the end" if duration is None else format_duration(duration)
            where = f"step {at[0]}" if len(at) == 1 else f"{len(at)} ×, steps {at[0]}, {at[1]} … {at[-1]}"
            which = f"{beam}: " if beam else ""
            units = "" if mu is None else f", ≥ {mu} MU"
            lines += _wrap(f"{which}beam on at {_num(rate)} Gy/min for {length}{units} ({where})")
        for action in preview.operator_actions:
            if action.kind != "Beam":
                lines += _wrap(f"step {action.step}: {action.detail} ({action.device})")
    if preview.integrations:
        lines += ["", "Integrations"]
        grouped = Counter((i.device, round(i.duration_s, 3), i.with_beam) for i in preview.integrations)
        for (device, duration, with_beam), n in grouped.items():
            beam_text = "with beam" if with_beam else "without beam"
            lines += _wrap(f"{n} × {device}: {format_duration(duration)} {beam_text}")
    lines += _estimate_lines(preview)
    return lines


def _travel_lines(preview: PlanPreview) -> list[str]:
    lines = []
    if preview.travel:
        lines += ["", "Travel used, against the limits the rig file sets"]
        for row in preview.travel:
            allowed = (
                f"{_num(row.limit_low)} … {_num(row.limit_high)} {row.unit} ({row.limit_source})"
                if row.limit_low is not None and row.limit_high is not None
                else row.limit_source
            )
            verdict = "ok" if row.within else "OUTSIDE"
            used = f"{_num(row.used_low)} … {_num(row.used_high)} {row.unit}"
            lines += _wrap(f"{row.device} {row.axis}: {used} of {allowed}: {verdict}")
    for check in preview.keep_out:
        lines += ["", f"Keep-out ({check.device}, gantry {_num(check.gantry_deg)}°)"]
        if check.volumes:
            lines += _wrap(f"{check.paths_checked} paths against: {', '.join(check.volumes)}")
        lines += _wrap(check.result)
    return lines


def _estimate_lines(preview: PlanPreview) -> list[str]:
    estimate = preview.estimate
    if estimate is None:
        return []
    lines = ["", f"Estimated duration: {format_duration(estimate.total_s)} on the rig clock"]
    parts = sorted(estimate.by_category.items(), key=lambda item: -item[1])
    lines += _wrap(" · ".join(f"{name} {format_duration(s)}" for name, s in parts))
    assumed = [i for i in estimate.inputs if i.assumed]
    given = [i for i in estimate.inputs if not i.assumed]
    if given:
        lines.append("  from the rig file:")
        for item in given:
            value = f"{_num(item.value)} {item.unit}"
            lines += _wrap(f"{item.device} {item.quantity} = {value} ({item.source})", 4)
    if assumed:
        lines.append("  ASSUMED (not in the rig file):")
        for item in assumed:
            lines += _wrap(f"{item.device} {item.quantity} = {_num(item.value)} {item.unit}", 4)
    for note in estimate.notes:
        lines += _wrap(f"note: {note}")
    return lines


def previews_for(
    config: RigConfig, steps: list[Any], *, session: bool, air: bool = False
) -> list[PlanPreview]:
    """A preview per step (``SessionStep``s); ``ConfigError`` names the step and parameter at fault."""
    from controller.session import OPERATOR_DEVICE

    extra = {OPERATOR_DEVICE: "environment"} if air else None
    previews = []
    for index, step in enumerate(steps):
        where = f"steps.{index}.params ({step.sequence})" if session else f"{step.sequence} parameters"
        previews.append(build_preview(
            config, step.sequence, step.params, source=f"{where} on rig {config.name!r}",
            extra_devices=extra, step_title=step.title,
        ))  # fmt: skip
    return previews


def _echo_previews(previews: list[PlanPreview], name: str | None) -> None:
    for preview in previews:
        typer.echo("\n".join(render_preview(preview)))
        typer.echo("")
    if name is not None and len(previews) > 1:
        known = [p.estimate.total_s for p in previews if p.estimate is not None]
        unknown = len(previews) - len(known)
        total = format_duration(sum(known)) + (f" + {unknown} steps not estimated" if unknown else "")
        typer.echo(f"Session {name}: {len(previews)} steps, estimated {total}")


def confirm_real_run(
    config: RigConfig, steps: list[Any], *, session: str | None, yes: bool, air: bool = False
) -> None:
    """On a real rig: show every step's preview and ask before anything is opened; exit 2 if declined."""
    if config.simulated:
        return
    try:
        previews = previews_for(config, steps, session=session is not None, air=air)
    except ConfigError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    _echo_previews(previews, session)
    if yes:
        return
    if not typer.confirm(f"Run this on the real rig {config.name!r}? Devices will move", default=False):
        typer.echo("Not confirmed: nothing was opened or moved.", err=True)
        raise typer.Exit(DECLINED_EXIT)


def plan(
    sequence: Annotated[
        str | None, typer.Option(help="one sequence (see `hilcal sequences`); default: the session")
    ] = None,
    params: Annotated[Path | None, typer.Option(help="sequence parameter file (YAML/TOML)")] = None,
    rig: Annotated[
        Path | None, typer.Option(help="rig file (YAML/TOML); default: the built-in simulated rig")
    ] = None,
    session: Annotated[
        Path | None, typer.Option(help="session file (steps of sequences); default: the built-in session")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="write the PlanPreview as JSON instead")] = False,
) -> None:
    """Preview a sequence or session without opening any device: steps, travel, keep-out, duration.

    Exit 0 when the plan would be accepted, 2 on bad input (the parameter and value are named).
    """
    from controller.commissioning import SessionStep, load_session
    from sequences import get_sequence

    try:
        config = load_rig_config(rig)
        if sequence is not None:
            if session is not None:
                raise ValueError("--sequence and --session exclude each other")
            chosen = get_sequence(sequence).load_params(params)
            steps = [SessionStep(sequence=sequence, params=chosen.model_dump())]
            name = None
        else:
            if params is not None:
                raise ValueError(
                    "--params belongs to --sequence; a session file carries each step's parameters"
                )
            loaded = load_session(session)
            steps, name = loaded.steps, loaded.name
        previews = previews_for(config, steps, session=name is not None)
    except (ConfigError, KeyError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    if as_json:
        if name is None:
            typer.echo(previews[0].model_dump_json(indent=2))
        else:
            totals = [p.estimate.total_s for p in previews if p.estimate is not None]
            whole = SessionPreview(
                name=name, rig=config.name, simulated=config.simulated, plans=previews,
                total_s=sum(totals) if len(totals) == len(previews) else None,
            )  # fmt: skip
            typer.echo(whole.model_dump_json(indent=2))
        return
    _echo_previews(previews, name)
