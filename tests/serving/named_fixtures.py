"""The hand-made store with agency identities, linked with a really trained Splink model.

The model is trained (without labels, as ``mast link`` does) on a small
simulated world's agency records: training needs thousands of records, not
the hand store's dozen.  Those records are kept in the store too, linked as
the run linked them, as the haystack a search looks through (and so that a
name's frequency is that of a real extract, not of a dozen records).  The
hand store's own records are linked by hand, one person each, so that a
test knows exactly who is who.
"""

from __future__ import annotations

import pandas as pd

from linkage import LinkageRules, link_records, prepare_records
from linkage.model import LinkageResult
from linkage.saved import save_model
from store import connect, validate_tables, write_tables
from store.identities import validate_identity_tables, write_identity_tables
from tests.serving.fixtures import tables

# (agency, record id, person, given, family, date of birth, sex, postcode, recorded_at, events)
# fmt: off
RECORDS = [
    ("health", "H-C1", "C1", "Amelia", "Brennan", "2015-03-01", "Female", "B9 4AA", "2015-03-02", ["E1"]),
    ("education", "S-C1", "C1", "Amelia", "Brennan", "2015-03-01", "Female", "B9 4AA", "2019-09-01", ["E2"]),
    ("health", "H-C2", "C2", "Oscar", "Brennan", "2018-07-10", "Male", "B9 4AA", "2018-07-11", ["E8"]),
    ("police", "P-A1", "A1", "Kelly", "Brennan", "1988-01-01", "Female", "B9 4AA", "2010-01-01", ["E3"]),
    ("adult_mental_health", "M-A1", "A1", "Kelly", "Brennan", "1988-01-01", "Female", "B9 4AA", "2012-01-01", ["E9"]),
    ("police", "P-A2", "A2", "Darren", "Whitlock", "1985-05-05", "Male", "B12 9QT", "2005-01-01", ["E4", "E5"]),
    ("police", "P-A3", "A3", "Shane", "Brennan", "1984-02-02", "Male", "B9 4AA", "2008-01-01", ["E6"]),
    ("police", "P-X", "X", "Marguerite", "Okonkwo", "1970-01-01", "Female", "B30 2LT", "2001-01-01", ["E7"]),
    ("health", "H-X", "X", "Marguerite", "Okonkwo", "1970-01-01", "Female", "B30 2LT", "1999-01-01", []),
    ("housing", "U-AD", "AD", "Tyrone", "Baptiste", "1996-01-01", "Male", "B5 7RD", "2020-01-01", []),
]
# fmt: on
PERSON_KEY = {
    "C1": "LP01",
    "C2": "LP02",
    "A1": "LP03",
    "A2": "LP04",
    "A3": "LP05",
    "X": "LP06",
    "AD": "LP07",
}


def identity_tables() -> dict[str, pd.DataFrame]:
    records = pd.DataFrame(
        [
            {
                "agency": a,
                "agency_record_id": rid,
                "given_name": given,
                "family_name": family,
                "date_of_birth": dob,
                "sex": sex,
                "postcode": postcode,
                "address": None,
                "nhs_number": None,
                "upn": None,
                "pnc_id": None,
                "recorded_at": recorded,
            }
            for a, rid, _, given, family, dob, sex, postcode, recorded, _ in RECORDS
        ]
    )
    events = pd.DataFrame(
        [(e, a, rid) for a, rid, *_, evs in RECORDS for e in evs],
        columns=["event_id", "agency", "agency_record_id"],
    )
    return {"agency_records": records, "agency_event_records": events}


def trained_model(random_state: int = 3) -> tuple[LinkageResult, pd.DataFrame]:
    """A Splink model trained on a small simulated world's records (a few seconds), and the records."""
    from synthetic import SimulationConfig, simulate
    from synthetic.identities import simulate_agency_identities

    world = simulate(
        SimulationConfig(n_children=400, years=2, burn_in_years=1, random_state=random_state)
    )
    identities = simulate_agency_identities(world.tables, random_state)
    rules = LinkageRules(u_pairs=1e5, em_pairs=1e5, random_state=random_state)
    records = identities.tables["agency_records"]
    return link_records(prepare_records(records), rules), records


def write_linked_store(path, trained: tuple[LinkageResult, pd.DataFrame]) -> None:
    """The hand store, its identities and the simulated haystack, linked, with the model saved."""
    model, haystack = trained
    haystack = haystack.assign(agency_record_id="SIM-" + haystack["agency_record_id"])
    hand = identity_tables()
    clean = validate_tables(tables())
    ids = validate_identity_tables(
        {
            **hand,
            "agency_records": pd.concat([hand["agency_records"], haystack], ignore_index=True),
        },
        clean["agency_events"],
    )
    truth = pd.DataFrame(
        [(a, rid, p) for a, rid, p, *_ in RECORDS],
        columns=["agency", "agency_record_id", "person_id"],
    )
    con = connect(path)
    write_tables(con, clean, also=lambda c: write_identity_tables(c, ids, truth))
    links = pd.concat(
        [
            pd.DataFrame(
                [(a, rid, PERSON_KEY[p]) for a, rid, p, *_ in RECORDS],
                columns=["agency", "agency_record_id", "person_key"],
            ),
            model.links.assign(
                agency_record_id="SIM-" + model.links["agency_record_id"],
                person_key="SIM" + model.links["person_key"],
            )[["agency", "agency_record_id", "person_key"]],
        ],
        ignore_index=True,
    )
    con.register("_links", links)
    con.execute(
        "INSERT INTO person_links SELECT agency, agency_record_id, person_key, NULL, "
        "'test', 'run-test', TIMESTAMP '2026-11-01' FROM _links"
    )
    con.unregister("_links")
    save_model(con, model, "run-test")
    con.close()
