"""The gate's detailed reasons in the board's report: human group labels and words, numbers kept."""

from __future__ import annotations

import re

import pytest

from audit import evaluate_gate, write_governance_report
from audit.plain import reason_words

CASES = [
    (
        "deprivation_quintile = 4: false-positive rate is 0.137 (CI 0.000 to 0.511) times that "
        "of 1 (most deprived), outside the allowed 0.67–1.5 (judged on the interval)",
        "For children in areas in deprivation fifth 4 (1 is the most deprived): the "
        "false-positive rate is 0.137 times that of children in the most deprived areas (95% "
        "interval 0.000 to 0.511), outside the allowed 0.67 to 1.5 (judged on the whole 95% "
        "interval)",
    ),
    (
        "ethnicity × deprivation_quintile = White × 3: false-positive rate is 0.096 (CI 0.000 "
        "to 0.407) times that of White × 1 (most deprived), outside the allowed 0.67–1.5 "
        "(judged on the interval)",
        "For White children in areas in deprivation fifth 3 (1 is the most deprived): the "
        "false-positive rate is 0.096 times that of White children in the most deprived areas "
        "(95% interval 0.000 to 0.407), outside the allowed 0.67 to 1.5 (judged on the whole "
        "95% interval)",
    ),
    (
        "sex = female: flag rate differs from male by 0.050 (CI 0.010 to 0.090), beyond ±0.03 "
        "(judged on the estimate) [Lens 2: true harm]",
        "For girls: the flag rate differs from that for boys by 0.050 (95% interval 0.010 to "
        "0.090), beyond plus or minus 0.03 (judged on the figure itself) (in the lens: Lens 2: "
        "true harm)",
    ),
    (
        "age_band = 0-4: false-negative rate 0.800 (CI 0.700 to 0.900) exceeds the limit 0.6 "
        "(judged on the interval)",
        "For children aged 0-4: the false-negative rate is 0.800 (95% interval 0.700 to 0.900), "
        "above the limit 0.6 (judged on the whole 95% interval)",
    ),
    (
        "overall AUC 0.610 (CI 0.580 to 0.640) is below the minimum 0.65 (judged on the interval)",
        "Overall AUC 0.610 (95% interval 0.580 to 0.640) is below the minimum 0.65 (judged on "
        "the whole 95% interval)",
    ),
]


@pytest.mark.parametrize(("raw", "words"), CASES)
def test_reasons_in_words(raw, words):
    assert reason_words(raw) == words
    # Every number of the raw reason is kept.
    numbers = re.findall(r"\d+\.\d+", raw)
    assert all(n in words for n in numbers)


def test_text_in_another_form_is_kept():
    raw = "no rule could be checked (every group too small or every figure undefined)"
    assert reason_words(raw) == raw[0].upper() + raw[1:]


def test_the_report_gate_section_has_no_raw_codes(tmp_path, audit_result):
    verdict = evaluate_gate(audit_result)
    paths = write_governance_report(tmp_path, audit_result, verdict, metadata={}, pdf=False)
    html = paths["html"].read_text()
    gate = html[html.index('id="gate"') : html.index('id="limitations"')]
    listed = gate[gate.find("Reasons for failure") :]
    for code in ("deprivation_quintile", "age_band", "(CI ", " = "):
        assert code not in listed, code
    if verdict.reasons:
        assert "95% interval" in listed and "For " in listed
