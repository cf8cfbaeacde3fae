"""The records behind a feature value, as of the referral.

The scoring service shows each reason with the records it rests on ("the
adult who joined in March has 4 police domestic-abuse incidents: 2021-05-02,
..."), so a screener can check them instead of trusting a number.  The
selection is generated from the same specs and SQL predicates as the
feature, and the household is the one :func:`features.sql.household_ctes`
finds, so the records listed are the ones counted.
"""

from __future__ import annotations

import pandas as pd

from features import definitions as d
from features.build import _check_frames
from features.named_adults import ensure_named_adults
from features.sql import (
    DUCKDB,
    STORE_RELATIONS,
    active_membership,
    event_predicate,
    household_ctes,
    named_ctes,
    referral_predicate,
    window_predicate,
    with_ctes,
)
from store import vocabulary as v

EVIDENCE_COLUMNS = [
    "record",
    "agency",
    "event_type",
    "person_id",
    "relationship",
    "occurred_at",
    "recorded_at",
    "detail",
]
_CSC = d.cat("children_social_care", v.AGENCIES)


def _subject_sql(subject: str) -> str:
    """People (person_id, relationship, start_date) the feature's subject covers.

    The child, or a :data:`features.definitions.MEMBERSHIPS` group of the
    child's household as of the referral (``members_asof``).
    """
    if subject == "child":
        return (
            "SELECT t.person_id, 'child' AS relationship, CAST(NULL AS DATE) AS start_date "
            "FROM targets t"
        )
    m = d.MEMBERSHIPS[subject]
    relationship = f"'{m.relationship}'" if m.relationship else "role"
    if m.source == "named":  # features.sql.named_ctes: the found adults' store persons
        return (
            f"SELECT member_id AS person_id, {relationship} AS relationship, "
            "CAST(NULL AS DATE) AS start_date FROM named_asof"
        )
    roles = ", ".join(f"'{r}'" for r in m.roles)
    sql = (
        f"SELECT member_id AS person_id, {relationship} AS relationship, start_date "
        f"FROM members_asof WHERE role IN ({roles})"
    )
    if m.joined_within:
        sql += f" AND start_date >= {DUCKDB.minus_days('as_of', d.WINDOWS[m.joined_within])}"
    return sql


def _event_evidence(spec: d.FeatureSpec) -> str:
    rec = spec.record
    counter = d.COUNTERS[rec.counter]
    if isinstance(counter, d.EventState):
        pred = f"e.agency = '{counter.agency}' AND e.event_type IN ('{counter.start}', '{counter.end}')"
    else:
        pred = event_predicate(counter.filter, DUCKDB, e="e", dob="p.date_of_birth")
        win = window_predicate("e.occurred_at", counter.window, "t.as_of")
        if win:
            pred += f" AND {win}"
    return f"""SELECT 'agency_event' AS record, e.agency, e.event_type, e.person_id, s.relationship,
        e.occurred_at, e.recorded_at,
        concat_ws(', ', CASE WHEN e.role IS NOT NULL THEN 'role: ' || e.role END,
                  CASE WHEN e.severity IS NOT NULL THEN 'severity ' || CAST(e.severity AS VARCHAR) END) AS detail
    FROM targets t CROSS JOIN subject s
    JOIN {{people}} p ON p.person_id = s.person_id
    JOIN {{events}} e ON e.person_id = s.person_id
    WHERE e.recorded_at < t.as_of AND {pred}"""


def _referral_evidence(spec: d.FeatureSpec) -> str:
    rec = spec.record
    if rec.same_concern:
        same = " OR ".join(f"(r.{c} AND t.{c})" for c in v.CONCERN_COLUMNS)
        pred = f"({same})"
        win = window_predicate("r.received_at", spec.window, "t.as_of")
        if win:
            pred += f" AND {win}"
    else:
        counter = d.COUNTERS[rec.counter]
        pred = referral_predicate(counter, DUCKDB, h="h", as_of="t.as_of", dob="p.date_of_birth")
        pred = pred.replace("h.received_at", "r.received_at").replace("h.source", "r.source")
        pred = pred.replace("h.decision", "dd.decision").replace(
            "h.closure_reason", "dd.closure_reason"
        )
    return f"""SELECT 'referral' AS record, '{_CSC}' AS agency,
        'referral from ' || r.source AS event_type, s.person_id, s.relationship,
        r.received_at AS occurred_at, r.received_at AS recorded_at,
        concat_ws(', ', 'referral ' || r.referral_id,
                  CASE WHEN dd.decision IS NOT NULL THEN 'decision: ' || dd.decision END,
                  CASE WHEN dd.closure_reason IS NOT NULL THEN 'closed as ' || dd.closure_reason END) AS detail
    FROM targets t CROSS JOIN subject s
    JOIN {{people}} p ON p.person_id = s.person_id
    JOIN {{referral_children}} rc ON rc.person_id = s.person_id
    JOIN {{referrals}} r ON r.referral_id = rc.referral_id AND r.received_at < t.as_of
    LEFT JOIN {{decisions}} dd ON dd.referral_id = r.referral_id AND dd.decided_at < t.as_of
    WHERE {pred}"""


