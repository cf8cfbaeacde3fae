"""Who referred and what the screeners decided, for each test-period row.

The audit reads these columns to look at the tool by who referred (family,
friend or neighbour, anonymous, self, professional) and to measure what the
flag adds to the screeners' own decisions (``audit.added``).  They are read
from the store after the model is fitted and are never model inputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Sources a board reads as "professional"; the rest are community routes the
# national review found least likely to proceed.
PROFESSIONAL_SOURCES = ("police", "school", "health", "la_service", "other")
PROFESSIONAL = "professional"


def source_group(source: pd.Series) -> pd.Series:
    """The referral's source as an audit group: each non-professional source, or "professional"."""
    s = source.astype("object")
    return s.where(~s.isin(PROFESSIONAL_SOURCES), PROFESSIONAL)


def non_professional(source: pd.Series) -> pd.Series:
    """Two groups for the gate: "family or community" against "professional"."""
    s = source.astype("object")
    out = np.where(s.isin(PROFESSIONAL_SOURCES), PROFESSIONAL, "family, friend, anonymous or self")
    return pd.Series(np.where(s.isna(), None, out), index=source.index, dtype="object")


def front_door_columns(con, referral_ids: np.ndarray) -> pd.DataFrame:
    """One row per entry of ``referral_ids``: source, referrer, first decision, closure reason."""
    frame = pd.DataFrame({"referral_id": pd.unique(np.asarray(referral_ids))})
    con.register("_front_door_refs", frame)
    try:
        d = con.execute(
            """
            SELECT k.referral_id, r.source, r.referrer_relationship,
                   arg_min(s.decision, s.decided_at) AS screener_decision,
                   arg_min(s.closure_reason, s.decided_at) AS closure_reason
            FROM _front_door_refs k
            JOIN referrals r USING (referral_id)
            LEFT JOIN screening_decisions s USING (referral_id)
            GROUP BY k.referral_id, r.source, r.referrer_relationship
            """
        ).df()
    finally:
        con.unregister("_front_door_refs")
    d = d.set_index("referral_id")
    out = d.reindex(np.asarray(referral_ids)).reset_index(drop=True)
    out = out.rename(columns={"source": "referral_source"})
    out.insert(1, "source_group", source_group(out["referral_source"]))
    out.insert(2, "family_or_community", non_professional(out["referral_source"]))
    return out.astype("object").where(out.notna(), None)
