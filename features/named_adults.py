"""The named-adult group (issue #20): what the engines read about the adults a referrer names.

The family is declared in :mod:`features.definitions` (the ``Membership``
"named_adults", source "named", and ``NAMED_ADULT_SPECS``) and computed by
every engine from that declaration (``features.sql.named_ctes``,
``features.ondemand._named``), as household adults are.  This module only
says where the engines read who each named adult is: the store's
``referral_named_adults`` and what ``mast link`` found of them
(``named_adult_links``, :func:`linkage.named.write_named_adult_links`),
as a temporary view.

Three cases are kept apart, because silence is not safety:

* a referral naming no adult: the counts are 0 (there is no one to count);
* adults named but MAST could not search (the store was never linked, or
  the last ``mast link`` did not resolve them): every value is missing
  (unknown), never 0;
* an adult named and not found (or only a possible match): counted in
  ``named_adults_not_found``, which is shown but is no model input
  (``excluded_why``), and adds nothing to the counters.
"""

from __future__ import annotations

import duckdb

from features.sql import NAMED_ADULTS_VIEW, NOT_SEARCHED
from store.identities import has_table

# What ``mast link`` writes (store.identities): each named adult of each
# referral, resolved as of its referral, and the store persons it is.
LINKS_TABLE = "named_adult_links"
NAMED_COLUMNS = ["referral_id", "adult_number", "status", "person_id"]
_NONE = (
    "SELECT CAST(NULL AS VARCHAR) AS referral_id, CAST(NULL AS INTEGER) AS adult_number, "
    "CAST(NULL AS VARCHAR) AS status, CAST(NULL AS VARCHAR) AS person_id WHERE FALSE"
)


def named_adults_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The store's named adults as the feature query reads them (:data:`NAMED_COLUMNS`).

    Three stores, three answers, because silence is not safety:

    * no ``referral_named_adults`` (a store before contract 1.3): no rows, so
      every referral names no one and counts 0;
    * named adults but no ``named_adult_links`` (never linked), or an adult
      the last ``mast link`` did not resolve: status ``not_searched``, which
      makes the referral's whole family missing, never 0;
    * otherwise each adult's status and, when found, one row per store
      person its records belong to.
    """
    if not has_table(con, "referral_named_adults"):
        return _NONE
    if not has_table(con, LINKS_TABLE):
        return (
            "SELECT referral_id, CAST(adult_number AS INTEGER) AS adult_number, "
            f"'{NOT_SEARCHED}' AS status, CAST(NULL AS VARCHAR) AS person_id "
            "FROM referral_named_adults"
        )
    return f"""SELECT n.referral_id, CAST(n.adult_number AS INTEGER) AS adult_number,
        COALESCE(l.status, '{NOT_SEARCHED}') AS status, l.person_id
    FROM referral_named_adults n
    LEFT JOIN {LINKS_TABLE} l ON l.referral_id = n.referral_id AND l.adult_number = n.adult_number"""


def ensure_named_adults(con: duckdb.DuckDBPyConnection) -> str:
    """Make the temporary view the feature query reads as ``{named_adults}``; return its name.

    A temporary view lives in the connection (a read-only store allows it),
    so each engine calls this on the connection it runs the query on.
    """
    con.execute(f"CREATE OR REPLACE TEMP VIEW {NAMED_ADULTS_VIEW} AS {named_adults_sql(con)}")
    return NAMED_ADULTS_VIEW
