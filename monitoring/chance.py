"""How large a PSI chance alone gives with this many referrals, so noise is not read as drift.

The PSI of a sample drawn from the very distribution it is compared with is
not zero: with ``n`` referrals in ``k`` bins it is about ``(k - 1) / n`` on
average (``n`` times the PSI is close to a chi-square with ``k - 1`` degrees
of freedom), and a bin that happens to stay empty adds far more, because an
empty bin is floored.  A front door scores 100 to 1,500 referrals a month,
so a month's PSI is partly noise, and the fixed 0.1 and 0.25 lines of
credit scoring (read on samples of many thousands) would call noise a
change.

So each PSI is compared with its own *null distribution*: the PSIs of
``n_draws`` months of ``n`` referrals drawn (seeded) from the reference
proportions themselves, a month in which nothing changed.  The p-value is
the share of those that reach the observed PSI.  The draws count referrals,
not children: children on one referral share their household's and the
referral's inputs, so the referral is the unit that varies; for inputs of a
child alone this makes the chance line a little higher (fewer alarms), never
lower.  One month checks every input and the score at once, so the level
for each is the policy's ``drift.chance`` divided by the number of checks
(Bonferroni): a month with no real change is flagged at most that often.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from monitoring.drift import PSI_FLOOR

N_DRAWS = 20_000


@dataclass(frozen=True)
class ChanceCheck:
    """One PSI against what chance alone gives with the same number of referrals.

    ``line`` is the PSI a month must pass to be beyond chance (the draw of
    the null that leaves ``level`` of the draws at or above it); ``p_value``
    the share of no-change months at least as far off as the one observed.
    """

    value: float
    p_value: float
    line: float
    level: float
    n: int

    @property
    def beyond_chance(self) -> bool:
        return bool(np.isfinite(self.value) and self.p_value <= self.level)


def null_psi(
    expected: np.ndarray,
    n: int,
    n_draws: int = N_DRAWS,
    random_state: int | list[int] | np.random.Generator = 0,
    floor: float = PSI_FLOOR,
) -> np.ndarray:
    """PSIs of ``n_draws`` samples of ``n`` drawn from ``expected`` (a month with no change)."""
    e = np.asarray(expected, dtype=float)
    if n < 1 or e.sum() <= 0:
        return np.full(n_draws, np.nan)
    rng = np.random.default_rng(random_state)
    counts = rng.multinomial(n, e / e.sum(), size=n_draws)
    a = np.maximum(counts / n, floor)
    ef = np.maximum(e, floor)
    return np.sum((a - ef) * np.log(a / ef), axis=1)


def seed_for(name: str, n: int, random_state: int = 0) -> list[int]:
    """A seed per (input, sample size): the same month gives the same line whatever else is checked."""
    return [int(random_state), zlib.crc32(name.encode()), int(n)]


def chance_check(
    expected: np.ndarray,
    observed: float,
    n: int,
    level: float,
    random_state: int | list[int] = 0,
    n_draws: int = N_DRAWS,
) -> ChanceCheck:
    """Compare ``observed`` (a PSI over ``n`` referrals) with its null distribution.

    ``random_state`` seeds the simulated months (:func:`seed_for` gives one
    per input and sample size).
    """
    null = null_psi(expected, n, n_draws, random_state)
    if not np.isfinite(observed) or not np.isfinite(null).all():
        return ChanceCheck(float(observed), float("nan"), float("nan"), level, n)
    # A draw equal to the observed value counts as reaching it (ties are common with counts).
    p = (1 + np.count_nonzero(null >= observed - 1e-12)) / (n_draws + 1)
    # The line is the draw a PSI must pass for p <= level: the (allowed + 1)-th largest,
    # so "beyond chance" and "past the line" never disagree.
    allowed = int(np.floor(level * (n_draws + 1) + 1e-9)) - 1
    line = float(np.sort(null)[::-1][allowed]) if allowed >= 0 else float("inf")
    return ChanceCheck(float(observed), float(p), line, level, n)


def shift_words(expected: np.ndarray, actual: np.ndarray) -> str:
    """Which way an input moved, in words: higher or lower values, or recorded more or less.

    The last bin is "not recorded" (see :func:`monitoring.drift.bin_proportions`);
    the others are in order, so the change of the mean bin says which way the
    values moved.
    """
    e, a = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    if abs(a[-1] - e[-1]) >= 0.05:
        return "more often not recorded" if a[-1] > e[-1] else "recorded more often"
    idx = np.arange(e.size - 1)
    mean_e = np.dot(idx, e[:-1]) / e[:-1].sum() if e[:-1].sum() else 0.0
    mean_a = np.dot(idx, a[:-1]) / a[:-1].sum() if a[:-1].sum() else 0.0
    if mean_a > mean_e:
        return "higher values more common than in the training data"
    if mean_a < mean_e:
        return "lower values more common than in the training data"
    return "spread differently from the training data"
