"""Contract 1.1: each agency's own identities, and the links MAST makes between them.

No English local authority holds one ``person_id`` shared by police, health,
schools, housing, probation and children's social care.  Version 1.1 of the
contract adds, as new tables (none of the 1.0 tables changes, so a 1.0
extract or store still loads):

``agency_records``
    One row per person *as one agency holds them*: the agency's own
    identifier and the identifying fields it keeps (name, date of birth, sex,
    postcode and address, NHS number, UPN, PNC id), each possibly missing.
``agency_event_records``
    Which agency record each ``agency_events`` row is about.
``person_records``
    Which agency record the 1.0 tables' ``person_id`` stands for: the local
    authority's own record of each person in ``people``,
    ``household_members`` and ``referral_children`` (children's social
    care's, or the record the extract was keyed on).  It lets ``mast link
    --linked-store`` key those tables by linked person (``store.linked``).

and two tables MAST itself writes (``mast link``), never an extract:

``person_links``
    Agency record -> linked person, with the match probability and the
    version of the linkage rules that made the link.
``possible_matches``
    Pairs of records scored below the governance threshold: kept for a
    person to confirm or reject, never merged silently.

The simulator's answer (which true person is behind each agency record) is
written to ``truth.agency_record_people`` and is read by evaluation only.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pandera.pandas as pa

from store import vocabulary as v
from store.contract import ContractError, Problem, parse_boolean, schema_failures
from store.wording import shown, type_words

TRUTH_SCHEMA = "truth"


def _text(nullable: bool = True, pattern: str | None = None) -> pa.Column:
    checks = [pa.Check.str_matches(pattern)] if pattern else []
    return pa.Column(str, checks, nullable=nullable, coerce=True)


# NHS number: ten digits.  UPN: a check letter then 12 characters (DfE).  PNC
# id: two-digit year, a serial number and a check letter, e.g. ``19/123456A``.
NHS_NUMBER_PATTERN = r"^\d{10}$"
UPN_PATTERN = r"^[A-Z]\d{11}[0-9A-Z]$"
PNC_PATTERN = r"^\d{2}/\d{1,7}[A-Z]$"

IDENTITY_SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "agency_records": pa.DataFrameSchema(
        {
            "agency": pa.Column(str, pa.Check.isin(list(v.AGENCIES)), coerce=True),
            "agency_record_id": pa.Column(str, coerce=True),
            "given_name": _text(),
            "family_name": _text(),
            "date_of_birth": pa.Column("datetime64[us]", nullable=True, coerce=True),
            "sex": pa.Column(str, pa.Check.isin(list(v.SEXES)), nullable=True, coerce=True),
            "postcode": _text(),
            "address": _text(),
            "nhs_number": _text(pattern=NHS_NUMBER_PATTERN),
            "upn": _text(pattern=UPN_PATTERN),
            "pnc_id": _text(pattern=PNC_PATTERN),
            # When the agency first held this record: a link made as of a
            # moment may only use records that existed before it.
            "recorded_at": pa.Column("datetime64[us]", coerce=True),
        },
        name="agency_records",
        strict="filter",
        unique=["agency", "agency_record_id"],
    ),
    "agency_event_records": pa.DataFrameSchema(
        {
            "event_id": pa.Column(str, unique=True, coerce=True),
            "agency": pa.Column(str, pa.Check.isin(list(v.AGENCIES)), coerce=True),
            "agency_record_id": pa.Column(str, coerce=True),
        },
        name="agency_event_records",
        strict="filter",
    ),
    "person_records": pa.DataFrameSchema(
        {
            "person_id": pa.Column(str, unique=True, coerce=True),
            "agency": pa.Column(str, pa.Check.isin(list(v.AGENCIES)), coerce=True),
            "agency_record_id": pa.Column(str, coerce=True),
        },
        name="person_records",
        strict="filter",
    ),
    # Contract 1.3: the adults a referrer names on a referral, as typed (issue
    # #20).  Which person each one is, is not known: MAST searches for them.
    "referral_named_adults": pa.DataFrameSchema(
        {
            "referral_id": pa.Column(str, coerce=True),
            "adult_number": pa.Column("Int64", pa.Check.ge(1), coerce=True),
            "name": pa.Column(str, pa.Check.str_length(min_value=1), coerce=True),
            "date_of_birth": pa.Column("datetime64[us]", nullable=True, coerce=True),
            "date_of_birth_approximate": pa.Column(bool, coerce=True),
            "postcode": _text(),
            "address": _text(),
            "relationship": pa.Column(
                str, pa.Check.isin(list(v.NAMED_ADULT_RELATIONSHIPS)), coerce=True
            ),
            "lives_at_address": pa.Column(
                str, pa.Check.isin(list(v.LIVES_AT_ADDRESS)), coerce=True
            ),
        },
        name="referral_named_adults",
        strict="filter",
        unique=["referral_id", "adult_number"],
    ),
}
# Columns of the identity tables that may be absent from an extract (filled with nulls).
IDENTITY_OPTIONAL_COLUMNS = {
    "referral_named_adults": ("date_of_birth", "date_of_birth_approximate", "postcode", "address"),
}

IDENTITY_TABLES: tuple[str, ...] = tuple(IDENTITY_SCHEMAS)
IDENTIFYING_FIELDS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "postcode",
    "address",
    "nhs_number",
    "upn",
    "pnc_id",
)

IDENTITY_DDL = {
    "agency_records": """
        agency VARCHAR NOT NULL, agency_record_id VARCHAR NOT NULL, given_name VARCHAR,
        family_name VARCHAR, date_of_birth DATE, sex VARCHAR, postcode VARCHAR, address VARCHAR,
        nhs_number VARCHAR, upn VARCHAR, pnc_id VARCHAR, recorded_at TIMESTAMP NOT NULL,
        PRIMARY KEY (agency, agency_record_id)""",
    "agency_event_records": """
        event_id VARCHAR PRIMARY KEY, agency VARCHAR NOT NULL, agency_record_id VARCHAR NOT NULL""",
    "person_records": """
        person_id VARCHAR PRIMARY KEY, agency VARCHAR NOT NULL, agency_record_id VARCHAR NOT NULL""",
    "referral_named_adults": """
        referral_id VARCHAR NOT NULL, adult_number INTEGER NOT NULL, name VARCHAR NOT NULL,
        date_of_birth DATE, date_of_birth_approximate BOOLEAN NOT NULL, postcode VARCHAR,
        address VARCHAR, relationship VARCHAR NOT NULL, lives_at_address VARCHAR NOT NULL,
        PRIMARY KEY (referral_id, adult_number)""",
    # Written by ``mast link``.  ``person_key`` is MAST's own identifier of a
    # linked person; it is stable only within one linkage run (``run_id``).
    "person_links": """
        agency VARCHAR NOT NULL, agency_record_id VARCHAR NOT NULL, person_key VARCHAR NOT NULL,
        match_probability DOUBLE, rule_version VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
        linked_at TIMESTAMP NOT NULL, PRIMARY KEY (agency, agency_record_id)""",
    "possible_matches": """
        agency_l VARCHAR NOT NULL, agency_record_id_l VARCHAR NOT NULL,
        agency_r VARCHAR NOT NULL, agency_record_id_r VARCHAR NOT NULL,
        match_probability DOUBLE NOT NULL, agreeing_fields VARCHAR NOT NULL,
        disagreeing_fields VARCHAR NOT NULL, status VARCHAR NOT NULL,
        rule_version VARCHAR NOT NULL, run_id VARCHAR NOT NULL""",
}
TRUTH_IDENTITY_DDL = (
    "agency VARCHAR NOT NULL, agency_record_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL"
)
SORT_ORDER = {
    "agency_records": ("agency", "agency_record_id"),
    "agency_event_records": ("agency", "agency_record_id", "event_id"),
    "person_records": ("person_id",),
    "referral_named_adults": ("referral_id", "adult_number"),
}
TRUTH_NAMED_ADULT_DDL = (
    "referral_id VARCHAR NOT NULL, adult_number INTEGER NOT NULL, person_id VARCHAR NOT NULL"
)


def create_identity_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the version 1.1 tables if they are missing.

    Only stores that hold identities get them, so a 1.0 store is unchanged
    until identities are first written to it.
    """
    for table, columns in IDENTITY_DDL.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")


