"""Run and session reports rendered from real runs and looked at in real headless Chromium.

One short session on the built-in simulated rig (C1/C2 passing, W1 with an injected 0.5 mm backlash that
fails, D1/D3 on the UNIDOS) is run once for the module; its reports are then loaded in Chromium (the DOM
after parsing, and a layout probe at A4 width) and printed to PDF. Chromium is required: without it these
tests fail and say so (.ci/run installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from controller.commissioning import SessionFile, SessionReports, SessionStep, run_session
from controller.config import RigConfig, load_rig_config
from controller.pdf import (
    BackgroundPrinter,
    chromium_command,
    find_chromium,
    open_printer,
    print_pdf,
    print_pdfs,
)
from controller.report import BackgroundReports, ReportNotRendered, render_run_folder
from controller.session import RunOutcome, run_sequence
from tests.controller.test_report_signoff import write_signature

A4_POINTS = (595.0, 842.0)  # 210 mm × 297 mm in PostScript points (Chromium writes 595.92 × 842.88)


def _browser() -> str:
    browser = find_chromium()
    assert browser is not None, "Chromium is needed to look at the reports: apt-get install chromium"
    return browser


def dom(page: Path, width: int = 1000) -> str:
    """The document as Chromium built it (scripts run), serialised."""
    with tempfile.TemporaryDirectory(prefix="hilcal-test-chromium-") as profile:
        done = subprocess.run(
            [
                *chromium_command(_browser(), Path(profile)),
                f"--window-size={width},1200",
                "--hide-scrollbars",
                "--virtual-time-budget=5000",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            timeout=90,
            check=True,
        )
    return done.stdout.decode("utf-8")


def pdf_pages(pdf: Path) -> tuple[int, list[tuple[float, float]]]:
    """Page objects in the PDF and each page's MediaBox size (Chromium writes them uncompressed)."""
    raw = pdf.read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", raw))
    boxes = [
        (float(m.group(3)) - float(m.group(1)), float(m.group(4)) - float(m.group(2)))
        for m in re.finditer(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", raw)
    ]
    return pages, boxes


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[SessionReports, list[RunOutcome]]:
    _browser()
    runs = tmp_path_factory.mktemp("reports") / "runs"
    config = load_rig_config(None)
    raw = config.model_dump(mode="json")
    raw["simulation"]["stages"]["phantom_x"]["backlash_mm"] = 0.5
    worn = RigConfig.model_validate(raw)
    plan = SessionFile(
        name="report-test",
        steps=[
            SessionStep(sequence="couch-translation-accuracy", title="C1 and C2"),
            SessionStep(sequence="phantom-axis-iso230", title="W1 with a worn lead screw"),
            SessionStep(
                sequence="electrometer-leakage-reproducibility",
                title="D1 and D3",
                params={"dosimeter": "electrometer_unidos", "range": "MEDIUM", "environment": "room_sensor"},
            ),
        ],
    )

    def run_step(step: SessionStep) -> RunOutcome:
        rig = worn if step.sequence == "phantom-axis-iso230" else config
        return run_sequence(rig, step.sequence, step.params, runs_dir=runs, write_report=True)

    published: list[SessionReports] = []
    _, outcomes = run_session(plan, config, run_step, runs, published.append)
    return published[0], [outcome for _, outcome in outcomes]


def test_run_report_in_chromium(session: tuple[SessionReports, list[RunOutcome]]) -> None:
    _, outcomes = session
    c1, w1, d1 = (o.run_dir / "report.html" for o in outcomes)
    page = dom(c1)
    banner = re.search(r'id="verdict-banner"[^>]*>(.*?)</div>', page, re.S)
    assert banner is not None and "Overall verdict: PASS" in banner.group(1)
    assert 'id="simulated-watermark"' in page and ">SIMULATED<" in page
    results = json.loads((outcomes[0].run_dir / "results.json").read_text())
    for name in ("couch", "tracker"):
        serial = results["devices"][name]["serial"]
        assert re.search(rf'class="serial">{re.escape(serial)}<', page), name
    assert "U (k = 2), mm" in page
    u_cells = re.findall(r'class="num u-cell">± ([^<]+)<', page)
    assert len(u_cells) == len(results["results"][0]["verdicts"])
    assert all(re.fullmatch(r"[\d.]+ mm", cell) for cell in u_cells), u_cells
    assert "{'" not in page and "': " not in page  # no Python dict repr in any cell
    assert "tilts (deg)" in page and re.search(r"Y: [-−]?[\d.]+, Z: [-−]?[\d.]+", page)  # signed tilts
    figures = re.findall(r'<figure class="plot">(.*?)</figure>', page, re.S)
    assert len(figures) == 1 and figures[0].count("<svg") == 1
    assert figures[0].count('id="limit-line-') >= 4  # a limit in each C1 axis panel and in C2

    failing = dom(w1)
    assert "Overall verdict: FAIL" in failing
    assert re.search(
        r"It failed: \d of 3 checks did not pass — .*reversal value \(backlash\), max over targets \(B\) "
        r"measured 0\.[45]\d* mm, [\d.]+ mm over its limit of 0.2 mm",
        failing,
    )
    for report in (w1, d1):
        for figure in re.findall(r'<figure class="plot">(.*?)</figure>', dom(report), re.S):
            assert figure.count("<svg") == 1 and 'id="limit-line-' in figure


def test_wide_tables_fit_the_printed_width(session: tuple[SessionReports, list[RunOutcome]]) -> None:
    """Laid out at the A4 text width (186 mm ≈ 703 CSS px), no table or figure reaches past the page."""
    _, outcomes = session
    report = outcomes[0].run_dir / "report.html"
    probe = report.with_name("probe.html")
    script = (
        "<script>document.body.dataset.overflow = [...document.querySelectorAll('table, figure svg')]"
        ".filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).length;"
        "</script></body>"
    )
    probe.write_text(report.read_text().replace("</body>", script), encoding="utf-8")
    page = dom(probe, width=703)
    assert 'data-overflow="0"' in page


def test_signoff_block_unsigned_signed_and_void(session: tuple[SessionReports, list[RunOutcome]]) -> None:
    _, outcomes = session
    source = outcomes[2].run_dir
    run = source.with_name("signed-copy")
    shutil.copytree(source, run)
    assert "Not signed" in dom(render_run_folder(run))

    results = write_signature(run)
    page = dom(render_run_folder(run))
    assert "Not signed" not in page
    assert re.search(r'class="signature valid">\s*<td>A. Physicist</td>', page)
    assert 'class="status-VALID">VALID' in page

    with (run / "journal.jsonl").open("a", encoding="utf-8") as journal:  # the run changed after signing
        journal.write('{"n": 999999, "kind": "note", "text": "appended later"}\n')
    page = dom(render_run_folder(run))
    assert 'class="status-VOID">VOID' in page and "journal.jsonl changed after signing" in page

    results["journal_sha256"] = "0" * 64
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
    page = dom(render_run_folder(run))
    assert "results.json changed after signing" in page


def test_session_report_and_pdfs(session: tuple[SessionReports, list[RunOutcome]]) -> None:
    reports, outcomes = session
    assert reports.html.name == reports.index.with_suffix(".html").name and not reports.skipped
    page = dom(reports.html)
    assert "Session verdict: FAIL" in page and "2 of 3 steps passed, 1 fail" in page
    rows = re.findall(r'<tr class="step">(.*?)</tr>', page, re.S)
    assert len(rows) == 3
    for row, outcome in zip(rows, outcomes, strict=True):
        assert f'href="{outcome.run_dir.name}/report.html"' in row
        assert f'href="{outcome.run_dir.name}/report.pdf"' in row
        assert "Not signed" in row
    assert re.search(r'class="outcome FAIL">FAIL<', rows[1])

    assert reports.pdf is not None and reports.pdf.read_bytes()[:5] == b"%PDF-"
    pages, boxes = pdf_pages(reports.pdf)
    assert pages == 1, "the session report is one page"
    assert all(abs(w - A4_POINTS[0]) < 2 and abs(h - A4_POINTS[1]) < 2 for w, h in boxes), boxes
    assert len(reports.run_pdfs) == 3
    c1_pages, c1_boxes = pdf_pages(outcomes[0].run_dir / "report.pdf")
    # summary and instruments; verdicts; plot and tables; traceability on its own page (CSS break)
    assert 3 <= c1_pages <= 8, c1_pages
    assert len(c1_boxes) >= c1_pages


def test_missing_chromium_skips_the_pdf_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "page.html"
    page.write_text("<p>x</p>", encoding="utf-8")
    monkeypatch.setenv("HILCAL_CHROMIUM", str(tmp_path / "no-such-browser"))
    outcome = print_pdf(page)
    assert outcome.pdf is None and outcome.skipped is not None and "not installed" in outcome.skipped
    assert not page.with_suffix(".pdf").exists()


def test_one_browser_prints_the_pdf_print_to_pdf_prints(
    session: tuple[SessionReports, list[RunOutcome]], tmp_path: Path
) -> None:
    """The session's pages print in one browser over the DevTools pipe with ``--print-to-pdf``'s own
    settings: the same pages, the same A4 boxes, the same length and nearly the same bytes. On a quiet
    machine only the two date stamps differ; under heavy load Chromium was once seen to write 266 other
    bytes (of 191 328, the same length), so up to 1 % may differ: a different layout or page setting
    changes far more than that."""
    _, outcomes = session
    page = outcomes[0].run_dir / "report.html"
    alone = print_pdf(page, tmp_path / "alone.pdf")
    with open_printer() as printer:
        assert printer is not None
        shared = [printer.print(page, tmp_path / f"shared-{n}.pdf") for n in range(2)]
    assert alone.pdf is not None and all(p.pdf is not None for p in shared), (alone, shared)
    expected = alone.pdf.read_bytes()
    assert pdf_pages(alone.pdf)[0] >= 3
    for outcome in shared:
        assert outcome.pdf is not None
        assert pdf_pages(outcome.pdf) == pdf_pages(alone.pdf)
        printed = outcome.pdf.read_bytes()
        assert len(printed) == len(expected)
        differing = sum(a != b for a, b in zip(printed, expected, strict=True))
        assert differing <= len(expected) // 100, differing  # quiet machine: the two date stamps alone


def test_a_browser_that_dies_leaves_each_page_its_own_try_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = [tmp_path / f"page-{n}.html" for n in range(3)]
    for page in pages:
        page.write_text("<p>x</p>", encoding="utf-8")
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\necho 'no display' >&2\nexit 3\n", encoding="utf-8")
    broken.chmod(0o755)
    monkeypatch.setenv("HILCAL_CHROMIUM", str(broken))
    outcomes = print_pdfs(pages)
    assert [o.html for o in outcomes] == pages
    assert all(
        o.pdf is None and o.skipped == "Chromium exit 3 on " + o.html.name + ": no display" for o in outcomes
    )
    assert not any(page.with_suffix(".pdf").exists() for page in pages)


def test_the_background_printer_prints_each_page_once_and_falls_back_when_the_browser_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "page.html"
    page.write_text("<p>x</p>", encoding="utf-8")
    printer = BackgroundPrinter()
    try:
        first = printer.submit(page)
        assert printer.submit(page) is first  # a page submitted again is not printed twice
        done = first.result(timeout=120)
        assert done.pdf is not None and done.pdf.read_bytes()[:5] == b"%PDF-"
    finally:
        printer.close()
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\necho 'no display' >&2\nexit 3\n", encoding="utf-8")
    broken.chmod(0o755)
    monkeypatch.setenv("HILCAL_CHROMIUM", str(broken))
    other = tmp_path / "other.html"
    other.write_text("<p>y</p>", encoding="utf-8")
    printer = BackgroundPrinter()
    try:
        outcome = printer.submit(other).result(timeout=120)
    finally:
        printer.close()
    assert outcome.pdf is None and outcome.skipped == "Chromium exit 3 on other.html: no display"


def _without_ids(page: Path) -> str:
    """The report with every SVG id and reference to one blanked (matplotlib draws them at random)."""
    text = page.read_text(encoding="utf-8")
    return re.sub(r'id="[^"]*"|url\(#[^)]*\)|href="#[^"]*"', "ID", text)


def test_reports_rendered_in_the_worker_are_the_reports_rendered_here(
    session: tuple[SessionReports, list[RunOutcome]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session renders each run report in a worker process while the next run goes on: what rendering
    in this process writes, but for the element ids matplotlib draws at random or counts per process. A
    folder it cannot render is an error naming why; a worker that does not start leaves the rendering to
    this process."""
    _, outcomes = session
    runs = [outcome.run_dir for outcome in outcomes]
    here = [_without_ids(render_run_folder(run)) for run in runs]
    for run in runs:
        (run / "report.html").unlink()
    renderer = BackgroundReports()
    try:
        futures = [renderer.submit(run) for run in runs]
        broken = renderer.submit(tmp_path)  # no results.json
        assert [f.result(timeout=120) for f in futures] == [run / "report.html" for run in runs]
        with pytest.raises(ReportNotRendered, match="results.json"):
            broken.result(timeout=120)
    finally:
        renderer.close()
    assert [_without_ids(run / "report.html") for run in runs] == here
    (runs[0] / "report.html").unlink()
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-such-python"))
    renderer = BackgroundReports()
    try:
        renderer.submit(runs[0])
        assert renderer.wait() == [runs[0] / "report.html"]
    finally:
        renderer.close()
    assert _without_ids(runs[0] / "report.html") == here[0]


def test_an_interrupted_session_still_leaves_every_finished_run_its_report(
    session: tuple[SessionReports, list[RunOutcome]], tmp_path: Path
) -> None:
    """Reports rendered in the worker: Ctrl-C after two runs (the third step raises) leaves both their
    reports written before the interrupt reaches the caller."""
    _, outcomes = session
    copies = []
    for outcome in outcomes[:2]:
        folder = tmp_path / outcome.run_dir.name
        shutil.copytree(outcome.run_dir, folder)
        (folder / "report.html").unlink()
        copies.append(RunOutcome(outcome.run_id, folder, outcome.summary))
    finished = iter(copies)

    def run_step(step: SessionStep) -> RunOutcome:
        done = next(finished, None)
        if done is None:
            raise KeyboardInterrupt
        return done

    plan = SessionFile(
        name="interrupted",
        steps=[SessionStep(sequence="couch-translation-accuracy")] * 3,
    )
    with pytest.raises(KeyboardInterrupt):
        run_session(plan, load_rig_config(None), run_step, tmp_path / "runs", pdf=False, render=True)
    for copy in copies:
        page = copy.run_dir / "report.html"
        assert page.is_file() and "Overall verdict" in page.read_text(encoding="utf-8")
