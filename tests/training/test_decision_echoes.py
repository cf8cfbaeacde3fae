"""Issue #14: the model must not learn the front door's own biases.

On simulated worlds with the screeners' lean against family referrals at its
default and switched off, the trained model gives nothing about who referred
a negative mean contribution (by default it is not an input at all), no
reason lowering a score cites who referred or a silence, and adding an
earlier referral or an earlier closure to a child's history never lowers
their score.  Slow: two small worlds, each trained twice.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features import build_features, catalogue
from features.definitions import SPECS_BY_NAME
from serving.reasons import ReasonSpace, choose_reasons, is_silent
from store import vocabulary as v
from training import TrainConfig, train
from training.config import InputsSection

WHO_REFERRED = {s.name for s in catalogue() if s.about_referrer}
FAST = {
    "tuning": {"n_iter": 2},
    "evaluation": {"n_bootstrap": 10, "shap_sample": 200},
}


def _world(tmp_path_factory, scale: float, source_lean: float):
    from store import connect, write_tables
    from synthetic import SimulationConfig, simulate

    world = simulate(
        SimulationConfig(
            n_children=max(3000, int(8000 * scale)),
            years=10,
            random_state=11,
            source_lean=source_lean,
        )
    )
    db = tmp_path_factory.mktemp(f"lean{source_lean}") / "world.duckdb"
    con = connect(db)
    write_tables(con, world.tables, truth=world.truth, replace=True)
    return con


@pytest.fixture(scope="module", params=[1.0, 0.0], ids=["lean-default", "lean-off"])
def trained(request, tmp_path_factory, scale):
    """A world, its feature table, and the constrained and unconstrained models on it."""
    con = _world(tmp_path_factory, scale, request.param)
    table = build_features(con)
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"
    base = TrainConfig.from_dict(FAST)
    out = {"con": con, "table": table, "lean": request.param}
    for name, constrained in (("constrained", True), ("unconstrained", False)):
        cfg = replace(base, inputs=InputsSection(constrained=constrained))
        out[name] = train(
            con=con,
            config=cfg,
            tracking_uri=uri,
            feature_table=table,
            register=False,
            run_gate_after=False,
        )
    yield out
    con.close()


def _test_rows(trained, which: str):
    """The test period's feature rows (in predictions order) and their referral sources."""
    res = trained[which]
    pred = res.predictions
    keys = trained["table"].keys.reset_index(drop=True)
    pos = pd.Series(
        np.arange(len(keys)), index=pd.MultiIndex.from_frame(keys[["referral_id", "person_id"]])
    )
    rows = pos.loc[pd.MultiIndex.from_frame(pred[["referral_id", "person_id"]])].to_numpy()
    X = trained["table"].X.reset_index(drop=True).iloc[rows].reset_index(drop=True)
    return X, pred["referral_source"].to_numpy()


def _reasons(scorer, X):
    space = ReasonSpace(scorer.feature_names, SPECS_BY_NAME)
    M = X[scorer.feature_names].to_numpy(dtype=float)
    C, _ = scorer.contribution_matrix(M)
    R = space.combine(C)
    out = []
    for i in range(len(M)):
        values = space.values(dict(zip(scorer.feature_names, M[i], strict=True)))
        out.append((*choose_reasons(space, R[i], values, 5), values))
    return out, C


@pytest.mark.slow
def test_who_referred_is_not_an_input_and_contributes_nothing_negative(trained):
    res = trained["constrained"]
    names = res.scorer.feature_names
    assert not WHO_REFERRED & set(names)
    X, source = _test_rows(trained, "constrained")
    _, C = _reasons(res.scorer, X)
    who = [j for j, n in enumerate(names) if n in WHO_REFERRED]
    family = source == "family"
    assert family.sum() > 0
    mean_who = C[family][:, who].sum(axis=1).mean() if who else 0.0
    assert mean_who >= 0
    # The switch shows the difference: unconstrained, who referred is an input again.
    assert WHO_REFERRED <= set(trained["unconstrained"].scorer.feature_names)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["constrained", "unconstrained"])
def test_no_lowering_reason_cites_who_referred_or_a_silence(trained, which):
    """Even the unconstrained model, which does use the source, never shows it as lowering."""
    X, source = _test_rows(trained, which)
    reasons, _ = _reasons(trained[which].scorer, X)
    lowering_seen = 0
    for raising, lowering, values in reasons:
        lowering_seen += len(lowering)
        for r in lowering:
            assert r not in ("referral_source", "referrer") and r not in WHO_REFERRED, r
            assert not is_silent(values[r]), (r, values[r])
            spec = SPECS_BY_NAME.get(r)
            assert spec is None or spec.nature == "what happened", r
        for r in raising:
            assert not is_silent(values[r]), (r, values[r])
    assert lowering_seen > 0  # the check saw reasons to check


