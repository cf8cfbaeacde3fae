"""Table contracts for the multi-agency extracts, enforced with pandera.

A local authority maps its extracts into these tables.  Column checks live in
the pandera schemas; checks that span tables (a ``person_id`` that points at
nobody, an event recorded before it happened) live in :func:`validate_tables`,
which gathers *every* problem before anything is written, so a malformed
extract is rejected whole with one report.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from store import codes
from store import vocabulary as v
from store.wording import failure_words, shown

_ID = pa.Column(str, nullable=False, coerce=True)


def _category(values, nullable: bool = False) -> pa.Column:
    return pa.Column(str, pa.Check.isin(list(values)), nullable=nullable, coerce=True)


def _timestamp(nullable: bool = False) -> pa.Column:
    return pa.Column("datetime64[us]", nullable=nullable, coerce=True)


# --- Statutory-trigger facts on a referral (optional; see records/statutory.py) ---
# What the statutory triggers read that the concern categories do not say.  All
# optional and nullable: an extract without them still loads, and a missing
# value means "not said", never "no".
STATUTORY_REFERRAL_COLUMNS: dict[str, pa.Column] = {
    # An allegation or sign of physical injury (bruising, marks, fractures).
    "injury_alleged": pa.Column("boolean", nullable=True, coerce=True),
    # Who holds photographs or other images of the injury, if anyone is known to.
    "images_held_by": _category(v.IMAGE_HOLDERS, nullable=True),
    # A child on the referral is not independently mobile (besides any under 6 months).
    "non_mobile_child": pa.Column("boolean", nullable=True, coerce=True),
}


def _read_statutory_booleans(frame: pd.DataFrame) -> None:
    """Read the statutory yes/no columns' usual spellings in place; pandera names anything else.

    The spellings are the contract's own (:func:`parse_boolean`); these
    columns differ only in that a blank means "not said", so they stay nullable.
    """

    def read(x):
        parsed = parse_boolean(x) if isinstance(x, str) else None
        return x if parsed is None else parsed

    for col, spec in STATUTORY_REFERRAL_COLUMNS.items():
        if str(spec.dtype) == "boolean" and not pd.api.types.is_bool_dtype(frame[col]):
            frame[col] = frame[col].map(read)


# --- end of statutory-trigger facts ---

SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "people": pa.DataFrameSchema(
        {
            "person_id": pa.Column(str, unique=True, coerce=True),
            "date_of_birth": _timestamp(),
            "sex": _category(v.SEXES),
            "ethnicity": _category(v.ETHNICITIES),
            "disability": _category(v.DISABILITIES),
            # The value as the extract wrote it (a DfE code, an ONS label), kept
            # for audits at the detailed level; the column above holds its group.
            "sex_detail": pa.Column(str, nullable=True, coerce=True),
            "ethnicity_detail": pa.Column(str, nullable=True, coerce=True),
            "disability_detail": pa.Column(str, nullable=True, coerce=True),
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
            **STATUTORY_REFERRAL_COLUMNS,
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
    "people": ("sex_detail", "ethnicity_detail", "disability_detail"),
    "household_members": ("end_date", "end_recorded_at"),
    "referrals": tuple(STATUTORY_REFERRAL_COLUMNS),
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
    A report to a person numbers rows as the file does (:meth:`where`).
    """

    table: str
    row: int | None
    column: str | None
    problem: str

    def where(self, files: dict[str, str] | None = None) -> str:
        """The file (or table), row and column, as the person fixing the file finds them.

        With ``files`` (table -> file name), a CSV's rows are numbered as a
        spreadsheet shows the file, the header being row 1; a Parquet file's
        as its data rows.
        """
        name = (files or {}).get(self.table)
        where = name or self.table
        if self.row is not None:
            where += f", row {file_row(name, self.row)}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return where

    def __str__(self) -> str:
        return f"{self.where()}: {self.problem}"


