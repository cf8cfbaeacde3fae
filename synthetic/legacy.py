"""Adults' own histories from before they joined the household.

A new partner with a police record for domestic abuse, an old probation
order, a mother who was herself in care as a child: these records exist in
agency systems before the family ever comes to notice, and some are dated
before the simulation starts.  They are what a "whole family" chronology can
find and a "start again" screener ignores.
"""

from __future__ import annotations

import numpy as np

from synthetic.events import ROLE, EventLog, code
from synthetic.population import YEAR, Population


def _uniform_in(rng, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return (lo + rng.random(lo.size) * np.maximum(hi - lo, 0)).astype(np.int64)


def add_legacy_events(pop: Population, rng: np.random.Generator, log: EventLog) -> None:
    """Emit each adult's earlier records into ``log`` (before their spell, or before t0)."""
    n = pop.n_adults
    spell_start = pop.spell_start  # spells are one per adult, in adult order
    # The history window runs from age 15 to when the adult joined the household
    # (for adults already there before the run: to the first simulated day).
    hi = np.where(spell_start > 0, spell_start, 0)
    lo = np.maximum(pop.adult_dob + int(15 * YEAR), hi - int(10 * YEAR))
    has_window = hi > lo
    flags = pop.adult_flags

    def repeat(mask: np.ndarray, mean: float):
        idx = np.flatnonzero(mask & has_window)
        k = rng.poisson(mean, idx.size)
        who = np.repeat(idx, k)
        return who, _uniform_in(rng, lo[who], hi[who])

    # Domestic abuse: police incidents as perpetrator, sometimes a restraining order.
    who, day = repeat(flags["da"], 1.6)
    log.add(
        who,
        code("police", "domestic_incident"),
        day,
        ROLE["perpetrator"],
        rng.integers(1, 4, who.size),
    )
    who, day = repeat(flags["da"], 0.15)
    log.add(who, code("police", "restraining_order"), day, ROLE["perpetrator"])
    # Criminal record: offences, arrests and probation supervision.
    who, day = repeat(flags["crim"], 1.5)
    violent = rng.random(who.size) < 0.4
    log.add(
        who[violent],
        code("police", "violent_offence"),
        day[violent],
        ROLE["perpetrator"],
        rng.integers(1, 4, violent.sum()),
    )
    log.add(who[~violent], code("police", "other_offence"), day[~violent], ROLE["perpetrator"], 1)
    log.add(who, code("police", "arrest"), day, ROLE["subject"])
    sup = rng.random(who.size) < 0.3
    log.add(who[sup], code("probation", "supervision_start"), day[sup] + 60, ROLE["subject"])
    log.add(who[sup], code("probation", "supervision_end"), day[sup] + 60 + 365, ROLE["subject"])
    # Substance misuse treatment and mental-health contacts.
    who, day = repeat(flags["subst"], 0.8)
    log.add(who, code("substance_misuse", "treatment_start"), day, ROLE["subject"])
    ended = rng.random(who.size) < 0.7
    log.add(
        who[ended],
        code("substance_misuse", "treatment_end"),
        day[ended] + rng.integers(60, 365, ended.sum()),
        ROLE["subject"],
    )
    who, day = repeat(flags["mh"], 2.0)
    log.add(who, code("adult_mental_health", "mh_contact"), day, ROLE["subject"])
    who, day = repeat(flags["mh"], 0.2)
    log.add(who, code("adult_mental_health", "mh_crisis"), day, ROLE["subject"])
    # Care leavers: their own looked-after episode, in childhood.
    cl = np.flatnonzero(flags["care_leaver"])
    start = pop.adult_dob[cl] + (rng.uniform(4, 15, cl.size) * YEAR).astype(np.int64)
    end = pop.adult_dob[cl] + int(18 * YEAR)
    log.add(cl, code("children_social_care", "looked_after_start"), start, ROLE["subject"])
    log.add(cl, code("children_social_care", "looked_after_end"), end, ROLE["subject"])
    assert n == pop.spell_adult.size
