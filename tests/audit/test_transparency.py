"""The ATRS record: every tier present, known facts filled, a person's fields marked, never invented."""

from __future__ import annotations

import json

from audit.transparency import transparency_html, write_transparency_record

CARD = {
    "model_details": {
        "name": "mast-referral-screening",
        "version": "4",
        "type": "L1 logistic regression (AFST-style), isotonic-calibrated; 1-20 ventile score",
        "date": "2026-12-02",
        "why_this_model": "On the calibration period LightGBM ranked ... Deployed: L1 logistic.",
    },
    "training_data": {"description": "A simulated store", "deployed_model": "Refitted on ..."},
    "evaluation_data": {"label": "cp_or_looked_after_24m@1: ..."},
    "metrics": {"decision_thresholds": "2026-11-capacity-10pct: capacity 0.1"},
    "quantitative_analyses": {
        "overall": {"auc": {"value": 0.69, "ci_low": 0.66, "ci_high": 0.72}},
        "backtest_by_year": ["Referrals received 2022-03-01 to 2023-03-01: AUC 0.690"],
        "gate": {"passed": False, "policy_version": "gate-v1", "reasons": ["FPR gap"]},
    },
}


def test_record_has_both_tiers_and_marks_what_a_person_must_fill(tmp_path):
    card = tmp_path / "model_card.json"
    card.write_text(json.dumps(CARD))
    json_path, html_path = write_transparency_record(card, tmp_path, "monitoring-v1")
    record = json.loads(json_path.read_text())
    assert set(record) == {"metadata", "tier_1", "tier_2"}
    assert list(record["tier_2"]) == [
        "owner_and_responsibility",
        "description_and_rationale",
        "decision_making_process",
        "tool_specification",
        "risks_mitigations_and_impact_assessments",
    ]
    # Nobody's name or email is invented: those are for a person.
    assert record["tier_1"]["contact_email"]["value"] is None
    sro = record["tier_2"]["owner_and_responsibility"]["senior_responsible_owner"]
    assert sro["value"] is None and sro["to_complete"]
    # What MAST knows is filled from the card.
    spec = record["tier_2"]["tool_specification"]
    assert spec["model_name_and_version"] == "mast-referral-screening version 4"
    assert "monitoring-v1" in spec["monitoring"]
    assert "0.690" in record["tier_2"]["description_and_rationale"]["benefit"]
    assert (
        "Did not pass"
        in record["tier_2"]["risks_mitigations_and_impact_assessments"]["fairness_gate"]
    )
    page = html_path.read_text()
    assert "To be completed by a person" in page and "Tier 2, section 5" in page
    assert page == transparency_html(record)
