"""HTML reports to PDF with headless Chromium: the engine that renders them on screen and in the tests.

Chromium is an optional system program: when it is missing (or fails) the PDF is skipped with a reason the
console prints, and the HTML report stands on its own. See docs/reports.md for why not WeasyPrint.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel

#: Seconds one page may take to print before it is given up (a run report prints in about 2 s).
TIMEOUT_S = 90.0


class PdfOutcome(BaseModel):
    html: Path
    pdf: Path | None = None
    skipped: str | None = None


def find_chromium() -> str | None:
    """``$HILCAL_CHROMIUM``, else ``chromium`` / ``chromium-browser`` / ``google-chrome`` on PATH."""
    chosen = os.environ.get("HILCAL_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_command(browser: str, profile: Path) -> list[str]:
    """The headless flags every caller (the PDF printer and the tests) starts Chromium with."""
    return [
        browser,
        "--headless",
        "--no-sandbox",  # CI and containers run as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        f"--user-data-dir={profile}",  # a private profile: concurrent prints do not share a lock
    ]


def print_pdf(html: Path, pdf: Path | None = None) -> PdfOutcome:
    """Print ``html`` to ``pdf`` (default: beside it, .pdf); never raises for a missing or failing browser."""
    target = pdf or html.with_suffix(".pdf")
    browser = find_chromium()
    if browser is None:
        return PdfOutcome(html=html, skipped="Chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="hilcal-chromium-") as profile:
        command = [
            *chromium_command(browser, Path(profile)),
            "--no-pdf-header-footer",
            f"--print-to-pdf={target}",
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            return PdfOutcome(html=html, skipped=f"Chromium did not print {html.name}: {err}")
    if done.returncode != 0 or not target.is_file() or target.read_bytes()[:5] != b"%PDF-":
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        return PdfOutcome(html=html, skipped=f"Chromium exit {done.returncode} on {html.name}: {tail[0]}")
    return PdfOutcome(html=html, pdf=target)


def print_pdfs(pages: list[Path], workers: int = 2) -> list[PdfOutcome]:
    """Print several reports, two at a time (each Chromium is its own process)."""
    if find_chromium() is None:
        return [print_pdf(page) for page in pages[:1]] + [
            PdfOutcome(html=page, skipped="Chromium is not installed") for page in pages[1:]
        ]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(print_pdf, pages))