def has_identities(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the store holds any agency records (version 1.1 data)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = 'agency_records'"
    ).fetchone()[0]
    return bool(exists) and con.execute("SELECT count(*) FROM agency_records").fetchone()[0] > 0


def validate_identity_tables(
    tables: dict[str, pd.DataFrame],
    events: pd.DataFrame | None = None,
    referral_ids: pd.Index | None = None,
) -> dict[str, pd.DataFrame]:
    """Check the version 1.1 (and 1.3) tables and return them coerced.

    Parameters
    ----------
    tables
        ``agency_records`` and optionally ``agency_event_records`` and
        ``person_records`` and ``referral_named_adults``.
    events
        The ``agency_events`` (``event_id``, ``agency``) the event links must
        point at; when omitted, only the links' own columns are checked.
    referral_ids
        The referrals the named adults must be on; when omitted, unchecked.

    Raises
    ------
    ContractError
        Naming each table, 1-based row, column and problem.
    """
    problems: list[Problem] = []
    clean: dict[str, pd.DataFrame] = {}
    for table, frame in tables.items():
        validated, found = _validate_one(table, frame)
        problems += found
        if validated is not None:
            clean[table] = validated
    records, links = clean.get("agency_records"), clean.get("agency_event_records")
    if records is not None and links is not None:
        problems += _dangling_records(records, links, "agency_event_records")
    anchors = clean.get("person_records")
    if records is not None and anchors is not None:
        problems += _dangling_records(records, anchors, "person_records")
    if links is not None and events is not None:
        problems += _dangling_events(links, events)
    named = clean.get("referral_named_adults")
    if named is not None and referral_ids is not None:
        problems += [
            Problem(
                "referral_named_adults",
                idx + 1,
                "referral_id",
                f"{shown(named.at[idx, 'referral_id'])} is not a referral_id in referrals, "
                "neither in this extract nor already in the store",
            )
            for idx in named.index[~named["referral_id"].isin(referral_ids)]
        ]
    if problems:
        raise ContractError(list(dict.fromkeys(problems)))
    return clean


