"""The run report identifies every instrument with its calibration certificate (issue 12).

An electrometer's certificate, and the chamber it reads (passive: identified by the rig file, with its own
N_D,w certificate), each get a row in the Instruments table; an expired certificate is flagged there and
said in the plain-language summary, since a reader who is not a physicist reads only that.
"""

from __future__ import annotations

import html
import re

import pytest

from controller.config import RigConfig, load_rig_config
from controller.report import render_run_folder
from controller.session import run_sequence

PARAMS = {"dosimeter": "electrometer_unidos", "range": "MEDIUM", "environment": "room_sensor"}


def _text(page: str) -> str:
    page = re.sub(r"<svg.*?</svg>|<style.*?</style>", "", page, flags=re.S)
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    raw = load_rig_config(None).model_dump(mode="json")
    unidos = raw["devices"]["electrometer_unidos"]
    unidos["certificate"] = {
        "id": "PTB-E-2025-0412", "issuer": "PTB", "issued": "2025-01-10", "expires": "2026-01-10",
    }  # fmt: skip
    unidos["chamber"] = {
        "vendor": "PTW",
        "model": "TN30013",
        "serial": "008123",
        "certificate": {
            "id": "ADCL-C-77-1", "issuer": "UW ADCL", "coefficient": 5.382e7, "unit": "Gy/C",
            "issued": "2026-06-01", "expires": "2099-06-01",
        },
    }  # fmt: skip
    config = RigConfig.model_validate(raw)
    runs = tmp_path_factory.mktemp("instruments")
    outcome = run_sequence(
        config, "electrometer-leakage-reproducibility", PARAMS, runs_dir=runs, write_report=False
    )
    assert outcome.result is not None, outcome.summary.error
    return render_run_folder(outcome.run_dir).read_text(encoding="utf-8")


def test_the_electrometer_certificate_is_shown_and_flagged_expired(page: str) -> None:
    row = re.search(r"<tr><td><b>electrometer_unidos</b></td>.*?</tr>", page, re.S)
    assert row is not None
    text = _text(row.group(0))
    assert "PTB-E-2025-0412 (PTB)" in text and "expires 2026-01-10" in text
    assert "EXPIRED at the time of the run" in text


def test_the_chamber_has_its_own_row_with_serial_and_certificate(page: str) -> None:
    row = re.search(r"<tr><td><b>electrometer_unidos\.chamber</b></td>.*?</tr>", page, re.S)
    assert row is not None, "no row for the chamber the electrometer reads"
    text = _text(row.group(0))
    assert "PTW" in text and "TN30013" in text and 'class="serial">008123<' in row.group(0)
    assert "ADCL-C-77-1 (UW ADCL), coefficient" in text and "Gy/C" in text
    assert "valid at the time of the run" in text


def test_the_summary_says_a_certificate_had_expired(page: str) -> None:
    summary = re.search(r'id="plain-summary".*?</div>', page, re.S)
    assert summary is not None
    text = _text(summary.group(0))
    assert re.search(
        r"calibration certificate PTB-E-2025-0412 of electrometer_unidos .*expired on 2026-01-10", text
    ), text
