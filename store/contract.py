"""Table contracts for the multi-agency extracts, enforced with pandera.

A local authority maps its extracts into these tables.  Column checks live in
the pandera schemas; checks that span tables (a ``person_id`` that points at
nobody, an event recorded before it happened) live in :func:`validate_tables`,
which gathers *every* problem before anything is written, so a malformed
extract is rejected whole with one report.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from store import vocabulary as v

_ID = pa.Column(str, nullable=False, coerce=True)


def _category(values, nullable: bool = False) -> pa.Column:
    return pa.Column(str, pa.Check.isin(list(values)), nullable=nullable, coerce=True)


def _timestamp(nullable: bool = False) -> pa.Column:
    return pa.Column("datetime64[us]", nullable=nullable, coerce=True)


SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "people": pa.DataFrameSchema(
        {
            "person_id": pa.Column(str, unique=True, coerce=True),
            "date_of_birth": _timestamp(),
            "sex": _category(v.SEXES),
            "ethnicity": _category(v.ETHNICITIES),
            "disability": _category(v.DISABILITIES),
        },
        name="people",
        strict="filter",
    ),
    "households": pa.DataFrameSchema(
        {
            "household_id": pa.Column(str, unique=True, coerce=True),
            # 1 = most deprived tenth of small areas in England; null = not recorded.
            "imd_decile": pa.Column("Int64", pa.Check.in_range(1, 10), nullable=True, coerce=True),
            "local_authority": pa.Column(str, coerce=True),
        },
        name="households",
        strict="filter",
    ),
    "household_members": pa.DataFrameSchema(
        {
            "person_id": _ID,
            "household_id": _ID,
            "role": _category(v.HOUSEHOLD_ROLES),
            "start_date": _timestamp(),
            "end_date": _timestamp(nullable=True),
            # When the local authority learnt of the move in (or out).  Point-in-time
            # features only see a membership after it was recorded.
            "recorded_at": _timestamp(),
            "end_recorded_at": _timestamp(nullable=True),
        },
        name="household_members",
        strict="filter",
        unique=["person_id", "household_id", "start_date"],
    ),
    "referrals": pa.DataFrameSchema(
        {
            "referral_id": pa.Column(str, unique=True, coerce=True),
            "received_at": _timestamp(),
            "source": _category(v.REFERRAL_SOURCES),
            "referrer_relationship": _category(v.REFERRER_RELATIONSHIPS),
            **{c: pa.Column(bool, coerce=True) for c in v.CONCERN_COLUMNS},
        },
        name="referrals",
        strict="filter",
    ),
    "referral_children": pa.DataFrameSchema(
        {"referral_id": _ID, "person_id": _ID},
        name="referral_children",
        strict="filter",
        unique=["referral_id", "person_id"],
    ),
    "screening_decisions": pa.DataFrameSchema(
        {
            "referral_id": pa.Column(str, unique=True, coerce=True),
            "decided_at": _timestamp(),
            "decision": _category(v.DECISIONS),
            "closure_reason": _category(v.CLOSURE_REASONS, nullable=True),
        },
        name="screening_decisions",
        strict="filter",
    ),
    "agency_events": pa.DataFrameSchema(
        {
            "event_id": pa.Column(str, unique=True, coerce=True),
            "person_id": _ID,
            "agency": _category(v.AGENCIES),
            "event_type": _category(v.ALL_EVENT_TYPES),
            "occurred_at": _timestamp(),
            "recorded_at": _timestamp(),
            "role": _category(v.EVENT_ROLES, nullable=True),
            "severity": pa.Column(
                "Int64", pa.Check.isin(list(v.SEVERITIES)), nullable=True, coerce=True
            ),
        },
        name="agency_events",
        strict="filter",
    ),
}

TABLES: tuple[str, ...] = tuple(SCHEMAS)

# Columns that may be absent from an extract (they are filled with nulls).
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "household_members": ("end_date", "end_recorded_at"),
    "screening_decisions": ("closure_reason",),
    "agency_events": ("role", "severity"),
}

# (child table, column) -> (parent table, column): every reference must resolve.
REFERENCES: tuple[tuple[str, str, str, str], ...] = (
    ("household_members", "person_id", "people", "person_id"),
    ("household_members", "household_id", "households", "household_id"),
    ("referral_children", "referral_id", "referrals", "referral_id"),
    ("referral_children", "person_id", "people", "person_id"),
    ("screening_decisions", "referral_id", "referrals", "referral_id"),
    ("agency_events", "person_id", "people", "person_id"),
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an extract.

    ``row`` is the 1-based data row in the extract file (the header is not
    counted), or ``None`` when the problem concerns a whole table or column.
    """

    table: str
    row: int | None
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = self.table
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.problem}"


