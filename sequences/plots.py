"""Figures for reports; matplotlib is imported only here, only when a report is written."""

from __future__ import annotations

from typing import Any

from controller.results import SequenceResult


def iso230_deviation_figure(result: SequenceResult) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.tables["targets"]
    points = result.tables["points"]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for direction, colour, marker in (("up", "tab:blue", "^"), ("down", "tab:red", "v")):
        xs = [p["target_mm"] for p in points if p["direction"] == direction]
        ys = [1000 * (p["encoder_mm"] - p["target_mm"]) for p in points if p["direction"] == direction]
        ax.scatter(xs, ys, s=10, alpha=0.35, color=colour, marker=marker)
        tx = [r["target_mm"] for r in rows]
        mean = [1000 * r[f"mean_{direction}_mm"] for r in rows]
        sd = [2000 * r[f"sd_{direction}_mm"] for r in rows]
        label = "approach from below (↑)" if direction == "up" else "approach from above (↓)"
        ax.errorbar(tx, mean, yerr=sd, color=colour, marker=marker, capsize=3, label=f"{label}: mean ± 2s")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel(f"target on {result.device} (mm)")
    ax.set_ylabel("deviation, reference − target (µm)")
    ax.set_title(f"{result.device}: positioning deviation per approach direction")
    ax.legend(loc="best", fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def couch_readback_figure(result: SequenceResult) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = result.tables["points"]
    axes = [row["axis"] for row in result.tables["axes"]]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for position, axis in enumerate(axes):
        diffs = [p[f"rb_{axis}"] - p[f"cmd_{axis}"] for p in points]
        ax.scatter([position] * len(diffs), [d * 1000.0 for d in diffs], s=12, alpha=0.6)  # µm or mdeg
    ax.set_xticks(range(len(axes)), [a.replace("_", " ") for a in axes], rotation=20, fontsize=8)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_ylabel("readback − commanded (µm or mdeg)")
    ax.set_title(f"{result.device}: position-indicator differences per IEC axis")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def reproducibility_figure(result: SequenceResult) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.tables["signal"]
    values = [r["charge_nC"] for r in rows]
    mean = sum(values) / len(values)
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    ax.plot([r["index"] + 1 for r in rows], [100 * (v / mean - 1) for v in values], "o-")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("reading")
    ax.set_ylabel("deviation from mean (%)")
    ax.set_title(f"{result.device}: leakage-corrected charge per reading")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def tank_axes_figure(result: SequenceResult) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(
        1, len(result.tables["axes"]), figsize=(4 * len(result.tables["axes"]), 3.6), dpi=100
    )
    for ax, row in zip(np.atleast_1d(axes), result.tables["axes"], strict=True):
        points = np.array(row["points"])
        direction = np.array([row["direction_x"], row["direction_y"], row["direction_z"]])
        centroid = points.mean(axis=0)
        along = (points - centroid) @ direction
        off = points - centroid - np.outer(along, direction)
        ax.plot(along, 1000 * np.linalg.norm(off, axis=1), "o-")
        ax.set_title(f"axis {row['axis']} ({row['device']})", fontsize=9)
        ax.set_xlabel("position along fitted axis (mm)")
        ax.set_ylabel("distance from fitted line (µm)")
        ax.grid(True, alpha=0.3)
    fig.suptitle("Carriage path per axis, from the tracker in IEC f")
    fig.tight_layout()
    return fig
