"""The monthly loop: latent harm, what agencies see, referrals, screening, outcomes.

One step is one calendar month, vectorised over every child alive in it
(children are sorted by birth, so the living are a contiguous slice) and over
every household.  Inside a month, each event gets its own day.  Outcomes that
follow a referral (a section 47 enquiry, a conference, a plan, care) are
scheduled on their own days, possibly in later months, and the child's state
arrays carry them forward.

All rates are monthly; see :mod:`synthetic.params` and docs/synthetic-world.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from store import vocabulary as v
from synthetic import params as p
from synthetic.config import SimulationConfig
from synthetic.events import ROLE, EventLog, Incidents, code
from synthetic.population import ROLE_PARENT, ROLE_PARTNER, YEAR, Population

HARM_TYPES = ("neglect", "physical_abuse", "emotional_abuse", "sexual_abuse", "other")
NEGLECT, PHYSICAL, EMOTIONAL, SEXUAL, OTHER = range(5)
SOURCES = v.REFERRAL_SOURCES
SRC = {s: i for i, s in enumerate(SOURCES)}
REL = {r: i for i, r in enumerate(v.REFERRER_RELATIONSHIPS)}
CONCERN_BIT = {c: 1 << i for i, c in enumerate(v.CONCERNS)}
HARM_CONCERN = np.array(
    [
        CONCERN_BIT[c]
        for c in ("neglect", "physical_abuse", "emotional_abuse", "sexual_abuse", "other")
    ],
    dtype=np.uint8,
)
NFA, EARLY_HELP, ASSESSMENT, STRATEGY = range(4)
CLOSURE = {c: i for i, c in enumerate(v.CLOSURE_REASONS)}  # -1 = none

CSC = "children_social_care"


@dataclass
class Referrals:
    """Referral-level and referral-child-level arrays, in order of creation."""

    fam: np.ndarray
    day: np.ndarray
    source: np.ndarray
    relationship: np.ndarray
    concerns: np.ndarray
    decision: np.ndarray
    decided_day: np.ndarray
    closure: np.ndarray
    child_ref: np.ndarray  # referral index of each referral-child row
    child: np.ndarray


@dataclass
class Outcome:
    """What the loop produced, still as integer arrays."""

    child_log: EventLog
    adult_log: EventLog
    incidents: Incidents  # numbers the incidents of both logs (legacy ones come later)
    referrals: Referrals
    harm_child: np.ndarray
    harm_start: np.ndarray
    harm_end: np.ndarray
    harm_type: np.ndarray
    harm_sev: np.ndarray
    la_child: np.ndarray
    la_start: np.ndarray
    la_end: np.ndarray
    si_child: np.ndarray
    si_day: np.ndarray
    si_expected: float  # expected serious incidents in the window at multiplier 1


def _month_starts(pop: Population) -> np.ndarray:
    first = pop.t0.astype("datetime64[M]")
    last = (pop.t0 + np.timedelta64(pop.n_days, "D")).astype("datetime64[M]")
    months = np.arange(first, last + 1, dtype="datetime64[M]").astype("datetime64[D]")
    days = (months - pop.t0).astype(np.int64)
    days[0] = 0
    days = days[days <= pop.n_days]
    if days[-1] < pop.n_days:
        days = np.append(days, pop.n_days)
    return days


class _Chunks:
    """Lists of array chunks concatenated once at the end."""

    def __init__(self, *names: str) -> None:
        self.parts: dict[str, list[np.ndarray]] = {n: [] for n in names}

    def add(self, **arrays) -> None:
        for name, arr in arrays.items():
            self.parts[name].append(np.asarray(arr))

    def get(self, name: str, dtype) -> np.ndarray:
        parts = self.parts[name]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


class World_:
    """Mutable state of one run (private; :func:`run` is the entry point)."""

    def __init__(self, pop: Population, config: SimulationConfig, rng: np.random.Generator):
        self.pop, self.config, self.rng = pop, config, rng
        # Serious incidents draw from their own stream so that the multiplier
        # changes nothing else in the world.
        self.si_rng = np.random.default_rng([config.random_state, 7])
        c = pop.n_children
        self.h_start = np.full(c, -1, np.int64)
        self.si_done = np.zeros(c, bool)  # a child has at most one serious incident
        self.si_expected = 0.0  # expected serious incidents at multiplier 1 (diagnostic)
        self.h_end = np.full(c, -(2**40), np.int64)
        self.h_type = np.zeros(c, np.int8)
        self.h_sev = np.zeros(c, np.int8)
        self.cp_start = np.full(c, -(2**40), np.int64)
        self.cp_end = np.full(c, -(2**40), np.int64)
        self.la_start = np.full(c, -(2**40), np.int64)
        self.la_end = np.full(c, -(2**40), np.int64)
        self.n_ref = np.zeros(c, np.int32)
        nf = pop.n_families
        self.fam_last_ref = np.full(nf, -(2**40), np.int64)
        self.fam_last_src = np.zeros(nf, np.int8)
        self.fam_last_rel = np.zeros(nf, np.int8)
        self.fam_last_closed = np.zeros(nf, bool)
        self.child_log = EventLog()
        self.adult_log = EventLog()
        self.incidents = Incidents()
        self.harm = _Chunks("child", "start", "end", "type", "sev")
        self.la = _Chunks("child", "start", "end")
        self.si = _Chunks("child", "day")
        self.refs = _Chunks(
            "fam", "day", "source", "rel", "concerns", "decision", "decided", "closure"
        )
        self.ref_rows = _Chunks("ref", "child")
        self.n_refs = 0

    # -- helpers ---------------------------------------------------------------
    def bern(self, rate) -> np.ndarray:
        """One Bernoulli draw per element with probability ``1 - exp(-rate)``.

        Only elements with a positive rate consume random numbers: most rates
        are zero for most people (no risk factor, wrong age), and skipping them
        is what keeps a million-child month fast.
        """
        rate = np.asarray(rate, dtype=float).ravel()
        out = np.zeros(rate.size, bool)
        nz = np.flatnonzero(rate)
        if nz.size:
            out[nz] = self.rng.random(nz.size) < -np.expm1(-rate[nz])
        return out

    def days_in(self, d0: int, d1: int, n: int, floor=None) -> np.ndarray:
        day = d0 + (self.rng.random(n) * (d1 - d0)).astype(np.int64)
        if floor is not None:
            day = np.maximum(day, floor)
        return day

    def flush_harm(self, children: np.ndarray) -> None:
        had = children[self.h_start[children] >= -(2**30)]
        had = had[self.h_start[had] >= 0]
        if had.size:
            self.harm.add(
                child=had,
                start=self.h_start[had],
                end=self.h_end[had],
                type=self.h_type[had],
                sev=self.h_sev[had],
            )

    def start_plan(self, child: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        ok = start < self.pop.child_dob18[child]
        child, start = child[ok], start[ok]
        end = np.minimum(end[ok], self.pop.child_dob18[child])
        old = child[(self.cp_start[child] > -(2**39))]
        self._emit_end(old, self.cp_end[old], "cp_plan_end")
        self.cp_start[child], self.cp_end[child] = start, end
        self.child_log.add(child, code(CSC, "cp_plan_start"), start, ROLE["subject"])

    def start_care(self, child: np.ndarray, start: np.ndarray) -> None:
        """Looked after from ``start``: the harm stops, any plan ends, the child leaves home."""
        ok = start < self.pop.child_dob18[child]
        child, start = child[ok], start[ok]
        if child.size == 0:
            return
        rng = self.rng
        old = child[(self.la_start[child] > -(2**39))]
        self._close_care(old)
        short = rng.random(child.size) < p.CARE_SHORT_SHARE
        dur = (
            np.where(
                short,
                rng.lognormal(np.log(p.CARE_SHORT_MEDIAN_DAYS), p.CARE_SHORT_SIGMA, child.size),
                rng.exponential(p.CARE_LONG_MEAN_YEARS * YEAR, child.size),
            ).astype(np.int64)
            + 7
        )
        end = np.minimum(start + dur, self.pop.child_dob18[child])
        self.la_start[child], self.la_end[child] = start, end
        self.child_log.add(child, code(CSC, "looked_after_start"), start, ROLE["subject"])
        self.h_end[child] = np.where(
            self.h_end[child] > start, np.maximum(start, self.h_start[child] + 1), self.h_end[child]
        )
        on_plan = (self.cp_start[child] <= start) & (self.cp_end[child] > start)
        self.cp_end[child] = np.where(on_plan, start, self.cp_end[child])

    def _close_care(self, old: np.ndarray) -> None:
        if old.size:
            self.la.add(child=old, start=self.la_start[old], end=self.la_end[old])
            self._emit_end(old, self.la_end[old], "looked_after_end")

    def _emit_end(self, child: np.ndarray, end: np.ndarray, etype: str) -> None:
        ok = end < self.pop.n_days
        self.child_log.add(child[ok], code(CSC, etype), end[ok], ROLE["subject"])


def _initial_care(w: World_) -> None:
    """Children already looked after when the run begins (legacy records)."""
    pop, rng = w.pop, w.rng
    alive = np.flatnonzero((pop.child_dob < 0) & (pop.child_dob18 > 0))
    f = pop.child_fam[alive]
    risk = np.exp(1.0 * pop.fam_adversity[f] + pop.fam_frailty[f])
    n = int(round(p.INITIAL_CARE_SHARE * alive.size))
    if n == 0:
        return
    pick = rng.choice(alive, size=n, replace=False, p=risk / risk.sum())
    pick.sort()
    age = -pop.child_dob[pick]
    start = -(rng.random(n) * np.minimum(age, 6 * YEAR)).astype(np.int64)
    end = np.minimum(
        (rng.exponential(p.INITIAL_CARE_REMAINING_YEARS * YEAR, n)).astype(np.int64) + 30,
        pop.child_dob18[pick],
    )
    w.la_start[pick], w.la_end[pick] = start, end
    w.child_log.add(pick, code(CSC, "looked_after_start"), start, ROLE["subject"])


def run(
    pop: Population,
    config: SimulationConfig,
    rng: np.random.Generator,
    progress: Callable[[str, float, float], None] | None = None,
) -> Outcome:
    """Run the monthly loop over the whole span and return its records."""
    w = World_(pop, config, rng)
    _initial_care(w)
    months = _month_starts(pop)
    n_months = months.size - 1
    for m in range(n_months):
        _step(w, int(months[m]), int(months[m + 1]))
        if progress is not None:
            progress("simulating months", m + 1, n_months)
    every = np.arange(pop.n_children)
    w.flush_harm(every)
    w._emit_end(every[w.cp_start > -(2**39)], w.cp_end[w.cp_start > -(2**39)], "cp_plan_end")
    w._close_care(every[w.la_start > -(2**39)])
    r = w.refs
    return Outcome(
        child_log=w.child_log,
        adult_log=w.adult_log,
        incidents=w.incidents,
        referrals=Referrals(
            fam=r.get("fam", np.int64),
            day=r.get("day", np.int64),
            source=r.get("source", np.int8),
            relationship=r.get("rel", np.int8),
            concerns=r.get("concerns", np.uint8),
            decision=r.get("decision", np.int8),
            decided_day=r.get("decided", np.int64),
            closure=r.get("closure", np.int8),
            child_ref=w.ref_rows.get("ref", np.int64),
            child=w.ref_rows.get("child", np.int64),
        ),
        harm_child=w.harm.get("child", np.int64),
        harm_start=w.harm.get("start", np.int64),
        harm_end=w.harm.get("end", np.int64),
        harm_type=w.harm.get("type", np.int8),
        harm_sev=w.harm.get("sev", np.int8),
        la_child=w.la.get("child", np.int64),
        la_start=w.la.get("start", np.int64),
        la_end=w.la.get("end", np.int64),
        si_child=w.si.get("child", np.int64),
        si_day=w.si.get("day", np.int64),
        si_expected=w.si_expected,
    )


def _categorical(rng, weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights, axis=1)
    u = rng.random(weights.shape[0]) * cum[:, -1]
    return (u[:, None] >= cum).sum(axis=1)


def _domestic_pairs(
    pop: Population, d0: int, partner_of: np.ndarray, partners: np.ndarray, da: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Who would be the perpetrator and who the victim of a domestic incident, per household.

    A police domestic incident has one victim and a different perpetrator,
    both aged 16 or over, one of them the mother (the only adult every
    household has):

    * a partner (father or new partner) living there with the domestic-abuse
      factor abuses the mother;
    * otherwise a mother with the factor abuses her partner, or, when nobody
      lives with her, her most recent former partner: the children's father
      however long ago he left (child contact keeps them in touch), a later
      partner within ``EX_PARTNER_YEARS`` (post-separation abuse);
    * otherwise (the background incidents of any couple) that partner or
      former partner is recorded as perpetrator and the mother as victim.

    A household with no second party has no domestic incident: recording the
    mother as victim *and* perpetrator, or a victim with no perpetrator, is
    the defect this replaces.

    Parameters
    ----------
    partner_of
        Per household, the father or partner living there this month (-1: none).
    partners
        Adult indices of every father or partner living in a household this month.
    da
        Per adult, the domestic-abuse factor.

    Returns
    -------
    perp_of, victim_of, abusive
        Per household: adult index of the perpetrator and of the victim (-1 when
        there is no pair), and whether the pair includes an abusive adult.
    """
    n_fam = pop.n_families
    mother = pop.fam_mother
    # Spells are numbered in time order within a household (father, then each
    # new partner), so the largest index is the most recent.
    gone = np.flatnonzero(
        (pop.spell_role <= ROLE_PARTNER)
        & (pop.spell_end <= d0)
        & ((pop.spell_role == ROLE_PARENT) | (pop.spell_end > d0 - p.EX_PARTNER_YEARS * YEAR))
    )
    ex_of = np.full(n_fam, -1, np.int64)
    np.maximum.at(ex_of, pop.spell_fam[gone], gone)
    other = np.where(partner_of >= 0, partner_of, ex_of)
    abuser = np.full(n_fam, -1, np.int64)
    abusers = partners[da[partners]]
    np.maximum.at(abuser, pop.spell_fam[abusers], abusers)
    man_abuses = abuser >= 0
    mother_abuses = ~man_abuses & da[mother] & (other >= 0)
    perp = np.where(man_abuses, abuser, np.where(mother_abuses, mother, other))
    victim = np.where(mother_abuses, other, mother)
    latest_dob = d0 - p.DA_MIN_AGE * YEAR
    ok = (perp >= 0) & (pop.adult_dob[np.maximum(victim, 0)] <= latest_dob)
    ok &= pop.adult_dob[np.maximum(perp, 0)] <= latest_dob
    ok &= victim >= 0
    return np.where(ok, perp, -1), np.where(ok, victim, -1), (man_abuses | mother_abuses) & ok


