"""Adults' own histories from before they joined the household.

A new partner with a police record for domestic abuse, an old probation
order, a mother who was herself in care as a child: these records exist in
agency systems before the family ever comes to notice, and some are dated
before the simulation starts.  They are what a "whole family" chronology can
find and a "start again" screener ignores.

An earlier domestic incident has a victim as well as its perpetrator: the
partner the abuser lived with at the time when that is someone in the
simulated household (the mother, or a mother's partner), else an earlier
partner who lives outside the authority's households
(:class:`FormerPartners`, people with no household membership).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic import params as p
from synthetic.events import ROLE, code
from synthetic.monthly import Outcome
from synthetic.population import ROLE_PARTNER, YEAR, Population


@dataclass
class FormerPartners:
    """Earlier partners of abusive adults, met only as victims of legacy incidents.

    Their person indices follow every household adult's (``pop.n_adults + i``
    in the adult log); they live in no simulated household.
    """

    dob: np.ndarray
    female: np.ndarray
    eth: np.ndarray  # index into ETHNICITIES, or -1 for Not recorded
    disability: np.ndarray

    @property
    def n(self) -> int:
        return self.dob.size


def _uniform_in(rng, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A day in ``[lo, hi)``: the offset is floored, so a negative (pre-run) day never
    rounds up to ``hi`` (which is the first simulated day or the day the adult joined)."""
    offset = np.floor(rng.random(lo.size) * np.maximum(hi - lo, 0)).astype(np.int64)
    return lo.astype(np.int64) + offset


def _covering(group, start, end, q_group, q_day) -> np.ndarray:
    """Index of the interval of ``q_group`` that covers ``q_day`` (-1: none).

    Intervals of one group must not overlap (one partner at a time, one care
    episode at a time).  Vectorised with one sort and one binary search.
    """
    q_group = np.asarray(q_group, np.int64)
    if np.size(group) == 0:
        return np.full(q_group.size, -1, np.int64)
    shift = np.int64(2**31)
    key = (np.asarray(group, np.int64) << 32) | (np.asarray(start, np.int64) + shift)
    order = np.argsort(key, kind="stable")
    q_key = (q_group << 32) | (np.asarray(q_day, np.int64) + shift)
    pos = np.searchsorted(key[order], q_key, side="right") - 1
    cand = order[np.maximum(pos, 0)]
    hit = (pos >= 0) & (np.asarray(group)[cand] == q_group) & (np.asarray(end)[cand] > q_day)
    return np.where(hit, cand, -1)


def _children_at_home(pop: Population, out: Outcome, fam: np.ndarray, day: np.ndarray):
    """(row, child) pairs: the children living in household ``fam[row]`` on ``day[row]``."""
    order = np.argsort(pop.child_fam, kind="stable")
    count = np.bincount(pop.child_fam, minlength=pop.n_families)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    k = count[fam]
    row = np.repeat(np.arange(fam.size), k)
    within = np.arange(row.size) - np.repeat(np.cumsum(k) - k, k)
    child = order[first[fam[row]] + within]
    d = day[row]
    home = (pop.child_dob[child] <= d) & (d < pop.child_dob18[child])
    row, child, d = row[home], child[home], d[home]
    in_care = _covering(out.la_child, out.la_start, out.la_end, child, d) >= 0
    return row[~in_care], child[~in_care]


def _domestic_history(
    pop: Population, rng: np.random.Generator, out: Outcome, lo: np.ndarray, hi: np.ndarray
) -> FormerPartners:
    """Abusive adults' earlier police domestic incidents, each with its victim.

    An incident dated while the abuser already lived in the household (adults
    there before the first simulated day) has the partner living with them
    then as victim and the children at home as witnesses, as the monthly loop
    records it; any other has an earlier partner from outside.  Both parties
    are 16 or over (``DA_MIN_AGE``).
    """
    lo = np.maximum(lo, pop.adult_dob + int(p.DA_MIN_AGE * YEAR))
    idx = np.flatnonzero(pop.adult_flags["da"] & (hi > lo))
    who = np.repeat(idx, rng.poisson(1.6, idx.size))
    day = _uniform_in(rng, lo[who], hi[who])
    sev = rng.integers(1, 4, who.size)
    fam = pop.spell_fam[who]
    mother = pop.fam_mother[fam]
    men = np.flatnonzero(
        (pop.spell_role <= ROLE_PARTNER) & (pop.spell_adult != pop.fam_mother[pop.spell_fam])
    )
    partner = _covering(pop.spell_fam[men], pop.spell_start[men], pop.spell_end[men], fam, day)
    partner = np.where(partner >= 0, men[np.maximum(partner, 0)], -1)
    inside = (pop.spell_start[who] <= day) & (day < pop.spell_end[who])
    victim = np.where(inside, np.where(who == mother, partner, mother), -1)
    latest_dob = day - int(p.DA_MIN_AGE * YEAR)
    victim = np.where(
        (victim >= 0) & (pop.adult_dob[np.maximum(victim, 0)] <= latest_dob), victim, -1
    )
    # Everything else: one earlier partner per abuser, from outside.
    outside = victim < 0
    abuser, which = np.unique(who[outside], return_inverse=True)
    first = np.full(abuser.size, np.iinfo(np.int64).max)
    np.minimum.at(first, which, day[outside])
    n_out = abuser.size
    dob = pop.adult_dob[abuser] + (rng.normal(0.0, 4.0, n_out) * YEAR).astype(np.int64)
    eth = pop.adult_eth[abuser].copy()
    eth[rng.random(n_out) < p.ETHNICITY_NOT_RECORDED] = -1
    former = FormerPartners(
        dob=np.minimum(dob, first - int(p.DA_MIN_AGE * YEAR) - 1),
        female=~pop.adult_female[abuser],
        eth=eth,
        disability=rng.choice(3, size=n_out, p=p.ADULT_DISABILITY).astype(np.int8),
    )
    victim[outside] = pop.n_adults + which
    incident = out.incidents.take(who.size)
    da_code = code("police", "domestic_incident")
    out.adult_log.add(victim, da_code, day, ROLE["victim"], sev, incident)
    out.adult_log.add(who, da_code, day, ROLE["perpetrator"], sev, incident)
    at_home = np.flatnonzero(inside & ~outside)
    row, child = _children_at_home(pop, out, fam[at_home], day[at_home])
    row = at_home[row]
    out.child_log.add(child, da_code, day[row], ROLE["witness"], sev[row], incident[row])
    return former


def add_legacy_events(pop: Population, rng: np.random.Generator, out: Outcome) -> FormerPartners:
    """Emit each adult's earlier records into ``out``'s logs (before their spell, or before t0).

    Returns the people from outside the households that those records name.
    """
    log = out.adult_log
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

    # Domestic abuse: police incidents (with their victims), sometimes a restraining order.
    former = _domestic_history(pop, rng, out, lo, hi)
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
    return former
