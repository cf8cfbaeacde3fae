"""The gate's reasons as `mast train`, `mast audit` and `mast promote` print them: sentences."""

from __future__ import annotations

import re

import pytest

from audit.fairness_gate import reason_sentence, reason_sentences
from audit.fairness_policy import DEFAULT_POLICY_PATH, load_policy
from mast.commands.train import print_gate_reasons
from mast.progress import console
from tests.audit.test_gate import crafted, run
from training.tracking import _refusal

RAW = (" = ", "(CI ", "±", "judged on the interval", "judged on the point", "_")


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+\.\d+", text)


def test_a_breached_limit_names_the_group_the_figure_and_the_limit():
    _, verdict = run(crafted(0.30))
    assert not verdict.passed and verdict.reasons
    for raw, sentence in zip(verdict.reasons, reason_sentences(verdict.reasons), strict=True):
        assert sentence.startswith("For children in the group 'B'"), sentence
        assert "false-positive rate" in sentence or "flag rate" in sentence, sentence
        assert "95% interval" in sentence and "allowed" in sentence, sentence
        assert sentence.endswith("."), sentence
        for code in RAW:
            assert code not in sentence, (code, sentence)
        # The figure, its interval and the limit survive, number for number.
        assert all(n in sentence for n in _numbers(raw)), (raw, sentence)


def test_a_limit_judged_on_the_point_estimate_says_so(tmp_path):
    policy_text = DEFAULT_POLICY_PATH.read_text().replace(
        'judged_on = "interval"', 'judged_on = "point"'
    )
    path = tmp_path / "policy.toml"
    path.write_text(policy_text)
    _, verdict = run(crafted(0.30), policy=load_policy(path))
    said = " ".join(reason_sentences(verdict.reasons))
    assert "judged on the point" not in " ".join(verdict.reasons)
    assert "(judged on the figure itself)" in said


@pytest.mark.parametrize(
    ("raw", "words", "absent"),
    [
        ("audit skipped", "The fairness audit was not run, so the model has no gate verdict.", ()),
        (
            "audit failed: KeyError: 'referral_source'",
            "The fairness audit stopped with an error, so the model has no gate verdict "
            "(the details are in the run's audit/audit_error.txt).",
            ("KeyError", "referral_source"),
        ),
        (
            "audit package unavailable: No module named 'fairlearn'",
            "The fairness audit could not be started, so the model has no gate verdict.",
            ("module", "fairlearn"),
        ),
        (
            "the policy judges the lens 'tool_vs_harm', which this audit does not have",
            "The governance policy judges the figures for 'Tool against ground-truth harm "
            "(simulation)', which this audit did not produce, so no limit could be checked.",
            ("tool_vs_harm",),
        ),
        (
            "no rule could be checked (every group too small or every figure undefined): "
            "a verdict without evidence is not a pass",
            "No limit could be checked, because every group was too small or every figure was "
            "undefined; a verdict without evidence is not a pass.",
            (),
        ),
    ],
)
def test_a_gate_without_a_verdict_says_why_without_library_text(raw, words, absent):
    assert reason_sentence(raw) == words
    for text in absent:
        assert text not in reason_sentence(raw)


def test_mast_train_prints_one_sentence_per_reason():
    _, verdict = run(crafted(0.30))
    with console.capture() as captured:
        print_gate_reasons([*verdict.reasons, "audit skipped"], shown=1)
    out = captured.get()
    assert "Why the gate did not pass:" in out
    assert out.count("\n  - ") == 1
    assert f"... and {len(verdict.reasons)} more in the board's report" in out
    assert "(CI " not in out and "grp = B" not in out


def test_promotion_refusal_reads_the_stored_reasons_in_words():
    _, verdict = run(crafted(0.30))
    message = _refusal("7", "fail", "; ".join(verdict.reasons))
    assert message.startswith("Version 7 failed the governance gate. For children in the group")
    assert "(CI " not in message and "gate_verdict=" not in message
    assert message.endswith("--override-by NAME --reason TEXT.")
    assert "No reason was recorded." in _refusal("7", "not run", "")
    assert "has no governance gate verdict" in _refusal("7", "not run", "audit skipped")