class ContractError(ValueError):
    """An extract breaks the data contract; ``problems`` lists every breach."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(
            f"The extract breaks the MAST data contract ({len(problems)} problem(s)); "
            f"nothing was written:\n{shown}{more}"
        )


def _row(index_value) -> int | None:
    try:
        return int(index_value) + 1
    except (TypeError, ValueError):
        return None


def _schema_problems(table: str, frame: pd.DataFrame) -> tuple[pd.DataFrame | None, list[Problem]]:
    schema = SCHEMAS[table]
    problems = [
        Problem(table, None, col, "required column is missing")
        for col in schema.columns
        if col not in frame.columns and col not in OPTIONAL_COLUMNS.get(table, ())
    ]
    if problems:
        return None, problems
    frame = frame.copy()
    for col in OPTIONAL_COLUMNS.get(table, ()):
        if col not in frame.columns:
            frame[col] = None
    problems += _parse_timestamps(table, frame)
    try:
        validated = schema.validate(frame, lazy=True)
        return (None if problems else validated), problems
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        for case in cases.itertuples(index=False):
            check = str(case.check)
            value = case.failure_case
            if check.startswith("isin"):
                msg = f"unknown category {value!r}"
            elif check.startswith("coerce_dtype") or check.startswith("dtype"):
                msg = f"wrong type: {value!r} is not {check.split('(', 1)[-1].rstrip(')')}"
            elif check == "not_nullable":
                msg = "missing value where one is required"
            elif check in ("field_uniqueness", "multiple_fields_uniqueness"):
                msg = f"duplicate key {value!r}"
            elif check.startswith("in_range"):
                msg = f"value {value!r} is out of range {check.split('(', 1)[-1].rstrip(')')}"
            elif check == "column_in_dataframe":
                msg = "required column is missing"
            else:
                msg = f"fails check {check}: {value!r}"
            problems.append(Problem(table, _row(case.index), case.column, msg))
        # A cell that failed to parse is then also "missing": report it once.
        unparsed = {(p.row, p.column) for p in problems if "ISO 8601" in p.problem}
        problems = [
            p for p in problems if "ISO 8601" in p.problem or (p.row, p.column) not in unparsed
        ]
        return None, problems


def _parse_timestamps(table: str, frame: pd.DataFrame) -> list[Problem]:
    """Parse date/time columns as ISO 8601 in place, naming every cell that is not one.

    Extracts mix ``2022-01-20`` and ``2022-01-20 09:00:00`` freely; pandas
    would infer one format from the first cell and reject the rest.
    """
    problems = []
    for col, spec in SCHEMAS[table].columns.items():
        if "datetime" not in str(spec.dtype) or pd.api.types.is_datetime64_any_dtype(frame[col]):
            continue
        raw = frame[col]
        parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce")
        for idx in raw.index[raw.notna() & parsed.isna()]:
            problems.append(
                Problem(
                    table, _row(idx), col, f"wrong type: {raw[idx]!r} is not an ISO 8601 date/time"
                )
            )
        frame[col] = parsed
    return problems


def validate_tables(
    tables: dict[str, pd.DataFrame],
    existing_keys: dict[tuple[str, str], set] | None = None,
) -> dict[str, pd.DataFrame]:
    """Validate extracts against the contract and return them coerced.

    Parameters
    ----------
    tables
        Table name to frame.  Tables may be omitted (a partial extract), but a
        reference must then resolve against ``existing_keys``.
    existing_keys
        Keys already in the store, as ``{(table, column): set_of_values}``, so an
        extract of new referrals can refer to people loaded earlier.

    Raises
    ------
    ContractError
        With every problem found, when any is found.
    """
    unknown = sorted(set(tables) - set(SCHEMAS))
    problems = [Problem(t, None, None, "unknown table") for t in unknown]
    clean: dict[str, pd.DataFrame] = {}
    for table, frame in tables.items():
        if table in SCHEMAS:
            validated, found = _schema_problems(table, frame.reset_index(drop=True))
            problems += found
            if validated is not None:
                clean[table] = validated[list(SCHEMAS[table].columns)]
    problems += _cross_table_problems(clean, set(tables), existing_keys or {})
    if problems:
        # pandera can report one bad cell under two checks (dtype and coercion).
        raise ContractError(list(dict.fromkeys(problems)))
    return clean


def _cross_table_problems(
    clean: dict[str, pd.DataFrame], supplied: set[str], existing_keys: dict[tuple[str, str], set]
) -> list[Problem]:
    problems: list[Problem] = []
    for child, col, parent, pcol in REFERENCES:
        if child not in clean or (parent in supplied and parent not in clean):
            # A parent table that failed its own checks cannot judge references
            # to it; its problems are already reported.
            continue
        known = set(existing_keys.get((parent, pcol), set()))
        if parent in clean:
            known |= set(clean[parent][pcol])
        dangling = ~clean[child][col].isin(known)
        for idx in clean[child].index[dangling]:
            problems.append(
                Problem(
                    child,
                    _row(idx),
                    col,
                    f"dangling reference {clean[child].at[idx, col]!r}: no such {pcol} in {parent}",
                )
            )
    events = clean.get("agency_events")
    if events is not None:
        late = events["recorded_at"] < events["occurred_at"]
        for idx in events.index[late]:
            problems.append(
                Problem(
                    "agency_events",
                    _row(idx),
                    "recorded_at",
                    "recorded_at is earlier than occurred_at",
                )
            )
        allowed = {(a, t) for a, types in v.EVENT_TYPES.items() for t in types}
        pairs = list(zip(events["agency"], events["event_type"], strict=True))
        for idx, pair in zip(events.index, pairs, strict=True):
            if pair not in allowed:
                problems.append(
                    Problem(
                        "agency_events",
                        _row(idx),
                        "event_type",
                        f"{pair[1]!r} is not an event type of agency {pair[0]!r}",
                    )
                )
    members = clean.get("household_members")
    if members is not None:
        bad = members["end_date"].notna() & (members["end_date"] < members["start_date"])
        for idx in members.index[bad]:
            problems.append(
                Problem(
                    "household_members",
                    _row(idx),
                    "end_date",
                    "end_date is earlier than start_date",
                )
            )
    referrals = clean.get("referrals")
    if referrals is not None:
        none = ~referrals[list(v.CONCERN_COLUMNS)].any(axis=1)
        for idx in referrals.index[none]:
            problems.append(
                Problem(
                    "referrals", _row(idx), None, "a referral needs at least one concern category"
                )
            )
    problems += adult_referral_children(clean)
    return problems


ADULT_AGE_YEARS = 18


def adult_referral_children(clean: dict[str, pd.DataFrame]) -> list[Problem]:
    """Rows of ``referral_children`` naming someone aged 18 or over when the referral was received.

    MAST screens referrals about children: a referral "child" who was an
    adult on ``received_at`` is refused, naming the row, so the store never
    holds a referral the service would refuse to score.  "18 or over" is
    the features' own rule: on or after the 18th birthday (date of birth
    plus 18 years, 29 February giving 28 February).  Checked where the
    extract carries ``people``, ``referrals`` and ``referral_children``
    together.
    """
    links, people, referrals = (clean.get(t) for t in ("referral_children", "people", "referrals"))
    if links is None or people is None or referrals is None:
        return []
    born = people.drop_duplicates("person_id").set_index("person_id")["date_of_birth"]
    received = referrals.drop_duplicates("referral_id").set_index("referral_id")["received_at"]
    adult_at = links["person_id"].map(born) + pd.DateOffset(years=ADULT_AGE_YEARS)
    on = links["referral_id"].map(received)
    adult = adult_at.notna() & on.notna() & (adult_at <= on)
    return [
        Problem(
            "referral_children",
            _row(idx),
            "person_id",
            f"{links.at[idx, 'person_id']!r} was {ADULT_AGE_YEARS} or over when referral "
            f"{links.at[idx, 'referral_id']!r} was received ({on[idx].date().isoformat()}): "
            "MAST screens referrals about children",
        )
        for idx in links.index[adult]
    ]
