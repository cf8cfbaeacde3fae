"""Who each adult named on a past referral was, as MAST could have known then (issue #20).

Training sees named adults as the service does: each adult on each
historical referral (contract 1.3 ``referral_named_adults``) is searched for
with :class:`linkage.search.PersonSearch`, in one batch, *as of the
referral's received time*, so only agency records held before it can
match, and only those records are the adult's.  Only a ``found`` outcome
(a match at or above the governance threshold) makes an adult *found*; a
``possible`` match never does (its records are not the adult's), and is
counted with the adults not found.

What this cannot undo: ``person_links`` come from one linkage run over all
the records, so two early records may sit in one person because a later
record bridged them.  The search only scores records held before the
referral, and only those records' events count, so no later *event* is
seen; the cluster boundary is the run's.  (docs/linkage.md)
"""

from __future__ import annotations

import duckdb
import pandas as pd

from linkage.search import FOUND, AdultQuery, PersonSearch, SearchResult

OUTCOME_COLUMNS = ["referral_id", "adult_number", "status", "person_key", "match_probability"]
RECORD_COLUMNS = ["referral_id", "adult_number", "agency", "agency_record_id"]


def named_adult_table(con: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    """The store's named adults with their referral's received time, or ``None`` if it has none."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = 'referral_named_adults'"
    ).fetchone()[0]
    if not exists:
        return None
    return con.execute(
        "SELECT n.*, r.received_at FROM referral_named_adults n "
        "JOIN referrals r USING (referral_id) ORDER BY n.referral_id, n.adult_number"
    ).df()


def _query(row) -> AdultQuery:
    dob = row.date_of_birth
    return AdultQuery(
        name=row.name,
        date_of_birth=None if pd.isna(dob) else pd.Timestamp(dob).date(),
        postcode=None if pd.isna(row.postcode) else row.postcode,
        address=None if pd.isna(row.address) else row.address,
    )


def resolve_named_adults(
    con: duckdb.DuckDBPyConnection, search: PersonSearch | None = None
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Search for every adult named on the store's referrals, each as of its referral.

    Returns
    -------
    (outcomes, records) or None
        ``outcomes``: one row per named adult (``status`` found / possible /
        not_found; the best person and probability when found).
        ``records``: the found adults' agency records held before the
        referral.  ``None`` when the store cannot be searched (never
        linked) or names no adults: *not searched*, which is not "not found".
    """
    named = named_adult_table(con)
    search = search or PersonSearch.from_store(con)
    if named is None or search is None:
        return None
    results = search.search_many(
        [_query(r) for r in named.itertuples(index=False)],
        [pd.Timestamp(t).to_pydatetime() for t in named["received_at"]],
    )
    return outcomes_and_records(named, results)


def outcomes_and_records(
    named: pd.DataFrame, results: list[SearchResult]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outcome rows and found records from search results (also used by the service)."""
    outcomes, records = [], []
    for (ref, number), result in zip(
        named[["referral_id", "adult_number"]].itertuples(index=False), results, strict=True
    ):
        found = result.status == FOUND
        best = result.best if found else None
        outcomes.append(
            (
                ref,
                int(number),
                result.status,
                best and best.person_key,
                best.match_probability if best else None,
            )
        )
        records += [(ref, int(number), a, rid) for a, rid in (best.records if best else ())]
    return (
        pd.DataFrame(outcomes, columns=OUTCOME_COLUMNS),
        pd.DataFrame(records, columns=RECORD_COLUMNS),
    )
