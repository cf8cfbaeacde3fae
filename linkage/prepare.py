"""Agency records made comparable: one spelling of each field before Splink sees them.

Only formatting is normalised (case, accents, spacing, punctuation).  Nothing
here knows the simulator's error model: a nickname or a transposed date stays
as the agency typed it, for the comparisons to weigh.
"""

from __future__ import annotations

import unicodedata

import duckdb
import pandas as pd

from store.identities import IDENTIFYING_FIELDS

# The columns Splink reads.  ``unique_id`` is ``agency:agency_record_id``;
# ``full_name`` and ``dob_text`` are derived for the name and date comparisons.
LINKAGE_COLUMNS = (
    "unique_id",
    "agency",
    "agency_record_id",
    *IDENTIFYING_FIELDS,
    "full_name",
    "dob_text",
)


def fold_accents(text: str) -> str:
    """ASCII-fold a name as a system that cannot store accents does (``Łukasz`` -> ``Lukasz``)."""
    text = text.replace("ł", "l").replace("Ł", "L").replace("ı", "i").replace("İ", "I")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def fold_name(text: str | None) -> str | None:
    """Lower case, accents folded to ASCII, letters, hyphens and spaces only."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return None
    text = fold_accents(text)
    text = "".join(c if c.isalpha() or c in " -" else "" for c in text.lower())
    text = " ".join(text.replace("-", " ").split())
    return text or None


def prepare_records(records: pd.DataFrame) -> pd.DataFrame:
    """Normalise ``agency_records`` for linkage.

    Parameters
    ----------
    records
        Rows of the contract's ``agency_records`` table.

    Returns
    -------
    DataFrame
        :data:`LINKAGE_COLUMNS`, with empty strings and ``Not recorded`` as nulls.
    """
    out = pd.DataFrame(
        {
            "unique_id": records["agency"] + ":" + records["agency_record_id"],
            "agency": records["agency"],
            "agency_record_id": records["agency_record_id"],
        }
    )
    given = records["given_name"].map(fold_name, na_action="ignore")
    family = records["family_name"].map(fold_name, na_action="ignore")
    out["given_name"] = given
    out["family_name"] = family
    out["full_name"] = (given + " " + family).where(given.notna() & family.notna())
    dob = pd.to_datetime(records["date_of_birth"])
    out["date_of_birth"] = dob.dt.date
    out["dob_text"] = dob.dt.strftime("%Y-%m-%d")
    out["sex"] = records["sex"].where(records["sex"].isin(["Female", "Male"]))
    postcode = records["postcode"].str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
    out["postcode"] = (postcode.str[:-3] + " " + postcode.str[-3:]).where(postcode.str.len() >= 5)
    address = records["address"].str.lower().str.replace(r"[^a-z0-9 ]", "", regex=True)
    out["address"] = address.str.split().str.join(" ").replace("", None)
    for col in ("nhs_number", "upn", "pnc_id"):
        value = records[col].astype("string").str.replace(" ", "").str.upper()
        out[col] = value.where(value.str.len() > 0)
    out = out.astype(object).where(out.notna(), None)
    return out[list(LINKAGE_COLUMNS)].reset_index(drop=True)


def read_records(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The store's agency records, prepared; a clear error when there are none."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = 'agency_records'"
    ).fetchone()[0]
    if not exists or con.execute("SELECT count(*) FROM agency_records").fetchone()[0] == 0:
        raise LookupError(
            "The store holds no agency records to link (contract 1.1 `agency_records`). "
            "Simulate some with `mast simulate --agency-identities`."
        )
    records = con.execute("SELECT * FROM agency_records ORDER BY agency, agency_record_id").df()
    return prepare_records(records)