def _member_evidence(spec: d.FeatureSpec) -> str:
    """The membership that makes each subject a member of the child's household as of ``as_of``.

    One row per member, as the counts count members: of the member's
    memberships current as of ``as_of`` in the child's homes, the one with
    the latest start (``members_asof``'s), first recorded, then by household.
    Someone who joined two of the child's homes the same day is listed once,
    and never by a membership recorded after the referral
    (``test_evidence_lists_no_membership_unknown_as_of_the_referral``,
    ``test_a_member_of_two_homes_is_listed_once``).
    """
    within = spec.record.joined_within_days
    pred = f"s.start_date >= {DUCKDB.minus_days('t.as_of', within)}" if within else "TRUE"
    return f"""SELECT record, agency, event_type, person_id, relationship, occurred_at,
        recorded_at, detail
    FROM (
      SELECT 'household_member' AS record, NULL AS agency, 'joined household' AS event_type,
        s.person_id, s.relationship, CAST(s.start_date AS TIMESTAMP) AS occurred_at,
        m.recorded_at, 'household ' || m.household_id AS detail,
        row_number() OVER (PARTITION BY s.person_id ORDER BY m.recorded_at, m.household_id) AS pick
      FROM targets t CROSS JOIN subject s
      JOIN {{members}} m ON m.person_id = s.person_id AND m.start_date = s.start_date
        AND {active_membership("m", "t.as_of")}
      JOIN child_homes ch ON ch.household_id = m.household_id
      WHERE {pred}
    ) listed
    WHERE pick = 1"""


def evidence_body(spec: d.FeatureSpec) -> str:
    """The SELECT listing the records behind ``spec``, over the ``targets`` CTE.

    One place decides which records explain a feature, for the single-feature
    look-up here and the batched look-up the scoring service makes.
    """
    table = spec.record.table
    if table == "agency_events":
        return _event_evidence(spec)
    if table == "referrals":
        return _referral_evidence(spec)
    if table == "household_members":
        return _member_evidence(spec)
    return f"""SELECT 'referral' AS record, '{_CSC}' AS agency, 'this referral' AS event_type,
            t.person_id, 'child' AS relationship, t.as_of AS occurred_at, t.as_of AS recorded_at,
            'referral ' || t.referral_id AS detail FROM targets t"""


def evidence_sql(spec: d.FeatureSpec, dialect=DUCKDB) -> str:
    """The whole look-up for ``spec``: one target (``?`` referral_id, ``?`` person_id), its household.

    The input relations are ``{placeholders}`` (:data:`features.sql.STORE_RELATIONS`).
    Kept apart from :func:`evidence` so the mutation test
    (``tests/features/test_evidence_mutations.py``) can flip each comparison
    of exactly the text :func:`evidence` runs.
    """
    body = evidence_body(spec)
    subject = spec.record.subject
    if subject == "referral":
        subject = "child"
    filt = "WHERE rc.referral_id = ? AND rc.person_id = ?"
    ctes = household_ctes(DUCKDB, chunk_filter=filt)
    if subject in d.MEMBERSHIPS and d.MEMBERSHIPS[subject].source == "named":
        ctes += named_ctes()
    ctes += [("subject", _subject_sql(subject))]
    select = f"SELECT * FROM ({body}) listed_records ORDER BY occurred_at, recorded_at, person_id"
    return with_ctes(ctes, select, dialect)


def evidence(
    con,
    referral: str | pd.DataFrame,
    person_id: str,
    feature_name: str,
    referral_children: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Records behind ``feature_name`` for child ``person_id`` on a referral, as of its arrival.

    Parameters
    ----------
    con
        A connection to the MAST store.
    referral
        A ``referral_id`` in the store, or a one-row referrals frame (the
        serving path) for a referral not yet stored.
    person_id
        The child on the referral.
    feature_name
        A column of ``X`` (see :func:`features.catalogue`).
    referral_children
        With a frame ``referral``: its children (defaults to just ``person_id``).

    Returns
    -------
    DataFrame
        Columns ``record, agency, event_type, person_id, relationship,
        occurred_at, recorded_at, detail``, ordered by ``occurred_at``.  For
        household-adult features every adult's records are listed (the
        maximum is one of them).  Features of the referral itself, and ages,
        have no records behind them beyond the referral or the child, and
        return one row describing that.
    """
    spec = d.SPECS_BY_NAME.get(feature_name)
    if spec is None:
        raise ValueError(f"Unknown feature {feature_name!r}: see features.catalogue()")
    relations = dict(STORE_RELATIONS)
    ensure_named_adults(con)
    registered = []
    if isinstance(referral, pd.DataFrame):
        if referral_children is None:
            referral_children = pd.DataFrame(
                {"referral_id": referral["referral_id"].astype(str), "person_id": person_id}
            )
        refs, referral_children = _check_frames(referral, referral_children)
        con.register("_mast_ev_tref", refs)
        con.register("_mast_ev_tchild", referral_children)
        registered = ["_mast_ev_tref", "_mast_ev_tchild"]
        relations |= {"target_referrals": "_mast_ev_tref", "target_children": "_mast_ev_tchild"}
        referral_id = str(refs["referral_id"].iloc[0])
    else:
        referral_id = str(referral)
        found = con.execute(
            "SELECT count(*) FROM referral_children WHERE referral_id = ? AND person_id = ?",
            [referral_id, person_id],
        ).fetchone()[0]
        if not found:
            raise ValueError(f"No child {person_id!r} on referral {referral_id!r} in the store")
    sql = evidence_sql(spec)
    try:
        out = con.execute(sql.format(**relations), [referral_id, person_id]).df()
    finally:
        for name in registered:
            con.unregister(name)
    return out[EVIDENCE_COLUMNS]
