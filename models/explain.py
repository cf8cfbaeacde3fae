"""The one adapter every SHAP call goes through.

SHAP's output for a LightGBM binary model has changed shape between versions:
a list of two arrays (one per class), a 3-D array ``(n, p, 2)``, or a plain
``(n, p)`` array, with ``expected_value`` a scalar or a pair.  Everything in
MAST (training summaries, the scoring service's reasons) calls
:func:`shap_contributions`, which always returns ``(n, p)`` contributions for
the positive class in raw-margin (log-odds) space and one base value, and
keeps SHAP's own additivity check switched on.
"""

from __future__ import annotations

import warnings

import numpy as np


def make_explainer(booster):
    """A TreeExplainer for a LightGBM booster; build it once per loaded model."""
    import shap

    return shap.TreeExplainer(booster)


def normalise_shap_output(values, expected_value, n_rows: int, n_features: int):
    """Reduce any SHAP output layout to ``(contributions (n, p), base_value)``.

    Raises
    ------
    ValueError
        If the layout is not one SHAP is known to produce for a binary model,
        so a future change fails loudly instead of explaining the wrong class.
    """
    if isinstance(values, list):
        if len(values) != 2:
            raise ValueError(f"SHAP returned a list of {len(values)} arrays; expected 2 classes")
        values = values[1]
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 3:
        if arr.shape[2] != 2:
            raise ValueError(f"SHAP returned shape {arr.shape}; expected (n, p, 2)")
        arr = arr[:, :, 1]
    if arr.ndim == 1 and n_rows == 1:
        arr = arr.reshape(1, -1)
    if arr.shape != (n_rows, n_features):
        raise ValueError(f"SHAP returned shape {arr.shape}; expected ({n_rows}, {n_features})")
    base = np.asarray(expected_value, dtype=float).ravel()
    if base.size == 2:
        base = base[1:]
    if base.size != 1:
        raise ValueError(f"SHAP expected_value has {base.size} entries; expected 1 or 2")
    return arr, float(base[0])


def shap_contributions(explainer, X: np.ndarray) -> tuple[np.ndarray, float]:
    """Contributions in raw-margin space for the positive class, and the base value.

    ``contributions.sum(axis=1) + base_value`` equals the booster's raw margin;
    SHAP checks this itself (``check_additivity`` is left at its default).
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X: expected a 2-D array, got {X.ndim}-D")
    with warnings.catch_warnings():
        # SHAP warns that the LightGBM output layout changed; the adapter handles every layout.
        warnings.filterwarnings("ignore", message=".*output has changed.*")
        values = explainer.shap_values(X)
    return normalise_shap_output(values, explainer.expected_value, X.shape[0], X.shape[1])
