"""Which column of a predictions table holds what: :class:`AuditColumns`.

The audit reads any predictions table; this names its columns once, so
:func:`audit.audit_predictions` takes one object instead of eleven column
arguments that could be given in the wrong place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AuditColumns:
    """Column names of a predictions table, and how to read its score.

    The defaults match the artifact ``evaluation/test_predictions.parquet``
    that training logs: one row per (referral, child) with ``y_true``,
    ``y_harm``, ``y_prob``, ``score`` (1–20), ``flag``, ``human_flag`` and the
    protected characteristics.  Optional columns (``y_harm``, ``human_flag``,
    ``score``, ``y_prob``, ``band``, ``referral_col``) that the table lacks
    are skipped and their lenses left out.

    Attributes
    ----------
    y_true, flag, score, threshold, y_prob, band
        scikit-learn's names for what each column holds (the ``flag`` column
        is the ``y_pred``); ``threshold`` turns ``score`` into a flag when the
        table has none.  See :func:`audit.frame.prepare_frame`.
    referral_col
        Clusters for the bootstrap (None: resample rows).
    y_harm, human_flag
        The nullable columns for the ground-truth and human lenses.
    groups
        Protected characteristics to audit by; missing values become
        "Not recorded".  None: :data:`audit.DEFAULT_GROUPS`, plus who referred
        when the table has those columns.
    intersections
        Pairs audited jointly; None: the policy's (ethnicity × deprivation).
    """

    y_true: str = "y_true"
    flag: str | None = "flag"
    score: str | None = "y_prob"
    threshold: float | None = None
    y_prob: str | None = "y_prob"
    band: str | None = "score"
    referral_col: str | None = "referral_id"
    y_harm: str | None = "y_harm"
    human_flag: str | None = "human_flag"
    groups: Sequence[str] | None = None
    intersections: Sequence[tuple[str, str]] | None = None

    def present(self, names: set[str]) -> AuditColumns:
        """These columns with the optional ones the table lacks set to None."""

        def keep(col: str | None) -> str | None:
            return col if col is not None and col in names else None

        score = self.score if (self.score is None or self.score in names) else None
        if self.threshold is not None:
            score = self.score  # named explicitly to be thresholded: a missing one must fail
        return AuditColumns(
            y_true=self.y_true,
            flag=self.flag,
            score=score,
            threshold=self.threshold,
            y_prob=keep(self.y_prob),
            band=self.band if keep(self.band) and self.y_prob in names else None,
            referral_col=keep(self.referral_col),
            y_harm=keep(self.y_harm),
            human_flag=keep(self.human_flag),
            groups=self.groups,
            intersections=self.intersections,
        )