def _earlier_referral(con, child: str, as_of: pd.Timestamp, draw) -> None:
    days, decision, closure, source, concern = draw
    rid = f"R-EARLIER-{child}"
    born = pd.Timestamp(
        con.execute("SELECT date_of_birth FROM people WHERE person_id = ?", [child]).fetchone()[0]
    )
    # After the child was born (an unborn-baby referral is another matter), before as_of.
    days = max(1, min(days, (as_of - born).days - 1))
    received = as_of - pd.Timedelta(days=days)
    concerns = {c: c == f"concern_{concern}" for c in v.CONCERN_COLUMNS}
    cols = ", ".join(["referral_id", "received_at", "source", "referrer_relationship", *concerns])
    marks = ", ".join("?" * (4 + len(concerns)))
    con.execute(
        f"INSERT INTO referrals ({cols}) VALUES ({marks})",
        [rid, received.to_pydatetime(), source, "unknown", *concerns.values()],
    )
    con.execute(
        "INSERT INTO referral_children (referral_id, person_id) VALUES (?, ?)", [rid, child]
    )
    con.execute(
        "INSERT INTO screening_decisions (referral_id, decided_at, decision, closure_reason) "
        "VALUES (?, ?, ?, ?)",
        [
            rid,
            (received + pd.Timedelta(hours=1)).to_pydatetime(),
            decision,
            closure if decision == "no_further_action" else None,
        ],
    )


_DRAW = st.tuples(
    st.integers(min_value=1, max_value=3000),
    st.sampled_from(v.DECISIONS),
    st.sampled_from(("malicious", "no_concerns_substantiated", "family_declined_support")),
    st.sampled_from(v.REFERRAL_SOURCES),
    st.sampled_from(v.CONCERNS),
)


@pytest.mark.slow
def test_an_earlier_referral_or_closure_never_lowers_the_score(trained):
    """Property: add one earlier referral (any decision, "malicious" included) to a child's
    history, rebuild the features from the store, and the score never falls."""
    con = trained["con"]
    scorer = trained["constrained"].scorer
    pred = trained["constrained"].predictions
    sample = pred.drop_duplicates("person_id").head(40)
    ref_rows = con.execute("SELECT * FROM referrals").df()
    ref_rows = ref_rows[ref_rows["referral_id"].isin(sample["referral_id"])]

    @settings(
        max_examples=12,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(draw=_DRAW, which=st.integers(min_value=0, max_value=len(sample) - 1))
    def check(draw, which):
        row = sample.iloc[which]
        refs = ref_rows[ref_rows["referral_id"] == row["referral_id"]]
        kids = pd.DataFrame({"referral_id": [row["referral_id"]], "person_id": [row["person_id"]]})
        before = build_features(con, referrals=refs, referral_children=kids).X
        rid = f"R-EARLIER-{row['person_id']}"
        try:
            _earlier_referral(con, row["person_id"], pd.Timestamp(row["received_at"]), draw)
            after = build_features(con, referrals=refs, referral_children=kids).X
        finally:
            for table in ("screening_decisions", "referral_children", "referrals"):
                con.execute(f"DELETE FROM {table} WHERE referral_id = ?", [rid])
        changed = [
            n
            for n in after.columns
            if not np.array_equal(before[n].to_numpy(), after[n].to_numpy(), equal_nan=True)
        ]
        assert any(n.startswith("child_prior_referrals_") for n in changed), changed
        m0, m1 = scorer.raw_margin(before), scorer.raw_margin(after)
        assert m1[0] >= m0[0] - 1e-9, (draw, changed, m0, m1)
        assert scorer.score(after)[0] >= scorer.score(before)[0]

    check()


def test_the_logistic_baseline_never_gives_an_earlier_referral_a_negative_weight():
    """Sign constraint by exclusion: a count that may only raise risk never gets a negative weight."""
    from training.pipeline import _logistic

    rng = np.random.default_rng(0)
    n = 3000
    x_risk = rng.poisson(1.0, n).astype(float)
    x_echo = rng.poisson(1.0, n).astype(float)  # an earlier closure, negatively associated
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * x_risk - 0.9 * x_echo - 0.5)))).astype(int)
    X = np.column_stack([x_risk, x_echo])
    free = _logistic(X, y, C=1.0, random_state=0)
    assert free[-1].coef_[0][1] < 0  # the data really pull it negative
    pipe = _logistic(X, y, C=1.0, random_state=0, signs=[0, 1])
    margin = pipe.decision_function(X)
    more = pipe.decision_function(X + np.array([0.0, 1.0]))
    assert (more >= margin - 1e-12).all()
    assert pipe[-1].coef_[0][0] > 0  # the other input is still used
