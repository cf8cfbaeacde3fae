"""The named-adult feature family (issue #20): adults the referrer names, found, counted.

One function, :func:`named_adult_features`, computes the family from the
named adults' search outcomes and the found adults' events, so that training
(:func:`store_named_adult_features`, every past referral, each adult resolved
as of its referral by :mod:`linkage.named`) and the service (one referral,
from the search :mod:`serving.named_adults` ran) count the same way.  The
counters are the household adults' (:data:`features.definitions.COUNTERS`),
applied to the found adults' records recorded strictly before the referral.

Three cases are kept apart, because silence is not safety:

* a referral naming no adult: the counts are 0 (there is no one to count);
* adults named but MAST could not search (the store was never linked): every
  value is missing (unknown), never 0;
* an adult named and not found (or only a possible match): counted in
  ``named_adults_not_found``, which is shown but is no model input
  (``excluded_why``), and adds nothing to the counters.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from features import definitions as d
from features.sql import FOUND, NAMED_ADULTS_VIEW, NOT_SEARCHED

# What ``mast link`` writes (store.identities): each named adult of each
# referral, resolved as of its referral, and the store persons it is.
LINKS_TABLE = "named_adult_links"
NAMED_COLUMNS = ["referral_id", "adult_number", "status", "person_id"]
_NONE = (
    "SELECT CAST(NULL AS VARCHAR) AS referral_id, CAST(NULL AS INTEGER) AS adult_number, "
    "CAST(NULL AS VARCHAR) AS status, CAST(NULL AS VARCHAR) AS person_id WHERE FALSE"
)


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name = ?",
            [table],
        ).fetchone()[0]
    )


def named_adults_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The store's named adults as the feature query reads them (:data:`NAMED_COLUMNS`).

    Three stores, three answers, because silence is not safety:

    * no ``referral_named_adults`` (a store before contract 1.3): no rows, so
      every referral names no one and counts 0;
    * named adults but no ``named_adult_links`` (never linked), or an adult
      the last ``mast link`` did not resolve: status ``not_searched``, which
      makes the referral's whole family missing, never 0;
    * otherwise each adult's status and, when found, one row per store
      person its records belong to.
    """
    if not _has_table(con, "referral_named_adults"):
        return _NONE
    if not _has_table(con, LINKS_TABLE):
        return (
            "SELECT referral_id, CAST(adult_number AS INTEGER) AS adult_number, "
            f"'{NOT_SEARCHED}' AS status, CAST(NULL AS VARCHAR) AS person_id "
            "FROM referral_named_adults"
        )
    return f"""SELECT n.referral_id, CAST(n.adult_number AS INTEGER) AS adult_number,
        COALESCE(l.status, '{NOT_SEARCHED}') AS status, l.person_id
    FROM referral_named_adults n
    LEFT JOIN {LINKS_TABLE} l ON l.referral_id = n.referral_id AND l.adult_number = n.adult_number"""


def ensure_named_adults(con: duckdb.DuckDBPyConnection) -> str:
    """Make the temporary view the feature query reads as ``{named_adults}``; return its name.

    A temporary view lives in the connection (a read-only store allows it),
    so each engine calls this on the connection it runs the query on.
    """
    con.execute(f"CREATE OR REPLACE TEMP VIEW {NAMED_ADULTS_VIEW} AS {named_adults_sql(con)}")
    return NAMED_ADULTS_VIEW


ADULT_KEY = ["referral_id", "adult_number"]
EVENT_COLUMNS = [
    *ADULT_KEY,
    "agency",
    "event_type",
    "role",
    "severity",
    "occurred_at",
    "recorded_at",
]


def _counts(c: d.EventCounter, events: pd.DataFrame, as_of: pd.Series) -> np.ndarray:
    """Which of ``events`` count for ``c`` as of each row's ``as_of`` (a boolean mask)."""
    f = c.filter
    hit = events["event_type"].isin(f.event_types)
    if f.agencies:
        hit &= events["agency"].isin(f.agencies)
    if f.roles:
        hit &= events["role"].isin(f.roles)
    if f.exclude_roles:
        hit &= ~events["role"].isin(f.exclude_roles)
    if f.min_severity is not None:
        hit &= events["severity"].fillna(-1) >= f.min_severity
    if f.age_limit is not None:
        raise ValueError(f"{c.name}: a named adult's age is not known to the family")
    days = d.WINDOWS[c.window]
    if days is not None:
        hit &= events["occurred_at"] >= as_of - pd.Timedelta(days=days)
    return hit.to_numpy()


