"""The referral's optional statutory-trigger facts: loaded when given, null when not, refused when wrong."""

from __future__ import annotations

import duckdb
import pytest

from store import ContractError, connect, load_extracts
from store.vocabulary import CONCERN_COLUMNS
from tests.store.conftest import valid_extract, write_csvs

HEADER = "referral_id,received_at,source,referrer_relationship," + ",".join(CONCERN_COLUMNS)


def _referrals_csv(extra_header: str, rows: list[str]) -> str:
    lines = [HEADER + extra_header]
    for i, extra in enumerate(rows, start=1):
        concerns = ",".join("true" if c == "concern_neglect" else "false" for c in CONCERN_COLUMNS)
        lines.append(f"R{i},2022-0{i}-01 10:00:00,family,grandparent,{concerns}{extra}")
    return "\n".join(lines) + "\n"


def _load(tmp_path, referrals_text: str):
    tables = valid_extract()
    del tables["referrals"]
    write_csvs(tables, tmp_path / "x")
    (tmp_path / "x" / "referrals.csv").write_text(referrals_text)
    load_extracts(tmp_path / "db.duckdb", tmp_path / "x")
    con = connect(tmp_path / "db.duckdb", read_only=True)
    try:
        return con.execute(
            "SELECT referral_id, injury_alleged, images_held_by, non_mobile_child "
            "FROM referrals ORDER BY referral_id"
        ).fetchall()
    finally:
        con.close()


def test_the_columns_load_as_a_local_authority_writes_them(tmp_path):
    text = _referrals_csv(
        ",injury_alleged,images_held_by,non_mobile_child", [",true,referrer,", ",,,false"]
    )
    assert _load(tmp_path, text) == [("R1", True, "referrer", None), ("R2", None, None, False)]


def test_an_old_extract_without_them_still_loads_as_not_said(tmp_path):
    assert _load(tmp_path, _referrals_csv("", ["", ""])) == [
        ("R1", None, None, None),
        ("R2", None, None, None),
    ]


@pytest.mark.parametrize(
    ("header", "rows", "column", "problem"),
    [
        (
            ",images_held_by",
            [",grandmother's phone", ","],
            "images_held_by",
            "is not one of the allowed values of images_held_by",
        ),
        (",injury_alleged", [",perhaps", ","], "injury_alleged", "is not a yes/no value"),
    ],
)
def test_a_bad_value_is_refused_naming_row_and_column(tmp_path, header, rows, column, problem):
    with pytest.raises(ContractError) as err:
        _load(tmp_path, _referrals_csv(header, rows))
    found = [p for p in err.value.problems if p.column == column]
    assert found and found[0].row == 1 and problem in found[0].problem
    assert not (tmp_path / "db.duckdb").exists() or (
        duckdb.connect(str(tmp_path / "db.duckdb"))
        .execute("SELECT count(*) FROM referrals")
        .fetchone()[0]
        == 0
    )


def test_a_store_written_before_the_columns_gains_them_when_opened_for_writing(tmp_path):
    path = tmp_path / "old.duckdb"
    con = connect(path)
    con.execute("BEGIN")
    for column in ("injury_alleged", "images_held_by", "non_mobile_child"):
        con.execute(f"ALTER TABLE referrals DROP COLUMN {column}")
    con.execute(
        "INSERT INTO referrals VALUES ('R9', '2022-01-01 10:00', 'family', 'grandparent', "
        + ", ".join("true" if c == "concern_neglect" else "false" for c in CONCERN_COLUMNS)
        + ")"
    )
    con.execute("COMMIT")
    con.close()
    con = connect(path)
    try:
        row = con.execute(
            "SELECT referral_id, injury_alleged, images_held_by, non_mobile_child FROM referrals"
        ).fetchall()
    finally:
        con.close()
    assert row == [("R9", None, None, None)]
