"""Contract 1.3: ``referral_named_adults``, the adults a referrer names (issue #20)."""

from __future__ import annotations

import duckdb
import pytest

from store import ContractError, connect, contract_version, load_extracts
from tests.store.conftest import valid_extract, write_csvs

# As a local authority writes it: yes/no spelt as it comes, dates in ISO, gaps empty.
NAMED_CSV = """referral_id,adult_number,name,date_of_birth,date_of_birth_approximate,postcode,address,relationship,lives_at_address
R1,1,Jay Smith,1990-07-01,yes,LS1 4AB,,mothers_new_partner,no
R1,2,Smith,,,,,visitor,unknown
R2,1,Dan Brown,1985-02-14,No,,,relative,yes
"""


def _extract(tmp_path, named: str):
    directory = tmp_path / "x"
    write_csvs(valid_extract(), directory)
    (directory / "referral_named_adults.csv").write_text(named)
    return directory


def test_named_adults_load_from_csv_with_the_rest(tmp_path):
    report = load_extracts(tmp_path / "s.duckdb", _extract(tmp_path, NAMED_CSV))
    assert report.inserted["referral_named_adults"] == 3
    with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT referral_id, adult_number, name, date_of_birth_approximate, postcode "
            "FROM referral_named_adults ORDER BY 1, 2"
        ).fetchall()
    assert rows[0][:4] == ("R1", 1, "Jay Smith", True)
    assert rows[1][3] is False and rows[1][4] is None  # empty yes/no is no; empty postcode null
    assert rows[2][3] is False


@pytest.mark.parametrize(
    ("line", "column", "words"),
    [
        ("R9,1,Jay,,,,,visitor,no", "referral_id", "'R9' is not a referral_id in referrals"),
        ("R2,1,Jay,,,,,boyfriend,no", "relationship", "'boyfriend' is not one of the allowed"),
        ("R2,1,Jay,,perhaps,,,visitor,no", "date_of_birth_approximate", "not a yes/no value"),
        ("R2,1,Jay,14/02/1985,,,,visitor,no", "date_of_birth", "not a date written YYYY-MM-DD"),
        (
            "R2,0,Jay,,,,,visitor,no",
            "adult_number",
            "'0' is too small: adult_number must be 1 or more",
        ),
        ("R1,1,Jay,,,,,visitor,no", None, "duplicate"),
    ],
)
def test_a_bad_named_adult_rejects_the_whole_load_naming_row_and_field(
    tmp_path, line, column, words
):
    named = NAMED_CSV + line + "\n"
    with pytest.raises(ContractError) as err:
        load_extracts(tmp_path / "s.duckdb", _extract(tmp_path, named))
    text = str(err.value)
    assert "referral_named_adults" in text and words in text
    if column is not None:
        # Row 5 as a spreadsheet shows the file: the header is row 1.
        assert f"referral_named_adults.csv, row 5, column '{column}'" in text
    assert not (tmp_path / "s.duckdb").exists()  # a refused first load leaves no store


def test_named_adults_need_only_the_name_columns(tmp_path):
    """An extract may leave out what referrers seldom know (date of birth, postcode, address)."""
    named = "referral_id,adult_number,name,relationship,lives_at_address\nR1,1,Jay,visitor,no\n"
    report = load_extracts(tmp_path / "s.duckdb", _extract(tmp_path, named))
    assert report.inserted["referral_named_adults"] == 1


def test_a_missing_name_is_refused(tmp_path):
    named = "referral_id,adult_number,relationship,lives_at_address\nR1,1,visitor,no\n"
    with pytest.raises(ContractError, match="column 'name': required column is missing"):
        load_extracts(tmp_path / "s.duckdb", _extract(tmp_path, named))


def test_an_extract_without_named_adults_still_loads_and_a_1_2_store_is_upgraded(tmp_path):
    directory = tmp_path / "old"
    write_csvs(valid_extract(), directory)
    db = tmp_path / "s.duckdb"
    assert "referral_named_adults" not in load_extracts(db, directory).inserted
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE mast_meta SET value = '1.2.0' WHERE key = 'contract_version'")
    con = connect(db)
    assert contract_version(con) == "1.3.0"
    con.close()
