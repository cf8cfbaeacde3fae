"""Checking the new referrals handed to :func:`features.build_features`.

New referrals arrive as contract-shaped rows, either as DataFrames (a batch,
a notebook) or as plain records (the scoring service, where building a
DataFrame costs more than the features).  Both are checked here, row by row,
with errors that name the row and the column, and come out as plain records:
``referral_id`` and ``person_id`` as ``str``, ``received_at`` as a
``pandas.Timestamp``, concerns as ``bool`` (at least one of them ``True``,
as the data contract requires of a stored referral).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from store import vocabulary as v

REFERRAL_COLUMNS = (
    "referral_id",
    "received_at",
    "source",
    "referrer_relationship",
    *v.CONCERN_COLUMNS,
)
_CATEGORIES = {
    "source": v.REFERRAL_SOURCES,
    "referrer_relationship": v.REFERRER_RELATIONSHIPS,
}

Rows = pd.DataFrame | Sequence[Mapping]


def _records(rows: Rows, name: str, columns: Sequence[str]) -> list[Mapping]:
    if isinstance(rows, pd.DataFrame):
        missing = [c for c in columns if c not in rows.columns]
        if missing:
            raise ValueError(f"{name} frame is missing column(s) {missing}")
        return rows[list(columns)].to_dict("records")
    records = list(rows)
    for i, row in enumerate(records):
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"{name} row {i + 1} is missing column(s) {missing}")
    return records


def _timestamp(value, where: str) -> pd.Timestamp:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        raise ValueError(f"{where}: received_at is missing")
    try:
        moment = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: received_at is not a timestamp ({err})") from err
    if moment is pd.NaT:
        raise ValueError(f"{where}: received_at is missing")
    if moment.tzinfo is not None:
        moment = moment.tz_convert("UTC").tz_localize(None)
    return moment.as_unit("us")


def check_referrals(referrals: Rows, referral_children: Rows) -> tuple[list[dict], list[dict]]:
    """Validated referral and child records, or a ``ValueError`` naming the row and column."""
    refs = []
    for i, row in enumerate(_records(referrals, "referrals", REFERRAL_COLUMNS)):
        where = f"referrals row {i + 1}"
        out = {"referral_id": str(row["referral_id"])}
        out["received_at"] = _timestamp(row["received_at"], where)
        for col, allowed in _CATEGORIES.items():
            if row[col] not in allowed:
                raise ValueError(f"{where}, column {col!r}: unknown category {row[col]!r}")
            out[col] = row[col]
        for col in v.CONCERN_COLUMNS:
            value = row[col]
            if value is None or value is pd.NA or (isinstance(value, float) and value != value):
                raise ValueError(f"{where}, column {col!r}: missing value (True or False expected)")
            out[col] = bool(value)
        if not any(out[col] for col in v.CONCERN_COLUMNS):
            # The data contract (store/contract.py) refuses such a referral in the store.
            raise ValueError(
                f"{where}, concern columns {list(v.CONCERN_COLUMNS)}: no concern category is "
                "True (a referral needs at least one)"
            )
        refs.append(out)
    ids = {r["referral_id"] for r in refs}
    children = []
    for i, row in enumerate(
        _records(referral_children, "referral_children", ("referral_id", "person_id"))
    ):
        record = {"referral_id": str(row["referral_id"]), "person_id": str(row["person_id"])}
        if record["referral_id"] not in ids:
            raise ValueError(
                f"referral_children row {i + 1}: referral_id {record['referral_id']!r} "
                "is not in the referrals frame"
            )
        children.append(record)
    return refs, children


def as_frames(refs: list[dict], referral_children: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Checked records as the contract-typed frames the SQL path registers."""
    frame = pd.DataFrame(refs, columns=list(REFERRAL_COLUMNS))
    frame["referral_id"] = frame["referral_id"].astype(str)
    frame["received_at"] = pd.to_datetime(frame["received_at"]).astype("datetime64[us]")
    for col in v.CONCERN_COLUMNS:
        frame[col] = frame[col].astype(bool)
    children = pd.DataFrame(referral_children, columns=["referral_id", "person_id"]).astype(str)
    return frame, children


NAMED_STATUSES = v.NAMED_ADULT_STATUSES


def check_named_adults(named: Rows | None, refs: list[dict]) -> list[dict]:
    """Checked named adults of new referrals: (referral_id, adult_number, status, person_id).

    One row per store person a found adult's records belong to (``person_id``
    None for an adult not found, only possibly matched, not searched, or
    found with no records in the store).  A referral given no rows here names
    no one, unless the store already holds its named adults.
    """
    if named is None:
        return []
    ids = {r["referral_id"] for r in refs}
    out = []
    columns = ("referral_id", "adult_number", "status", "person_id")
    for i, row in enumerate(_records(named, "named_adults", columns)):
        where = f"named_adults row {i + 1}"
        ref = str(row["referral_id"])
        if ref not in ids:
            raise ValueError(f"{where}: referral_id {ref!r} is not in the referrals frame")
        if row["status"] not in NAMED_STATUSES:
            raise ValueError(
                f"{where}, column 'status': {row['status']!r} is not one of {NAMED_STATUSES}"
            )
        pid = row["person_id"]
        missing = pid is None or pid is pd.NA or (isinstance(pid, float) and pid != pid)
        if not missing and row["status"] != "found":
            raise ValueError(f"{where}: only a found adult has a person_id")
        out.append(
            {
                "referral_id": ref,
                "adult_number": int(row["adult_number"]),
                "status": str(row["status"]),
                "person_id": None if missing else str(pid),
            }
        )
    return out


def named_frame(named: list[dict]) -> pd.DataFrame:
    """Checked named adults as the frame the SQL path registers."""
    frame = pd.DataFrame(named, columns=["referral_id", "adult_number", "status", "person_id"])
    return frame.astype(
        {
            "referral_id": "string",
            "adult_number": "int32",
            "status": "string",
            "person_id": "string",
        }
    )
