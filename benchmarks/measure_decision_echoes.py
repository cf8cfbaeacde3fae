"""Issue #14's figures on one fixed world: does the tool learn the front door's biases?

Not a timing benchmark: it trains once on a store and prints the figures the
issue measured (how the referral's source moves the score, which reasons lower
it, flag and catch rates, what the flag adds to the screeners), so the same
command can be run on the code before and after a change, on the same world::

    mast simulate --children 30000 --years 10 --random-state 20221201 --db W/world.duckdb
    python benchmarks/measure_decision_echoes.py --db W/world.duckdb --work W/run

Every figure is computed here with plain pandas from the test-period
predictions, the store's screening decisions and the model's SHAP values; it
does not reuse the product's own incremental-catch code, so it can check it.
The reasons are ranked as the service ranks them: with
``serving.reasons.choose_reasons`` when the code has it, else the older
``rank_reasons``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROFESSIONAL = ("police", "school", "health", "la_service", "other")
CLOSED = ("no_further_action", "early_help")


def _reasons(scorer, X: pd.DataFrame, top: int = 5):
    """Per row: (raising, lowering, values) as the service gives them."""
    from features.definitions import SPECS_BY_NAME
    from serving import reasons as r

    space = r.ReasonSpace(scorer.feature_names, SPECS_BY_NAME)
    C, _ = scorer.contribution_matrix(X[scorer.feature_names])
    R = space.combine(C)
    M = X[scorer.feature_names].to_numpy(dtype=float)
    out = []
    for i in range(len(X)):
        values = space.values(dict(zip(scorer.feature_names, M[i], strict=True)))
        if hasattr(r, "choose_reasons"):
            up, down = r.choose_reasons(space, R[i], values, top)
        else:
            up, down = r.rank_reasons(R[i], top, names=space.names, order=space.order)
        out.append((up, down, values, dict(zip(space.names, R[i], strict=True))))
    return out, C


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--work", required=True, help="folder for the MLflow store and outputs")
    ap.add_argument("--config", default=None, help="training config TOML (default: the repo's)")
    args = ap.parse_args(argv)

    from features import build_features
    from store import connect
    from training import train
    from training.config import TrainConfig

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig.from_toml(args.config) if args.config else TrainConfig.from_toml()
    con = connect(args.db, read_only=True)
    table = build_features(con)
    res = train(
        con=con,
        config=cfg,
        tracking_uri=f"sqlite:///{work / 'mlflow.db'}",
        feature_table=table,
        register=False,
        run_gate_after=False,
    )
    pred = res.predictions.copy()
    refs = con.execute(
        "SELECT r.referral_id, r.source, r.referrer_relationship, s.decision, s.closure_reason "
        "FROM referrals r LEFT JOIN screening_decisions s USING (referral_id)"
    ).df()
    con.close()
    # Newer predictions carry some of these columns already: the store's are used.
    pred = pred.drop(columns=[c for c in refs.columns if c != "referral_id" and c in pred])
    pred = pred.merge(refs, on="referral_id", how="left")
    pred.to_parquet(work / "test_predictions_with_decisions.parquet", index=False)

    # Rows of X in predictions order.
    keys = table.keys.reset_index(drop=True)
    X = table.X.reset_index(drop=True).astype(float)
    pos = pd.Series(
        np.arange(len(keys)), index=pd.MultiIndex.from_frame(keys[["referral_id", "person_id"]])
    )
    rows = pos.loc[pd.MultiIndex.from_frame(pred[["referral_id", "person_id"]])].to_numpy()
    Xt = X.iloc[rows].reset_index(drop=True)
    scorer = res.scorer
    reasons, C = _reasons(scorer, Xt)
    names = scorer.feature_names
    src_cols = [j for j, n in enumerate(names) if n.startswith("referral_source_")]
    src_shap = C[:, src_cols].sum(axis=1) if src_cols else np.zeros(len(Xt))
    who = ("referral_source", "referrer")
    who_prefix = (
        "referral_source",
        "referrer_",
        *(
            f"child_prior_referrals_{s}_"
            for s in ("family", "police", "school", "health", "anonymous")
        ),
    )

    fam = (pred["source"] == "family").to_numpy()
    lowering_cites_family = sum(
        1 for i in np.flatnonzero(fam) if "referral_source" in reasons[i][1]
    )
    lowering_cites_who = sum(
        1 for i in range(len(Xt)) if any(n.startswith(who_prefix) for n in reasons[i][1])
    )

    def silent(name, value):
        if value is None:
            return True
        if isinstance(value, str):
            return False
        return float(value) == 0

    lowering_silence = sum(
        1
        for i in range(len(Xt))
        if any(silent(n, reasons[i][2][n]) for n in reasons[i][1] if not n.startswith(who))
    )
    raising_not_raised = sum(
        1
        for i in range(len(Xt))
        if any(n.startswith("referral_concern_") and reasons[i][2][n] == 0 for n in reasons[i][0])
    )

    # Per referral.
    pred["y_harm"] = pred["y_harm"].astype(float)
    ref = pred.groupby("referral_id").agg(
        source=("source", "first"),
        decision=("decision", "first"),
        closure=("closure_reason", "first"),
        flag=("flag", "max"),
        harm=("y_harm", "max"),
        proxy=("y_true", "max"),
    )
    ref["screeners"] = (ref["decision"] == "strategy_discussion").astype(int)
    ref["closed"] = ref["decision"].isin(CLOSED)
    ref["group"] = np.where(ref["source"].isin(PROFESSIONAL), "professional", ref["source"])
    n = len(ref)
    out: dict = {"test_referrals": n, "test_rows": len(pred)}
    out["mean_source_shap_by_source"] = (
        pd.Series(src_shap).groupby(pred["source"].to_numpy()).mean().round(3).to_dict()
    )
    out["source_is_model_input"] = bool(src_cols)
    out["family_children"] = int(fam.sum())
    out["family_children_source_among_lowering_reasons"] = int(lowering_cites_family)
    out["rows_with_a_lowering_reason_about_who_referred"] = int(lowering_cites_who)
    out["rows_with_a_lowering_reason_of_zero_or_false"] = int(lowering_silence)
    out["rows_with_not_raised_concern_as_raising_reason"] = int(raising_not_raised)
    out["flag_rate_all"] = round(ref["flag"].mean(), 4)
    out["flag_rate_family"] = round(ref.loc[ref["source"] == "family", "flag"].mean(), 4)
    out["harm_rate_by_source"] = ref.groupby("source")["harm"].mean().round(4).to_dict()
    out["flag_rate_by_group"] = ref.groupby("group")["flag"].mean().round(4).to_dict()
    for lab in ("harm", "proxy"):
        pos_ = ref[ref[lab] == 1]
        out[f"flag_catch_{lab}"] = round(pos_["flag"].mean(), 4)
        out[f"screeners_strategy_catch_{lab}"] = round(pos_["screeners"].mean(), 4)
        closed = pos_[pos_["closed"]]
        out[f"incremental_catch_{lab}"] = round(closed["flag"].mean(), 4)
        out[f"incremental_n_{lab}"] = int(len(closed))
        out[f"union_catch_{lab}"] = round(
            ((pos_["flag"] == 1) | (pos_["screeners"] == 1)).mean(), 4
        )
        out[f"fnr_{lab}_by_group"] = (
            pos_.assign(miss=1 - pos_["flag"]).groupby("group")["miss"].mean().round(4).to_dict()
        )
    out["extra_reviews_per_1000"] = round(
        1000 * ((ref["flag"] == 1) & (ref["screeners"] == 0)).sum() / n, 1
    )
    mal = ref[ref["closure"] == "malicious"]
    out["closed_malicious_harmed_by_source"] = (
        mal.groupby("source")["harm"].mean().round(4).to_dict()
    )
    out["closed_malicious_n_by_source"] = mal.groupby("source").size().to_dict()
    out["closed_malicious_flagged"] = round(mal["flag"].mean(), 4) if len(mal) else None
    out["shap_mean_abs_top10"] = (
        pd.Series(np.abs(C).mean(axis=0), index=names)
        .sort_values(ascending=False)
        .head(10)
        .round(3)
        .to_dict()
    )
    out["policy"] = res.policy
    out["comparison"] = (
        res.comparison[res.comparison["metric"].isin(["auc", "recall", "flag_rate", "precision"])]
        .round(4)
        .to_dict(orient="records")
    )
    text = json.dumps(out, indent=2, default=str)
    (work / "figures.json").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
