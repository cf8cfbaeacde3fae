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


_PERSONS_SQL = """
SELECT DISTINCT n.referral_id, n.adult_number, e.person_id
FROM _named_records n
JOIN agency_event_records r ON r.agency = n.agency AND r.agency_record_id = n.agency_record_id
JOIN agency_events e ON e.event_id = r.event_id
UNION
SELECT DISTINCT n.referral_id, n.adult_number, p.person_id
FROM _named_records n
JOIN person_records p ON p.agency = n.agency AND p.agency_record_id = n.agency_record_id
"""
LINK_COLUMNS = [
    "referral_id",
    "adult_number",
    "status",
    "match_probability",
    "person_key",
    "person_id",
    "rule_version",
    "run_id",
    "resolved_at",
]


def found_persons(con: duckdb.DuckDBPyConnection, records: pd.DataFrame) -> pd.DataFrame:
    """The store ``person_id`` each found adult's records belong to (referral_id, adult_number, person_id).

    A record's person is the one its events carry (``agency_event_records``
    -> ``agency_events.person_id``), or the local authority's own person it
    stands for (``person_records``).  In a store keyed by linked persons that
    is the linked person; in an extract's store, the extract's ``person_id``.
    """
    con.register("_named_records", records)
    try:
        return con.execute(_PERSONS_SQL).df()
    finally:
        con.unregister("_named_records")


def write_named_adult_links(
    con: duckdb.DuckDBPyConnection, search: PersonSearch | None = None
) -> pd.DataFrame | None:
    """Resolve every named adult of the store as of its referral and store it (``named_adult_links``).

    Run by ``mast link`` after ``person_links``: replaces the table in one
    transaction, so the features read either the previous answer or the
    whole new one.  Returns the rows written, or ``None`` when there is
    nothing to search (no named adults, or no linkage model to search with),
    which leaves each named adult *not searched* (missing), never not found.
    """
    from datetime import UTC, datetime

    from store.identities import create_identity_schema

    resolved = resolve_named_adults(con, search)
    if resolved is None:
        return None
    outcomes, records = resolved
    persons = found_persons(con, records)
    run_id, rule_version = con.execute(
        "SELECT max(run_id), max(rule_version) FROM person_links"
    ).fetchone()
    rows = outcomes.merge(persons, on=["referral_id", "adult_number"], how="left")
    rows = rows.assign(
        rule_version=rule_version,
        run_id=run_id,
        resolved_at=pd.Timestamp(datetime.now(UTC).replace(tzinfo=None)),
        person_id=rows["person_id"].where(rows["status"] == FOUND),
    )[LINK_COLUMNS]
    con.execute("BEGIN TRANSACTION")
    try:
        create_identity_schema(con)
        con.execute("DELETE FROM named_adult_links")
        con.register("_named_links", rows)
        con.execute(
            f"INSERT INTO named_adult_links ({', '.join(LINK_COLUMNS)}) "
            f"SELECT {', '.join(LINK_COLUMNS)} FROM _named_links ORDER BY referral_id, adult_number"
        )
        con.unregister("_named_links")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return rows
