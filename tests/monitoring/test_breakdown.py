"""Flags, statutory triggers and overrides by team and group: against a plain reference."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from monitoring import load_monitoring_policy, wilson_interval
from monitoring.breakdown import (
    first_team,
    group_breakdown,
    statutory_columns,
)
from monitoring.report import breakdown_lines, group_label

POLICY = load_monitoring_policy()


def _scored(n_referrals: int = 300, random_state: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(random_state)
    rows = []
    for i in range(n_referrals):
        team = rng.choice(["MASH North", "MASH South", "Out of hours"], p=[0.5, 0.45, 0.05])
        source = rng.choice(["police", "school", "health_visitor", "anonymous"])
        flag, trig, over = rng.random() < 0.1, rng.random() < 0.08, rng.random() < 0.03
        evaluated = rng.random() < 0.95
        for _ in range(rng.integers(1, 4)):
            rows.append(
                {
                    "referral_id": f"R{i}",
                    "team": team,
                    "source_group": source,
                    "flag": int(flag),
                    "statutory_triggered": bool(trig and evaluated),
                    "statutory_evaluated": bool(evaluated),
                    "overridden": bool(over),
                    "ethnicity": rng.choice(
                        ["White", "Black", "Asian", None], p=[0.7, 0.1, 0.1, 0.1]
                    ),
                    "sex": rng.choice(["female", "male"]),
                    "age_band": rng.choice(["0-4", "5-9", "10-15", "16-17"]),
                    "disability": rng.choice(["yes", "no"], p=[0.05, 0.95]),
                    "deprivation_quintile": rng.choice(
                        ["1 (most deprived)", "2", "3", "4", "5 (least deprived)"]
                    ),
                }
            )
    return pd.DataFrame(rows)


def test_rates_match_a_plain_count():
    scored = _scored()
    groups = group_breakdown(scored, min_group=20)
    refs = scored.drop_duplicates("referral_id")
    north = next(r for r in groups["team"] if r.group == "MASH North")
    mine = refs[refs["team"] == "MASH North"]
    assert north.unit == "referrals" and north.n == len(mine)
    assert north.flagged.k == mine["flag"].sum()
    ev = mine[mine["statutory_evaluated"]]
    assert (north.triggered.k, north.triggered.n) == (ev["statutory_triggered"].sum(), len(ev))
    assert north.not_evaluated == (~mine["statutory_evaluated"]).sum()
    assert north.overridden.k == mine["overridden"].sum()
    assert north.flagged.interval == wilson_interval(north.flagged.k, north.n)
    # Children's groups count children, each with their referral's flag.
    girls = next(r for r in groups["sex"] if r.group == "female")
    kids = scored[scored["sex"] == "female"]
    assert girls.unit == "children" and girls.n == len(kids)
    assert girls.flagged.k == kids["flag"].sum()
    # Missing values are a group of their own, never dropped.
    assert any(r.group == "Not recorded" for r in groups["ethnicity"])
    assert sum(r.n for r in groups["ethnicity"]) == len(scored)


def test_small_groups_are_folded_into_one_line():
    groups = group_breakdown(_scored(), min_group=20)
    teams = groups["team"]
    assert teams[-1].folded == ("Out of hours",) and teams[-1].group == ""
    assert sum(r.n for r in teams) == 300
    disabled = groups["disability"]
    assert all(r.n >= 20 for r in disabled if not r.folded)


def test_statutory_and_team_from_the_score_views():
    views = pd.DataFrame(
        {
            "seq": [1, 2, 3, 4, 5],
            "referral_id": ["A", "A", "B", "C", "C"],
            "team": ["North", "South", np.nan, "South", "North"],
            "statutory": [[], [{"rule_id": "physical_injury"}], [], np.nan, np.nan],
        }
    )
    s = statutory_columns(views)
    assert s.loc["A"].tolist() == [True, True]
    assert s.loc["B"].tolist() == [False, True]
    assert s.loc["C"].tolist() == [False, False]  # scored without the rules evaluated
    assert first_team(views, "Not recorded").to_dict() == {
        "A": "North",
        "B": "Not recorded",
        "C": "South",
    }
    older = views.drop(columns=["team", "statutory"])
    assert set(first_team(older, "Not recorded")) == {"Not recorded"}
    assert not statutory_columns(older).any().any()


def test_labels_and_lines_are_plain_english():
    groups = group_breakdown(_scored(), min_group=20)
    labels = [group_label(a, r.group) for a, rows in groups.items() for r in rows if not r.folded]
    assert "Referred by the police" in labels
    assert "Girls" in labels and "Children in the most deprived areas" in labels
    for label in labels:
        assert "_" not in label, label
    lines = breakdown_lines(groups)
    assert lines[0].startswith("Team MASH North: ")
    assert re.search(r"flagged \d+ in 100 \(95% interval \d+ to \d+; \d+ of \d+\)", lines[0])
    assert any("too few to conclude" in line and "Out of hours" in line for line in lines)


def test_the_report_has_the_tables(tmp_path):
    from monitoring.compute import PeriodResult
    from monitoring.report import write_report

    r = PeriodResult(
        period="2026-12",
        n_referrals=300,
        n_children=600,
        n_flagged=30,
        flag_rate=0.1,
        flag_rate_ci=(0.07, 0.14),
        expected_flag_rate=0.1,
        score_psi=0.02,
        feature_psi={"x": 0.01},
        overrides=3,
        estimated_auc=0.7,
        estimated_precision=0.4,
    )
    groups = group_breakdown(_scored(), POLICY.min_group)
    path = write_report(tmp_path / "m.html", [r], POLICY, {"x": "An input"}, {}, groups)
    html = path.read_text()
    for title in (
        "By team",
        "By who referred",
        "By ethnicity",
        "By sex",
        "By age",
        "By disability",
    ):
        assert title in html
    section = html[html.index("By team and by group") : html.index("About this report")]
    text = re.sub(r"<[^>]+>", " ", section)
    assert "_" not in text  # no raw codes: age_band, source_group, health_visitor, ...
    assert "in 100 (95% interval" in text


def test_min_group_must_be_positive():
    with pytest.raises(ValueError, match="min_group"):
        group_breakdown(_scored(5), 0)
