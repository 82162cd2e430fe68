"""``make faults``: every sequence × every fault of issue 10; prints how many cells hold out of the total.

Each cell runs the real CLI in a child process on the default simulated rig (virtual clock) with one fault
armed at the reply ``TRIGGER_FRACTION`` of the way through the hit device's conversation in a clean run,
then checks exit code 3 (or the resume path), that the error names the rig device, that every positioner
is stopped in the simulated world, that the journal verifies, that nothing recorded is lost, and that the
run resumes or is reviewable. Not-applicable cells are listed with their reason and not counted.

``python tests/faults/run.py [--jobs 2] [--only SUBSTRING] [--keep DIR] [--sample N --seed S]``; exit 0
only if every cell holds. ``--sample N`` runs N faults (distinct kinds) spread over two sequences drawn with
seed S: the small rotating sample the normal test suite runs.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.faults.check import Outcome, baseline, run_cell
from tests.faults.matrix import FAULTS, VARIANTS, Cell, Variant, plan_cell

#: Where in the hit device's conversation the fault fires (share of its replies in a clean run).
TRIGGER_FRACTION = 0.55


def _variant_spec(variant: Variant) -> dict[str, Any]:
    return {"sequence": variant.sequence, "params": variant.params}


def plan(variant: Variant, work: Path) -> tuple[list[tuple[Cell, dict[str, Any]]], list[str], str | None]:
    """The variant's cells with their child specs; a variant whose clean run fails yields no cells."""
    base = baseline(_variant_spec(variant), work / "baseline")
    if base.get("exit_code") != 0:
        return [], [], f"clean run exits {base.get('exit_code')} (see {work / 'baseline'})"
    endpoints = {d: port.removeprefix("sim:") for d, port in base["ports"].items()}
    protocols = {d: (endpoints[d], base["protocols"].get(endpoints[d], "")) for d in endpoints}
    unused = [d for d in variant.prefer if d not in base["used"]]
    if unused:
        return [], [], f"preferred devices {unused} are not used by the plan (it uses {base['used']})"
    cells = []
    for fault in FAULTS:
        cell = plan_cell(variant, fault, protocols)
        spec: dict[str, Any] = {**_variant_spec(variant), "fault": fault, "target": cell.target}
        if cell.na is None:
            assert cell.endpoint is not None
            trigger = max(1, int(TRIGGER_FRACTION * base["replies"][cell.endpoint]))
            peers = sorted(d for d, (endpoint, _) in protocols.items() if endpoint == cell.endpoint)
            spec.update(endpoint=cell.endpoint, protocol=cell.protocol, trigger=trigger, peers=peers)
        cells.append((cell, spec))
    return cells, base["used"], None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="cells run at once (2 cores: at most 2)")
    parser.add_argument("--only", default="", help="run only cells whose name contains this")
    parser.add_argument("--keep", type=Path, default=None, help="keep every cell's runs here")
    parser.add_argument("--sample", type=int, default=0, help="run only N seeded cells (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --sample draw")
    args = parser.parse_args(argv)
    started = time.monotonic()
    wanted = sample(args.sample, args.seed) if args.sample else None
    root = args.keep or Path(tempfile.mkdtemp(prefix="hilcal-faults-"))
    root.mkdir(parents=True, exist_ok=True)
    variants = [v for v in VARIANTS if not args.only or any(args.only in f"{v.label} × {f}" for f in FAULTS)]
    if wanted is not None:
        variants = [v for v in variants if any(label == v.label for label, _ in wanted)]
    with ThreadPoolExecutor(max_workers=max(1, min(args.jobs, 2))) as pool:
        planned = list(pool.map(lambda v: (v, *plan(v, root / _slug(v.label))), variants))
        todo: list[tuple[Cell, dict[str, Any], list[str]]] = []
        na: list[Cell] = []
        broken: list[str] = []
        for variant, cells, used, problem in planned:
            if problem:
                broken.append(f"{variant.label}: {problem}")
            for cell, spec in cells:
                if args.only and args.only not in cell.name:
                    continue
                if wanted is not None and (cell.variant.label, cell.fault) not in wanted:
                    continue
                if cell.na:
                    na.append(cell)
                else:
                    todo.append((cell, spec, used))
        outcomes: list[Outcome] = list(
            pool.map(
                lambda t: run_cell(t[0], t[1], t[2], root / _slug(t[0].variant.label) / t[0].fault), todo
            )
        )
    return report(outcomes, na, broken, root, time.monotonic() - started)


def sample(n: int, seed: int) -> set[tuple[str, str]]:
    """``n`` distinct fault kinds, alternately on two seeded sequences (a rotating slice of the matrix)."""
    rng = random.Random(seed)
    first, second = rng.sample([v.label for v in VARIANTS], 2)
    faults = rng.sample(list(FAULTS), min(n, len(FAULTS)))
    return {(first if i % 2 == 0 else second, fault) for i, fault in enumerate(faults)}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def report(outcomes: list[Outcome], na: list[Cell], broken: list[str], root: Path, elapsed: float) -> int:
    for outcome in outcomes:
        mark = "holds" if outcome.holds else "DOES NOT HOLD"
        target = f" on {outcome.cell.target} ({outcome.cell.protocol})"
        print(f"{mark:13} {outcome.cell.name}{target}")
        for problem in outcome.failed():
            print(f"{'':13}   {problem}")
        if not outcome.holds:
            print(f"{'':13}   run: {outcome.run_dir}")
    for cell in na:
        print(f"{'n/a':13} {cell.name}: {cell.na}")
    for problem in broken:
        print(f"BROKEN        {problem}")
    held = sum(o.holds for o in outcomes)
    total = len(outcomes) + len(broken)
    print(f"\nfault matrix: {held}/{total} cells hold ({len(na)} not applicable, listed above); "
          f"{elapsed:.0f} s wall; runs in {root}")  # fmt: skip
    return 0 if held == total and total > 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
