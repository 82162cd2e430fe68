"""Review a run from its journal alone: what was planned, measured and concluded, even after a kill."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from controller.journal import JOURNAL_NAME, read_journal
from controller.verify import VerifyReport, verify_run


def summarize_journal(run_dir: Path, integrity: VerifyReport | None = None) -> str:
    """What the journal says, with the integrity check first: a broken run is shown, never trusted."""
    integrity = integrity or verify_run(run_dir)
    contents = read_journal(run_dir / JOURNAL_NAME, verify=False)
    records = contents.records
    kinds = Counter(r["kind"] for r in records)
    states = [r["state"] for r in records if r["kind"] == "state"]
    ends = [r for r in records if r["kind"] == "run_end"]
    lines = [
        f"run directory: {run_dir}",
        *integrity.lines(),
        f"records: {len(records)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})",
    ]
    if contents.torn_tail:
        lines.append(
            f"torn final record (incomplete write, kept out of the analysis): {contents.torn_tail[:80]!r}"
        )
    lines.append(f"engine states: {' → '.join(states) if states else 'never started'}")
    if ends:
        end = ends[-1]
        lines.append(f"run ended: {end['state']}" + (f" — {end['error']}" if end.get("error") else ""))
    else:
        lines.append("run ended: NO run_end record — the process was killed; `hilcal resume` can continue it")
    # A group of devices working together journals each member's reading and then the group's tuple:
    # the members are the readings taken, the tuple repeats them.
    groups = {
        r["index"]
        for r in records
        if r["kind"] == "msg" and (r.get("message") or {}).get("type") == "Together"
    }
    readings = [r for r in records if r["kind"] == "reading" and ("member" in r or r["index"] not in groups)]
    lines.append(f"readings taken: {len(readings)}")
    for record in readings[-3:]:
        lines.append(f"  #{record['index']} {describe_reading(record['reading'])}")
    for record in records:
        if record["kind"] == "result":
            result = record["result"]
            lines.append(f"result: {result['title']}")
            for verdict in result["verdicts"]:
                m = verdict["measured"]
                lines.append(
                    f"  {verdict['metric']} = {m['value']:.4f} {m['unit']} "
                    f"vs {verdict['tolerance']['limit']} → "
                    f"{verdict['outcome']}"
                )
    for record in records:
        if record["kind"] == "safe_stop":
            lines.append(f"safe stop {record['device']}: {'ok' if record['ok'] else record.get('error')}")
    return "\n".join(lines)


def describe_reading(reading: Any) -> str:
    """One line for any journaled reading, whatever role produced it."""
    if not isinstance(reading, dict):
        return repr(reading)
    kind = reading.get("type", "?")
    clock = (
        f" at rig clock {reading['clock_s']:.2f} s" if isinstance(reading.get("clock_s"), int | float) else ""
    )
    if kind == "AxisReading":
        position, encoder = reading["position_mm"], reading["encoder_mm"]
        return f"{reading['device']}: readback {position:.4f} mm, encoder {encoder} mm{clock}"
    if kind == "CouchReading":
        setpoint = reading["setpoint"]
        values = ", ".join(f"{k} {v:.4f}" for k, v in setpoint.items() if k not in ("type", "frame"))
        return f"{reading['device']}: {values}{clock}"
    if kind == "DosimeterReading":
        return f"{reading['value']:.6g} {reading['unit']}{clock}"
    if kind == "TrackerFrame":
        tools = ", ".join(f"{t['tool']} {t['status']}" for t in reading["tools"])
        return f"{reading['device']}: {tools}{clock}"
    if kind == "EnvironmentReading":
        air = f"{reading['temperature_c']:.2f} °C, {reading['pressure_kpa']:.3f} kPa"
        return f"{air} ({reading['provenance']}){clock}"
    return f"{kind}{clock}"