@dataclass
class _Month:
    """What one month of the loop knows about the living children and their homes.

    Built by :func:`_month`; :func:`_new_harm` adds the month's harm state.
    Arrays named for children are aligned with ``child`` (the children alive
    this month, a contiguous slice); arrays named for households have one
    entry per household.
    """

    d0: int  # first day of the month
    d1: int  # first day of the next
    child: np.ndarray
    fam: np.ndarray  # each child's household
    dob: np.ndarray
    age: np.ndarray  # years at the month's start
    band: np.ndarray  # age band: under 1, 1-4, 5-9, 10-14, 15-17
    expo: np.ndarray  # each child's household's exposure to agencies
    spells: np.ndarray  # adult spells active this month
    fam_flag: dict[str, np.ndarray]  # per household: an adult with the factor lives there
    new_partner: np.ndarray  # per household: a partner who arrived in the last year
    perp_of: np.ndarray  # per household: perpetrator of a domestic incident (-1: none)
    victim_of: np.ndarray
    abusive: np.ndarray  # per household: the pair includes an abusive adult
    separating: np.ndarray  # per household: a father or partner leaves this month
    n_risk: np.ndarray  # per household: visible difficulties
    in_care: np.ndarray
    in_harm: np.ndarray
    harm_type: np.ndarray | None = None  # per child: type of the active episode, -1 none
    harm_sev: np.ndarray | None = None  # per child: its severity, 0 none
    homes: _Households | None = None  # set by _households

    @property
    def n(self) -> int:
        return self.child.size

    def at_home(self, factor: str) -> np.ndarray:
        """Per child: an adult with ``factor`` lives in the household this month."""
        return self.fam_flag[factor][self.fam]


