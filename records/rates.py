"""Decision and override rates: the "human vs tool" lens of the governance report.

For each screener (or each group of children) this says how often people
followed the flag, overrode it, escalated unflagged referrals, and, in
blind-first mode, changed their mind once the score was revealed.  Only a
referral's latest decision counts (a corrected decision replaces the one
it supersedes).
"""

from __future__ import annotations

import pandas as pd

from records import kinds
from records.models import STRATEGY_DISCUSSION
from records.store import RecordsStore
from store.vocabulary import DECISIONS

RATE_COLUMNS = (
    "n_decisions",
    "n_flagged",
    "flag_followed_rate",
    "override_rate",
    "n_unflagged",
    "escalation_rate_unflagged",
    *(f"share_{d}" for d in DECISIONS),
    "n_blind",
    "changed_after_reveal_rate",
)


def _all(store: RecordsStore, kind: str):
    """Every entry of ``kind``, page by page."""
    offset, page = 0, 10_000
    while True:
        entries, total = store.query(kind=kind, limit=page, offset=offset)
        yield from entries
        offset += page
        if offset >= total:
            return


def ever_flagged_referrals(store: RecordsStore) -> set[str]:
    """Referrals any version or any shown score of which was flagged (sticky flags)."""
    flagged = {e.referral_id for e in _all(store, kinds.REFERRAL) if e.payload.get("flagged")}
    return flagged | {
        e.referral_id for e in _all(store, kinds.SCORE_VIEW) if e.payload.get("review_recommended")
    }


def final_decisions(store: RecordsStore) -> pd.DataFrame:
    """One row per decided referral: its latest decision, who made it and when, the flag and the initial view.

    This is the live counterpart of the store's ``screening_decisions`` for
    the audit's human-vs-tool lens: join on ``referral_id``.  ``flagged`` is
    the referral's sticky flag: true if any version of the referral, or any
    score shown of it, was flagged, whatever the decision entry says (a trail
    written before flags were sticky may hold ``flagged: false`` on a
    referral re-scored with milder content).
    """
    rows = []
    sticky = ever_flagged_referrals(store)
    for e in _all(store, kinds.DECISION):
        initial = e.payload.get("initial_view")
        rows.append(
            {
                "seq": e.seq,
                "at": e.at,
                "referral_id": e.referral_id,
                "actor": e.actor,
                "role": e.role,
                "decision": e.payload["decision"],
                "flagged": bool(e.payload["flagged"]) or e.referral_id in sticky,
                "initial_decision": initial["decision"] if initial else None,
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "seq",
            "at",
            "referral_id",
            "actor",
            "role",
            "decision",
            "flagged",
            "initial_decision",
        ],
    )
    return (
        frame.sort_values("seq").drop_duplicates("referral_id", keep="last").reset_index(drop=True)
    )


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


def _rates(part: pd.DataFrame) -> dict:
    flagged = part[part["flagged"]]
    unflagged = part[~part["flagged"]]
    blind = part[part["initial_decision"].notna()]
    out = {
        "n_decisions": len(part),
        "n_flagged": len(flagged),
        "flag_followed_rate": _ratio(
            int((flagged["decision"] == STRATEGY_DISCUSSION).sum()), len(flagged)
        ),
        "override_rate": _ratio(
            int((flagged["decision"] != STRATEGY_DISCUSSION).sum()), len(flagged)
        ),
        "n_unflagged": len(unflagged),
        "escalation_rate_unflagged": _ratio(
            int((unflagged["decision"] == STRATEGY_DISCUSSION).sum()), len(unflagged)
        ),
    }
    for d in DECISIONS:
        out[f"share_{d}"] = _ratio(int((part["decision"] == d).sum()), len(part))
    out["n_blind"] = len(blind)
    out["changed_after_reveal_rate"] = _ratio(
        int((blind["decision"] != blind["initial_decision"]).sum()), len(blind)
    )
    return out


def decision_rates(
    store: RecordsStore, by: str = "actor", groups: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Rates per screener (``by="actor"``) or per group of children.

    Parameters
    ----------
    by
        ``"actor"`` (the person deciding), or a column of ``groups``.
    groups
        A frame with ``referral_id`` and the ``by`` column (for example a
        protected characteristic from ``FeatureTable.protected``).  A
        referral with children in several groups counts once in each.

    Returns
    -------
    pandas.DataFrame
        Indexed by the group, with :data:`RATE_COLUMNS`; a rate whose
        denominator is zero is NaN, not 0.
    """
    final = final_decisions(store)
    if by != "actor":
        if groups is None or by not in groups.columns or "referral_id" not in groups.columns:
            raise ValueError(
                f"by={by!r}: pass groups, a frame with columns 'referral_id' and {by!r}"
            )
        final = final.merge(
            groups[["referral_id", by]].drop_duplicates(), on="referral_id", how="inner"
        )
    records = {key: _rates(part) for key, part in final.groupby(by, sort=True, dropna=False)}
    frame = pd.DataFrame.from_dict(records, orient="index", columns=list(RATE_COLUMNS))
    frame.index.name = by
    return frame
