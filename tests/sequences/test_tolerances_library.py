"""The tolerance library covers every verdict every sequence produces, with action levels and public sources.

Each sequence runs once on the built-in simulated rig; its recorded raw data (the journal's ``data``
record) is then analysed again under every profile of the library, so every verdict of every profile is
checked against the library entry that should judge it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from controller.config import load_rig_config
from controller.journal import read_journal
from controller.results import DecisionRule, Measurement, RunSummary, Tolerance
from controller.session import run_sequence
from sequences import SEQUENCES, get_sequence
from sequences.tolerances import ACTION_FACTOR, LIBRARY, Confidence, markdown_table

ROOT = Path(__file__).resolve().parents[2]
#: Smaller than the defaults where a sequence allows it: the analysis, not the precision, is under test.
FAST = {
    "couch-translation-accuracy": {"repeats": 1},
    "couch-rotation-accuracy": {"repeats": 1},
    "couch-load-positioning": {"repeats": 1},
    "phantom-axis-iso230": {"runs": 2, "step_mm": 100},
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each sequence's raw data, as its journal recorded it on the simulated rig."""
    config = load_rig_config(None)
    runs = tmp_path_factory.mktemp("runs")
    data: dict[str, Any] = {}
    for name in SEQUENCES:
        outcome = run_sequence(config, name, FAST.get(name, {}), runs_dir=runs, write_report=False)
        assert outcome.summary.state == "completed", outcome.summary.error
        records = read_journal(outcome.run_dir / "journal.jsonl").records
        (record,) = [r for r in records if r["kind"] == "data"]
        data[name] = record["data"]
    return data


def test_every_sequence_has_a_library_entry_and_builds_its_profiles_from_it():
    assert set(LIBRARY) == set(SEQUENCES)
    for name, sequence in SEQUENCES.items():
        module = __import__(type(sequence).__module__, fromlist=["PROFILES"])
        entry = LIBRARY[name]
        assert set(module.PROFILES) == set(entry.profiles), name
        for profile_name, profile in module.PROFILES.items():
            assert profile.rule is entry.profiles[profile_name].rule
            for key, tolerance in entry.profiles[profile_name].tolerances.items():
                assert profile.tolerance(key) == tolerance, (name, profile_name, key)
        params = sequence.parse_params(FAST.get(name, {}))
        assert params.tolerance_profile().name == entry.default_profile, name


@pytest.mark.parametrize("sequence", sorted(LIBRARY))
def test_every_tolerance_has_action_level_source_and_plain_confidence(sequence: str):
    words = {c.value for c in Confidence}
    for profile_name, profile in LIBRARY[sequence].profiles.items():
        for key, tol in profile.tolerances.items():
            where = f"{sequence}/{profile_name}/{key}"
            assert tol.action_limit is not None and tol.action_limit >= tol.limit, where
            assert tol.action_source and tol.confidence in words and tol.confidence != Confidence.SITE, where
            # a reference a reader can look up: a document with its year or DOI, never a bare phrase
            assert re.search(r"doi:10\.|\b(19|20)\d\d\b", tol.source), where
            if "twice the library tolerance" in tol.action_source:
                assert tol.action_limit == pytest.approx(ACTION_FACTOR * tol.limit), where


@pytest.mark.parametrize("sequence", sorted(SEQUENCES))
def test_library_judges_every_verdict_under_every_profile(sequence: str, recorded: dict[str, Any]):
    seq = get_sequence(sequence)
    entry = LIBRARY[sequence]
    for profile_name, profile in entry.profiles.items():
        chosen = {} if sequence == "tracker-registration" else {"profile": profile_name}  # it has one
        params = seq.parse_params({**FAST.get(sequence, {}), **chosen})
        result = seq.analyze(params, recorded[sequence])
        assert result.profile == profile_name and result.tolerance_overrides == []
        used = set()
        for verdict in result.verdicts:
            key = entry.metric_for(verdict.metric)
            assert key is not None, f"{sequence}: verdict {verdict.metric!r} has no library tolerance"
            assert verdict.tolerance == profile.tolerances[key], (sequence, profile_name, verdict.metric)
            assert verdict.rule is profile.rule
            used.add(key)
        assert used == set(entry.metrics), f"{sequence}/{profile_name}: unused {set(entry.metrics) - used}"