@dataclass
class _Households:
    """The households with a child alive this month and the adults living in them."""

    fams: np.ndarray
    expo: np.ndarray  # exposure to agencies of each of ``fams``
    harmed: np.ndarray  # per household (all): a child there is being harmed
    live: np.ndarray  # adult spells in a household with children
    live_expo: np.ndarray


def _step(w: World_, d0: int, d1: int) -> None:
    """One calendar month: harm, what agencies see, referrals, screening, care."""
    mo = _month(w, d0, d1)
    if mo is None:
        return
    _new_harm(w, mo)
    _serious_incidents(w, mo)
    seen = _child_events(w, mo)
    mo.homes = _households(w, mo)
    seen.update(_domestic_incidents(w, mo))
    seen.update(_adult_services(w, mo))
    seen.update(_housing_events(w, mo))
    cand = _Candidates(w, mo)
    _event_referrals(w, mo, seen, cand)
    _direct_referrals(mo, cand)
    _rereferrals(w, mo, cand)
    if cand.parts["fam"]:
        _screen(w, mo, cand)
    _plans_to_care(w, mo.child, mo.in_harm, d0, d1)


def _month(w: World_, d0: int, d1: int) -> _Month | None:
    """The children alive in ``[d0, d1)`` and who lives with them; None if none."""
    pop = w.pop
    lo = int(np.searchsorted(pop.child_dob18, d0, side="right"))
    hi = int(np.searchsorted(pop.child_dob, d1, side="left"))
    if hi <= lo:
        return None
    c = np.arange(lo, hi)
    f = pop.child_fam[c]
    dob = pop.child_dob[c]
    age = np.maximum(d0 - dob, 0) / YEAR
    band = np.searchsorted(np.array([1.0, 5.0, 10.0, 15.0]), age, side="right")
    n_fam = pop.n_families
    active = (pop.spell_start < d1) & (pop.spell_end > d0)
    sp = np.flatnonzero(active)
    sfam = pop.spell_fam[sp]
    fl = pop.adult_flags
    fam_flag = {}
    for name in ("da", "subst", "mh", "crim"):
        arr = np.zeros(n_fam, bool)
        arr[sfam[fl[name][sp]]] = True
        fam_flag[name] = arr
    newp = np.zeros(n_fam, bool)
    is_new = (pop.spell_role[sp] == ROLE_PARTNER) & (d0 - pop.spell_start[sp] < 365)
    newp[sfam[is_new]] = True
    partner_of = np.full(n_fam, -1, np.int64)  # a present father or partner
    man = sp[pop.spell_role[sp] <= ROLE_PARTNER]
    not_mother = man[man >= n_fam]
    partner_of[pop.spell_fam[not_mother]] = not_mother
    perp_of, victim_of, abusive = _domestic_pairs(pop, d0, partner_of, not_mother, fl["da"])
    ending = (pop.spell_end >= d0) & (pop.spell_end < d1) & (pop.spell_role <= ROLE_PARTNER)
    sep = np.zeros(n_fam, bool)
    sep[pop.spell_fam[ending]] = True
    # Visible difficulties of each household this month (capped at 4 where used).
    n_risk = (
        fam_flag["da"].astype(np.int8)
        + fam_flag["subst"]
        + fam_flag["mh"]
        + fam_flag["crim"]
        + newp
        + pop.fam_housing
        + pop.fam_young
        + pop.fam_care_leaver
    )
    return _Month(
        d0=d0,
        d1=d1,
        child=c,
        fam=f,
        dob=dob,
        age=age,
        band=band,
        expo=pop.fam_exposure[f],
        spells=sp,
        fam_flag=fam_flag,
        new_partner=newp,
        perp_of=perp_of,
        victim_of=victim_of,
        abusive=abusive,
        separating=sep,
        n_risk=n_risk,
        in_care=(w.la_start[c] < d1) & (w.la_end[c] > d0),
        in_harm=(w.h_start[c] < d1) & (w.h_end[c] > d0),
    )


def _new_harm(w: World_, mo: _Month) -> None:
    """New latent harm episodes, then the month's harm type and severity per child."""
    pop, rng, c, f = w.pop, w.rng, mo.child, mo.fam
    x_da, x_sub, x_mh = mo.at_home("da"), mo.at_home("subst"), mo.at_home("mh")
    x_young, x_house = pop.fam_young[f], pop.fam_housing[f]
    b = p.HARM_BETA
    lin = (
        b["da"] * x_da
        + b["subst"] * x_sub
        + b["mh"] * x_mh
        + b["crim"] * mo.at_home("crim")
        + b["new_partner"] * mo.new_partner[f]
        + b["young"] * x_young
        + b["care_leaver"] * pop.fam_care_leaver[f]
        + b["housing"] * x_house
        + p.HARM_DEPRIVATION_BETA * pop.fam_dep_z[f]
        + pop.fam_frailty[f]
    )
    hazard = (
        p.HARM_BASE * w.config.harm_rate_multiplier * np.exp(lin) * np.array(p.HARM_AGE)[mo.band]
    )
    new = ~mo.in_harm & ~mo.in_care & w.bern(hazard)
    ni = np.flatnonzero(new)
    if ni.size:
        child_ids = c[ni]
        w.flush_harm(child_ids)
        start = w.days_in(mo.d0, mo.d1, ni.size, floor=mo.dob[ni])
        months = rng.geometric(p.HARM_MONTHLY_END, ni.size)
        dur = (months * 30.44 - rng.random(ni.size) * 30).astype(np.int64) + 7
        a = mo.age[ni]
        t = p.HARM_TYPE_WEIGHTS
        weights = np.column_stack(
            [
                t["neglect"]["base"]
                + t["neglect"]["subst"] * x_sub[ni]
                + t["neglect"]["young"] * x_young[ni]
                + t["neglect"]["housing"] * x_house[ni],
                t["physical"]["base"]
                + t["physical"]["under1"] * (a < 1)
                + t["physical"]["da"] * x_da[ni],
                t["emotional"]["base"]
                + t["emotional"]["da"] * x_da[ni]
                + t["emotional"]["mh"] * x_mh[ni],
                t["sexual"]["base"] + t["sexual"]["age5"] * (a >= 5),
                t["other"]["base"] + t["other"]["age13"] * (a >= 13),
            ]
        )
        htype = _categorical(rng, weights)
        sev = _categorical(rng, np.tile(np.array(p.HARM_SEVERITY_P), (ni.size, 1))) + 1
        bump = (
            (htype == PHYSICAL) & (a < 1) & (rng.random(ni.size) < p.PHYSICAL_INFANT_SEVERITY_BUMP)
        )
        sev = np.minimum(sev + bump, 3)
        w.h_start[child_ids], w.h_end[child_ids] = start, start + dur
        w.h_type[child_ids], w.h_sev[child_ids] = htype, sev
        mo.in_harm[ni] = True
    mo.harm_type = np.where(mo.in_harm, w.h_type[c], -1)
    mo.harm_sev = np.where(mo.in_harm, w.h_sev[c], 0)