def _validate_one(table: str, frame: pd.DataFrame) -> tuple[pd.DataFrame | None, list[Problem]]:
    """One identity table's own checks: columns, dates, yes/no values, the pandera schema."""
    if table not in IDENTITY_SCHEMAS:
        return None, [Problem(table, None, None, "unknown table")]
    schema = IDENTITY_SCHEMAS[table]
    frame = frame.reset_index(drop=True)
    optional = IDENTITY_OPTIONAL_COLUMNS.get(table, ())
    missing = [c for c in schema.columns if c not in frame.columns and c not in optional]
    if missing:
        return None, [Problem(table, None, c, "required column is missing") for c in missing]
    frame = frame.assign(**{c: None for c in optional if c not in frame.columns})
    frame, unparsed = _parse_dates(table, frame)
    frame, unread = _parse_yes_no(table, frame)
    unparsed += unread
    try:
        validated = schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        return None, unparsed + schema_failures(table, schema, err)
    return (None if unparsed else validated[list(schema.columns)]), unparsed


def _parse_yes_no(table: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """Read boolean columns from their usual spellings (empty is no); pandas reads "False" as true."""
    problems = []
    for col, spec in IDENTITY_SCHEMAS[table].columns.items():
        if str(spec.dtype) != "bool" or pd.api.types.is_bool_dtype(frame[col]):
            continue
        raw = frame[col]
        read = raw.map(lambda x: False if x is None or x != x or x == "" else parse_boolean(x))
        problems += [
            Problem(table, idx + 1, col, f"{shown(raw[idx])} is not {type_words('bool')}")
            for idx in raw.index[read.isna()]
        ]
        frame = frame.assign(**{col: read.fillna(False).astype(bool)})
    return frame, problems


def _dangling_records(records: pd.DataFrame, links: pd.DataFrame, table: str) -> list[Problem]:
    known = pd.MultiIndex.from_frame(records[["agency", "agency_record_id"]])
    theirs = pd.MultiIndex.from_frame(links[["agency", "agency_record_id"]])
    return [
        Problem(
            table,
            idx + 1,
            "agency_record_id",
            f"{shown(links.at[idx, 'agency_record_id'])} is not a record of agency "
            f"{links.at[idx, 'agency']!r} in agency_records",
        )
        for idx in links.index[~theirs.isin(known)]
    ]


def _dangling_events(links: pd.DataFrame, events: pd.DataFrame) -> list[Problem]:
    agency_of = events.set_index("event_id")["agency"]
    theirs = links["event_id"].map(agency_of)
    problems = [
        Problem(
            "agency_event_records",
            idx + 1,
            "event_id",
            f"{shown(links.at[idx, 'event_id'])} is not an event_id in agency_events",
        )
        for idx in links.index[theirs.isna()]
    ]
    return problems + [
        Problem(
            "agency_event_records",
            idx + 1,
            "agency",
            f"the event is {theirs[idx]!r}'s, not {links.at[idx, 'agency']!r}'s",
        )
        for idx in links.index[theirs.notna() & (theirs != links["agency"])]
    ]


def _parse_dates(table: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """Parse ISO 8601 dates and times (mixed ``2022-01-20`` / ``2022-01-20 09:00``), naming bad cells."""
    frame = frame.copy()
    problems = []
    for col, spec in IDENTITY_SCHEMAS[table].columns.items():
        if "datetime" not in str(spec.dtype) or pd.api.types.is_datetime64_any_dtype(frame[col]):
            continue
        raw = frame[col]
        parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce")
        problems += [
            Problem(
                table,
                idx + 1,
                col,
                f"{shown(raw[idx])} is not a date written YYYY-MM-DD (ISO 8601, a time may follow)",
            )
            for idx in raw.index[raw.notna() & parsed.isna()]
        ]
        frame[col] = parsed
    return frame, problems


def write_identity_tables(
    con: duckdb.DuckDBPyConnection,
    tables: dict[str, pd.DataFrame],
    truth: pd.DataFrame | None = None,
    replace: bool = False,
    named_truth: pd.DataFrame | None = None,
) -> None:
    """Write agency records (and the simulator's truth) inside the caller's transaction.

    Called from :func:`store.write_tables`' ``also`` hook, so the contract
    tables and the identities are committed together or not at all.
    ``named_truth`` (``referral_id``, ``adult_number``, ``person_id``) is the
    simulator's answer to who each named adult is: ``truth`` schema only.
    """
    create_identity_schema(con)
    for table, frame in tables.items():
        columns = list(IDENTITY_SCHEMAS[table].columns)
        if replace:
            con.execute(f"DELETE FROM {table}")
        con.register("_incoming_identities", frame[columns])
        order = ", ".join(SORT_ORDER[table])
        con.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {', '.join(columns)} FROM _incoming_identities ORDER BY {order}"
        )
        con.unregister("_incoming_identities")
    if replace:
        # Links made from earlier records would point at records that are gone.
        con.execute("DELETE FROM person_links")
        con.execute("DELETE FROM possible_matches")
    if truth is not None:
        _write_truth(con, "agency_record_people", TRUTH_IDENTITY_DDL, truth, replace)
    if named_truth is not None:
        _write_truth(
            con, "referral_named_adult_people", TRUTH_NAMED_ADULT_DDL, named_truth, replace
        )


def _write_truth(
    con: duckdb.DuckDBPyConnection, table: str, ddl: str, truth: pd.DataFrame, replace: bool
) -> None:
    """The simulator's answer, in the ``truth`` schema that no feature or model reads."""
    columns = [c.split()[0] for c in ddl.split(",")]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {TRUTH_SCHEMA}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {TRUTH_SCHEMA}.{table} ({ddl})")
    if replace:
        con.execute(f"DELETE FROM {TRUTH_SCHEMA}.{table}")
    con.register("_incoming_truth", truth[columns])
    con.execute(
        f"INSERT INTO {TRUTH_SCHEMA}.{table} SELECT {', '.join(columns)} FROM _incoming_truth"
    )
    con.unregister("_incoming_truth")


IDENTITY_KEYS = {
    "agency_records": ["agency", "agency_record_id"],
    "agency_event_records": ["event_id"],
    "person_records": ["person_id"],
    "referral_named_adults": ["referral_id", "adult_number"],
}


def validate_identity_load(
    con: duckdb.DuckDBPyConnection,
    tables: dict[str, pd.DataFrame],
    new_events: pd.DataFrame | None = None,
    new_referrals: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Check identity extracts against themselves and the store's events, records and referrals.

    An extract may hold only new ``agency_event_records`` for records and
    events already in the store, so references resolve against both.  (Keys
    already in the store are refused by ``store.load``, with the other tables.)

    Raises
    ------
    ContractError
        Naming each table, row, column and problem; nothing is written.
    """
    if not tables:
        return {}
    create_identity_schema(con)
    events = con.execute("SELECT event_id, agency FROM agency_events").df()
    if new_events is not None:
        # An incoming event (a delta's correction) stands for the stored one.
        events = pd.concat([new_events[["event_id", "agency"]], events], ignore_index=True)
        events = events.drop_duplicates("event_id")
    with_stored = dict(tables)
    if {"agency_event_records", "person_records"} & set(tables):
        stored = con.execute("SELECT * FROM agency_records").df()
        incoming = tables.get("agency_records", stored.iloc[:0])
        if len(incoming) and {"agency", "agency_record_id"} <= set(incoming.columns):
            # A delta may re-send or update a stored record: the incoming row stands.
            key = pd.MultiIndex.from_frame(stored[["agency", "agency_record_id"]].astype(str))
            sent = pd.MultiIndex.from_frame(incoming[["agency", "agency_record_id"]].astype(str))
            stored = stored[~key.isin(sent)]
        with_stored["agency_records"] = pd.concat([incoming, stored], ignore_index=True)
    referral_ids = None
    if "referral_named_adults" in tables:
        referral_ids = pd.Index(
            con.execute("SELECT referral_id FROM referrals").df()["referral_id"]
        )
        if new_referrals is not None:
            referral_ids = referral_ids.append(pd.Index(new_referrals["referral_id"]))
    clean = validate_identity_tables(with_stored, events, referral_ids)
    return {t: clean[t].iloc[: len(tables[t])] for t in tables}