#: The research notes' confidence tags and the notes' own name: never in anything a reader sees.
FORBIDDEN = ("qa-tests", "shared/research", "[R ", "[R]", "[T]", "[V S", "[V]", "[R S", "[C]")


def _reader_facing_files() -> list[Path]:
    files = [*ROOT.glob("sequences/*.py"), *ROOT.glob("controller/**/*.py"), *ROOT.glob("controller/**/*.j2")]
    files += [*ROOT.glob("docs/sequences/*.md"), ROOT / "docs" / "tolerances.md"]
    return files


@pytest.mark.parametrize("path", _reader_facing_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_research_note_citations(path: Path):
    text = path.read_text(encoding="utf-8")
    found = [f"line {text[: text.index(tag)].count(chr(10)) + 1}: {tag}" for tag in FORBIDDEN if tag in text]
    assert not found, f"{path.relative_to(ROOT)} cites the research notes: {found}"


def test_docs_table_is_generated_from_the_library():
    text = (ROOT / "docs" / "tolerances.md").read_text(encoding="utf-8")
    assert markdown_table() in text, "regenerate: python -m sequences.tolerances"


def test_action_level_is_validated_and_judged_by_the_rule():
    with pytest.raises(ValueError, match="action_limit = 0.4 mm: expected ≥ the tolerance limit 0.5 mm"):
        Tolerance(limit=0.5, unit="mm", source="test", action_limit=0.4)
    tol = Tolerance(limit=0.5, unit="mm", source="test", action_limit=1.0, action_source="test")
    near = Measurement(value=1.05, standard_uncertainty=0.05, unit="mm")  # U = 0.1
    assert tol.action_exceeded(near, DecisionRule.SIMPLE) is True
    assert tol.action_exceeded(near, DecisionRule.GUARDED) is False  # 1.05 − 0.1 is not beyond 1.0
    far = Measurement(value=1.2, standard_uncertainty=0.05, unit="mm")
    assert tol.action_exceeded(far, DecisionRule.GUARDED) is True
    assert Tolerance(limit=0.5, unit="mm", source="test").action_exceeded(far, DecisionRule.SIMPLE) is None


def test_results_json_written_before_action_levels_still_loads():
    """A results.json of the earlier shape: free-text confidence tag, no action level, no overrides."""
    old = {
        "run_id": "20250101T000000Z-abcdef",
        "rig": "built-in",
        "simulated": True,
        "state": "completed",
        "started_wall": 1.0,
        "ended_wall": 2.0,
        "clock_elapsed_s": 1.0,
        "results": [
            {
                "sequence": "couch-pose-readback",
                "title": "Couch position indicators",
                "device": "couch",
                "profile": "tg142-monthly",
                "verdicts": [
                    {
                        "metric": "Δt",
                        "description": "largest translation",
                        "measured": {
                            "value": 0.1,
                            "standard_uncertainty": 0.01,
                            "unit": "mm",
                            "coverage_factor": 2,
                        },
                        "tolerance": {
                            "limit": 2.0,
                            "unit": "mm",
                            "source": "AAPM TG-142",
                            "confidence": "[R S1]",
                        },
                        "rule": "guarded",
                        "outcome": "PASS",
                    }
                ],
                "frame": "IEC 61217 t",
            }
        ],
    }
    summary = RunSummary.model_validate(old)
    (result,) = summary.results
    assert result.tolerance_overrides == []
    assert result.verdicts[0].tolerance.action_limit is None
    assert result.verdicts[0].tolerance.confidence == "[R S1]"
    again = RunSummary.model_validate_json(summary.model_dump_json())
    assert again == summary