def _serious_incidents(w: World_, mo: _Month) -> None:
    """Serious incidents, from their own random stream (no feedback into the world)."""
    pop, cfg, c, f = w.pop, w.config, mo.child, mo.fam
    si_rate = (
        p.SI_BASE
        * cfg.serious_incident_multiplier
        * np.array(p.SI_AGE)[mo.band]
        * np.where(pop.child_male[c], p.SI_MALE, 1.0)
        * np.exp(p.SI_DEPRIVATION_BETA * pop.fam_dep_z[f])
        * np.where(mo.at_home("da"), p.SI_DA, 1.0)
        * np.exp(p.SI_FRAILTY_BETA * pop.fam_frailty[f] / p.HARM_FAMILY_FRAILTY_SD)
        * np.exp(p.SI_RISK_BETA * np.minimum(mo.n_risk[f], 4))
        * (
            p.SI_OUTSIDE_HARM
            + mo.in_harm
            * p.SI_HARM_FACTOR
            * np.array((0.0,) + p.SI_SEVERITY)[mo.harm_sev]
            # Harm escalates: the longer an episode goes on, the likelier a serious incident.
            * (
                1.0
                + np.minimum(
                    np.maximum(mo.d0 - w.h_start[c], 0) / p.SI_ESCALATION_DAYS, p.SI_ESCALATION_MAX
                )
            )
        )
    )
    if mo.d0 >= pop.window_start:
        w.si_expected += float(si_rate[~w.si_done[c]].sum()) / cfg.serious_incident_multiplier
    si = np.flatnonzero((w.si_rng.random(mo.n) < -np.expm1(-si_rate)) & ~w.si_done[c])
    if si.size:
        w.si_done[c[si]] = True
        day = np.maximum(
            mo.d0 + (w.si_rng.random(si.size) * (mo.d1 - mo.d0)).astype(np.int64), mo.dob[si]
        )
        w.si.add(child=c[si], day=day)


def _child_event(w: World_, mo: _Month, rate, agency: str, etype: str, severity=0):
    """Draw one kind of agency event about children; returns (row, day) of each."""
    hit = np.flatnonzero(w.bern(rate * mo.expo))
    day = w.days_in(mo.d0, mo.d1, hit.size, floor=mo.dob[hit])
    sev = severity[hit] if isinstance(severity, np.ndarray) else severity
    w.child_log.add(mo.child[hit], code(agency, etype), day, ROLE["subject"], sev)
    return hit, day


def _child_events(w: World_, mo: _Month) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Births, and what health, schools and the police see about the children."""
    dob, age, in_harm = mo.dob, mo.age, mo.in_harm
    born = np.flatnonzero((dob >= mo.d0) & (dob < mo.d1))
    w.child_log.add(mo.child[born], code("health", "birth"), dob[born], ROLE["subject"])
    under5, nonmobile, school_age = age < 5, age < 0.5, (age >= 5) & (age < 16)
    phys, negl, oth = (mo.harm_type == t for t in (PHYSICAL, NEGLECT, OTHER))
    hsev = mo.harm_sev
    seen = {}
    r = p.ED_ATTENDANCE
    seen["ed"] = _child_event(
        w,
        mo,
        np.where(under5, r["under5"], r["older"]) + r["physical"] * phys + r["harm"] * in_harm,
        "health",
        "ed_attendance",
    )
    a, b = p.INJURY_NONMOBILE, p.INJURY_MOBILE
    inj_rate = np.where(
        nonmobile,
        a["base"] + a["physical"] * phys,
        b["base"] + b["physical_per_severity"] * phys * hsev,
    )
    inj_sev = np.where(
        phys, np.maximum(hsev, 1), 1 + (w.rng.random(mo.n) < p.INJURY_SEVERE_SHARE)
    ).astype(np.int8)
    seen["injury"] = _child_event(w, mo, inj_rate, "health", "injury", severity=inj_sev)
    seen["injury_severity"] = inj_sev
    a, b = p.MISSED_APPOINTMENT_UNDER5, p.MISSED_APPOINTMENT_OLDER
    seen["missed"] = _child_event(
        w,
        mo,
        np.where(under5, a["base"] + a["neglect"] * negl, b["base"] + b["neglect"] * negl),
        "health",
        "missed_appointment",
    )
    _child_event(w, mo, p.HEALTH_SERVICE_DECLINED["neglect"] * negl, "health", "service_declined")
    r = p.SCHOOL_ABSENCE
    seen["absence"] = _child_event(
        w,
        mo,
        school_age
        * (
            r["base"]
            + r["neglect"] * negl
            + r["harm"] * in_harm
            + r["other_over12"] * (oth & (age >= 12))
        ),
        "education",
        "school_absence",
    )
    r = p.EXCLUSION
    seen["exclusion"] = _child_event(
        w,
        mo,
        ((age >= 10) & (age < 16)) * (r["base"] + r["harm"] * in_harm + r["other"] * oth),
        "education",
        "exclusion",
    )
    r = p.MISSING_EPISODE
    seen["missing"] = _child_event(
        w,
        mo,
        (age >= 12) * (r["base"] + r["other"] * oth + r["harm"] * in_harm),
        "police",
        "missing_episode",
    )
    return seen


def _households(w: World_, mo: _Month) -> _Households:
    """The households with a child alive this month (no random draws)."""
    pop = w.pop
    fam_n = np.bincount(mo.fam, minlength=pop.n_families)
    fams = np.flatnonzero(fam_n > 0)
    harmed = np.zeros(pop.n_families, bool)
    harmed[mo.fam[mo.in_harm]] = True
    live = mo.spells[fam_n[pop.spell_fam[mo.spells]] > 0]
    return _Households(
        fams=fams,
        expo=pop.fam_exposure[fams],
        harmed=harmed,
        live=live,
        live_expo=pop.fam_exposure[pop.spell_fam[live]],
    )


def _domestic_incidents(w: World_, mo: _Month) -> dict:
    """Police domestic incidents: one victim, a distinct perpetrator, the children as witnesses.

    See :func:`_domestic_pairs`; every child at home witnesses it, all at one time.
    """
    pop, rng, homes = w.pop, w.rng, mo.homes
    fams = homes.fams
    has_pair = mo.perp_of[fams] >= 0
    dom_rate = has_pair * (p.DA_INCIDENT_BASE + p.DA_INCIDENT_ABUSIVE * mo.abusive[fams])
    dom = fams[w.bern(dom_rate * homes.expo)]
    dom_day = w.days_in(mo.d0, mo.d1, dom.size)
    perp, victim = mo.perp_of[dom], mo.victim_of[dom]
    # A partner who arrives or leaves this month is a party only on days he lives there.
    other = np.where(perp == pop.fam_mother[dom], victim, perp)
    here = pop.spell_end[other] > mo.d0  # not a former partner
    first = np.maximum(pop.spell_start[other], mo.d0)
    last = np.minimum(pop.spell_end[other], mo.d1) - 1
    dom_day = np.where(here, np.clip(dom_day, first, last), dom_day)
    s = p.DOMESTIC_SEVERITY
    dsev = (
        1
        + (rng.random(dom.size) < s["second"])
        + (rng.random(dom.size) < s["base"] + s["da"] * mo.fam_flag["da"][dom])
    ).astype(np.int8)
    incident = w.incidents.take(dom.size)
    for person, role in ((victim, "victim"), (perp, "perpetrator")):
        w.adult_log.add(
            person, code("police", "domestic_incident"), dom_day, ROLE[role], dsev, incident
        )
    dom_of = np.full(pop.n_families, -1, np.int64)
    dom_of[dom] = np.arange(dom.size)
    f, c, dob = mo.fam, mo.child, mo.dob
    wit = np.flatnonzero((dom_of[f] >= 0) & ~mo.in_care)
    wday = dom_day[dom_of[f[wit]]]
    ok = (dob[wit] <= wday) & (wday < pop.child_dob18[c[wit]])
    which = dom_of[f[wit[ok]]]
    w.child_log.add(
        c[wit[ok]],
        code("police", "domestic_incident"),
        wday[ok],
        ROLE["witness"],
        dsev[which],
        incident[which],
    )
    return {"domestic": (dom, dom_day)}


def _adult_event(w: World_, mo: _Month, rate, event: tuple[str, str], role="subject", severity=0):
    """Draw one kind of ``(agency, event type)`` about the adults living with children."""
    homes = mo.homes
    hit = homes.live[w.bern(rate * homes.live_expo)]
    day = w.days_in(mo.d0, mo.d1, hit.size)
    w.adult_log.add(hit, code(*event), day, ROLE[role], severity)
    return hit, day


def _adult_services(w: World_, mo: _Month) -> dict:
    """Adults' own services (police, probation, mental health, substance misuse)."""
    rng, alog, fl = w.rng, w.adult_log, w.pop.adult_flags
    live = mo.homes.live
    crim = fl["crim"][live]
    off, off_day = _adult_event(
        w, mo, p.OTHER_OFFENCE * crim, ("police", "other_offence"), "perpetrator", 1
    )
    vio, vio_day = _adult_event(
        w, mo, p.VIOLENT_OFFENCE * crim, ("police", "violent_offence"), "perpetrator", 2
    )
    arrested = rng.random(vio.size) < p.ARREST_SHARE
    alog.add(vio[arrested], code("police", "arrest"), vio_day[arrested], ROLE["subject"])
    sup = np.concatenate([off, vio])
    sup_day = np.concatenate([off_day, vio_day])
    pick = rng.random(sup.size) < p.SUPERVISION_SHARE
    sup, sup_day = sup[pick], sup_day[pick] + rng.integers(30, 90, pick.sum())
    alog.add(sup, code("probation", "supervision_start"), sup_day, ROLE["subject"])
    alog.add(sup, code("probation", "supervision_end"), sup_day + 365, ROLE["subject"])
    mh = fl["mh"][live]
    _adult_event(w, mo, p.MH_CONTACT * mh, ("adult_mental_health", "mh_contact"))
    crisis = _adult_event(w, mo, p.MH_CRISIS * mh, ("adult_mental_health", "mh_crisis"))
    _adult_event(w, mo, p.MH_SERVICE_DECLINED * mh, ("adult_mental_health", "service_declined"))
    sub = fl["subst"][live]
    treat, treat_day = _adult_event(
        w, mo, p.TREATMENT_START * sub, ("substance_misuse", "treatment_start")
    )
    alog.add(
        treat,
        code("substance_misuse", "treatment_end"),
        treat_day + rng.integers(90, 360, treat.size),
        ROLE["subject"],
    )
    declined = _adult_event(
        w, mo, p.SUBSTANCE_SERVICE_DECLINED * sub, ("substance_misuse", "service_declined")
    )
    _adult_event(
        w, mo, p.RESTRAINING_ORDER * fl["da"][live], ("police", "restraining_order"), "perpetrator"
    )
    return {
        "supervision": (sup, sup_day),
        "mh_crisis": crisis,
        "substance": (
            np.concatenate([treat, declined[0]]),
            np.concatenate([treat_day, declined[1]]),
        ),
    }


