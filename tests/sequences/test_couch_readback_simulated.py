"""Couch readback over the PI GCS hexapod simulator, with the collision and limit checks in the loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.config import RigConfig, load_rig_config
from controller.errors import ConfigError
from controller.journal import read_journal
from controller.results import Outcome
from controller.session import run_sequence

FEW_POSES = {
    "poses": [{}, {"lateral_mm": 10.0}, {"vertical_mm": 8.0, "pitch_deg": 1.0}],
    "repeats": 2,
    "dwell_s": 1,
}


def rig(**changes: Any) -> RigConfig:
    raw = load_rig_config().model_dump(mode="json")
    for path, value in changes.items():
        target = raw
        *keys, last = path.split(".")
        for key in keys:
            target = target[key]
        target[last] = value
    return RigConfig.model_validate(raw)


def sent(run_dir: Path) -> list[str]:
    return [r["data"] for r in read_journal(run_dir / "journal.jsonl").records if r["kind"] == "tx"]


def moved(run_dir: Path) -> bool:
    """Did any motion command (MOV, MVR, FRF — not their queries) reach the wire?"""
    return any(cmd.split(" ")[0].strip() in {"MOV", "MVR", "FRF"} for cmd in sent(run_dir))


def test_default_couch_passes_tg142(tmp_path: Path):
    outcome = run_sequence(
        load_rig_config(), "couch-pose-readback", FEW_POSES, runs_dir=tmp_path, write_report=False
    )
    assert outcome.result is not None, outcome.summary.error
    assert outcome.result.outcome is Outcome.PASS
    assert moved(outcome.run_dir)


def test_a_strut_that_stops_short_fails_the_srs_profile(tmp_path: Path):
    config = rig(**{"simulation.hexapods.couch_hexapod.errors": {"strut_error_mm": [1.5, 0, 0, 0, 0, 0]}})
    params = {**FEW_POSES, "repeats": 2, "profile": "tg142-monthly-srs"}
    outcome = run_sequence(config, "couch-pose-readback", params, runs_dir=tmp_path, write_report=False)
    assert outcome.result is not None, outcome.summary.error
    verdicts = {v.metric: v for v in outcome.result.verdicts}
    assert verdicts["Δt"].outcome is Outcome.FAIL and verdicts["Δt"].measured.value > 1.0


def test_readback_noise_alone_is_never_a_pass_it_cannot_resolve(tmp_path: Path):
    """0.8 mm of display noise: the guarded rule cannot PASS a 1 mm limit it cannot resolve."""
    config = rig(
        **{"simulation.hexapods.couch_hexapod.errors": {"readback_noise_mm": 0.8, "readback_noise_deg": 0.0}}
    )
    params = {**FEW_POSES, "repeats": 5, "profile": "tg142-monthly-srs"}
    outcome = run_sequence(config, "couch-pose-readback", params, runs_dir=tmp_path, write_report=False)
    assert outcome.result is not None, outcome.summary.error
    verdicts = {v.metric: v for v in outcome.result.verdicts}
    assert verdicts["Δt"].outcome is not Outcome.PASS
    assert verdicts["Δt"].measured.expanded_uncertainty > 0.5


def test_pose_beyond_soft_limit_is_refused_before_any_motion(tmp_path: Path):
    params = {"poses": [{"lateral_mm": 5.0}, {"pitch_deg": 3.5}], "repeats": 1}
    with pytest.raises(ConfigError) as refused:
        run_sequence(load_rig_config(), "couch-pose-readback", params, runs_dir=tmp_path, write_report=False)
    assert "pitch_deg=3.5" in str(refused.value) and "[-3, 3] deg" in str(refused.value)
    assert not any(tmp_path.iterdir())  # refused from the rig file: no device opened, no run directory


def test_pose_into_a_keep_out_volume_is_refused_before_any_motion(tmp_path: Path):
    raw = load_rig_config().model_dump(mode="json")
    raw["motion_safety"]["volumes"].append(
        {
            "kind": "box",
            "name": "test block",
            "system": "f",
            "centre_mm": [0, -800, 222],
            "half_size_mm": [50, 50, 10],
            "margin_mm": 10,
        }
    )
    params = {"poses": [{"lateral_mm": 5.0}, {"vertical_mm": 8.0}], "repeats": 1}
    with pytest.raises(ConfigError) as refused:
        config = RigConfig.model_validate(raw)
        run_sequence(config, "couch-pose-readback", params, runs_dir=tmp_path, write_report=False)
    assert "test block" in str(refused.value)
    assert not any(tmp_path.iterdir())


def test_a_strut_that_stops_short_fails_the_readback(tmp_path: Path):
    """A strut 3 mm short moves the platform, and POS? (the FK of the strut encoders) shows it."""
    config = rig(**{"simulation.hexapods.couch_hexapod.errors": {"strut_error_mm": [-3.0, 0, 0, 0, 0, 0]}})
    outcome = run_sequence(config, "couch-pose-readback", FEW_POSES, runs_dir=tmp_path, write_report=False)
    assert outcome.result is not None, outcome.summary.error
    verdicts = {v.metric: v for v in outcome.result.verdicts}
    assert verdicts["Δt"].outcome is Outcome.FAIL and verdicts["Δt"].measured.value > 2.0


def test_errors_downstream_of_the_encoders_are_invisible_to_the_readback(tmp_path: Path):
    """Scale, backlash and walkout move the table top but not POS?: the readback passes, as its page says;
    the tracker sequences C1–C6 are the ones that see them."""
    errors = {"scale_error": {"X": 0.2}, "backlash": {"Z": 3.0}, "walkout_mm": [3.0, 0.0]}
    config = rig(**{"simulation.hexapods.couch_hexapod.errors": errors})
    outcome = run_sequence(config, "couch-pose-readback", FEW_POSES, runs_dir=tmp_path, write_report=False)
    assert outcome.result is not None, outcome.summary.error
    assert outcome.result.outcome is Outcome.PASS
    assert {v.metric: v.measured.value for v in outcome.result.verdicts}["Δt"] < 1e-5
    assert "C1–C6" in " ".join(outcome.result.notes)