def file_row(file_name: str | None, row: int) -> int:
    """A 1-based data row as the file numbers it: a CSV's header is row 1."""
    return row + 1 if file_name and file_name.lower().endswith(".csv") else row


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def summarise(problems: list[Problem], files: dict[str, str] | None = None) -> list[str]:
    """One line per (table, column, kind of problem): count, first rows, an example value.

    A 50 MB file with one bad date format can hold a million bad cells; the
    summary says so in a line each, before any single row is listed.  The kind
    is the problem's text with its quoted value taken out.
    """
    files = files or {}
    groups: dict[tuple, list[Problem]] = defaultdict(list)
    for p in problems:
        groups[(p.table, p.column, _QUOTED.sub("…", p.problem))].append(p)
    lines = []
    for (table, column, kind), found in groups.items():
        rows = [file_row(files.get(table), p.row) for p in found if p.row is not None]
        where = files.get(table, table) + (f", column {column!r}" if column is not None else "")
        text = f"{where}: {kind}" + (f" — {len(found):,} time(s)" if rows else "")
        if rows:
            first = ", ".join(str(r) for r in rows[:5])
            text += f"; first row(s) {first}{', ...' if len(rows) > 5 else ''}"
        example = _QUOTED.search(found[0].problem)
        if example:
            text += f"; e.g. {example.group(0)}"
        lines.append(text)
    return lines


