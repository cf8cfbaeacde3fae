"""Small simulated worlds shared by the synthetic tests (built once per session)."""

from __future__ import annotations

import pytest

from synthetic import SimulationConfig, simulate

SMALL = SimulationConfig(n_children=2_500, years=3, burn_in_years=2, random_state=11)


@pytest.fixture(scope="session")
def small_config() -> SimulationConfig:
    return SMALL


@pytest.fixture(scope="session")
def small():
    """A small default world: fast, but with every mechanism switched on."""
    return simulate(SMALL)
