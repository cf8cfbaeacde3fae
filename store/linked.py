"""The store keyed by linked persons: what features and the chronology see after ``mast link``.

Contract 1.0 tables carry one ``person_id`` shared by every agency, which no
local authority has.  After ``mast link`` the store knows instead which
agency records are one person (``person_links``).  :func:`linked_tables`
rewrites the 1.0 tables so that every person is a *linked* person:

- ``agency_events``: each event belongs to the linked person of the agency
  record it is about (``agency_event_records`` -> ``person_links``), never
  to the extract's shared ``person_id``;
- ``people``, ``household_members``, ``referral_children``: the local
  authority's own tables; each ``person_id`` there is the record named in
  ``person_records``, and becomes that record's linked person.

So a record linkage missed stays with a separate linked person and drops
out of the child's history, and records of two people linkage wrongly
merged are counted together: features see exactly what linkage gives them.
Events of a linked person who is in none of the local authority's own
tables (no child or household reaches them) are left out and counted.

Nothing here reads the simulator's truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from store.contract import TABLES

# The contract tables whose rows name a person.
PERSON_TABLES = ("people", "household_members", "referral_children", "agency_events")
LINKED_INPUTS = ("person_links", "person_records", "agency_event_records")


@dataclass(frozen=True)
class LinkedStore:
    """Contract 1.0 tables keyed by linked person, and what the rewrite dropped.

    Attributes
    ----------
    tables
        Every contract table keyed by linked person: a linked person holding
        one of the local authority's own records (``person_records``) is
        named by that record's ``person_id`` (the smallest, if linkage joined
        several); any other by its ``person_links.person_key``.
    person_key
        The extract's ``person_id`` -> its linked person's id (for
        evaluation; features never read it).
    merged_people
        ``people`` rows folded into another person's (two of the local
        authority's people linked as one; the first by ``person_id`` stands).
    unreached_events
        Events of linked persons in none of the local authority's tables.
    """

    tables: dict[str, pd.DataFrame]
    person_key: pd.Series
    merged_people: int
    unreached_events: int


def linked_tables(
    tables: dict[str, pd.DataFrame],
    person_links: pd.DataFrame,
    person_records: pd.DataFrame,
    event_records: pd.DataFrame,
) -> LinkedStore:
    """Key the contract tables by linked person.

    Parameters
    ----------
    tables
        The contract 1.0 tables.
    person_links
        ``agency``, ``agency_record_id``, ``person_key`` (``mast link``'s output).
    person_records
        ``person_id`` -> (``agency``, ``agency_record_id``): the record each
        1.0 ``person_id`` stands for.
    event_records
        ``event_id`` -> (``agency``, ``agency_record_id``).

    Raises
    ------
    LookupError
        Naming the first person or event whose record has no link (the links
        are from another run than the records).
    """
    key_of = person_links.set_index(["agency", "agency_record_id"])["person_key"]
    link_of_person = _lookup(person_records, key_of, "person_id", "person_records")
    # A linked person holding one of the local authority's own records keeps
    # that record's id (the smallest, when linkage joined several), so the
    # API and the page name children as the local authority does; a linked
    # person holding none keeps MAST's key.
    name_of = (
        pd.Series(link_of_person.index, index=link_of_person.to_numpy()).groupby(level=0).min()
    )
    person_key = link_of_person.map(name_of)
    unknown = ~tables["people"]["person_id"].isin(person_key.index)
    if unknown.any():
        first = tables["people"]["person_id"][unknown].iloc[0]
        raise LookupError(
            f"person_records names no agency record for person {first!r} "
            f"({int(unknown.sum())} people in all): cannot key them by linked person."
        )
    event_link = _lookup(event_records, key_of, "event_id", "agency_event_records")
    event_key = event_link.map(name_of).fillna(event_link)
    out = dict(tables)
    people = tables["people"].assign(person_id=tables["people"]["person_id"].map(person_key))
    people = people.sort_values("person_id", kind="stable")
    deduped = people.drop_duplicates("person_id")
    out["people"] = deduped.reset_index(drop=True)
    members = tables["household_members"]
    out["household_members"] = (
        members.assign(person_id=members["person_id"].map(person_key))
        .drop_duplicates(["person_id", "household_id", "start_date"])
        .reset_index(drop=True)
    )
    children = tables["referral_children"]
    out["referral_children"] = (
        children.assign(person_id=children["person_id"].map(person_key))
        .drop_duplicates(["referral_id", "person_id"])
        .reset_index(drop=True)
    )
    events = tables["agency_events"]
    missing = ~events["event_id"].isin(event_key.index)
    if missing.any():
        raise LookupError(
            f"agency_event_records names no agency record for event "
            f"{events['event_id'][missing].iloc[0]!r} ({int(missing.sum())} events in all)."
        )
    events = events.assign(person_id=events["event_id"].map(event_key))
    reached = events["person_id"].isin(deduped["person_id"])
    out["agency_events"] = events[reached].reset_index(drop=True)
    return LinkedStore(
        tables=out,
        person_key=person_key,
        merged_people=len(people) - len(deduped),
        unreached_events=int((~reached).sum()),
    )


def _lookup(frame: pd.DataFrame, key_of: pd.Series, index: str, table: str) -> pd.Series:
    keys = pd.MultiIndex.from_frame(frame[["agency", "agency_record_id"]])
    found = key_of.reindex(keys)
    if found.isna().any():
        row = frame[found.isna().to_numpy()].iloc[0]
        raise LookupError(
            f"{table}: record {row['agency_record_id']!r} of {row['agency']!r} has no "
            "person link. Run `mast link` again on the store's current records."
        )
    return pd.Series(found.to_numpy(), index=frame[index].to_numpy(), name="person_key")


def read_linked(con: duckdb.DuckDBPyConnection) -> LinkedStore:
    """The store's contract tables keyed by the linked persons of its last ``mast link`` run."""
    present = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    absent = [t for t in LINKED_INPUTS if t not in present]
    if absent or not con.execute("SELECT count(*) FROM person_links").fetchone()[0]:
        raise LookupError(
            "The store holds no person links to key the records by"
            + (f" (missing: {', '.join(absent)})" if absent else "")
            + ". Simulate identities with `mast simulate --agency-identities`, "
            "then run `mast link`."
        )
    tables = {t: con.execute(f"SELECT * FROM {t}").df() for t in TABLES}
    return linked_tables(
        tables,
        con.execute("SELECT agency, agency_record_id, person_key FROM person_links").df(),
        con.execute("SELECT * FROM person_records").df(),
        con.execute("SELECT * FROM agency_event_records").df(),
    )


_NAMED_TABLES = ("referral_named_adults", "named_adult_links")


def _linked_named(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """The adults named on referrals and what ``mast link`` found, keyed by linked person.

    A found adult is the linked person of the cluster the search matched
    (``person_key``), named as :func:`linked_tables` names it: the smallest
    local authority ``person_id`` among its records, else MAST's key.
    """
    from store.identities import has_table

    if not has_table(con, "referral_named_adults"):
        return {}
    out = {"referral_named_adults": con.execute("SELECT * FROM referral_named_adults").df()}
    if not has_table(con, "named_adult_links"):
        return out  # never resolved: the linked store's family is missing, as the store's
    links = con.execute(
        """SELECT DISTINCT l.referral_id, l.adult_number, l.status, l.match_probability,
            l.person_key, COALESCE(n.person_id, l.person_key) AS person_id, l.rule_version,
            l.run_id, l.resolved_at
        FROM named_adult_links l
        LEFT JOIN (SELECT pl.person_key, min(pr.person_id) AS person_id
                   FROM person_records pr JOIN person_links pl
                     ON pl.agency = pr.agency AND pl.agency_record_id = pr.agency_record_id
                   GROUP BY pl.person_key) n ON n.person_key = l.person_key"""
    ).df()
    links.loc[links["status"] != "found", "person_id"] = None
    out["named_adult_links"] = links
    return out


def _write_named(out: duckdb.DuckDBPyConnection, named: dict[str, pd.DataFrame]) -> None:
    from store.identities import IDENTITY_DDL

    for table, frame in named.items():
        out.execute(f"CREATE TABLE {table} ({IDENTITY_DDL[table]})")
        cols = ", ".join(frame.columns)
        out.register("_named", frame)
        out.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _named")
        out.unregister("_named")


def write_linked_store(con: duckdb.DuckDBPyConnection, path: Path | str) -> LinkedStore:
    """Write a new store at ``path`` keyed by linked persons (replacing any there).

    The new store holds the contract tables, and the adults named on
    referrals with what ``mast link`` found of them (keyed by linked person,
    so the named-adult features count linked persons too): no identities,
    no links and no simulator truth, so whatever runs on it (``mast
    features``, ``mast train``, ``mast serve``) sees linked persons and
    nothing else.
    """
    from store.database import connect, create_schema, set_meta, write_tables

    linked = read_linked(con)
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    tmp.unlink(missing_ok=True)
    out = connect(tmp)
    try:
        create_schema(out)
        write_tables(out, {t: linked.tables[t] for t in TABLES})
        _write_named(out, _linked_named(con))
        run = con.execute("SELECT max(run_id), max(rule_version) FROM person_links").fetchone()
        set_meta(out, "persons", f"linked: run {run[0]}, rules {run[1]}")
    finally:
        out.close()
    tmp.replace(path)  # never a half-written store at ``path``
    return linked
