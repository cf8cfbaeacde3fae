"""Gather what the monitor needs: the champion, its reference, the trail and the store.

The decision record is read through :mod:`records`' public API
(:meth:`records.RecordsStore.query`); the inputs are rebuilt from the store
with the serving path of :func:`features.build_features`, as of each
referral's receipt, and scored again by the champion, so a month's drift
figures describe exactly the rows the model saw.  The rescored highest score
is checked against the one the trail says the screener was shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

UK = ZoneInfo("Europe/London")
PAGE = 10_000


@dataclass
class MonitorInputs:
    """The champion and one row per scored (referral, child), with its period."""

    version: str
    run_id: str
    reference: dict
    policy: dict
    tags: dict
    scored: pd.DataFrame
    mismatched_scores: int
    other_versions: int
    data_end: pd.Timestamp
    label_tag: str
    # One row per referral/child of ``scored``: team, who referred and the audited groups.
    groups: pd.DataFrame | None = None


def trail_frame(store, kind: str, start=None, end=None) -> pd.DataFrame:
    """Every trail entry of ``kind`` (paged through the public query API)."""
    rows, offset = [], 0
    while True:
        entries, total = store.query(kind=kind, start=start, end=end, limit=PAGE, offset=offset)
        rows += [
            {"seq": e.seq, "at": e.at, "referral_id": e.referral_id, "actor": e.actor, **e.payload}
            for e in entries
        ]
        offset += len(entries)
        if not entries or offset >= total:
            break
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def month_of(at: pd.Series) -> pd.Series:
    """The calendar month in UK local time, ``YYYY-MM``."""
    return at.dt.tz_convert(UK).dt.strftime("%Y-%m")


def load_inputs(db, records_url, tracking_uri, model_name, start=None, end=None) -> MonitorInputs:
    """Everything :func:`monitoring.monitor_periods` needs, for the champion.

    Raises
    ------
    ValueError
        When the champion has no monitoring reference (trained before
        ``mast monitor`` existed) or the trail has no score it made.
    """
    import mlflow

    import records
    from features import build_features
    from serving.model import load_champion
    from store import connect
    from training.labels import compute_labels, get_label

    champion = load_champion(tracking_uri, model_name)
    try:
        reference = mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/monitoring/reference.json")
    except Exception as err:
        raise ValueError(
            f"Version {champion.version} of {model_name} has no monitoring reference (it was "
            "trained before `mast monitor` existed): retrain with `mast train` and promote."
        ) from err
    store = records.RecordsStore(records_url, must_exist=True)
    try:
        views = trail_frame(store, records.kinds.SCORE_VIEW, start, end)
        overrides = trail_frame(store, records.kinds.OVERRIDE)
    finally:
        store.close()
    if views.empty:
        raise ValueError(f"The decision record at {records_url} has no scores in this period.")
    views["model_version"] = views["model_version"].astype(str)
    mine = views[views["model_version"] == champion.version]
    other_versions = int(
        views.loc[views["model_version"] != champion.version, "referral_id"].nunique()
    )
    if mine.empty:
        raise ValueError(
            f"The decision record has no scores made by the champion (version {champion.version})."
        )
    # A referral scored (or viewed) several times counts once, in the month it was first scored.
    first = mine.sort_values("seq").drop_duplicates("referral_id", keep="first")
    last = (
        mine.sort_values("seq").drop_duplicates("referral_id", keep="last").set_index("referral_id")
    )
    con = connect(db, read_only=True)
    try:
        ids = pd.DataFrame({"referral_id": first["referral_id"].to_numpy()})
        con.register("_mon_refs", ids)
        referrals = con.execute(
            "SELECT r.* FROM referrals r JOIN _mon_refs USING (referral_id)"
        ).df()
        children = con.execute(
            "SELECT rc.* FROM referral_children rc JOIN _mon_refs USING (referral_id)"
        ).df()
        con.unregister("_mon_refs")
        if referrals.empty:
            raise ValueError("None of the scored referrals is in the store: run `mast load` first.")
        table = build_features(con, referrals=referrals, referral_children=children)
        keys = table.keys.reset_index(drop=True)
        X = table.X.reset_index(drop=True).astype(float)
        label_def = get_label(champion.tags.get("label", "cp_or_looked_after_24m").split("@")[0])
        from training.splits import data_range

        _, data_end = data_range(con)
        horizon_end = pd.to_datetime(keys["received_at"]) + pd.DateOffset(
            months=label_def.horizon_months
        )
        closed = (horizon_end + pd.Timedelta(days=30) <= data_end).to_numpy()
        y = np.full(len(keys), np.nan)
        if closed.any():
            y[closed] = compute_labels(con, keys.loc[closed], label_def)
    finally:
        con.close()
        groups = _groups(table.protected.reset_index(drop=True), keys, referrals, mine)
    scorer = champion.scorer
    out = scorer.predict_referrals(X, keys["referral_id"].to_numpy())
    overridden = set(overrides["referral_id"]) if not overrides.empty else set()
    period = first.set_index("referral_id")["at"]
    scored = pd.concat([keys, X], axis=1).assign(
        period=month_of(keys["referral_id"].map(period)).to_numpy(),
        probability=out["probability"].to_numpy(),
        referral_score=out["referral_score"].to_numpy(),
        flag=out["referral_flag"].to_numpy(),
        overridden=keys["referral_id"].isin(overridden).to_numpy(),
        y_true=y,
    )
    shown = keys["referral_id"].map(last["highest_score"]).to_numpy(dtype=float)
    mismatched = int(
        pd.Series(shown != out["referral_score"].to_numpy())
        .groupby(keys["referral_id"].to_numpy())
        .any()
        .sum()
    )
    return MonitorInputs(
        version=champion.version,
        run_id=champion.run_id,
        reference=reference,
        policy=dict(scorer.policy.to_dict()),
        tags=champion.tags,
        scored=scored,
        mismatched_scores=mismatched,
        other_versions=other_versions,
        data_end=pd.Timestamp(data_end),
        label_tag=label_def.tag,
        groups=groups,
    )


def _groups(protected: pd.DataFrame, keys: pd.DataFrame, referrals: pd.DataFrame, views):
    """Per row of ``keys``: the team, who referred, statutory triggers and the audited groups.

    The groups come from the store beside the features (never model inputs);
    the team and the triggers from the trail's score views.
    """
    from monitoring.breakdown import CHILD_ATTRIBUTES, first_team, statutory_columns
    from records.tokens import NO_TEAM

    rid = keys["referral_id"]
    source = referrals.set_index("referral_id")["source"]
    statutory = statutory_columns(views)
    frame = pd.DataFrame(
        {
            "team": rid.map(first_team(views, NO_TEAM)).fillna(NO_TEAM).to_numpy(),
            "source_group": rid.map(source).to_numpy(),
            "statutory_triggered": rid.map(statutory["statutory_triggered"])
            .fillna(False)
            .to_numpy(dtype=bool),
            "statutory_evaluated": rid.map(statutory["statutory_evaluated"])
            .fillna(False)
            .to_numpy(dtype=bool),
        }
    )
    for col in CHILD_ATTRIBUTES:
        frame[col] = protected[col].astype("object").to_numpy()
    return frame