class ContractError(ValueError):
    """An extract breaks the data contract; ``problems`` lists every breach.

    The message opens with a summary per table, column and kind of problem,
    then lists the first 50 problems one by one.  Given ``files`` (table ->
    file name), it names the files and numbers rows as they do.
    """

    def __init__(self, problems: list[Problem], files: dict[str, str] | None = None):
        self.problems = problems
        self.files = dict(files or {})
        summary = "\n".join(f"  * {line}" for line in summarise(problems, self.files))
        shown = "\n".join(f"  - {p.where(self.files)}: {p.problem}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50:,} more" if len(problems) > 50 else ""
        numbering = (
            "Rows are numbered as a spreadsheet shows each CSV file (the header is row 1).\n"
            if any(f.lower().endswith(".csv") for f in self.files.values())
            else ""
        )
        super().__init__(
            f"The extract breaks the MAST data contract ({len(problems):,} problem(s)); "
            f"nothing was written.\n{numbering}Summary:\n{summary}\n"
            f"First problems:\n{shown}{more}"
        )


def schema_failures(
    table: str, schema: pa.DataFrameSchema, err: pa.errors.SchemaErrors
) -> list[Problem]:
    """pandera's failures as :class:`Problem` s in words (:mod:`store.wording`), one per cell.

    A key of several columns that repeats is one problem per row naming all
    its columns, not one per column.  A failure pandera could not even
    evaluate (a comparison on values that were never read) is reported only
    when nothing else names its column, so the extract is never accepted
    silently and never shown library text.
    """
    problems: list[Problem] = []
    unevaluated: dict[str | None, Problem] = {}
    keys: dict[int | None, list] = defaultdict(list)
    for case in err.failure_cases.itertuples(index=False):
        if str(case.check) == "multiple_fields_uniqueness":
            keys[_row(case.index)].append(case.failure_case)
            continue
        words = failure_words(schema, case)
        column = case.column if isinstance(case.column, str) else None
        if words is None:
            unevaluated.setdefault(
                column,
                Problem(table, None, column, "values that could not be read could not be checked"),
            )
            continue
        problems.append(Problem(table, _row(case.index), column, words))
    columns = ", ".join(schema.unique or ())
    together = " and ".join(schema.unique or ())
    for row, values in keys.items():
        key = ", ".join(shown(v) for v in values)
        problems.append(
            Problem(
                table,
                row,
                columns,
                f"duplicate key {key}: the same {together} are on more than one row",
            )
        )
    named = {p.column for p in problems}
    return problems + [p for c, p in unevaluated.items() if c not in named]


def _row(index_value) -> int | None:
    try:
        return int(index_value) + 1
    except (TypeError, ValueError):
        return None


def _schema_problems(
    table: str, frame: pd.DataFrame, date_format: str = "iso"
) -> tuple[pd.DataFrame | None, list[Problem]]:
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
    # Cells read here (dates, booleans, codes) are named here; pandera then
    # sees them as missing, which is not reported a second time.
    parsed = _parse_timestamps(table, frame, date_format) + _parse_booleans(table, frame)
    if table == "people":
        parsed += _map_codes(frame)
    if table == "referrals":
        _read_statutory_booleans(frame)
    problems += parsed
    try:
        validated = schema.validate(frame, lazy=True)
        return (None if problems else validated), problems
    except pa.errors.SchemaErrors as err:
        problems += schema_failures(table, schema, err)
        # A cell that failed to parse is then also "missing": report it once.
        unparsed = {(p.row, p.column) for p in parsed}
        unparsed_columns = {p.column for p in parsed if p.row is None}
        problems = parsed + [
            p
            for p in problems[len(parsed) :]
            if (p.row, p.column) not in unparsed and p.column not in unparsed_columns
        ]
        return None, problems


_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def parse_boolean(value) -> bool | None:
    """``True``/``False`` from the usual spellings, any case; ``None`` if it is none of them."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _parse_booleans(table: str, frame: pd.DataFrame) -> list[Problem]:
    """Parse boolean columns in place: true/false, t/f, yes/no, y/n, 1/0 (and 1.0/0.0).

    pandas would coerce any non-empty string (even ``"False"``) to ``True``,
    so every spelling is read here and anything else is named.
    """
    problems = []
    for col, spec in SCHEMAS[table].columns.items():
        if str(spec.dtype) != "bool" or pd.api.types.is_bool_dtype(frame[col]):
            continue
        raw = frame[col]
        lookup = {u: parse_boolean(u) for u in raw.dropna().unique()}
        parsed = raw.map(lookup)
        for idx in raw.index[raw.notna() & parsed.isna()]:
            problems.append(
                Problem(
                    table,
                    _row(idx),
                    col,
                    f"{raw[idx]!r} is not a yes/no value (true/false, t/f, yes/no, y/n or 1/0)",
                )
            )
        frame[col] = parsed
    return problems


def _map_codes(frame: pd.DataFrame) -> list[Problem]:
    """Map DfE codes and ONS labels to the contract's groups, keeping the value as given.

    The detail column (``ethnicity_detail`` ...) keeps what the extract wrote,
    unless the extract supplies the detail column itself (an export of a store).
    """
    problems = []
    for col, grouper in codes.GROUPERS.items():
        raw = frame[col]
        detail = f"{col}_detail"
        if frame[detail].isna().all():
            frame[detail] = raw.where(raw.isna(), raw.astype(str).str.strip())
        lookup = {u: grouper(u) for u in raw.dropna().unique()}
        grouped = raw.map(lookup)
        for idx in raw.index[raw.notna() & grouped.isna()]:
            problems.append(
                Problem(
                    "people",
                    _row(idx),
                    col,
                    f"unknown category {raw[idx]!r} (accepted: {codes.HINTS[col]})",
                )
            )
        frame[col] = grouped
    return problems


DATE_FORMATS = ("iso", "dayfirst")
_SLASHED = re.compile(r"^\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}")
_DAYFIRST = tuple(
    f"%d{sep}%m{sep}%Y{time}"
    for sep in "/-."
    for time in ("", " %H:%M", " %H:%M:%S", " %H:%M:%S.%f")
)


def parse_datetimes(raw: pd.Series, date_format: str = "iso") -> pd.Series:
    """Read a column of dates/times as ISO 8601 (and, if ``dayfirst``, UK ``dd/mm/yyyy``).

    A cell that is none of these is ``NaT``; callers name it.
    """
    if pd.api.types.is_datetime64_any_dtype(raw):
        return raw
    if raw.dtype == object:
        raw = raw.where(raw.isna(), raw.astype(str).str.strip())
    parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce")
    bad = raw.notna() & parsed.isna()
    if bad.any() and date_format == "dayfirst":
        for fmt in _DAYFIRST:
            parsed[bad] = pd.to_datetime(raw[bad], format=fmt, errors="coerce")
            bad = raw.notna() & parsed.isna()
            if not bad.any():
                break
    return parsed


def _parse_timestamps(table: str, frame: pd.DataFrame, date_format: str = "iso") -> list[Problem]:
    """Parse date/time columns in place, naming what cannot be read.

    Extracts mix ``2022-01-20`` and ``2022-01-20 09:00:00`` freely; pandas
    would infer one format from the first cell and reject the rest, so each
    cell is read as ISO 8601.  With ``date_format="dayfirst"`` a cell that is
    not ISO is read as a UK date (``dd/mm/yyyy``, optionally with a time).
    Without it, a column written ``03/04/2022`` is one problem naming the
    column (the format is ambiguous), not one problem per cell.
    """
    if date_format not in DATE_FORMATS:
        raise ValueError(f"date_format must be one of {DATE_FORMATS}, not {date_format!r}")
    problems = []
    for col, spec in SCHEMAS[table].columns.items():
        if "datetime" not in str(spec.dtype) or pd.api.types.is_datetime64_any_dtype(frame[col]):
            continue
        raw = frame[col]
        parsed = parse_datetimes(raw, date_format)
        bad = raw.notna() & parsed.isna()
        frame[col] = parsed
        if not bad.any():
            continue
        failed = raw[bad].astype(str).str.strip()
        slashed = failed.str.match(_SLASHED)
        if date_format == "iso" and slashed.mean() >= 0.5:
            problems.append(
                Problem(
                    table,
                    None,
                    col,
                    f"{int(slashed.sum()):,} date(s) written like "
                    f"{failed[slashed].iloc[0]!r}, which could be day-first (UK) or month-first: "
                    "give --date-format dayfirst for UK dates, or write ISO 8601 (YYYY-MM-DD)",
                )
            )
            failed = failed[~slashed]
            # The extract is refused already; a placeholder keeps pandera from
            # collecting a "missing value" for each of a million unread cells.
            frame[col] = parsed.fillna(pd.Timestamp(0))
        expected = "a date written YYYY-MM-DD (ISO 8601, a time may follow)" + (
            " or dd/mm/yyyy" if date_format == "dayfirst" else ""
        )
        for idx, value in failed.items():
            problems.append(Problem(table, _row(idx), col, f"{shown(value)} is not {expected}"))
    return problems


def validate_tables(
    tables: dict[str, pd.DataFrame],
    existing_keys: dict[tuple[str, str], set] | None = None,
    date_format: str = "iso",
    progress=None,
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
    date_format
        ``"iso"`` (ISO 8601 only) or ``"dayfirst"`` (also UK ``dd/mm/yyyy``).
    progress
        Optional ``progress(step, completed, total)``, told of each table checked.

    Raises
    ------
    ContractError
        With every problem found, when any is found.
    """
    unknown = sorted(set(tables) - set(SCHEMAS))
    problems = [Problem(t, None, None, "unknown table") for t in unknown]
    clean: dict[str, pd.DataFrame] = {}
    for i, (table, frame) in enumerate(tables.items()):
        if progress:
            progress("Checking the contract", i, len(tables) + 1)
        if table in SCHEMAS:
            validated, found = _schema_problems(table, frame.reset_index(drop=True), date_format)
            problems += found
            if validated is not None:
                clean[table] = validated[list(SCHEMAS[table].columns)]
    problems += _cross_table_problems(clean, set(tables), existing_keys or {})
    if progress:
        progress("Checking the contract", len(tables) + 1, len(tables) + 1)
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
                    f"{shown(clean[child].at[idx, col])} is not a {pcol} in {parent}, neither in "
                    "this extract nor already in the store",
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
        # Vectorised: a 50 MB events file has half a million rows.
        allowed = [f"{a}\x1f{t}" for a, types in v.EVENT_TYPES.items() for t in types]
        pairs = events["agency"].astype(str) + "\x1f" + events["event_type"].astype(str)
        for idx in events.index[~pairs.isin(allowed)]:
            agency, event_type = events.at[idx, "agency"], events.at[idx, "event_type"]
            problems.append(
                Problem(
                    "agency_events",
                    _row(idx),
                    "event_type",
                    f"{event_type!r} is not an event type of agency {agency!r}",
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
    if referrals is not None and (
        "referral_children" in clean or "referral_children" not in supplied
    ):
        problems += _childless_referrals(clean, existing_keys)
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


def _childless_referrals(
    clean: dict[str, pd.DataFrame], existing_keys: dict[tuple[str, str], set]
) -> list[Problem]:
    """A referral that names no child gets no feature row: name it rather than store it silently.

    Children in the extract and children already stored for the referral
    (``existing_keys[("referral_children", "referral_id")]``) both count.
    """
    children = clean.get("referral_children")
    named = set() if children is None else set(children["referral_id"])
    named |= set(existing_keys.get(("referral_children", "referral_id"), set()))
    referrals = clean["referrals"]
    lonely = ~referrals["referral_id"].isin(named)
    return [
        Problem(
            "referrals",
            _row(idx),
            "referral_id",
            f"referral {referrals.at[idx, 'referral_id']!r} names no child in referral_children",
        )
        for idx in referrals.index[lonely]
    ]


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