def _housing_events(w: World_, mo: _Month) -> dict:
    """Moves, homelessness applications and evictions, recorded against the mother."""
    pop, homes, d0, d1 = w.pop, mo.homes, mo.d0, mo.d1
    fams = homes.fams
    fh = pop.fam_housing[fams]
    mother = pop.fam_mother[fams]

    def house_event(rate, etype):
        hit = np.flatnonzero(w.bern(rate * homes.expo))
        day = w.days_in(d0, d1, hit.size)
        w.adult_log.add(mother[hit], code("housing", etype), day, ROLE["subject"])
        return fams[hit], day

    r = p.ADDRESS_MOVE
    return {
        "address_move": house_event(r["base"] + r["housing"] * fh, "address_move"),
        "homelessness": house_event(
            p.HOMELESSNESS_APPLICATION["housing"] * fh, "homelessness_application"
        ),
        "eviction": house_event(p.EVICTION["housing"] * fh, "eviction"),
    }


class _Candidates:
    """The month's proposed referrals, before thinning and merging per household.

    A referrer is a ``(source, relationship)`` pair, for example
    ``("school", REL["teacher"])``; the relationship may be an array with
    one entry per referral.
    """

    def __init__(self, w: World_, mo: _Month) -> None:
        self.w, self.mo = w, mo
        self.parts: dict[str, list[np.ndarray]] = {
            k: [] for k in ("fam", "day", "src", "rel", "concern", "child", "sep")
        }

    def refer(self, fam, day, referrer, concern, child=None, sep=False) -> None:
        """Propose referrals of households ``fam`` (about ``child`` if given) on ``day``."""
        k = np.asarray(fam).size
        if k == 0:
            return
        src, rel = referrer
        cand = self.parts
        cand["fam"].append(np.asarray(fam, np.int64))
        cand["day"].append(np.asarray(day, np.int64))
        cand["src"].append(np.full(k, SRC[src], np.int8))
        cand["rel"].append(np.broadcast_to(np.asarray(rel), k).astype(np.int8))
        cand["concern"].append(np.broadcast_to(np.asarray(concern, np.uint8), k))
        cand["child"].append(
            np.full(k, -1, np.int64) if child is None else np.asarray(child, np.int64)
        )
        cand["sep"].append(np.full(k, sep, bool))

    def from_children(self, event, prob, referrer, concern) -> None:
        """Refer some of the children behind ``event`` (rows, days), each with ``prob``."""
        rng = self.w.rng
        hit, day = event
        go = (
            rng.random(hit.size) < prob[hit]
            if isinstance(prob, np.ndarray)
            else rng.random(hit.size) < prob
        )
        h = hit[go]
        mo = self.mo
        conc = concern if np.isscalar(concern) else concern[go]
        self.refer(mo.fam[h], day[go], referrer, conc, child=mo.child[h])

    def direct(self, rate, referrer, scope_child=True, community=False) -> None:
        """Direct concern about children with no recorded event (disclosures, observations)."""
        w, mo = self.w, self.mo
        r = rate if community else rate * mo.expo
        hit = np.flatnonzero(w.bern(r))
        day = w.days_in(mo.d0, mo.d1, hit.size, floor=mo.dob[hit])
        conc = _harm_concern(mo, hit, _neglect_or_emotional(w.rng, hit.size))
        self.refer(mo.fam[hit], day, referrer, conc, child=mo.child[hit] if scope_child else None)

    def household(self, rate, referrer, community, sep=False) -> None:
        """Household-level professional and community routes: one draw per household.

        A tuple of relationships is drawn from, one per referral.
        """
        w, mo, homes = self.w, self.mo, self.mo.homes
        r = rate if community else rate * homes.expo
        hit = homes.fams[w.bern(r)]
        day = w.days_in(mo.d0, mo.d1, hit.size)
        src, rel = referrer
        if isinstance(rel, tuple):
            rel = w.rng.choice(np.array(rel, np.int8), size=hit.size)
        conc = _neglect_or_emotional(w.rng, hit.size)
        self.refer(hit, day, (src, rel), conc.astype(np.uint8), sep=sep)

    def get(self, name: str) -> np.ndarray:
        return np.concatenate(self.parts[name])


