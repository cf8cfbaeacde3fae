"""Checking and normalising a predictions table before it is audited.

A board can only trust an audit whose input was checked: a label that is not
0/1, a score that is text, or a group column that is entirely empty would
otherwise turn into silently wrong figures.  Every problem is reported as a
:class:`AuditInputError` naming the column and, where it helps, the first row.

Missing or unrecorded protected characteristics are never dropped: they
become the group ``"Not recorded"`` so a board can see how the tool treats
children whose characteristics the agencies did not record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from store.vocabulary import NOT_RECORDED

INTERSECTION_SEP = " × "


class AuditInputError(ValueError):
    """The predictions table cannot be audited as given (names the column/row)."""


@dataclass(frozen=True)
class PreparedFrame:
    """Arrays ready for the audit engine, all of one length ``n``.

    ``groups`` maps an attribute name (a column, or ``"a × b"`` for an
    intersection) to string group labels, with missing values already turned
    into ``"Not recorded"``.
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    clusters: np.ndarray
    groups: dict[str, np.ndarray]
    y_score: np.ndarray | None = None
    y_prob: np.ndarray | None = None
    bands: np.ndarray | None = None
    band_labels: tuple[str, ...] = ()
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.y_true)

    @property
    def n_clusters(self) -> int:
        return int(self.clusters.max()) + 1 if len(self.clusters) else 0


def require_columns(frame: pd.DataFrame, columns: Sequence[str | None]) -> None:
    """Raise naming every requested column the table lacks."""
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        raise AuditInputError(
            f"column(s) {', '.join(repr(c) for c in missing)} not found; "
            f"the table has: {', '.join(map(str, frame.columns))}"
        )


def _shown(value: object) -> str:
    """A cell as a reader would write it (``2``, not ``np.int64(2)``)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _blank_mask(values: pd.Series) -> np.ndarray:
    """Cells with nothing in them: NaN/None/NA, or text of only spaces."""
    missing = values.isna().to_numpy(dtype=bool)
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype("string").str.strip()
        missing = missing | text.eq("").fillna(False).to_numpy(dtype=bool)
    return missing


def binary_column(frame: pd.DataFrame, column: str, *, nullable: bool = False) -> np.ndarray:
    """A 0/1 column as float (NaN where missing and ``nullable``).

    Accepts 0/1, True/False and the strings "0"/"1"/"true"/"false", because
    CSV exports from case-management systems write booleans in all of these.
    Rows in messages are 1-based data rows (the header is not counted), as in
    :class:`store.contract.Problem`, so "row 2" is the second row of the file's data.
    """
    values = frame[column]
    mapping = {
        "0": 0.0,
        "1": 1.0,
        "0.0": 0.0,
        "1.0": 1.0,
        "true": 1.0,
        "false": 0.0,
    }
    out = np.full(len(values), np.nan)
    missing = _blank_mask(values)
    for i, v in enumerate(values.to_numpy(dtype=object)):
        if missing[i]:
            continue
        if isinstance(v, bool | np.bool_):
            out[i] = float(v)
        elif isinstance(v, int | float | np.integer | np.floating) and v in (0, 1):
            out[i] = float(v)
        elif isinstance(v, str) and v.strip().lower() in mapping:
            out[i] = mapping[v.strip().lower()]
        else:
            raise AuditInputError(
                f"column {column!r} must be binary (0/1); row {i + 1} has {_shown(v)}"
            )
    if missing.any() and not nullable:
        first = int(np.flatnonzero(missing)[0])
        raise AuditInputError(
            f"column {column!r} must be binary (0/1) with no missing values; "
            f"row {first + 1} is missing"
        )
    return out


def numeric_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A numeric column with no missing values, or an error naming the first bad row.

    A missing cell (empty in a CSV, NaN, None) is reported as missing, not as
    "not numeric": the fix for a gap in an export differs from the fix for text
    in a number column.  Rows are 1-based data rows, as in :func:`binary_column`.
    """
    values = frame[column]
    raw = values.to_numpy(dtype=object)
    missing = _blank_mask(values)
    converted = pd.to_numeric(values.where(~missing), errors="coerce")
    bad = converted.isna().to_numpy() & ~missing
    problems = []
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        problems.append(
            (
                first,
                f"column {column!r} must be numeric with no missing values; "
                f"row {first + 1} is missing",
            )
        )
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        problems.append(
            (first, f"column {column!r} must be numeric; row {first + 1} has {_shown(raw[first])}")
        )
    if problems:
        raise AuditInputError(min(problems)[1])
    out = converted.to_numpy(dtype=float)
    if not np.isfinite(out).all():
        first = int(np.flatnonzero(~np.isfinite(out))[0])
        raise AuditInputError(
            f"column {column!r} must be finite; row {first + 1} has {_shown(raw[first])}"
        )
    return out


