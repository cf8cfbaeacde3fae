"""pandera's check failures in words a local authority's data team can act on.

pandera names a failure by its check (``greater_than_or_equal_to(1)``,
``str_matches('^\\d{10}$')``, ``coerce_dtype('Int64')``).  The person fixing
an extract needs to read what is wrong with the cell and what is allowed
instead: "'0' is too small: adult_number must be 1 or more".  Every check
kind the contract uses, and every built-in kind pandera has, is said here;
the check's own parameters (``Check.statistics``) give the limit, the
allowed values or the pattern, so a new check in a schema is worded without
a new rule here.
"""

from __future__ import annotations

import math

import pandera.pandas as pa

# Formats the contract asks for by pattern, said as a person would write them.
PATTERN_WORDS = {
    r"^\d{10}$": "ten digits, such as 9434765919",
    r"^[A-Z]\d{11}[0-9A-Z]$": (
        "a capital letter, 11 digits and a final digit or capital letter, such as A123456789012"
    ),
    r"^\d{2}/\d{1,7}[A-Z]$": (
        "two digits, a slash, up to seven digits and a capital letter, such as 19/123456A"
    ),
}
# How many allowed values are listed before "and N more".
SHOWN_VALUES = 12


def shown(value) -> str:
    """A cell's value in quotes, as the extract wrote it (never ``np.int64(0)``)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    text = str(value)
    return f'"{text}"' if "'" in text else f"'{text}'"


def _number(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def allowed_list(values) -> str:
    """Allowed values as a list to read: "a, b or c"; a long list cut with "and N more"."""
    values = [str(v) for v in values]
    if len(values) > SHOWN_VALUES:
        rest = len(values) - SHOWN_VALUES
        return ", ".join(values[:SHOWN_VALUES]) + f" and {rest} more (see docs/data-contract.md)"
    if len(values) == 1:
        return values[0]
    return ", ".join(values[:-1]) + " or " + values[-1]


def type_words(dtype: str) -> str:
    """What a column of a pandas/pandera dtype holds, in words."""
    d = dtype.lower()
    if "datetime" in d or "date" in d:
        return "a date, written YYYY-MM-DD (ISO 8601)"
    if d.startswith("bool"):
        return "a yes/no value (true/false, yes/no, y/n or 1/0)"
    if d.startswith(("int", "uint")):
        return "a whole number"
    if d.startswith("float"):
        return "a number"
    return "text"


def _range(stats: dict, column: str, value) -> str:
    lo, hi = stats.get("min_value"), stats.get("max_value")
    lo_in, hi_in = stats.get("include_min", True), stats.get("include_max", True)
    low = f"{_number(lo)}" if lo_in else f"more than {_number(lo)}"
    high = f"{_number(hi)}" if hi_in else f"less than {_number(hi)}"
    if lo_in and hi_in:
        return f"{shown(value)} is out of range: {column} must be from {low} to {high}"
    return f"{shown(value)} is out of range: {column} must be {low} and {high}"


def _length(stats: dict, column: str, value) -> str:
    lo, hi, exact = stats.get("min_value"), stats.get("max_value"), stats.get("exact_value")
    if value is None or str(value) == "":
        if lo == 1 and hi is None:
            return f"{column} is empty, but a value is required"
    if exact is not None:
        need = f"exactly {exact} characters long"
    elif lo is not None and hi is not None:
        need = f"from {lo} to {hi} characters long"
    elif lo is not None:
        need = "not empty" if lo == 1 else f"at least {lo} characters long"
    else:
        need = f"at most {hi} characters long"
    return f"{shown(value)} has the wrong length: {column} must be {need}"


def check_words(check: pa.Check | None, name: str, column: str, value) -> str:
    """One failed column check, in words naming the value, the field and what is allowed.

    Parameters
    ----------
    check
        The pandera check that failed, when the schema has it (its
        ``statistics`` carry the limit, values or pattern); ``None`` for
        pandera's built-in checks (type, missing value, uniqueness).
    name
        pandera's name of the failure (``failure_cases.check``), used when
        ``check`` is None.
    column, value
        The field and the cell's value as the extract wrote it.
    """
    kind = check.name if check is not None else name.split("(", 1)[0]
    stats = dict(check.statistics or {}) if check is not None else {}
    said = {
        "greater_than_or_equal_to": lambda: (
            f"{shown(value)} is too small: {column} must be {_number(stats['min_value'])} or more"
        ),
        "greater_than": lambda: (
            f"{shown(value)} is too small: {column} must be more than {_number(stats['min_value'])}"
        ),
        "less_than_or_equal_to": lambda: (
            f"{shown(value)} is too large: {column} must be {_number(stats['max_value'])} or less"
        ),
        "less_than": lambda: (
            f"{shown(value)} is too large: {column} must be less than {_number(stats['max_value'])}"
        ),
        "in_range": lambda: _range(stats, column, value),
        "equal_to": lambda: f"{shown(value)} is not allowed: {column} must be {stats['value']}",
        "not_equal_to": lambda: f"{shown(value)} is not allowed in {column}",
        "isin": lambda: (
            f"{shown(value)} is not one of the allowed values of {column}: "
            f"{allowed_list(stats['allowed_values'])}"
        ),
        "notin": lambda: f"{shown(value)} is not allowed in {column}",
        "str_matches": lambda: (
            f"{shown(value)} is not written as {column} should be: "
            + PATTERN_WORDS.get(stats["pattern"], "in the form docs/data-contract.md gives")
        ),
        "str_contains": lambda: (
            f"{shown(value)} is not written as {column} should be (see docs/data-contract.md)"
        ),
        "str_startswith": lambda: f"{shown(value)} must begin with {stats['string']!r}",
        "str_endswith": lambda: f"{shown(value)} must end with {stats['string']!r}",
        "str_length": lambda: _length(stats, column, value),
        "unique_values_eq": lambda: (
            f"{column} must hold exactly the values {allowed_list(sorted(stats['values']))}"
        ),
        "not_nullable": lambda: f"{column} is empty, but a value is required",
        "field_uniqueness": lambda: (
            f"duplicate key {shown(value)}: the same {column} is on more than one row"
        ),
        "multiple_fields_uniqueness": lambda: (
            f"duplicate key {shown(value)}: the same {column} is on more than one row"
        ),
        "column_in_dataframe": lambda: "required column is missing",
        "column_in_schema": lambda: "column is not part of the data contract",
        "coerce_dtype": lambda: f"{shown(value)} is not {type_words(_dtype(name))}",
        "dtype": lambda: f"{shown(value)} is not {type_words(_dtype(name))}",
    }
    try:
        return said[kind]()
    except (KeyError, TypeError):
        return f"{shown(value)} is not an allowed value of {column} (see docs/data-contract.md)"


def _dtype(name: str) -> str:
    """``coerce_dtype('Int64')`` -> ``Int64``."""
    return name.split("(", 1)[-1].rstrip(")").strip("'\"")


def failure_words(schema: pa.DataFrameSchema, case) -> str | None:
    """A row of pandera's ``failure_cases`` in words; ``None`` for one not to report.

    pandera runs a column's checks even when its values could not be read
    (coerced) at all, and reports the comparison's ``TypeError`` with no
    row; that follows from a cell already named as unreadable, so it is
    dropped rather than shown to the person as library text.
    """
    column = case.column if isinstance(case.column, str) else None
    spec = schema.columns.get(column) if column else None
    check = None
    number = case.check_number
    if spec is not None and number is not None and number == number:
        checks = list(spec.checks)
        if 0 <= int(number) < len(checks):
            check = checks[int(number)]
    if _is_exception(case.failure_case) and (case.index is None or case.index != case.index):
        return None
    return check_words(check, str(case.check), column or "the row", case.failure_case)


def _is_exception(value) -> bool:
    text = str(value)
    return text.startswith(("TypeError(", "ValueError(", "AttributeError("))
