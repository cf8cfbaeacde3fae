"""A small simulated world with agency identities, linked once per session."""

from __future__ import annotations

import pytest

from linkage import LinkageRules, link_records, prepare_records
from synthetic import SimulationConfig, simulate
from synthetic.identities import simulate_agency_identities

SMALL = SimulationConfig(n_children=1_500, years=3, burn_in_years=2, random_state=7)
# Smaller random samples than the defaults, so the suite stays quick.
FAST = LinkageRules(u_pairs=3e5, em_pairs=3e5, random_state=7)


@pytest.fixture(scope="session")
def world():
    return simulate(SMALL)


@pytest.fixture(scope="session")
def identities(world):
    return simulate_agency_identities(world.tables, SMALL.random_state)


@pytest.fixture(scope="session")
def records(identities):
    return prepare_records(identities.tables["agency_records"])


@pytest.fixture(scope="session")
def linked(records):
    return link_records(records, FAST)


@pytest.fixture(scope="session")
def truth(identities, world):
    truth = identities.truth.merge(world.tables["people"], on="person_id")
    truth["unique_id"] = truth["agency"] + ":" + truth["agency_record_id"]
    return truth
