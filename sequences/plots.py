"""Figures for reports; matplotlib is imported only here, only when a report is written."""

from __future__ import annotations

import itertools
from typing import Any

from controller.results import SequenceResult, Verdict

_GIDS = itertools.count(1)


def limit_line(
    ax: Any,
    value: float,
    label: str,
    *,
    action: bool = False,
    vertical: bool = False,
    symmetric: bool = False,
    centre: float = 0.0,
) -> None:
    """Draw a limit as a black line (dashed: tolerance, dash-dot: action level) so it survives grey print.

    Each line carries an SVG id ``limit-line-…`` (``action-line-…``) so the report and its tests can find it.
    """
    style = {"color": "black", "linewidth": 1.3, "linestyle": "-." if action else "--"}
    prefix = "action-line" if action else "limit-line"
    for sign, text in ((1.0, label), (-1.0, None)) if symmetric else ((1.0, label),):
        draw = ax.axvline if vertical else ax.axhline
        line = draw(centre + sign * value, label=text, **style)
        line.set_gid(f"{prefix}-{next(_GIDS)}")


def mark_limit(line: Any, *, action: bool = False) -> Any:
    """Give a line drawn by hand (a sloped or partial limit) the SVG id ``limit_line`` gives its lines."""
    line.set_gid(f"{'action-line' if action else 'limit-line'}-{next(_GIDS)}")
    return line


def verdict_limits(
    ax: Any, verdict: Verdict | None, *, scale: float = 1.0, unit: str = "", symmetric: bool = False
) -> None:
    """The tolerance (and action level, when the verdict has one) of ``verdict`` as lines on ``ax``."""
    if verdict is None:
        return
    shown = unit or verdict.tolerance.unit
    limit = verdict.tolerance.limit
    limit_line(
        ax, scale * limit, f"{verdict.metric} tolerance {scale * limit:g} {shown}", symmetric=symmetric
    )
    action = getattr(verdict.tolerance, "action_limit", None)
    if action is not None:
        limit_line(
            ax,
            scale * action,
            f"{verdict.metric} action level {scale * action:g} {shown}",
            action=True,
            symmetric=symmetric,
        )


def _verdict(result: SequenceResult, metric: str) -> Verdict | None:
    return next((v for v in result.verdicts if v.metric == metric), None)