def named_adult_features(
    received_at: pd.Series,
    outcomes: pd.DataFrame,
    events: pd.DataFrame,
) -> pd.DataFrame:
    """The family, one row per referral (index ``referral_id``, columns ``NAMED_ADULT_NAMES``).

    Parameters
    ----------
    received_at
        Each referral's received time, indexed by ``referral_id``.
    outcomes
        One row per named adult (``referral_id``, ``adult_number``,
        ``status``: found, possible, not_found or not_searched).  A referral
        with an adult MAST could not search gets every value missing.
    events
        The found adults' events (:data:`EVENT_COLUMNS`), from their records
        held before the referral; only those *recorded* before it count.
    """
    out = pd.DataFrame(0.0, index=received_at.index, columns=d.NAMED_ADULT_NAMES)
    found = outcomes["status"] == FOUND
    out[d.NAMED_FOUND] = found.groupby(outcomes["referral_id"]).sum().reindex(out.index)
    out[d.NAMED_NOT_FOUND] = (~found).groupby(outcomes["referral_id"]).sum().reindex(out.index)
    keys = outcomes.loc[found, ADULT_KEY]
    ev = events.merge(keys, on=ADULT_KEY).drop_duplicates()
    as_of = ev["referral_id"].map(received_at)
    ev = ev[(ev["recorded_at"] < as_of).to_numpy()]
    as_of = as_of[ev.index]
    for name in d.NAMED_ADULT_COUNTERS:
        per_adult = (
            pd.Series(_counts(d.COUNTERS[name], ev, as_of), index=ev.index)
            .groupby([ev["referral_id"], ev["adult_number"]])
            .sum()
        )
        by_ref = per_adult.groupby(level="referral_id")
        out[f"named_adults_{name}_max"] = by_ref.max().reindex(out.index)
        out[f"named_adults_{name}_sum"] = by_ref.sum().reindex(out.index)
    out = out.fillna(0.0).astype("float64")
    unsearched = outcomes.loc[outcomes["status"] == NOT_SEARCHED, "referral_id"]
    out.loc[out.index.isin(unsearched)] = np.nan
    return out


_EVENTS_SQL = """
SELECT n.referral_id, n.adult_number, e.agency, e.event_type, e.role, e.severity,
       e.occurred_at, e.recorded_at, e.event_id
FROM _named_records n
JOIN agency_event_records r ON r.agency = n.agency AND r.agency_record_id = n.agency_record_id
JOIN agency_events e ON e.event_id = r.event_id
"""


def found_adult_events(con: duckdb.DuckDBPyConnection, records: pd.DataFrame) -> pd.DataFrame:
    """The events of the found adults' records (``referral_id``, ``adult_number``, ``agency``, ``agency_record_id``)."""
    con.register("_named_records", records)
    try:
        ev = con.execute(_EVENTS_SQL).df()
    finally:
        con.unregister("_named_records")
    # One incident linked to two of the adult's records counts once.
    return ev.drop_duplicates([*ADULT_KEY, "event_id"])[EVENT_COLUMNS]


def store_named_adult_features(
    con: duckdb.DuckDBPyConnection, received_at: pd.Series, search=None
) -> pd.DataFrame:
    """The family for the store's referrals (training): every named adult resolved as of its referral."""
    from linkage.named import OUTCOME_COLUMNS, named_adult_table, resolve_named_adults

    named = named_adult_table(con)
    no_events = pd.DataFrame(columns=EVENT_COLUMNS)
    if named is None:  # no referral names anyone: there is no one to count
        return named_adult_features(received_at, pd.DataFrame(columns=OUTCOME_COLUMNS), no_events)
    resolved = resolve_named_adults(con, search)
    if resolved is None:  # never linked: not searched, which is not "not found"
        return named_adult_features(received_at, named.assign(status=NOT_SEARCHED), no_events)
    outcomes, records = resolved
    return named_adult_features(received_at, outcomes, found_adult_events(con, records))
