"""A tiny DuckDB store holding two possible matches, for the possible-matches API and page."""

from __future__ import annotations

from pathlib import Path

import duckdb

from serving.matches import MatchSource
from store.identities import create_identity_schema

RECORDS = [
    ("health", "H100", "Amara", "Okafor", "2015-03-04", "Female", "AB1 2CD", "1 high street"),
    ("police", "P200", "Amarah", "Okafor", "2015-04-03", "Female", "AB1 2CD", "1 high street"),
    ("education", "E300", "Jon", "Smith", "2012-01-01", "Male", "ZZ9 9ZZ", "3 low road"),
    ("housing", "U400", "John", "Smith", "2012-01-01", "Male", None, None),
]
MATCHES = [
    # agency_l, id_l, agency_r, id_r, probability, agree, disagree
    ("health", "H100", "police", "P200", 0.74, "address, sex", "name, date of birth"),
    ("education", "E300", "housing", "U400", 0.41, "date of birth, sex", "name"),
]


def possible_match_source(path: Path) -> MatchSource:
    con = duckdb.connect(str(path))
    try:
        create_identity_schema(con)
        for agency, rid, given, family, dob, sex, postcode, address in RECORDS:
            con.execute(
                "INSERT INTO agency_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, "
                "TIMESTAMP '2020-01-01')",
                [agency, rid, given, family, dob, sex, postcode, address],
            )
        for row in MATCHES:
            con.execute(
                "INSERT INTO possible_matches VALUES (?, ?, ?, ?, ?, ?, ?, 'possible', 'r1', 'run1')",
                list(row),
            )
    finally:
        con.close()
    return MatchSource(path)