def verdict_figure(result: SequenceResult, title: str) -> Any:
    """Every verdict as its measured value ± U in percent of its own limit; the limit is the line at 100 %."""
    plt = _pyplot()
    verdicts = result.verdicts
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(verdicts) + 1.6), dpi=100)
    for row, v in enumerate(verdicts):
        limit = v.tolerance.limit
        ax.errorbar(
            [100 * v.measured.value / limit],
            [row],
            xerr=[100 * v.measured.expanded_uncertainty / limit],
            fmt="ko",
            capsize=3,
        )
        ax.annotate(
            f"{v.measured.value:.3g} ± {v.measured.expanded_uncertainty:.2g} {v.measured.unit} "
            f"(limit {limit:g} {v.tolerance.unit})",
            (100 * v.measured.value / limit, row),
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=7,
        )
    limit_line(ax, 100.0, "tolerance (100 % of each limit)", vertical=True)
    actions = [getattr(v.tolerance, "action_limit", None) for v in verdicts]
    for row, (v, action) in enumerate(zip(verdicts, actions, strict=True)):
        if action is not None:
            line = ax.plot([100 * action / v.tolerance.limit] * 2, [row - 0.3, row + 0.3], "k-.")[0]
            line.set_gid(f"action-line-{next(_GIDS)}")
    ax.set_yticks(range(len(verdicts)), [f"{v.metric}" for v in verdicts])
    ax.set_ylim(-0.7, len(verdicts) - 0.3)
    ax.set_xlim(left=0)
    ax.set_xlabel("measured value ± U, in % of the tolerance limit (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


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
    accuracy = _verdict(result, "A")
    if accuracy is not None:  # A is the span of mean ± 2s over all targets: a band of that width must hold it
        spans = [
            1000 * (r[f"mean_{d}_mm"] + sign * 2 * r[f"sd_{d}_mm"])
            for r in rows
            for d in ("up", "down")
            for sign in (1, -1)
        ]
        centre = (max(spans) + min(spans)) / 2
        limit_line(
            ax,
            500 * accuracy.tolerance.limit,
            f"A tolerance: a band {1000 * accuracy.tolerance.limit:g} µm wide",
            symmetric=True,
            centre=centre,
        )
        action = getattr(accuracy.tolerance, "action_limit", None)
        if action is not None:
            limit_line(
                ax, 500 * action, f"A action level: a band {1000 * action:g} µm wide", action=True,
                symmetric=True, centre=centre,
            )  # fmt: skip
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
    fig, panels = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    for ax, suffix, metric, unit in ((panels[0], "_mm", "Δt", "mm"), (panels[1], "_deg", "Δθ", "deg")):
        chosen = [a for a in axes if a.endswith(suffix)]
        for position, axis in enumerate(chosen):
            diffs = [p[f"rb_{axis}"] - p[f"cmd_{axis}"] for p in points]
            ax.scatter([position] * len(diffs), diffs, s=12, alpha=0.6, color="k", marker="os^"[position % 3])
        ax.set_xticks(
            range(len(chosen)), [a.removesuffix(suffix).replace("_", " ") for a in chosen], fontsize=8
        )
        ax.axhline(0, color="grey", linewidth=0.8)
        verdict_limits(ax, _verdict(result, metric), symmetric=True)
        ax.set_ylabel(f"readback − commanded ({unit})")
        ax.set_title(f"{'translations' if unit == 'mm' else 'rotations'} ({metric})", fontsize=10)
        ax.legend(fontsize=7, loc="best")
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{result.device}: position-indicator differences per IEC axis")
    fig.tight_layout()
    return fig


def reproducibility_figure(result: SequenceResult) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.tables["signal"]
    values = [r["charge_nC"] for r in rows]
    mean = sum(values) / len(values)
    fig, (ax, leak) = plt.subplots(1, 2, figsize=(11, 4), dpi=100, gridspec_kw={"width_ratios": [3, 1]})
    ax.plot([r["index"] + 1 for r in rows], [100 * (v / mean - 1) for v in values], "ko-", ms=4)
    ax.axhline(0, color="grey", linewidth=0.8)
    cov = _verdict(result, "CoV")
    # readings of a process at the CoV limit scatter by ±1 limit (one SD) about the mean
    verdict_limits(ax, cov, symmetric=True)
    ax.set_xlabel("reading")
    ax.set_ylabel("deviation from mean (%)")
    ax.set_title(f"{result.device}: leakage-corrected charge per reading (D3)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, alpha=0.3)
    leakage = _verdict(result, "leakage")
    if leakage is not None:
        leak.errorbar(
            [0], [leakage.measured.value], yerr=[leakage.measured.expanded_uncertainty], fmt="ko", capsize=4
        )
        verdict_limits(leak, leakage)
        leak.set_xticks([0], ["leakage"])
        leak.set_xlim(-1, 1)
        leak.set_ylim(bottom=0)
        leak.set_ylabel("leakage charge, % of the signal (%), ± U")
        leak.legend(fontsize=7, loc="best")
        leak.grid(True, alpha=0.3)
    leak.set_title("leakage (D1)", fontsize=10)
    fig.tight_layout()
    return fig


def tank_axes_figure(result: SequenceResult) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    count = len(result.tables["axes"])
    fig, axes = plt.subplots(1, count + 1, figsize=(3.6 * (count + 1), 3.6), dpi=100)
    summary = np.atleast_1d(axes)[-1]
    for position, v in enumerate(result.verdicts):
        summary.errorbar(
            [position], [v.measured.value], yerr=[v.measured.expanded_uncertainty], fmt="ko", capsize=3
        )
        width = 0.35
        summary.plot([position - width, position + width], [v.tolerance.limit] * 2, "k--", linewidth=1.3)[
            0
        ].set_gid(f"limit-line-{next(_GIDS)}")
        action = getattr(v.tolerance, "action_limit", None)
        if action is not None:
            summary.plot([position - width, position + width], [action] * 2, "k-.")[0].set_gid(
                f"action-line-{next(_GIDS)}"
            )
    summary.plot([], [], "k--", label="tolerance")
    summary.set_xticks(range(len(result.verdicts)), [v.metric for v in result.verdicts], fontsize=8)
    summary.set_ylim(bottom=0)
    summary.set_ylabel("angle (deg), ± U")
    summary.set_title("verdicts against their limits", fontsize=9)
    summary.legend(fontsize=7)
    summary.grid(True, alpha=0.3)
    for ax, row in zip(np.atleast_1d(axes)[:-1], result.tables["axes"], strict=True):
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
    """C1: one panel per IEC axis, |tracker − commanded| per offset against the limit; C2: reproducibility."""
    import numpy as np

    plt = _pyplot()
    points = result.tables["points"]
    targets = result.tables["targets"]
    per_axis = [v for v in result.verdicts if v.metric not in ("Δindicator", "R95")]
    indicator = _verdict(result, "Δindicator")
    columns = 2
    rows = (len(targets) + 2) // columns
    fig, grid = plt.subplots(rows, columns, figsize=(11, 3.9 * rows), dpi=100, squeeze=False)
    panels = list(grid.flat)
    for index, row in enumerate(targets):
        ax = panels[index]
        chosen = [p for p in points if p["kind"] == "target" and p["axis"] == row["axis"]]
        x = [p["offset_mm"] for p in chosen]
        ax.errorbar(
            x,
            [float(np.linalg.norm(p["deviation_mm"])) for p in chosen],
            yerr=[2 * p["u_mm"] for p in chosen],
            fmt="ko",
            ms=4,
            capsize=2,
            label="|tracker − commanded| ± U",
        )
        ax.scatter(
            x,
            [float(np.linalg.norm(p["readback_minus_tracker_mm"])) for p in chosen],
            marker="x",
            color="0.4",
            s=20,
            label="|readback − tracker|",
        )
        axis_verdict = per_axis[index] if index < len(per_axis) else None
        verdict_limits(ax, axis_verdict)
        if indicator is not None and (
            axis_verdict is None or indicator.tolerance.limit != axis_verdict.tolerance.limit
        ):
            verdict_limits(ax, indicator)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(f"commanded {row['axis'].removesuffix('_mm')} offset from the reference (mm)")
        ax.set_ylabel("3-D deviation (mm)")
        title = axis_verdict.metric if axis_verdict is not None else row["axis"]
        ax.set_title(f"C1 {title}: {row['axis'].removesuffix('_mm')} axis", fontsize=10)
        ax.legend(fontsize=7, loc="best")
        ax.grid(True, alpha=0.3)
    right = panels[len(targets)]
    refs = np.array([p["moved_mm"] for p in points if p["kind"] == "reference"])
    distance = np.linalg.norm(refs - refs.mean(axis=0), axis=1)
    right.plot(range(len(distance)), distance, "ko-", ms=3, label="distance from the mean")
    r95 = _verdict(result, "R95")
    if r95 is not None:
        right.axhline(r95.measured.value, color="0.4", linestyle=":", label="95th percentile (R95)")
        verdict_limits(right, r95)
    right.set_ylim(bottom=0)
    right.set_xlabel("reference reading (in order; approach alternates + / −)")
    right.set_ylabel("3-D distance from the mean reference (mm)")
    right.set_title("C2: reproducibility at the reference pose", fontsize=10)
    right.legend(fontsize=7, loc="best")
    right.grid(True, alpha=0.3)
    for spare in panels[len(targets) + 1 :]:
        spare.set_visible(False)
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
        "k--",
        linewidth=1.3,
        label=f"tolerance {limit:g} mm",
    )[0].set_gid(f"limit-line-{next(_GIDS)}")
    action = getattr(verdict.tolerance, "action_limit", None)
    if action is not None:
        top.plot(
            centre[0] + action * np.cos(circle),
            centre[1] + action * np.sin(circle),
            "k-.",
            linewidth=1.0,
            label=f"action level {action:g} mm",
        )[0].set_gid(f"action-line-{next(_GIDS)}")
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
    angle_limits = {v.tolerance.limit: v for v in result.verdicts if v.tolerance.unit == "deg"}
    for verdict in angle_limits.values():  # one pair of lines per distinct angle limit
        verdict_limits(left, verdict, symmetric=True)
    left.set_xlabel("commanded angle (deg)")
    left.set_ylabel("tracker − commanded (deg), ± U")
    left.set_title("C4: rotational accuracy per IEC axis", fontsize=10)
    left.legend(fontsize=8)
    left.grid(True, alpha=0.3)
    norms = [float(np.linalg.norm(p["iso_residual_mm"])) for p in points]
    right.errorbar(
        range(len(norms)), norms, yerr=[2 * p["u_iso_mm"] for p in points], fmt="o", ms=4, capsize=2
    )
    iso = _verdict(result, "Δiso")
    if iso is not None:
        verdict_limits(right, iso)
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
    verdict_limits(left, _verdict(result, "sag"), symmetric=True)
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
    e95 = next((v for v in result.verdicts if v.metric.startswith("E95")), None)
    if e95 is not None:
        verdict_limits(right, e95)
        right.plot([], [], "r-", linewidth=2, label="95th percentile per case")
        right.legend(fontsize=8)
    right.set_xticks(range(len(summary)), [f"{row['payload_kg']:g} kg" for row in summary])
    right.set_ylabel("3-D error, tracker − commanded (mm)")
    right.set_title("C6: positioning error per payload case", fontsize=10)
    right.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
