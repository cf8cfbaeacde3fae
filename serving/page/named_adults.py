"""The page's named-adult fields (``templates/named_adults.html.j2``) to and from the API's model.

The referral form carries up to :data:`MAX_ROWS` adults as
``named_adult_<n>_<field>`` query parameters; a row whose name is empty is
no adult (the other fields of an empty row keep their defaults).
"""

from __future__ import annotations

from serving.page.dates import date_from_parts
from serving.schemas import NamedAdultIn

MAX_ROWS = 3
FIELDS = ("name", "date_of_birth", "postcode", "address", "relationship", "lives_at_address")


def _value(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key) or []
    value = values[0].strip() if values else ""
    return value or None


def named_adults_from_query(params: dict[str, list[str]]) -> list[dict]:
    """The adults filled in on the form, as dicts for :class:`~serving.schemas.NamedAdultIn`.

    Rows are read in order.  A date of birth comes as day, month and year
    boxes (:mod:`serving.page.dates`), or as one ISO field; boxes that make
    no date raise :class:`serving.page.dates.DateError` naming the adult.  A row whose text fields are all empty is no
    adult (its menus keep their defaults); a row with a date, postcode or
    address but no name is passed on, so the model refuses it naming the
    adult ("named adult 2: the name is missing").
    """
    adults = []
    for n in range(1, MAX_ROWS + 1):
        prefix = f"named_adult_{n}_"
        row = {f: _value(params, prefix + f) for f in FIELDS}
        row["date_of_birth"] = date_from_parts(
            params, prefix + "date_of_birth", f"Adult {n}'s date of birth"
        )
        typed = any(row[f] for f in ("name", "date_of_birth", "postcode", "address"))
        if not typed:
            continue
        adult = {k: x for k, x in row.items() if x is not None}
        if _value(params, prefix + "date_of_birth_approximate"):
            adult["date_of_birth_approximate"] = True
        adults.append(adult)
    return adults


def named_adults_query(adults: list[NamedAdultIn]) -> dict[str, str]:
    """The query parameters that put ``adults`` back on the form."""
    out: dict[str, str] = {}
    for n, adult in enumerate(adults[:MAX_ROWS], start=1):
        prefix = f"named_adult_{n}_"
        data = adult.model_dump(mode="json")
        for f in FIELDS:
            if data.get(f) is not None:
                out[prefix + f] = str(data[f])
        if adult.date_of_birth_approximate:
            out[prefix + "date_of_birth_approximate"] = "yes"
    return out


def named_adult_params(adults: list[NamedAdultIn]) -> dict[str, list[str]]:
    """``adults`` as the form's values (``{field: [value]}``), to fill the amendment form."""
    return {k: [x] for k, x in named_adults_query(adults).items()}
