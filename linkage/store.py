"""Write a linkage run to the store: every record's person, and the possible matches."""

from __future__ import annotations

import datetime as dt
import uuid

import duckdb
import pandas as pd

from linkage.model import LinkageResult
from linkage.saved import save_model
from store.identities import create_identity_schema


def write_links(con: duckdb.DuckDBPyConnection, result: LinkageResult) -> str:
    """Replace the store's ``person_links`` and ``possible_matches`` in one transaction.

    A run replaces the previous one whole: links from two runs are never
    mixed, and a failure part-way leaves the previous run in place.

    Returns
    -------
    str
        The run id written on every row.
    """
    run_id = uuid.uuid4().hex[:12]
    linked_at = pd.Timestamp(dt.datetime.now(dt.UTC).replace(tzinfo=None))
    links = result.links.assign(
        rule_version=result.rule_version, run_id=run_id, linked_at=linked_at
    )
    possible = result.possible.assign(rule_version=result.rule_version, run_id=run_id)
    if "status" not in possible.columns:
        possible["status"] = "possible"
    con.execute("BEGIN TRANSACTION")
    try:
        create_identity_schema(con)
        con.execute("DELETE FROM person_links")
        con.execute("DELETE FROM possible_matches")
        # Named adults resolved by the previous run are stale: "not searched"
        # until linkage.named.write_named_adult_links resolves them again.
        con.execute("DELETE FROM named_adult_links")
        con.register("_links", links)
        con.execute(
            "INSERT INTO person_links SELECT agency, agency_record_id, person_key, "
            "match_probability, rule_version, run_id, linked_at FROM _links "
            "ORDER BY person_key, agency, agency_record_id"
        )
        con.unregister("_links")
        con.register("_possible", possible)
        con.execute(
            "INSERT INTO possible_matches SELECT agency_l, agency_record_id_l, agency_r, "
            "agency_record_id_r, match_probability, agreeing_fields, disagreeing_fields, "
            "status, rule_version, run_id FROM _possible"
        )
        con.unregister("_possible")
        save_model(con, result, run_id)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return run_id
