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


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def couch_accuracy_figure(result: SequenceResult) -> Any:
    """C1/C2: along-axis deviation per commanded offset; reference readings' spread (reproducibility)."""
    import numpy as np

    plt = _pyplot()
    points = result.tables["points"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    for row, colour in zip(result.tables["targets"], ("tab:blue", "tab:orange", "tab:green"), strict=False):
        direction = np.array(row["direction"])
        chosen = [p for p in points if p["kind"] == "target" and p["axis"] == row["axis"]]
        x = [p["offset_mm"] for p in chosen]
        dev = [1000 * float(np.array(p["deviation_mm"]) @ direction) for p in chosen]
        ind = [1000 * float(np.array(p["readback_minus_tracker_mm"]) @ direction) for p in chosen]
        err = [2000 * p["u_mm"] for p in chosen]
        left.errorbar(
            x, dev, yerr=err, fmt="o", color=colour, ms=4, capsize=2, label=f"{row['axis']}: tracker"
        )
        left.scatter(x, ind, marker="x", color=colour, s=18, label=f"{row['axis']}: readback − tracker")
    left.axhline(0, color="grey", linewidth=0.8)
    left.set_xlabel("commanded offset from the reference (mm)")
    left.set_ylabel("deviation along the axis (µm), ± U")
    left.set_title("C1: tracker − commanded per IEC axis", fontsize=10)
    left.legend(fontsize=7, loc="best")
    left.grid(True, alpha=0.3)
    refs = np.array([p["moved_mm"] for p in points if p["kind"] == "reference"])
    distance = 1000 * np.linalg.norm(refs - refs.mean(axis=0), axis=1)
    right.plot(range(len(distance)), distance, "o-", ms=3)
    r95 = next((v for v in result.verdicts if v.metric == "R95"), None)
    if r95 is not None:
        right.axhline(1000 * r95.measured.value, color="tab:red", linestyle="--", label="95th percentile")
        right.legend(fontsize=8)
    right.set_xlabel("reference reading (in order; approach alternates + / −)")
    right.set_ylabel("3-D distance from the mean reference (µm)")
    right.set_title("C2: reproducibility at the reference pose", fontsize=10)
    right.grid(True, alpha=0.3)
    fig.suptitle(f"{result.device}: translational accuracy from the tracker in IEC f")
    fig.tight_layout()
    return fig


def couch_walkout_figure(result: SequenceResult) -> Any:
    """C3: top view of the axis centres, the axis at the isocentre height and the tolerance; arc residuals."""
    import numpy as np

    plt = _pyplot()
    arcs = result.tables["arcs"]
    axis = result.tables["axis"][0]
    verdict = result.verdicts[0]
    fig, (top, res) = plt.subplots(1, 2, figsize=(11, 4.8), dpi=100)
    centre = np.array(axis["baseline_mm"])
    limit = verdict.tolerance.limit
    circle = np.linspace(0, 2 * np.pi, 200)
    top.plot(
        centre[0] + limit * np.cos(circle),
        centre[1] + limit * np.sin(circle),
        "k:",
        linewidth=0.8,
        label=f"tolerance {limit:g} mm",
    )
    top.plot([0], [0], "k+", ms=12, label="isocentre")
    for arc in arcs:
        c, u = arc["centre_mm"], arc["centre_u_mm"]
        top.errorbar(
            [c[0]],
            [c[1]],
            xerr=[2 * u[0]],
            yerr=[2 * u[1]],
            fmt="o",
            capsize=3,
            label=f"axis at z = {arc['z_mm']:.0f} mm",
        )
        bb = np.array(arc["bb_trace_mm"])
        top.plot(bb[:, 0], bb[:, 1], ".", ms=3, alpha=0.5)
    a = axis["a_mm"]
    top.plot([a[0]], [a[1]], "r*", ms=12, label=f"axis at isocentre height: {verdict.measured}")
    top.set_aspect("equal", adjustable="datalim")
    top.set_xlabel("Xf (mm)")
    top.set_ylabel("Yf (mm)")
    top.set_title("C3: rotation axis seen from above (dots: table point at iso)", fontsize=10)
    top.legend(fontsize=7, loc="best")
    top.grid(True, alpha=0.3)
    for arc in arcs:
        res.plot(
            arc["measured_yaw_deg"],
            1000 * np.array(arc["radial_residuals_mm"]),
            "o",
            ms=3,
            label=f"z = {arc['z_mm']:.0f} mm",
        )
    res.axhline(0, color="grey", linewidth=0.8)
    res.set_xlabel("couch rotation θs from the tool orientation (deg)")
    res.set_ylabel("radial residual of the arc fit (µm)")
    res.set_title("arc-fit residuals", fontsize=10)
    res.legend(fontsize=8)
    res.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def couch_rotation_figure(result: SequenceResult) -> Any:
    """C4: Δangle against commanded angle per axis; residual translation of the compensated point."""
    import numpy as np

    plt = _pyplot()
    points = result.tables["points"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    for label, colour in (("pitch", "tab:blue"), ("roll", "tab:orange"), ("yaw", "tab:green")):
        chosen = [p for p in points if p[f"cmd_{label}_deg"] != 0]
        left.errorbar(
            [p[f"cmd_{label}_deg"] for p in chosen],
            [p[f"delta_{label}_deg"] for p in chosen],
            yerr=[2 * p["u_angle_deg"] for p in chosen],
            fmt="o",
            ms=4,
            capsize=2,
            color=colour,
            label=label,
        )
    left.axhline(0, color="grey", linewidth=0.8)
    left.set_xlabel("commanded angle (deg)")
    left.set_ylabel("tracker − commanded (deg), ± U")
    left.set_title("C4: rotational accuracy per IEC axis", fontsize=10)
    left.legend(fontsize=8)
    left.grid(True, alpha=0.3)
    norms = [float(np.linalg.norm(p["iso_residual_mm"])) for p in points]
    right.errorbar(
        range(len(norms)), norms, yerr=[2 * p["u_iso_mm"] for p in points], fmt="o", ms=4, capsize=2
    )
    iso = next((v for v in result.verdicts if v.metric == "Δiso"), None)
    if iso is not None:
        right.axhline(
            iso.tolerance.limit, color="tab:red", linestyle="--", label=f"limit {iso.tolerance.limit:g} mm"
        )
        right.legend(fontsize=8)
    right.set_xlabel("pose (in order)")
    right.set_ylabel("|residual translation| of the compensated point (mm)")
    right.set_title("isocentric compensation", fontsize=10)
    right.grid(True, alpha=0.3)
    fig.suptitle(f"{result.device}: rotations from the couch tool orientation in IEC f")
    fig.tight_layout()
    return fig


def couch_load_figure(result: SequenceResult) -> Any:
    """C5/C6: sag against payload per grid pose with the fitted coefficient; 3-D error per payload case."""
    import numpy as np

    plt = _pyplot()
    sag = result.tables["sag"]
    summary = result.tables["targets"]
    base = summary[0]["payload_kg"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    for pose in sorted({row["pose"] for row in sag}):
        rows = [row for row in sag if row["pose"] == pose]
        left.errorbar(
            [base] + [r["payload_kg"] for r in rows],
            [0.0] + [r["sag_mm"] for r in rows],
            yerr=[0.0] + [2 * r["u_sag_mm"] for r in rows],
            fmt="o-",
            ms=3,
            capsize=2,
            alpha=0.6,
            label=f"pose {pose}",
        )
    coefficient = result.informative.get("sag_coefficient")
    if coefficient is not None:
        m = np.array([base, max(r["payload_kg"] for r in summary)])
        left.plot(m, (m - base) * coefficient.value / 1000.0, "k--", label=f"fit {coefficient}")
    left.set_xlabel("payload (kg)")
    left.set_ylabel("sag: drop of the table-top point (mm)")
    left.set_title("C5: sag under load per grid pose", fontsize=10)
    left.legend(fontsize=6, ncol=2)
    left.grid(True, alpha=0.3)
    points = result.tables["points"]
    for position, row in enumerate(summary):
        norms = [float(np.linalg.norm(p["error_mm"])) for p in points if p["payload_kg"] == row["payload_kg"]]
        right.scatter([position] * len(norms), norms, s=12, alpha=0.6)
        right.plot([position - 0.25, position + 0.25], [row["e95_mm"]] * 2, "r-", linewidth=2)
    limit = next((v.tolerance.limit for v in result.verdicts if v.metric.startswith("E95")), None)
    if limit is not None:
        right.axhline(
            limit, color="tab:red", linestyle="--", label=f"limit {limit:g} mm (red bars: 95th pct)"
        )
        right.legend(fontsize=8)
    right.set_xticks(range(len(summary)), [f"{row['payload_kg']:g} kg" for row in summary])
    right.set_ylabel("3-D error, tracker − commanded (mm)")
    right.set_title("C6: positioning error per payload case", fontsize=10)
    right.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
