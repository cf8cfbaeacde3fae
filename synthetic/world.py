"""The public entry points: :func:`simulate` and :func:`small_world`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthetic.config import SimulationConfig
from synthetic.legacy import add_legacy_events
from synthetic.monthly import run
from synthetic.population import build_population
from synthetic.tables import build_tables

Progress = Callable[[str, float, float], None]


@dataclass
class World:
    """One simulated local authority.

    Attributes
    ----------
    tables
        The seven contract tables, ready for :func:`store.write_tables`.
    truth
        Latent harm episodes (person_id, start_date, end_date, harm_type,
        severity): evaluation only, written to ``truth.latent_harm``.
    config
        The settings that made it.
    """

    tables: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    config: SimulationConfig


def simulate(config: SimulationConfig | None = None, progress: Progress | None = None) -> World:
    """Simulate one English local authority's multi-agency records.

    Parameters
    ----------
    config
        The settings; :class:`SimulationConfig` defaults when omitted.
    progress
        Optional ``progress(step, completed, total)`` callback for long runs.

    Returns
    -------
    World
        Contract tables and the latent-harm ground truth.  The same config
        (including ``random_state``) always gives identical tables.
    """
    config = config or SimulationConfig()
    rng = np.random.default_rng(config.random_state)

    def tick(step: str, done: float, total: float) -> None:
        if progress is not None:
            progress(step, done, total)

    tick("building population", 0, 1)
    pop = build_population(config, rng)
    tick("building population", 1, 1)
    out = run(pop, config, rng, progress)
    former = add_legacy_events(pop, rng, out)
    tick("writing tables", 0, 1)
    tables, truth = build_tables(pop, out, former, rng, config.local_authority, config.random_state)
    tick("writing tables", 1, 1)
    return World(tables=tables, truth=truth, config=config)


def small_world(random_state: int = 0, n_children: int = 3_000, years: int = 4) -> World:
    """A tiny store-ready world for other packages' test fixtures (a second or two).

    It uses the default burn-in, so its first referrals already have history.
    """
    return simulate(SimulationConfig(n_children=n_children, years=years, random_state=random_state))
