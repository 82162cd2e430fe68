"""Drivers and sequences from installed packages: a plugin built, pip-installed and run end to end."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import sequences
from controller.config import RigConfig
from controller.errors import ConfigError
from controller.rig.factory import build_rig
from controller.rig_check import check_rig
from controller.session import run_sequence
from drivers import registry

PLUGIN_MODULE = '''
"""A site's plugin: a lift axis driver (an in-memory axis) and a one-move check of it."""
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from controller.messages import Home, MoveTo, ReadAxis
from controller.results import DecisionRule, Measurement, SequenceResult, Tolerance, decide
from drivers.registry import DriverSpec
from drivers.roles.identity import DeviceIdentity
from drivers.testing import InstantAxis
from sequences.base import DeviceNeed, Sequence


class LiftParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    travel_mm: tuple[float, float] = (0.0, 200.0)


class LiftAxis(InstantAxis):
    def device_identity(self):
        return DeviceIdentity("Site", "lift", "L-001", "1.0", "site lift L-001")


def build(name, port, params, pool, clock):
    return LiftAxis(name=name, travel_mm=params.travel_mm)


SPEC = DriverSpec(role="positioner", params_model=LiftParams, build=build, summary="site lift (test)")


class LiftCheckParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    axis: str = Field(default="lift", description="the lift")
    target_mm: float = 50.0


class LiftCheck(Sequence[LiftCheckParams]):
    name = "site-lift-check"
    title = "Site lift reaches a target"
    params_model = LiftCheckParams

    def device_needs(self, params):
        return [DeviceNeed("axis", params.axis, "positioner")]

    def plan(self, params, context):
        yield Home(params.axis)
        yield MoveTo(params.axis, params.target_mm)
        reading = yield ReadAxis(params.axis)
        return [{"target_mm": params.target_mm, "position_mm": reading.position_mm}]

    def analyze(self, params, data: Any) -> SequenceResult:
        error = abs(data[0]["position_mm"] - data[0]["target_mm"])
        verdict = decide(
            "E", "position error", Measurement(value=error, standard_uncertainty=0.001, unit="mm"),
            Tolerance(limit=0.5, unit="mm", source="site acceptance test, lift spec"),
            DecisionRule.SIMPLE,
        )
        return SequenceResult(
            sequence=self.name, title=self.title, device=params.axis, profile="site",
            verdicts=[verdict], frame="axis",
        )

    def figures(self, result):
        return []
