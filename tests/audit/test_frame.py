"""Input checks: scikit-learn parameter names, 1-based rows, missing named as missing."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pandas as pd
import pytest

from audit import AuditColumns, AuditInputError, audit_predictions
from audit.frame import binary_column, numeric_column, prepare_frame
from tests.audit.frames import six_rows


def small(**changes) -> pd.DataFrame:
    return six_rows("p", **changes)


def first_bad_data_row(values: list, ok) -> int:
    """Reference: the position, counting data rows from 1, of the first value failing ``ok``."""
    for number, value in enumerate(values, start=1):
        if not ok(value):
            return number
    raise AssertionError("no bad value")


# --- 1. vocabulary ---------------------------------------------------------


def test_public_column_parameters_use_scikit_learn_names():
    """The column names, on ``AuditColumns`` and ``prepare_frame``, are scikit-learn's."""
    audit_params = {f.name for f in dataclasses.fields(AuditColumns)}
    frame_params = inspect.signature(prepare_frame).parameters
    for name in ("y_true", "y_prob", "y_harm"):
        assert name in audit_params, name
    for name in ("y_true", "y_prob"):
        assert name in frame_params, name
    for old in ("label", "prob", "harm_label"):
        assert old not in audit_params and old not in frame_params, old


def test_y_true_y_prob_y_harm_name_the_columns(predictions):
    frame = predictions.head(600).rename(
        columns={"y_true": "outcome", "y_prob": "p_cal", "y_harm": "truth"}
    )
    result = audit_predictions(
        frame,
        AuditColumns(
            y_true="outcome", score="p_cal", y_prob="p_cal", y_harm="truth", groups=["sex"]
        ),
        n_boot=20,
        random_state=0,
        mitigation=False,
    )
    assert "tool_vs_harm" in result.lenses
    base = result.primary.overall["base_rate"]["value"]
    assert base == pytest.approx(frame["outcome"].mean())
    harm = frame["truth"].astype(float)
    assert result.lenses["tool_vs_harm"].overall["base_rate"]["value"] == pytest.approx(
        harm.mean()  # NaN harm rows are outside the harm lens
    )
    assert result.meta["has_probability"]
    without = audit_predictions(
        frame,
        AuditColumns(y_true="outcome", score="p_cal", y_prob="p_cal", y_harm=None, groups=["sex"]),
        n_boot=20,
        random_state=0,
        mitigation=False,
    )
    assert "tool_vs_harm" not in without.lenses


# --- 2. row numbers and missing values -------------------------------------


def test_binary_error_names_the_one_based_data_row():
    values = [0, 1, 0, 2, 1, 0]
    with pytest.raises(AuditInputError) as err:
        binary_column(small(y=values), "y")
    row = first_bad_data_row(values, lambda v: v in (0, 1))
    assert row == 4
    assert f"row {row} has 2" in str(err.value)
    assert "'y'" in str(err.value)


def test_binary_missing_names_the_one_based_data_row():
    values = [0, None, 1, 0, 1, 0]
    with pytest.raises(AuditInputError) as err:
        binary_column(small(y=values), "y")
    assert "row 2 is missing" in str(err.value)
    # Nullable columns keep the gap as NaN instead.
    out = binary_column(small(y=values), "y", nullable=True)
    assert np.isnan(out[1]) and np.nansum(out) == 2


def test_numeric_text_names_the_one_based_data_row():
    values = [0.1, 0.9, "high", 0.8, 0.7, 0.3]
    with pytest.raises(AuditInputError) as err:
        numeric_column(small(p=values), "p")
    assert "row 3 has 'high'" in str(err.value)
    assert "must be numeric" in str(err.value)


@pytest.mark.parametrize("gap", [None, np.nan, "", "  "])
def test_numeric_missing_is_reported_as_missing(gap):
    values = [0.1, 0.9, 0.2, gap, 0.7, 0.3]
    with pytest.raises(AuditInputError) as err:
        numeric_column(small(p=values), "p")
    message = str(err.value)
    assert "'p'" in message
    assert "row 4 is missing" in message
    assert "has nan" not in message.lower()


def test_first_problem_wins_whether_missing_or_text():
    with pytest.raises(AuditInputError, match="row 2 has 'x'"):
        numeric_column(small(p=[0.1, "x", None, 0.8, 0.7, 0.3]), "p")
    with pytest.raises(AuditInputError, match="row 2 is missing"):
        numeric_column(small(p=[0.1, None, "x", 0.8, 0.7, 0.3]), "p")


def test_infinite_and_out_of_range_values_name_the_row():
    with pytest.raises(AuditInputError, match=r"finite; row 5 has inf"):
        numeric_column(small(p=[0.1, 0.9, 0.2, 0.8, np.inf, 0.3]), "p")
    with pytest.raises(AuditInputError, match=r"\[0, 1\]; row 6 has 1\.5"):
        prepare_frame(
            small(p=[0.1, 0.9, 0.2, 0.8, 0.7, 1.5]),
            y_true="y",
            flag="f",
            y_prob="p",
            groups=["g"],
        )


def test_rows_count_positions_not_the_index():
    # A filtered table keeps its old index; "row N" is still the N-th data row.
    frame = small(y=[0, 1, 0, 1, 1, 0]).iloc[2:]
    frame = frame.assign(y=[0, 1, 5, 0])
    assert list(frame.index) == [2, 3, 4, 5]
    with pytest.raises(AuditInputError, match="row 3 has 5"):
        binary_column(frame, "y")


def test_columns_the_table_lacks_are_left_out_but_a_thresholded_score_is_kept():
    cols = AuditColumns(threshold=0.5, score="risk", y_harm="truth", band="s", y_prob="p")
    present = cols.present({"y_true", "flag", "p", "s"})
    assert present.score == "risk"  # named to be thresholded: prepare_frame names it missing
    assert (present.y_harm, present.human_flag, present.referral_col) == (None, None, None)
    assert (present.y_prob, present.band) == ("p", "s")
    assert AuditColumns(band="s", y_prob="p").present({"s"}).band is None  # no probability
