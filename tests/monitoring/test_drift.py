"""PSI: the reference bins, the index against a hand computation, and its reading."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring import bin_proportions, psi, psi_reading, reference_edges


def test_psi_against_a_hand_computation():
    e, a = np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.3, 0.3])
    want = (0.4 - 0.5) * np.log(0.4 / 0.5) + (0.3 - 0.2) * np.log(0.3 / 0.2)
    assert psi(e, a) == pytest.approx(want)
    assert psi(e, e) == 0


def test_counts_get_a_bin_for_zero_and_missing_values_one_of_their_own():
    values = np.array([0, 0, 0, 0, 0, 0, 1, 2, 3, np.nan])
    edges = reference_edges(values)
    assert edges[0] == 0
    props = bin_proportions(values, edges)
    assert props[0] == pytest.approx(0.6)  # the zeros
    assert props[-1] == pytest.approx(0.1)  # missing
    assert props.sum() == pytest.approx(1)


def test_readings_in_words():
    assert psi_reading(0.02).startswith("no meaningful change")
    assert psi_reading(0.15).startswith("a moderate change")
    assert psi_reading(0.6).startswith("a large change")
