"""Review a run from its journal alone: what was planned, measured and concluded, even after a kill."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from controller.journal import JOURNAL_NAME, read_journal


def summarize_journal(run_dir: Path) -> str:
    contents = read_journal(run_dir / JOURNAL_NAME)
    records = contents.records
    kinds = Counter(r["kind"] for r in records)
    states = [r["state"] for r in records if r["kind"] == "state"]
    ends = [r for r in records if r["kind"] == "run_end"]
    lines = [
        f"run directory: {run_dir}",
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
    readings = [r for r in records if r["kind"] == "reading"]
    lines.append(f"readings taken: {len(readings)}")
    for record in readings[-3:]:
        reading = record["reading"]
        lines.append(
            f"  #{record['index']} {reading['device']}: readback {reading['position_mm']:.4f} mm, "
            f"encoder {reading['encoder_mm']} mm at rig clock {reading['clock_s']:.2f} s"
        )
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
