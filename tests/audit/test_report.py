"""The governance report and model card: content, self-containment, rendering."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from audit import evaluate_gate, write_governance_report, write_model_card, write_report
from audit.model_card import MITCHELL_SECTIONS
from audit.pdf import CHROMIUM_FLAGS, find_chromium

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SHAP = [
    {"feature": "referrals_last_12m", "importance": 0.31},
    {"feature": "police_dv_12m", "importance": 0.12},
    {"feature": "child_prior_referrals_12m", "importance": 0.05},
]
META = {
    "model_name": "mast-referral-screening",
    "model_version": "7",
    "run_id": "abc123",
    "trained_on": "Synthetic authority, referrals 2019-2022.",
}


@pytest.fixture(scope="module")
def report_html(tmp_path_factory, audit_result):
    out = tmp_path_factory.mktemp("report")
    verdict = evaluate_gate(audit_result)
    paths = write_governance_report(
        out,
        audit_result,
        verdict,
        shap_importance=SHAP,
        metadata=META,
        pdf=False,
        performance=[{"model": "LightGBM", "AUC": 0.74}, {"model": "Rule", "AUC": 0.61}],
    )
    return paths["html"]


def test_report_is_self_contained_and_in_order(report_html):
    html = report_html.read_text()
    # No external assets: no http(s) links, scripts or stylesheets by URL.
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    assert "<script" not in html
    assert html.count("data:image/png;base64,") >= 8
    sections = [
        "Summary in plain English",
        "Flag rate and error rates by group",
        "Calibration by group",
        "Three lenses",
        "Group-specific thresholds",
        "global SHAP importance",
        "Known limitations",
        "Sign-off",
    ]
    positions = [html.index(s) for s in sections]
    assert positions == sorted(positions)
    assert "never decides" in html and "referrals_last_12m" in html and "LightGBM" in html


def test_page_one_is_for_a_lay_reader(report_html):
    """The decision, the verdict in words, rates "in 100", chance said plainly; no raw codes."""
    from features import catalogue

    html = report_html.read_text()
    summary = html[html.index('id="summary"') : html.index('id="performance"')]
    assert "What the board is asked to decide" in summary
    assert "in every 100" in summary
    assert "could be chance" in summary or "very unlikely to be chance" in summary
    assert "the least deprived areas" in summary and "the most deprived areas" in summary
    for code in ("deprivation_quintile", "age_band", "fpr", "selection_rate", "(CI "):
        assert code not in summary
    # Sections numbered 1, 2, 3 ... without a gap, a glossary among them.
    numbers = [int(n) for n in re.findall(r'<h2 id="[a-z]+"[^>]*>(\d+)\.', html)]
    assert numbers == list(range(1, len(numbers) + 1))
    assert "Glossary" in html
    # A catalogue feature is shown by its definition, not its name.
    definition = next(s.definition for s in catalogue() if s.name == "child_prior_referrals_12m")
    assert definition in html and ">child_prior_referrals_12m<" not in html
    # A4 for print.
    assert "size: A4" in html


def test_training_hooks_write_report_and_card(tmp_path, audit_result):
    verdict = evaluate_gate(audit_result)
    made = write_report(
        audit_result, verdict, tmp_path, {**META, "pdf": False, "shap_importance": SHAP}
    )
    assert [p.name for p in made] == ["governance_report.html"]
    card_files = write_model_card(audit_result, verdict, tmp_path, META)
    card = json.loads(card_files[0].read_text())
    assert list(card) == list(MITCHELL_SECTIONS)
    assert card["quantitative_analyses"]["gate"]["passed"] == verdict.passed
    md = card_files[1].read_text()
    for section in MITCHELL_SECTIONS:
        assert f"## {section.replace('_', ' ').capitalize()}" in md


def _chromium_or_skip() -> str:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: install chromium (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    return binary


@pytest.mark.browser
def test_report_renders_in_headless_chromium(report_html, tmp_path):
    binary = _chromium_or_skip()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "audit_report.png"
    shot.unlink(missing_ok=True)
    profile = tmp_path / "profile"
    cmd = [
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        "--window-size=1200,1800",
        f"--screenshot={shot}",
        report_html.as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 20_000
    dom = subprocess.run(
        [
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'p2'}",
            "--dump-dom",
            report_html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    assert 'id="gate-verdict"' in dom and "Sign-off" in dom


@pytest.mark.browser
def test_pdf_is_printed(tmp_path, audit_result):
    _chromium_or_skip()
    paths = write_governance_report(
        tmp_path, audit_result, evaluate_gate(audit_result), metadata=META, pdf=True
    )
    assert paths["pdf"].read_bytes()[:5] == b"%PDF-"
    if shutil.which("pdftoppm"):
        ARTIFACTS.mkdir(exist_ok=True)
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                "60",
                "-png",
                "-f",
                "1",
                "-l",
                "1",
                str(paths["pdf"]),
                str(ARTIFACTS / "audit_report_pdf"),
            ],
            check=True,
        )