def group_labels(values: pd.Series) -> np.ndarray:
    """String labels for a protected characteristic; missing becomes "Not recorded".

    Whole-number floats (``3.0``, from a CSV column with gaps) are written as
    ``"3"`` so the same group is not split by how a file was typed.
    """
    out = []
    for v in values.to_numpy(dtype=object):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
            out.append(NOT_RECORDED)
        elif isinstance(v, float | np.floating) and float(v).is_integer():
            out.append(str(int(v)))
        else:
            s = str(v).strip()
            out.append(s if s and s.lower() not in ("nan", "none", "<na>") else NOT_RECORDED)
    return np.asarray(out, dtype=object)


def _cluster_codes(frame: pd.DataFrame, referral_col: str | None) -> np.ndarray:
    if referral_col is None:
        return np.arange(len(frame))
    ids = frame[referral_col]
    codes, _ = pd.factorize(ids, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    # A row without a referral id is its own cluster rather than an error:
    # it cannot share a referral with anything.
    lonely = codes < 0
    if lonely.any():
        start = codes.max() + 1 if (~lonely).any() else 0
        codes[lonely] = start + np.arange(lonely.sum())
    return codes


def _require_range(values: np.ndarray, low: float, high: float, message: str) -> None:
    """Raise ``message`` with the first (1-based data) row outside [low, high]."""
    outside = (values < low) | (values > high)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise AuditInputError(f"{message}; row {first + 1} has {values[first]:g}")


def score_bands(score: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Calibration bands from a 1–20 score: 1–4, 5–8, 9–12, 13–16, 17–20.

    Five bands of four ventiles keep enough children in each band for a
    group's observed rate to mean something.
    """
    edges = (4, 8, 12, 16)
    idx = np.searchsorted(edges, score, side="left")
    labels = ("1–4", "5–8", "9–12", "13–16", "17–20")
    return idx.astype(np.int64), labels


def prob_bands(prob: np.ndarray, n_bins: int = 10) -> tuple[np.ndarray, tuple[str, ...]]:
    """Equal-width probability bins, used when no 1–20 score is given."""
    idx = np.clip((prob * n_bins).astype(np.int64), 0, n_bins - 1)
    labels = tuple(f"{i / n_bins:.1f}–{(i + 1) / n_bins:.1f}" for i in range(n_bins))
    return idx, labels


def _check_arguments(frame, groups, flag, score, threshold) -> None:
    """Refuse an empty table, no groups, or a decision that cannot be read."""
    if len(frame) == 0:
        raise AuditInputError("the predictions table has no rows")
    if not groups:
        raise AuditInputError("give at least one group column to audit by")
    if flag is None and score is None:
        raise AuditInputError("give the decision: a flag column, or a score column and threshold")
    if threshold is not None and score is None:
        raise AuditInputError("a threshold needs a score column (--score) to apply it to")
    if flag is None and threshold is None:
        raise AuditInputError("a score without a flag needs a threshold (--threshold)")


def _probability(frame, y_score, y_prob) -> np.ndarray | None:
    """The calibrated probability column, else the score when it lies in [0, 1]."""
    if y_prob is not None:
        prob = numeric_column(frame, y_prob)
        _require_range(prob, 0, 1, f"probability column {y_prob!r} must lie in [0, 1]")
        return prob
    if y_score is not None and y_score.min() >= 0 and y_score.max() <= 1:
        return y_score
    return None


def _bands(frame, prob, band) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """The calibration table's bands: the 1-20 score's, else equal-width probability bins."""
    if prob is None:
        return None, ()
    if band is None:
        return prob_bands(prob)
    b = numeric_column(frame, band)
    _require_range(b, 1, 20, f"score column {band!r} must lie in 1–20 for score bands")
    return score_bands(b)


def _group_arrays(frame, groups, intersections) -> dict[str, np.ndarray]:
    """Each group column's labels, and each intersection's joined labels."""
    group_arrays: dict[str, np.ndarray] = {}
    for col in dict.fromkeys(groups):
        labels = group_labels(frame[col])
        if (labels == NOT_RECORDED).all() and not (frame[col].astype(str) == NOT_RECORDED).all():
            raise AuditInputError(
                f"group column {col!r} is empty: no row has a value, so there is nothing to compare"
            )
        group_arrays[col] = labels
    for a, b in intersections:
        la = group_arrays.get(a, group_labels(frame[a]))
        lb = group_arrays.get(b, group_labels(frame[b]))
        group_arrays[f"{a}{INTERSECTION_SEP}{b}"] = np.asarray(
            [f"{x}{INTERSECTION_SEP}{y}" for x, y in zip(la, lb, strict=True)], dtype=object
        )
    return group_arrays


def prepare_frame(
    frame: pd.DataFrame,
    *,
    y_true: str,
    groups: Sequence[str],
    flag: str | None = None,
    score: str | None = None,
    threshold: float | None = None,
    y_prob: str | None = None,
    band: str | None = None,
    referral_col: str | None = None,
    intersections: Sequence[tuple[str, str]] = (),
    extra_binary: Sequence[str] = (),
) -> PreparedFrame:
    """Validate a predictions table and turn it into arrays for the engine.

    Parameters
    ----------
    frame
        One row per (referral, child) or per decision.
    y_true
        Name of the outcome column (0/1, no missing).  Column-name
        parameters carry scikit-learn's names for what the column holds.
    groups
        Protected-characteristic columns to audit by.
    flag, score, threshold
        The decision (the ``y_pred``): ``flag`` (0/1) directly, or ``score >= threshold``.
        When both ``flag`` and ``score`` are given the flag is the decision and
        the score is used for AUC.
    y_prob
        Name of the calibrated probability column (0–1) for calibration; defaults to ``score``
        when every score lies in [0, 1].
    band
        A 1–20 score column whose bands group the calibration table.
    referral_col
        Rows sharing a value are resampled together in the bootstrap.
    intersections
        Pairs of group columns audited jointly (e.g. ethnicity × deprivation).
    extra_binary
        Nullable 0/1 columns carried along (ground-truth harm, human decisions).
    """
    _check_arguments(frame, groups, flag, score, threshold)
    wanted = [y_true, flag, score, y_prob, band, referral_col, *groups, *extra_binary]
    wanted += [c for pair in intersections for c in pair]
    require_columns(frame, wanted)

    truth = binary_column(frame, y_true)
    y_score = numeric_column(frame, score) if score is not None else None
    if flag is not None:
        y_pred = binary_column(frame, flag)
    else:
        y_pred = (y_score >= float(threshold)).astype(float)

    prob = _probability(frame, y_score, y_prob)
    bands, band_labels = _bands(frame, prob, band)
    group_arrays = _group_arrays(frame, groups, intersections)

    extra = {c: binary_column(frame, c, nullable=True) for c in extra_binary}
    return PreparedFrame(
        y_true=truth,
        y_pred=y_pred,
        clusters=_cluster_codes(frame, referral_col),
        groups=group_arrays,
        y_score=y_score,
        y_prob=prob,
        bands=bands,
        band_labels=band_labels,
        extra=extra,
    )