def _harm_concern(mo: _Month, idx: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The concern a referrer names: the active harm's type, else ``fallback``."""
    ht = mo.harm_type[idx]
    return np.where(ht >= 0, HARM_CONCERN[np.maximum(ht, 0)], fallback).astype(np.uint8)


def _neglect_or_emotional(rng, n: int) -> np.ndarray:
    """Concern of a referral with no harm to name: half neglect, half emotional abuse."""
    cb = CONCERN_BIT
    return np.where(rng.random(n) < p.DIRECT_NEGLECT_SHARE, cb["neglect"], cb["emotional_abuse"])


def _event_referrals(w: World_, mo: _Month, seen: dict, cand: _Candidates) -> None:
    """Referrals proposed from what the agencies saw this month."""
    pop, rng, cb = w.pop, w.rng, CONCERN_BIT
    in_harm, harmed = mo.in_harm, mo.homes.harmed
    phys, negl = mo.harm_type == PHYSICAL, mo.harm_type == NEGLECT
    police = ("police", REL["police_officer"])
    ed = ("health", REL["ed_clinician"])
    teacher = ("school", REL["teacher"])
    other_professional = ("other", REL["other_professional"])
    # Police: domestic incidents (whole household), missing children, other work.
    dom, dom_day = seen["domestic"]
    r = p.REFER_DOMESTIC
    go = rng.random(dom.size) < r["base"] + r["harm"] * harmed[dom]
    conc = np.where(
        rng.random(go.sum()) < r["emotional_share"],
        cb["domestic_abuse"] | cb["emotional_abuse"],
        cb["domestic_abuse"],
    )
    cand.refer(dom[go], dom_day[go], police, conc.astype(np.uint8))
    r = p.REFER_MISSING
    cand.from_children(seen["missing"], r["base"] + r["harm"] * in_harm, police, cb["other"])
    # Health: injuries (above all to babies who cannot move), ED, missed appointments.
    a, b = p.REFER_INJURY_NONMOBILE, p.REFER_INJURY_MOBILE
    inj_p = np.where(
        mo.age < 0.5,
        a["base"] + a["physical"] * phys,
        b["per_severity"] * seen["injury_severity"] + b["physical"] * phys,
    )
    cand.from_children(seen["injury"], inj_p, ed, cb["physical_abuse"])
    r = p.REFER_ED
    cand.from_children(seen["ed"], r["base"] + r["harm"] * in_harm, ed, cb["physical_abuse"])
    miss_hit, miss_day = seen["missed"]
    miss_rel = np.where(mo.age[miss_hit] < 5, REL["health_visitor"], REL["gp"])
    r = p.REFER_MISSED_APPOINTMENT
    go = rng.random(miss_hit.size) < (r["base"] + r["neglect"] * negl[miss_hit])
    cand.refer(
        mo.fam[miss_hit[go]],
        miss_day[go],
        ("health", miss_rel[go]),
        cb["neglect"],
        child=mo.child[miss_hit[go]],
    )
    # Schools: absence and exclusion.
    r = p.REFER_ABSENCE
    cand.from_children(seen["absence"], r["base"] + r["harm"] * in_harm, teacher, cb["neglect"])
    r = p.REFER_EXCLUSION
    cand.from_children(seen["exclusion"], r["base"] + r["harm"] * in_harm, teacher, cb["other"])
    # Local authority housing and adult services (household referrals).
    r = p.REFER_HOUSING
    for event in ("address_move", "homelessness", "eviction"):
        fam_hit, day = seen[event]
        go = rng.random(fam_hit.size) < r[event] + r["harm"] * harmed[fam_hit]
        cand.refer(fam_hit[go], day[go], ("la_service", REL["housing_officer"]), cb["neglect"])
    crisis, crisis_day = seen["mh_crisis"]
    cf = pop.spell_fam[crisis]
    r = p.REFER_MH_CRISIS
    go = rng.random(crisis.size) < r["base"] + r["harm"] * harmed[cf]
    cand.refer(
        cf[go],
        crisis_day[go],
        ("health", REL["other_professional"]),
        cb["parental_mental_health"],
    )
    treated, tday = seen["substance"]
    tf = pop.spell_fam[treated]
    r = p.REFER_SUBSTANCE
    go = rng.random(tf.size) < r["base"] + r["harm"] * harmed[tf]
    cand.refer(tf[go], tday[go], other_professional, cb["parental_substance_misuse"])
    sup, sup_day = seen["supervision"]
    pf = pop.spell_fam[sup]
    go = rng.random(pf.size) < p.REFER_SUPERVISION
    cand.refer(pf[go], sup_day[go], other_professional, cb["other"])


def _direct_referrals(mo: _Month, cand: _Candidates) -> None:
    """Direct concern by professionals, family, community and the children themselves."""
    age, in_harm, under5 = mo.age, mo.in_harm, mo.age < 5
    school_age = (age >= 5) & (age < 16)

    def children(rates, among):
        return among * (rates["base"] + rates["harm"] * in_harm)

    cand.direct(children(p.DIRECT_SCHOOL, school_age), ("school", REL["teacher"]))
    cand.direct(children(p.DIRECT_HEALTH_VISITOR, under5), ("health", REL["health_visitor"]))
    cand.direct(children(p.DIRECT_GP, ~under5), ("health", REL["gp"]))
    cand.direct(children(p.DIRECT_POLICE, age >= 10), ("police", REL["police_officer"]))
    fams = mo.homes.fams
    harmed = mo.homes.harmed[fams]

    def households(rates):
        return rates["base"] + rates["harm"] * harmed

    cand.household(households(p.HOUSEHOLD_LA_SERVICE), ("la_service", REL["social_worker"]), False)
    cand.household(
        households(p.HOUSEHOLD_OTHER_PROFESSIONAL), ("other", REL["other_professional"]), False
    )
    family = ("family", (REL["grandparent"], REL["parent"], REL["other_relative"]))
    cand.household(households(p.HOUSEHOLD_FAMILY), family, True)
    cand.household(p.HOUSEHOLD_SEPARATION * mo.separating[fams], family, True, sep=True)
    cand.household(
        households(p.HOUSEHOLD_FRIEND_OR_NEIGHBOUR),
        ("friend_or_neighbour", (REL["neighbour"], REL["friend"])),
        True,
    )
    cand.household(households(p.HOUSEHOLD_ANONYMOUS), ("anonymous", REL["unknown"]), True)
    troubled = (mo.fam_flag["mh"] | mo.fam_flag["subst"])[fams]
    cand.household(p.HOUSEHOLD_SELF * troubled, ("self", REL["parent"]), True)
    cand.direct(
        children(p.DIRECT_CHILD_SELF, age >= 12), ("self", REL["child_self"]), community=True
    )


def _rereferrals(w: World_, mo: _Month, cand: _Candidates) -> None:
    """Whoever referred in the last year worries again, above all after a closure."""
    rng, fams = w.rng, mo.homes.fams
    recent = (mo.d0 - w.fam_last_ref[fams]) < 365
    rr_rate = (
        recent
        * (p.REREFERRAL_RATE + p.REREFERRAL_HARM_RATE * mo.homes.harmed[fams])
        * np.where(w.fam_last_closed[fams], p.REREFERRAL_CLOSED_FACTOR, 1.0)
    )
    rr = np.flatnonzero(w.bern(rr_rate))
    if rr.size:
        rf = fams[rr]
        rday = w.days_in(mo.d0, mo.d1, rr.size)
        rconc = _neglect_or_emotional(rng, rr.size)
        for s_code in np.unique(w.fam_last_src[rf]):
            sel = w.fam_last_src[rf] == s_code
            cand.refer(
                rf[sel],
                rday[sel],
                (SOURCES[s_code], w.fam_last_rel[rf[sel]]),
                rconc[sel].astype(np.uint8),
            )


@dataclass
class _Batch:
    """The month's referrals as parallel arrays, one entry per referral."""

    fam: np.ndarray
    day: np.ndarray
    src: np.ndarray
    rel: np.ndarray
    conc: np.ndarray
    child: np.ndarray  # the child it is about, -1 for the household
    sep: np.ndarray  # proposed in a month a partner left (family route)

    def take(self, idx: np.ndarray) -> _Batch:
        return _Batch(*(a[idx] for a in self.arrays()))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return (self.fam, self.day, self.src, self.rel, self.conc, self.child, self.sep)

    @property
    def size(self) -> int:
        return self.fam.size


@dataclass
class _Rows:
    """The referral-child rows of the month's referrals."""

    ref: np.ndarray  # referral index of each row
    off: np.ndarray  # the child's position in the month (index into ``_Month.child``)
    child: np.ndarray  # the child


def _screen(w: World_, mo: _Month, cand: _Candidates) -> None:
    """Merge the month's referrals per household, screen them, and follow them up."""
    refs = _thin_and_merge(w, mo, cand)
    named = _referral_rows(w, mo, refs)
    if named is None:
        return
    refs, rows = named
    _name_known_difficulties(w, mo, refs)
    decision, decided, declined = _decide(w, mo, refs, rows)
    _follow_up(w, mo, rows, decision[rows.ref], decided[rows.ref], declined[rows.ref])


def _thin_and_merge(w: World_, mo: _Month, cand: _Candidates) -> _Batch:
    """Keep the candidates a referrer acts on; one referral per household per month."""
    pop, rng = w.pop, w.rng
    refs = _Batch(
        fam=cand.get("fam"),
        day=cand.get("day"),
        src=cand.get("src"),
        rel=cand.get("rel"),
        conc=cand.get("concern").astype(np.uint8),
        child=cand.get("child"),
        sep=cand.get("sep"),
    )
    fam, day = refs.fam, refs.day
    # Thin the candidates: referrers act on some of what they see, more when it is real.
    fam_harm = np.zeros(pop.n_families, bool)
    fam_harm[mo.fam[mo.in_harm]] = True
    src_keep = np.array([p.SOURCE_KEEP[s] for s in v.REFERRAL_SOURCES])[refs.src]
    keep_p = (
        src_keep
        * np.where(fam_harm[fam], p.REFERRAL_KEEP_HARM, p.REFERRAL_KEEP_BASE)
        * pop.fam_propensity[fam]
        # Families with visible difficulties are referred again and again.
        * np.exp(p.REFERRAL_RISK_BETA * np.minimum(mo.n_risk[fam], 4))
    )
    # Contacts about a family referred in the last few weeks are usually
    # added to that referral rather than opening a new one.
    recent = (day - w.fam_last_ref[fam]) < p.REFERRAL_MERGE_DAYS
    # Once known, a family is watched for a while: professionals refer it more readily.
    known = (day - w.fam_last_ref[fam]) < p.REFERRAL_KNOWN_DAYS
    keep_p = np.where(known, keep_p * p.REFERRAL_KNOWN_FACTOR, keep_p)
    keep_p = np.where(recent, keep_p * (1 - p.REFERRAL_MERGE_SHARE), keep_p)
    refs = refs.take(rng.random(fam.size) < keep_p)
    # One referral per household per month: the front door links contacts about one family.
    refs = refs.take(np.lexsort((rng.random(refs.size), refs.day, refs.fam)))
    first = np.ones(refs.size, bool)
    first[1:] = refs.fam[1:] != refs.fam[:-1]
    return refs.take(first)


def _referral_rows(w: World_, mo: _Month, refs: _Batch) -> tuple[_Batch, _Rows] | None:
    """The children each referral names; referrals naming none are dropped."""
    rng, f = w.rng, mo.fam
    n_r = refs.size
    # A child-level referral names the siblings too, a quarter of the time.
    whole = (refs.child < 0) | (rng.random(n_r) < p.WHOLE_FAMILY_SHARE)
    ref_of = np.full(w.pop.n_families, -1, np.int64)
    ref_of[refs.fam] = np.arange(n_r)
    r_of_c = ref_of[f]
    rows_h = np.flatnonzero((r_of_c >= 0) & ~mo.in_care)
    rows_h = rows_h[whole[r_of_c[rows_h]] & (mo.dob[rows_h] <= refs.day[r_of_c[rows_h]])]
    single = np.flatnonzero(~whole)
    srow = refs.child[single] - mo.child[0]
    keep = ~mo.in_care[srow]
    single, srow = single[keep], srow[keep]
    row_ref = np.concatenate([r_of_c[rows_h], single])
    row_off = np.concatenate([rows_h, srow])
    if row_ref.size == 0:
        return None
    has_rows = np.zeros(n_r, bool)
    has_rows[row_ref] = True
    # Renumber referrals that name at least one child.
    new_id = np.cumsum(has_rows) - 1
    refs = refs.take(np.flatnonzero(has_rows))
    return refs, _Rows(ref=new_id[row_ref], off=row_off, child=mo.child[row_off])


def _name_known_difficulties(w: World_, mo: _Month, refs: _Batch) -> None:
    """Referrers also name the parental difficulties they know of, some of the time."""
    for flag, concern in (
        ("da", "domestic_abuse"),
        ("subst", "parental_substance_misuse"),
        ("mh", "parental_mental_health"),
    ):
        named = mo.fam_flag[flag][refs.fam] & (
            w.rng.random(refs.size) < p.CONCERN_NAMES_KNOWN_FACTOR
        )
        refs.conc = refs.conc | np.where(named, CONCERN_BIT[concern], 0).astype(np.uint8)


def _decide(
    w: World_, mo: _Month, refs: _Batch, rows: _Rows
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The screening decision, its day and any closure; the referrals are recorded.

    What the screener sees: the referral itself, a glimpse of the truth, little
    history.  Returns per referral the decision, the day decided and whether
    the family declined early help.
    """
    rng, cfg = w.rng, w.config
    n_r = refs.size
    harm_any = np.zeros(n_r, bool)
    np.logical_or.at(harm_any, rows.ref, mo.in_harm[rows.off])
    sev = np.zeros(n_r, np.int8)
    np.maximum.at(sev, rows.ref, mo.harm_sev[rows.off])
    prior = np.zeros(n_r, np.int32)
    np.maximum.at(prior, rows.ref, w.n_ref[rows.child])
    had_plan = np.zeros(n_r, bool)
    np.logical_or.at(had_plan, rows.ref, w.cp_start[rows.child] > -(2**39))
    detect = np.array([p.DETECT[s] for s in v.REFERRAL_SOURCES])[refs.src]
    seen = harm_any & (rng.random(n_r) < detect)
    n_conc = np.unpackbits(refs.conc[:, None], axis=1).sum(axis=1)
    lean = cfg.source_lean * np.array([p.SOURCE_LEAN[s] for s in v.REFERRAL_SOURCES])[refs.src]
    k = p.SCREEN_SCORE
    score = (
        lean
        + k["seen"] * seen * (k["seen_base"] + k["seen_per_severity"] * sev)
        + k["per_concern"] * n_conc
        + cfg.history_weight * (k["prior_referrals"] * np.log1p(prior) + k["had_plan"] * had_plan)
        + rng.standard_normal(n_r)
    )
    decision = np.searchsorted(np.array(p.SCREEN_THRESHOLDS), score, side="right").astype(np.int8)
    decided = refs.day + rng.choice(4, size=n_r, p=p.DECISION_DELAY_P)
    closure, declined = _closures(w, refs, decision, harm_any)
    _record(w, refs, rows, decision, decided, closure)
    return decision, decided, declined


def _closures(
    w: World_, refs: _Batch, decision: np.ndarray, harm_any: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Closure reasons per referral (-1: none) and which families declined early help."""
    rng, n_r = w.rng, refs.size
    community = np.isin(refs.src, [SRC["family"], SRC["friend_or_neighbour"], SRC["anonymous"]])
    closure = np.full(n_r, -1, np.int8)
    nfa = decision == NFA
    u = rng.random(n_r)
    m = p.MALICIOUS_SHARE
    malicious = nfa & community & ~harm_any & (u < np.where(refs.sep, m["separation"], m["other"]))
    other_reason = rng.choice(
        [CLOSURE[reason] for reason in p.OTHER_CLOSURE_P],
        size=n_r,
        p=tuple(p.OTHER_CLOSURE_P.values()),
    )
    closure[nfa] = other_reason[nfa]
    closure[malicious] = CLOSURE["malicious"]
    eh = decision == EARLY_HELP
    declined = eh & (rng.random(n_r) < p.EARLY_HELP_DECLINED)
    closure[declined] = CLOSURE["family_declined_support"]
    return closure, declined


def _record(w: World_, refs: _Batch, rows: _Rows, decision, decided, closure) -> None:
    """Append the referrals and their rows; remember each household's last referral."""
    base = w.n_refs
    w.refs.add(
        fam=refs.fam,
        day=refs.day,
        source=refs.src,
        rel=refs.rel,
        concerns=refs.conc,
        decision=decision,
        decided=decided,
        closure=closure,
    )
    w.ref_rows.add(ref=rows.ref + base, child=rows.child)
    w.n_refs += refs.size
    w.n_ref[rows.child] += 1
    w.fam_last_ref[refs.fam] = refs.day
    w.fam_last_src[refs.fam] = refs.src
    w.fam_last_rel[refs.fam] = refs.rel
    w.fam_last_closed[refs.fam] = decision <= EARLY_HELP


def _follow_up(w: World_, mo: _Month, rows: _Rows, rd, rdec, declined) -> None:
    """Outcomes per child: early help, assessment, accommodation, section 47 enquiry."""
    rng, log, row_child = w.rng, w.child_log, rows.child
    m = row_child.size
    ksev = mo.harm_sev[rows.off]
    kh = mo.in_harm[rows.off]
    # Early help, or the family declines it.
    e = np.flatnonzero(rd == EARLY_HELP)
    dec_e = declined[e]
    log.add(
        row_child[e[~dec_e]],
        code(CSC, "early_help_start"),
        rdec[e[~dec_e]] + rng.integers(7, 30, (~dec_e).sum()),
        ROLE["subject"],
    )
    log.add(
        row_child[e[dec_e]],
        code(CSC, "service_declined"),
        rdec[e[dec_e]] + rng.integers(3, 20, dec_e.sum()),
        ROLE["subject"],
    )
    # Assessment; some become section 47 enquiries.  Strategy discussions mostly do.
    a = np.flatnonzero(rd == ASSESSMENT)
    log.add(
        row_child[a],
        code(CSC, "assessment"),
        rdec[a] + rng.integers(1, 10, a.size),
        ROLE["subject"],
    )
    q = p.S47_AFTER_ASSESSMENT
    p47 = np.zeros(m)
    p47[a] = q["base"] + np.where(
        ksev[a] >= 2, q["severity2+"], np.where(ksev[a] == 1, q["severity1"], 0.0)
    )
    s = rd == STRATEGY
    p47[s] = p.S47_AFTER_STRATEGY
    d47 = np.where(s, rdec + rng.integers(0, 5, m), rdec + rng.integers(5, 40, m))
    busy = (w.cp_end[row_child] > rdec) | (w.la_end[row_child] > rdec)
    # Accommodation straight from an assessment: adolescents at risk outside the
    # family, and the most severe harm.
    kage = mo.age[rows.off]
    q = p.ACCOMMODATED
    p_acc = np.where(
        a_mask := (rd == ASSESSMENT) & kh & ~busy,
        q["exploited_adolescent"] * ((kage >= 13) & (mo.harm_type[rows.off] == OTHER))
        + q["severity3"] * (ksev == 3),
        0.0,
    )
    acc = np.flatnonzero(a_mask & (rng.random(m) < p_acc))
    w.start_care(row_child[acc], rdec[acc] + rng.integers(3, 30, acc.size))
    busy = (w.cp_end[row_child] > rdec) | (w.la_end[row_child] > rdec)
    go = np.flatnonzero((rng.random(m) < p47) & ~busy)
    if go.size:
        _enquiries(w, mo, rows, go, d47[go])


def _enquiries(w: World_, mo: _Month, rows: _Rows, go: np.ndarray, d: np.ndarray) -> None:
    """Section 47 enquiries and what follows: care, or a conference and a plan."""
    rng, log = w.rng, w.child_log
    k = rows.child[go]
    log.add(k, code(CSC, "section47_enquiry"), d, ROLE["subject"])
    gs, gh = mo.harm_sev[rows.off[go]], mo.in_harm[rows.off[go]]
    prior_plan = w.cp_start[k] > -(2**39)
    q = p.ENQUIRY_TO_CARE
    p_care = (
        q["base"]
        + np.where(gs == 3, q["severity3"], np.where(gs == 2, q["severity2"], 0.0))
        + q["exploitation"] * (gh & (mo.harm_type[rows.off[go]] == OTHER))
    )
    q = p.ENQUIRY_TO_CONFERENCE
    p_conf = (
        q["base"]
        + np.where(gs >= 2, q["severity2+"], np.where(gs == 1, q["severity1"], 0.0))
        + q["prior_plan"] * prior_plan
    )
    u = rng.random(go.size)
    care = u < p_care
    conf = ~care & (u < p_care + p_conf)
    cd = d[care] + rng.integers(0, 7, care.sum())
    w.start_care(k[care], cd)
    icpc_day = d[conf] + rng.integers(10, 25, conf.sum())
    kc = k[conf]
    log.add(kc, code(CSC, "initial_child_protection_conference"), icpc_day, ROLE["subject"])
    plan = rng.random(kc.size) < p.CONFERENCE_TO_PLAN
    kp, pd_ = kc[plan], icpc_day[plan]
    dur = np.maximum(
        rng.lognormal(np.log(p.CP_PLAN_MEDIAN_DAYS), p.CP_PLAN_SIGMA, kp.size), p.CP_PLAN_MIN_DAYS
    ).astype(np.int64)
    w.start_plan(kp, pd_, pd_ + dur)
    # A plan usually (not always) stops the harm within a few months.
    stop = (rng.random(kp.size) < p.PLAN_STOPS_HARM) & (w.h_end[kp] > pd_)
    ks = kp[stop]
    w.h_end[ks] = np.maximum(
        np.minimum(w.h_end[ks], pd_[stop] + rng.integers(14, 120, ks.size)), w.h_start[ks] + 1
    )


def _plans_to_care(w: World_, c, in_harm, d0, d1) -> None:
    """Children on a plan whose harm goes on are sometimes taken into care."""
    on_plan = (
        (w.cp_start[c] < d1) & (w.cp_end[c] > d0) & ~((w.la_start[c] < d1) & (w.la_end[c] > d0))
    )
    go = np.flatnonzero(on_plan & in_harm & (w.rng.random(c.size) < p.PLAN_TO_CARE))
    if go.size:
        child_ids = c[go]
        day = np.maximum(w.days_in(d0, d1, go.size), w.cp_start[child_ids] + 1)
        w.start_care(child_ids, day)
