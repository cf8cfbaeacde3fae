"""The model card as a standalone page a person can read: plain words, no codes, no cross-references."""

from __future__ import annotations

import re
from html import unescape

import pytest

from audit import evaluate_gate, write_model_card
from audit.model_card_html import standalone, threshold_words, uk_dates
from audit.report import LIMITATIONS

META = {
    "model_name": "mast-referral-screening",
    "model_version": "3",
    "run_id": "abc123",
    "trained_on": "6,428 rows from the store (content hash " + "ab" * 32 + "), received 2012-10-01",
    "test_period": "2022-04-11 to 2023-04-11",
    "label_definition": "cp_or_looked_after_24m@1: The child becomes the subject of a child "
    "protection plan within 24 months (occurred_at in (received_at, received_at + 24 months]).",
    "flag_policy": "2026-11-capacity-10pct: capacity 0.1; referral flagged at score >= 19",
    "backtest": ["Referrals received 2022-04-11 to 2023-04-11 (1000 referrals): AUC 0.684"],
}


@pytest.fixture(scope="module")
def card_html(tmp_path_factory, audit_result):
    out = tmp_path_factory.mktemp("card")
    paths = write_model_card(audit_result, evaluate_gate(audit_result), out, META)
    assert {p.name for p in paths} == {"model_card.json", "model_card.md", "model_card.html"}
    return (out / "model_card.html").read_text()


def _text(html: str) -> str:
    body = html[html.index("<body>") :]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def test_the_card_page_is_plain_english(card_html):
    text = _text(card_html)
    for title in (
        "About the model",
        "What it is for, and what it is not for",
        "Who it was checked for",
        "What it was tested on",
        "Results",
        "Caveats and recommendations",
    ):
        assert title in text
    assert "_" not in text  # no field names, attribute codes or label tags
    assert "(CI " not in text and "in 100" in text
    assert "11 April 2022" in text and "2022-04-11" not in text  # UK dates
    assert "score is 19 or above" in text and "at most 10 in 100 referrals" in text
    assert "ab" * 32 not in text  # a 64-character hash is shortened
    assert "Too few children to conclude from" in text or "Group" in text


def test_the_card_refers_to_no_other_document(card_html):
    text = _text(card_html).lower()
    assert not re.search(r"\blens \d\b|\bsection \d+\b|three lenses", text)
    for caveat in LIMITATIONS:  # every shared caveat is still there, said standalone
        assert standalone(caveat)[:40].lower() in text


def test_helpers():
    assert uk_dates("from 2012-10-01 to 2017-02-10") == "from 1 October 2012 to 10 February 2017"
    assert threshold_words("anything else") == "anything else"
    assert "lens" not in standalone("in a real authority lens 2 cannot be computed").lower()
