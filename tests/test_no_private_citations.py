"""Nothing in the project cites a document the reader cannot obtain (issue 12).

The project's private research notes (qa-tests, protocols, tracker, peers, aesthetics, proton dosimetry) are
not part of the project, so no tracked source, template, configuration or page may cite them, by file name, by
path or as "the research notes", nor use their confidence tags. A citation names the primary source instead (a
vendor manual with its document number, a publication, a public code base) or says plainly what a value is
("engineering value chosen for the simulator", "measured by us on …").

The project's own page on IEC 61217 is ``docs/coordinate-systems.md``: a file named like the research note
``iec61217.md`` is never cited, so no reader can take one for the other.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Files that must contain these patterns: the tolerance-library test lists them as forbidden tags, and
#: this file lists them as patterns.
EXEMPT = frozenset({"tests/sequences/test_tolerances_library.py", "tests/test_no_private_citations.py"})

#: The research notes cited by name, path or description (case-insensitive).
NOTE_PATTERNS = (
    r"qa-tests",
    r"protocols\.md",
    r"tracker\.md",
    r"peers\.md",
    r"aesthetics\.md",
    r"iec61217\.md",
    r"proton-dosimetry\.md",
    r"shared/research",
    r"research notes?\b",
    r"research\s+[\w./-]+\.md",
    r"research\s+§",
)

#: The notes' confidence tags (exact text).
TAGS = ("[T]", "[R]", "[R S", "[R ", "[V S", "[V]", "[C]")

_NOTE_RE = re.compile("|".join(f"(?:{p})" for p in NOTE_PATTERNS), re.IGNORECASE)
_TAG_RE = re.compile("|".join(re.escape(t) for t in TAGS))


def _tracked_files() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", "*.py", "*.md", "*.j2", "*.yaml"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot list tracked files")
    return sorted(name for name in out.decode().split("\0") if name and name not in EXEMPT)


def _hits(text: str) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _NOTE_RE.search(line) or _TAG_RE.search(line)
        if match:
            found.append((number, match.group(0)))
    return found


def test_patterns_catch_the_citations_they_are_meant_to_catch() -> None:
    cited = [
        "(research protocols.md §C)",
        "qa-tests.md §5 D7",
        "shared/research/tracker.md §1",
        "the research notes §B.2",
        "(research peers.md §3)",
        "research iec61217.md §3",
        "docs/iec61217.md §6",
        "research §C.2",
        "0.5 mm [T]",
        "2 mm [R S1]",
        "[V S12]",
        "exact [C]",
        "from memory [R]",
    ]
    assert [line for line in cited if not _hits(line)] == []
    clean = [
        "docs/coordinate-systems.md §6",
        "IEC 61217:2011 §7.4",
        "Keithley 6517B Reference Manual, 6517B-901-01, §14",
        "def test_speed_and_accel_scales_as_in_research_notes():",
        "Research Square preprint doi:10.21203/rs.3.rs-1673938/v1",
        "engineering value chosen for the simulator",
    ]
    assert [line for line in clean if _hits(line)] == []


def test_no_tracked_file_cites_the_private_research_notes() -> None:
    files = _tracked_files()
    assert files, "git ls-files listed nothing"
    report = []
    for name in files:
        path = ROOT / name
        if not path.is_file():  # deleted in the work tree but still in the index
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        report += [f"{name}:{number}: {found}" for number, found in _hits(text)]
    assert not report, "citations of the private research notes:\n" + "\n".join(report)
