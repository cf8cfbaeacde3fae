"""Population stability index: has what the model sees moved since it learned?

The PSI compares two distributions over the same bins:
``sum((actual - expected) * ln(actual / expected))``.  It is zero when the
proportions agree and grows as they part.  The customary readings (used in
credit scoring since the 1990s and by AFST's monitoring) are below 0.1 "no
meaningful change", 0.1 to 0.25 "a moderate change" and above 0.25 "a large
change"; the thresholds MAST acts on are in the monitoring policy file.

Missing values are a bin of their own: a partner agency that stops
recording shows up as a jump in that bin (or in the zero bin of a count).
"""

from __future__ import annotations

import numpy as np

PSI_FLOOR = 1e-4


def reference_edges(values: np.ndarray, n_bins: int = 10) -> list[float]:
    """Inner bin edges at the reference's quantiles (repeats dropped: counts have many ties).

    A value equal to an edge falls in the bin the edge closes, so a count
    feature whose tenth percentile is 0 gets a bin of its own for 0.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return []
    qs = np.quantile(v, np.linspace(0, 1, n_bins + 1)[1:-1])
    return [float(e) for e in np.unique(qs)]


def bin_proportions(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Share of values in each bin ``(-inf, e1], (e1, e2], ..., (ek, inf)``, then missing."""
    v = np.asarray(values, dtype=float)
    missing = ~np.isfinite(v)
    counts = np.bincount(
        np.searchsorted(np.asarray(edges, dtype=float), v[~missing], side="left"),
        minlength=len(edges) + 1,
    ).astype(float)
    counts = np.append(counts, missing.sum())
    return counts / counts.sum() if counts.sum() else counts


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = PSI_FLOOR) -> float:
    """The population stability index of ``actual`` against ``expected`` proportions.

    Empty bins are floored at ``floor`` so a bin that empties (or fills from
    nothing) gives a large but finite value.
    """
    e = np.maximum(np.asarray(expected, dtype=float), floor)
    a = np.maximum(np.asarray(actual, dtype=float), floor)
    if e.shape != a.shape:
        raise ValueError(f"expected and actual: different numbers of bins ({e.size} and {a.size})")
    return float(np.sum((a - e) * np.log(a / e)))


def psi_reading(value: float, moderate: float = 0.1, large: float = 0.25, chance=None) -> str:
    """What a PSI means, in words a board member can follow.

    With ``chance`` (a :class:`monitoring.chance.ChanceCheck`), a PSI that
    chance alone gives with that many referrals is read as no sign of change,
    whatever its size: a small month's PSI is partly noise.
    """
    if not np.isfinite(value):
        return "not measured"
    if value < moderate:
        return "no meaningful change from the training data"
    if chance is not None and not chance.beyond_chance:
        return f"within what chance alone gives with {chance.n} referrals: no sign of a real change"
    if value < large:
        return "a moderate change: worth a look at what the agencies are recording"
    return "a large change: the model is seeing referrals unlike those it learned from"