'''

BROKEN_MODULE = """
raise ImportError("the vendor library site_lift_sdk is not installed")
"""


def _package(
    root: Path, name: str, modules: dict[str, str], drivers: dict[str, str], seqs: dict[str, str]
) -> Path:
    source = root / name
    (source / name.replace("-", "_")).mkdir(parents=True)
    for module, text in modules.items():
        (source / name.replace("-", "_") / f"{module}.py").write_text(textwrap.dedent(text), encoding="utf-8")
    (source / name.replace("-", "_") / "__init__.py").write_text("", encoding="utf-8")

    def table(group: str, entries: dict[str, str]) -> str:
        lines = "".join(f'"{key}" = "{value}"\n' for key, value in entries.items())
        return f'[project.entry-points."{group}"]\n{lines}\n' if entries else ""

    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "1.0"\n\n'
        + table("hilcal.drivers", drivers)
        + table("hilcal.sequences", seqs)
        + f'[tool.setuptools]\npackages = ["{name.replace("-", "_")}"]\n',
        encoding="utf-8",
    )
    return source


def _pip_install(source: Path, target: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """Two packages pip-installed into one folder: a working plugin and a broken one."""
    root = tmp_path_factory.mktemp("plugins")
    target = root / "site-packages"
    good = _package(
        root,
        "site-lift",
        {"plugin": PLUGIN_MODULE},
        drivers={"site-lift": "site_lift.plugin:SPEC"},
        seqs={"site-lift-check": "site_lift.plugin:LiftCheck"},
    )
    broken = _package(
        root,
        "site-broken",
        {"plugin": BROKEN_MODULE},
        drivers={"site-broken-lift": "site_broken.plugin:SPEC", "zaber-ascii": "site_broken.plugin:SPEC"},
        seqs={},
    )
    _pip_install(good, target)
    _pip_install(broken, target)
    assert (target / "site_lift" / "plugin.py").is_file()
    return target


@pytest.fixture
def plugins(installed: Path, monkeypatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(installed))
    registry.reload_driver_plugins()
    sequences.reload_sequence_plugins()
    yield installed
    monkeypatch.undo()
    for module in [m for m in sys.modules if m.startswith(("site_lift", "site_broken"))]:
        del sys.modules[module]
    registry.reload_driver_plugins()
    sequences.reload_sequence_plugins()


def _lift_rig() -> RigConfig:
    return RigConfig.model_validate(
        {
            "name": "site-lift-rig",
            "devices": {
                "lift": {
                    "role": "positioner",
                    "driver": "site-lift",
                    "port": "loop://",
                    "soft_limits_mm": [0, 150],
                    "params": {"travel_mm": [0, 200]},
                },
            },
        }
    )


def test_no_plugin_is_registered_without_the_package():
    assert "site-lift" not in registry.DRIVERS
    assert "site-lift-check" not in sequences.SEQUENCES


def test_a_pip_installed_plugin_runs_its_sequence_on_its_driver(plugins: Path, tmp_path: Path):
    assert registry.DRIVERS["site-lift"].summary == "site lift (test)"
    assert "site-lift-check" in sequences.SEQUENCES
    outcome = run_sequence(
        _lift_rig(), "site-lift-check", {"target_mm": 120.0}, runs_dir=tmp_path, write_report=False
    )
    assert outcome.summary.state == "completed", outcome.summary.error
    assert outcome.result is not None and outcome.result.outcome == "PASS"
    assert outcome.result.verdicts[0].measured.value == pytest.approx(0.0)
    assert (outcome.run_dir / "journal.jsonl").is_file()


def test_plugin_plan_is_checked_against_the_rig_like_a_builtin(plugins: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="target"):
        run_sequence(
            _lift_rig(), "site-lift-check", {"target_mm": 180.0}, runs_dir=tmp_path, write_report=False
        )
    assert not any(tmp_path.iterdir())


def test_a_broken_plugin_is_reported_never_skipped_silently(plugins: Path):
    problems = {(p.name, p.reason.split(":")[0]) for p in registry.DRIVER_PLUGIN_PROBLEMS}
    assert ("site-broken-lift", "cannot be loaded") in problems
    assert any(name == "zaber-ascii" and "shadows the built-in" in why for name, why in problems)
    assert registry.DRIVERS["zaber-ascii"] is registry.BUILTIN_DRIVERS["zaber-ascii"]
    rig = RigConfig.model_validate(
        {
            "name": "r",
            "devices": {"lift": {"role": "positioner", "driver": "site-broken-lift", "port": "loop://"}},
        }
    )
    with pytest.raises(ConfigError) as err:
        build_rig(rig, "rig")
    text = str(err.value)
    assert (
        "site-broken-lift" in text and "site_lift_sdk is not installed" in text and "site-broken 1.0" in text
    )
    report = check_rig(_lift_rig(), "rig")
    assert not report.ok
    assert any("site-broken-lift" in p and "cannot be loaded" in p for p in report.problems)
    assert report.devices[0].ok, report.devices[0].problems
    assert report.devices[0].identity is not None and report.devices[0].identity.serial == "L-001"
    assert "soft_limits_mm [0, 150] within the travel [0, 200] mm" in report.devices[0].notes


def test_plugins_are_gone_after_the_fixture():
    assert "site-lift" not in registry.DRIVERS
    assert not registry.DRIVER_PLUGIN_PROBLEMS
