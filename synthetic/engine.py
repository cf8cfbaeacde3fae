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
        short = rng.random(child.size) < 0.35
        dur = (
            np.where(
                short,
                rng.lognormal(np.log(100.0), 0.8, child.size),
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


def _step(w: World_, d0: int, d1: int) -> None:
    pop, rng, cfg = w.pop, w.rng, w.config
    lo = int(np.searchsorted(pop.child_dob18, d0, side="right"))
    hi = int(np.searchsorted(pop.child_dob, d1, side="left"))
    if hi <= lo:
        return
    c = np.arange(lo, hi)
    n = c.size
    f = pop.child_fam[c]
    dob = pop.child_dob[c]
    age = np.maximum(d0 - dob, 0) / YEAR
    band = np.searchsorted(np.array([1.0, 5.0, 10.0, 15.0]), age, side="right")
    n_fam = pop.n_families

    # --- who lives in each household this month -------------------------------
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

    x_da, x_sub, x_mh, x_crim = (fam_flag[k][f] for k in ("da", "subst", "mh", "crim"))
    x_new = newp[f]
    x_young = pop.fam_young[f]
    x_cl = pop.fam_care_leaver[f]
    x_house = pop.fam_housing[f]
    expo = pop.fam_exposure[f]
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

    # --- latent harm -----------------------------------------------------------
    in_care = (w.la_start[c] < d1) & (w.la_end[c] > d0)
    in_harm = (w.h_start[c] < d1) & (w.h_end[c] > d0)
    b = p.HARM_BETA
    lin = (
        b["da"] * x_da
        + b["subst"] * x_sub
        + b["mh"] * x_mh
        + b["crim"] * x_crim
        + b["new_partner"] * x_new
        + b["young"] * x_young
        + b["care_leaver"] * x_cl
        + b["housing"] * x_house
        + p.HARM_DEPRIVATION_BETA * pop.fam_dep_z[f]
        + pop.fam_frailty[f]
    )
    hazard = p.HARM_BASE * cfg.harm_rate_multiplier * np.exp(lin) * np.array(p.HARM_AGE)[band]
    new = ~in_harm & ~in_care & w.bern(hazard)
    ni = np.flatnonzero(new)
    if ni.size:
        child_ids = c[ni]
        w.flush_harm(child_ids)
        start = w.days_in(d0, d1, ni.size, floor=dob[ni])
        months = rng.geometric(p.HARM_MONTHLY_END, ni.size)
        dur = (months * 30.44 - rng.random(ni.size) * 30).astype(np.int64) + 7
        a = age[ni]
        weights = np.column_stack(
            [
                0.45 + 0.5 * x_sub[ni] + 0.2 * x_young[ni] + 0.2 * x_house[ni],
                0.18 + 0.35 * (a < 1) + 0.2 * x_da[ni],
                0.12 + 0.6 * x_da[ni] + 0.2 * x_mh[ni],
                0.03 + 0.06 * (a >= 5),
                0.03 + 0.55 * (a >= 13),
            ]
        )
        htype = _categorical(rng, weights)
        sev = _categorical(rng, np.tile(np.array(p.HARM_SEVERITY_P), (ni.size, 1))) + 1
        bump = (htype == PHYSICAL) & (a < 1) & (rng.random(ni.size) < 0.35)
        sev = np.minimum(sev + bump, 3)
        w.h_start[child_ids], w.h_end[child_ids] = start, start + dur
        w.h_type[child_ids], w.h_sev[child_ids] = htype, sev
        in_harm[ni] = True
    ht = np.where(in_harm, w.h_type[c], -1)
    hsev = np.where(in_harm, w.h_sev[c], 0)
    phys = ht == PHYSICAL
    negl = ht == NEGLECT
    oth = ht == OTHER

    # --- serious incidents (no feedback into the rest of the world) ------------
    si_rate = (
        p.SI_BASE
        * cfg.serious_incident_multiplier
        * np.array(p.SI_AGE)[band]
        * np.where(pop.child_male[c], p.SI_MALE, 1.0)
        * np.exp(p.SI_DEPRIVATION_BETA * pop.fam_dep_z[f])
        * np.where(x_da, p.SI_DA, 1.0)
        * np.exp(p.SI_FRAILTY_BETA * pop.fam_frailty[f] / p.HARM_FAMILY_FRAILTY_SD)
        * np.exp(p.SI_RISK_BETA * np.minimum(n_risk[f], 4))
        * (
            p.SI_OUTSIDE_HARM
            + in_harm
            * p.SI_HARM_FACTOR
            * np.array((0.0,) + p.SI_SEVERITY)[hsev]
            # Harm escalates: the longer an episode goes on, the likelier a serious incident.
            * (1.0 + np.minimum(np.maximum(d0 - w.h_start[c], 0) / 60.0, 9.0))
        )
    )
    if d0 >= pop.window_start:
        w.si_expected += float(si_rate[~w.si_done[c]].sum()) / cfg.serious_incident_multiplier
    si = np.flatnonzero((w.si_rng.random(n) < -np.expm1(-si_rate)) & ~w.si_done[c])
    if si.size:
        w.si_done[c[si]] = True
        day = np.maximum(d0 + (w.si_rng.random(si.size) * (d1 - d0)).astype(np.int64), dob[si])
        w.si.add(child=c[si], day=day)

    # --- what agencies see about children ----------------------------------------
    log = w.child_log
    born = np.flatnonzero((dob >= d0) & (dob < d1))
    log.add(c[born], code("health", "birth"), dob[born], ROLE["subject"])
    under5 = age < 5
    nonmobile = age < 0.5
    school_age = (age >= 5) & (age < 16)

    def child_events(rate, agency, etype, role="subject", severity=0):
        hit = np.flatnonzero(w.bern(rate * expo))
        day = w.days_in(d0, d1, hit.size, floor=dob[hit])
        sev = severity[hit] if isinstance(severity, np.ndarray) else severity
        log.add(c[hit], code(agency, etype), day, ROLE[role], sev)
        return hit, day

    ed_hit, ed_day = child_events(
        np.where(under5, 0.025, 0.012) + 0.06 * phys + 0.015 * in_harm, "health", "ed_attendance"
    )
    inj_rate = np.where(nonmobile, 0.0008 + 0.06 * phys, 0.003 + 0.03 * phys * hsev)
    inj_sev = np.where(phys, np.maximum(hsev, 1), 1 + (rng.random(n) < 0.2)).astype(np.int8)
    inj_hit, inj_day = child_events(inj_rate, "health", "injury", severity=inj_sev)
    miss_hit, miss_day = child_events(
        np.where(under5, 0.012 + 0.07 * negl, 0.004 + 0.03 * negl), "health", "missed_appointment"
    )
    child_events(0.01 * negl, "health", "service_declined")
    abs_hit, abs_day = child_events(
        school_age * (0.012 + 0.09 * negl + 0.03 * in_harm + 0.1 * (oth & (age >= 12))),
        "education",
        "school_absence",
    )
    exc_hit, exc_day = child_events(
        ((age >= 10) & (age < 16)) * (0.0012 + 0.012 * in_harm + 0.02 * oth),
        "education",
        "exclusion",
    )
    mis_hit, mis_day = child_events(
        (age >= 12) * (0.0006 + 0.07 * oth + 0.01 * in_harm), "police", "missing_episode"
    )

    # --- households with children this month --------------------------------------
    fam_n = np.bincount(f, minlength=n_fam)
    fams = np.flatnonzero(fam_n > 0)
    fam_harm = np.zeros(n_fam, bool)
    fam_harm[f[in_harm]] = True
    fexpo = pop.fam_exposure[fams]
    # Police domestic incidents: one victim, a distinct perpetrator (see
    # _domestic_pairs), and every child at home as a witness, all at one time.
    has_pair = perp_of[fams] >= 0
    dom_rate = has_pair * (p.DA_INCIDENT_BASE + p.DA_INCIDENT_ABUSIVE * abusive[fams])
    dom = fams[w.bern(dom_rate * fexpo)]
    dom_day = w.days_in(d0, d1, dom.size)
    # A partner who arrives or leaves this month is a party only on days he lives there.
    other = np.where(perp_of[dom] == pop.fam_mother[dom], victim_of[dom], perp_of[dom])
    here = pop.spell_end[other] > d0  # not a former partner
    first = np.maximum(pop.spell_start[other], d0)
    last = np.minimum(pop.spell_end[other], d1) - 1
    dom_day = np.where(here, np.clip(dom_day, first, last), dom_day)
    dsev = (
        1 + (rng.random(dom.size) < 0.35) + (rng.random(dom.size) < 0.1 + 0.1 * fam_flag["da"][dom])
    ).astype(np.int8)
    incident = w.incidents.take(dom.size)
    alog = w.adult_log
    for person, role in ((victim_of[dom], "victim"), (perp_of[dom], "perpetrator")):
        alog.add(person, code("police", "domestic_incident"), dom_day, ROLE[role], dsev, incident)
    dom_of = np.full(n_fam, -1, np.int64)
    dom_of[dom] = np.arange(dom.size)
    wit = np.flatnonzero((dom_of[f] >= 0) & ~in_care)
    wday = dom_day[dom_of[f[wit]]]
    ok = (dob[wit] <= wday) & (wday < pop.child_dob18[c[wit]])
    which = dom_of[f[wit[ok]]]
    log.add(
        c[wit[ok]],
        code("police", "domestic_incident"),
        wday[ok],
        ROLE["witness"],
        dsev[which],
        incident[which],
    )

    # Adults' own services while they live with children.
    live = sp[fam_n[sfam] > 0]
    lexpo = pop.fam_exposure[pop.spell_fam[live]]

    def adult_events(mask_rate, agency, etype, role="subject", severity=0):
        hit = live[w.bern(mask_rate * lexpo)]
        day = w.days_in(d0, d1, hit.size)
        alog.add(hit, code(agency, etype), day, ROLE[role], severity)
        return hit, day

    crim = fl["crim"][live]
    off, off_day = adult_events(0.015 * crim, "police", "other_offence", "perpetrator", 1)
    vio, vio_day = adult_events(0.007 * crim, "police", "violent_offence", "perpetrator", 2)
    arrested = rng.random(vio.size) < 0.6
    alog.add(vio[arrested], code("police", "arrest"), vio_day[arrested], ROLE["subject"])
    sup = np.concatenate([off, vio])
    sup_day = np.concatenate([off_day, vio_day])
    pick = rng.random(sup.size) < 0.12
    sup, sup_day = sup[pick], sup_day[pick] + rng.integers(30, 90, pick.sum())
    alog.add(sup, code("probation", "supervision_start"), sup_day, ROLE["subject"])
    alog.add(sup, code("probation", "supervision_end"), sup_day + 365, ROLE["subject"])
    mh = fl["mh"][live]
    adult_events(0.05 * mh, "adult_mental_health", "mh_contact")
    crisis, crisis_day = adult_events(0.005 * mh, "adult_mental_health", "mh_crisis")
    adult_events(0.004 * mh, "adult_mental_health", "service_declined")
    sub = fl["subst"][live]
    treat, treat_day = adult_events(0.012 * sub, "substance_misuse", "treatment_start")
    alog.add(
        treat,
        code("substance_misuse", "treatment_end"),
        treat_day + rng.integers(90, 360, treat.size),
        ROLE["subject"],
    )
    sm_dec, sm_dec_day = adult_events(0.006 * sub, "substance_misuse", "service_declined")
    adult_events(0.004 * fl["da"][live], "police", "restraining_order", "perpetrator")
    fh = pop.fam_housing[fams]
    moth = pop.fam_mother[fams]

    def house_events(rate, etype):
        hit = np.flatnonzero(w.bern(rate * fexpo))
        day = w.days_in(d0, d1, hit.size)
        alog.add(moth[hit], code("housing", etype), day, ROLE["subject"])
        return fams[hit], day

    mv, mv_day = house_events(0.004 + 0.03 * fh, "address_move")
    hl, hl_day = house_events(0.008 * fh, "homelessness_application")
    ev, ev_day = house_events(0.003 * fh, "eviction")

    # --- referrals -------------------------------------------------------------------
    cand = {k: [] for k in ("fam", "day", "src", "rel", "concern", "child", "sep")}

    def refer(fam, day, src, rel, concern, child=None, sep=False):
        k = np.asarray(fam).size
        if k == 0:
            return
        cand["fam"].append(np.asarray(fam, np.int64))
        cand["day"].append(np.asarray(day, np.int64))
        cand["src"].append(np.full(k, SRC[src], np.int8))
        rel_arr = np.asarray(rel)
        cand["rel"].append(np.broadcast_to(rel_arr, k).astype(np.int8))
        cand["concern"].append(np.broadcast_to(np.asarray(concern, np.uint8), k))
        cand["child"].append(
            np.full(k, -1, np.int64) if child is None else np.asarray(child, np.int64)
        )
        cand["sep"].append(np.full(k, sep, bool))

    def from_children(hit, day, prob, src, rel, concern):
        go = (
            rng.random(hit.size) < prob[hit]
            if isinstance(prob, np.ndarray)
            else rng.random(hit.size) < prob
        )
        h = hit[go]
        refer(f[h], day[go], src, rel, concern if np.isscalar(concern) else concern[go], child=c[h])

    def harm_concern(idx, fallback):
        base = np.where(ht[idx] >= 0, HARM_CONCERN[np.maximum(ht[idx], 0)], fallback)
        return base.astype(np.uint8)

    cb = CONCERN_BIT
    # Police: domestic incidents (whole household), missing children, other work.
    dprob = 0.26 + 0.28 * fam_harm[dom]
    go = rng.random(dom.size) < dprob
    conc = np.where(
        rng.random(go.sum()) < 0.3,
        cb["domestic_abuse"] | cb["emotional_abuse"],
        cb["domestic_abuse"],
    )
    refer(dom[go], dom_day[go], "police", REL["police_officer"], conc.astype(np.uint8))
    from_children(
        mis_hit, mis_day, 0.25 + 0.3 * in_harm, "police", REL["police_officer"], cb["other"]
    )
    # Health: injuries (above all to babies who cannot move), ED, missed appointments.
    inj_p = np.where(nonmobile, 0.55 + 0.3 * phys, 0.06 * inj_sev + 0.4 * phys)
    from_children(inj_hit, inj_day, inj_p, "health", REL["ed_clinician"], cb["physical_abuse"])
    from_children(
        ed_hit, ed_day, 0.015 + 0.12 * in_harm, "health", REL["ed_clinician"], cb["physical_abuse"]
    )
    miss_rel = np.where(under5[miss_hit], REL["health_visitor"], REL["gp"])
    go = rng.random(miss_hit.size) < (0.02 + 0.12 * negl[miss_hit])
    refer(
        f[miss_hit[go]], miss_day[go], "health", miss_rel[go], cb["neglect"], child=c[miss_hit[go]]
    )
    # Schools: absence and exclusion.
    from_children(abs_hit, abs_day, 0.04 + 0.2 * in_harm, "school", REL["teacher"], cb["neglect"])
    from_children(exc_hit, exc_day, 0.08 + 0.2 * in_harm, "school", REL["teacher"], cb["other"])
    # Local authority housing and adult services (household referrals).
    for fam_hit, day, prob in ((mv, mv_day, 0.01), (hl, hl_day, 0.12), (ev, ev_day, 0.2)):
        go = rng.random(fam_hit.size) < prob + 0.15 * fam_harm[fam_hit]
        refer(fam_hit[go], day[go], "la_service", REL["housing_officer"], cb["neglect"])
    cf = pop.spell_fam[crisis]
    go = rng.random(crisis.size) < 0.25 + 0.2 * fam_harm[cf]
    refer(cf[go], crisis_day[go], "health", REL["other_professional"], cb["parental_mental_health"])
    tf = pop.spell_fam[np.concatenate([treat, sm_dec])]
    tday = np.concatenate([treat_day, sm_dec_day])
    go = rng.random(tf.size) < 0.07 + 0.15 * fam_harm[tf]
    refer(tf[go], tday[go], "other", REL["other_professional"], cb["parental_substance_misuse"])
    pf = pop.spell_fam[sup]
    go = rng.random(pf.size) < 0.08
    refer(pf[go], sup_day[go], "other", REL["other_professional"], cb["other"])

    # Direct professional concern with no recorded event (disclosures, observations).
    def direct(rate, src, rel, scope_child=True, community=False):
        r = rate if community else rate * expo
        hit = np.flatnonzero(w.bern(r))
        day = w.days_in(d0, d1, hit.size, floor=dob[hit])
        conc = harm_concern(
            hit, np.where(rng.random(hit.size) < 0.5, cb["neglect"], cb["emotional_abuse"])
        )
        refer(f[hit], day, src, rel, conc, child=c[hit] if scope_child else None)

    direct(school_age * (0.0012 + 0.02 * in_harm), "school", REL["teacher"])
    direct(under5 * (0.0008 + 0.02 * in_harm), "health", REL["health_visitor"])
    direct(~under5 * (0.0004 + 0.006 * in_harm), "health", REL["gp"])
    direct((age >= 10) * (0.0008 + 0.008 * in_harm), "police", REL["police_officer"])
    # Household-level professional and community routes: one draw per family.
    fh_harm = fam_harm[fams]

    def fam_direct(rate, src, rel, community, sep_flag=False):
        r = rate if community else rate * fexpo
        hit = fams[w.bern(r)]
        day = w.days_in(d0, d1, hit.size)
        if isinstance(rel, tuple):
            rel = rng.choice(np.array(rel, np.int8), size=hit.size)
        conc = np.where(rng.random(hit.size) < 0.5, cb["neglect"], cb["emotional_abuse"])
        refer(hit, day, src, rel, conc.astype(np.uint8), sep=sep_flag)

    fam_direct(0.0008 + 0.008 * fh_harm, "la_service", REL["social_worker"], False)
    fam_direct(0.0006 + 0.006 * fh_harm, "other", REL["other_professional"], False)
    family_rel = (REL["grandparent"], REL["parent"], REL["other_relative"])
    fam_direct(0.0005 + 0.006 * fh_harm, "family", family_rel, True)
    fam_direct(0.08 * sep[fams], "family", family_rel, True, sep_flag=True)
    fam_direct(
        0.0003 + 0.003 * fh_harm, "friend_or_neighbour", (REL["neighbour"], REL["friend"]), True
    )
    fam_direct(0.00025 + 0.002 * fh_harm, "anonymous", REL["unknown"], True)
    fam_direct(0.0008 * (fam_flag["mh"] | fam_flag["subst"])[fams], "self", REL["parent"], True)
    direct((age >= 12) * (0.0002 + 0.006 * in_harm), "self", REL["child_self"], community=True)

    # Re-referral: whoever referred in the last year worries again, above all when
    # the case was closed at the front door and the harm goes on.
    recent = (d0 - w.fam_last_ref[fams]) < 365
    rr_rate = (
        recent
        * (p.REREFERRAL_RATE + p.REREFERRAL_HARM_RATE * fh_harm)
        * np.where(w.fam_last_closed[fams], p.REREFERRAL_CLOSED_FACTOR, 1.0)
    )
    rr = np.flatnonzero(w.bern(rr_rate))
    if rr.size:
        rf = fams[rr]
        rday = w.days_in(d0, d1, rr.size)
        rconc = np.where(rng.random(rr.size) < 0.5, cb["neglect"], cb["emotional_abuse"])
        for s_code in np.unique(w.fam_last_src[rf]):
            sel = w.fam_last_src[rf] == s_code
            refer(
                rf[sel],
                rday[sel],
                SOURCES[s_code],
                w.fam_last_rel[rf[sel]],
                rconc[sel].astype(np.uint8),
            )

    if cand["fam"]:
        _screen(w, cand, c, f, dob, in_care, in_harm, hsev, ht, age, d0, d1, n_risk, fam_flag)
    _plans_to_care(w, c, in_harm, d0, d1)


def _screen(
    w: World_, cand, c, f, dob, in_care, in_harm, hsev, ht, age, d0, d1, n_risk, fam_flag
) -> None:
    """Merge the month's referrals per household, screen them, and follow them up."""
    pop, rng, cfg = w.pop, w.rng, w.config
    fam = np.concatenate(cand["fam"])
    day = np.concatenate(cand["day"])
    src = np.concatenate(cand["src"])
    rel = np.concatenate(cand["rel"])
    conc = np.concatenate(cand["concern"]).astype(np.uint8)
    child = np.concatenate(cand["child"])
    sepf = np.concatenate(cand["sep"])
    # Thin the candidates: referrers act on some of what they see, more when it is real.
    fam_harm = np.zeros(pop.n_families, bool)
    fam_harm[f[in_harm]] = True
    src_keep = np.array([p.SOURCE_KEEP[s] for s in v.REFERRAL_SOURCES])[src]
    keep_p = (
        src_keep
        * np.where(fam_harm[fam], p.REFERRAL_KEEP_HARM, p.REFERRAL_KEEP_BASE)
        * pop.fam_propensity[fam]
        # Families with visible difficulties are referred again and again.
        * np.exp(p.REFERRAL_RISK_BETA * np.minimum(n_risk[fam], 4))
    )
    # Contacts about a family referred in the last few weeks are usually
    # added to that referral rather than opening a new one.
    recent = (day - w.fam_last_ref[fam]) < p.REFERRAL_MERGE_DAYS
    # Once known, a family is watched for a while: professionals refer it more readily.
    known = (day - w.fam_last_ref[fam]) < p.REFERRAL_KNOWN_DAYS
    keep_p = np.where(known, keep_p * p.REFERRAL_KNOWN_FACTOR, keep_p)
    keep_p = np.where(recent, keep_p * (1 - p.REFERRAL_MERGE_SHARE), keep_p)
    kept = rng.random(fam.size) < keep_p
    fam, day, src, rel, conc, child, sepf = (
        a[kept] for a in (fam, day, src, rel, conc, child, sepf)
    )
    # One referral per household per month: the front door links contacts about one family.
    order = np.lexsort((rng.random(fam.size), day, fam))
    fam, day, src, rel, conc, child, sepf = (
        a[order] for a in (fam, day, src, rel, conc, child, sepf)
    )
    first = np.ones(fam.size, bool)
    first[1:] = fam[1:] != fam[:-1]
    fam, day, src, rel, conc, child, sepf = (
        a[first] for a in (fam, day, src, rel, conc, child, sepf)
    )
    n_r = fam.size
    # A child-level referral names the siblings too, a quarter of the time.
    whole = (child < 0) | (rng.random(n_r) < 0.25)
    n_fam = pop.n_families
    ref_of = np.full(n_fam, -1, np.int64)
    ref_of[fam] = np.arange(n_r)
    r_of_c = ref_of[f]
    rows_h = np.flatnonzero((r_of_c >= 0) & ~in_care)
    rows_h = rows_h[whole[r_of_c[rows_h]] & (dob[rows_h] <= day[r_of_c[rows_h]])]
    single = np.flatnonzero(~whole)
    lo = c[0]
    srow = child[single] - lo
    keep = ~in_care[srow]
    single, srow = single[keep], srow[keep]
    row_ref = np.concatenate([r_of_c[rows_h], single])
    row_off = np.concatenate([rows_h, srow])
    if row_ref.size == 0:
        return
    has_rows = np.zeros(n_r, bool)
    has_rows[row_ref] = True
    # Renumber referrals that name at least one child.
    new_id = np.cumsum(has_rows) - 1
    kept = np.flatnonzero(has_rows)
    fam, day, src, rel, conc, sepf = (a[kept] for a in (fam, day, src, rel, conc, sepf))
    row_ref = new_id[row_ref]
    n_r = kept.size
    row_child = c[row_off]
    # Referrers also name the parental difficulties they know of, some of the time.
    for flag, concern in (
        ("da", "domestic_abuse"),
        ("subst", "parental_substance_misuse"),
        ("mh", "parental_mental_health"),
    ):
        named = fam_flag[flag][fam] & (rng.random(n_r) < p.CONCERN_NAMES_KNOWN_FACTOR)
        conc = conc | np.where(named, CONCERN_BIT[concern], 0).astype(np.uint8)

    # What the screener sees: the referral itself, a glimpse of the truth, little history.
    harm_any = np.zeros(n_r, bool)
    np.logical_or.at(harm_any, row_ref, in_harm[row_off])
    sev = np.zeros(n_r, np.int8)
    np.maximum.at(sev, row_ref, hsev[row_off])
    prior = np.zeros(n_r, np.int32)
    np.maximum.at(prior, row_ref, w.n_ref[row_child])
    had_plan = np.zeros(n_r, bool)
    np.logical_or.at(had_plan, row_ref, w.cp_start[row_child] > -(2**39))
    detect = np.array([p.DETECT[s] for s in v.REFERRAL_SOURCES])[src]
    seen = harm_any & (rng.random(n_r) < detect)
    n_conc = np.unpackbits(conc[:, None], axis=1).sum(axis=1)
    lean = cfg.source_lean * np.array([p.SOURCE_LEAN[s] for s in v.REFERRAL_SOURCES])[src]
    score = (
        lean
        + 1.4 * seen * (0.5 + 0.35 * sev)
        + 0.15 * n_conc
        + cfg.history_weight * (0.6 * np.log1p(prior) + 0.8 * had_plan)
        + rng.standard_normal(n_r)
    )
    decision = np.searchsorted(np.array(p.SCREEN_THRESHOLDS), score, side="right").astype(np.int8)
    decided = day + rng.choice(4, size=n_r, p=(0.5, 0.3, 0.15, 0.05))
    community = np.isin(src, [SRC["family"], SRC["friend_or_neighbour"], SRC["anonymous"]])
    closure = np.full(n_r, -1, np.int8)
    nfa = decision == NFA
    u = rng.random(n_r)
    malicious = nfa & community & ~harm_any & (u < np.where(sepf, 0.55, 0.3))
    other_reason = rng.choice(
        [
            CLOSURE["no_concerns_substantiated"],
            CLOSURE["signposted"],
            CLOSURE["family_declined_support"],
            CLOSURE["other"],
        ],
        size=n_r,
        p=(0.6, 0.25, 0.05, 0.1),
    )
    closure[nfa] = other_reason[nfa]
    closure[malicious] = CLOSURE["malicious"]
    eh = decision == EARLY_HELP
    declined = eh & (rng.random(n_r) < 0.15)
    closure[declined] = CLOSURE["family_declined_support"]

    base = w.n_refs
    w.refs.add(
        fam=fam,
        day=day,
        source=src,
        rel=rel,
        concerns=conc,
        decision=decision,
        decided=decided,
        closure=closure,
    )
    w.ref_rows.add(ref=row_ref + base, child=row_child)
    w.n_refs += n_r
    w.n_ref[row_child] += 1
    w.fam_last_ref[fam] = day
    w.fam_last_src[fam] = src
    w.fam_last_rel[fam] = rel
    w.fam_last_closed[fam] = decision <= EARLY_HELP

    # --- outcomes per child ----------------------------------------------------------
    log = w.child_log
    rd = decision[row_ref]
    rdec = decided[row_ref]
    m = row_child.size
    ksev = hsev[row_off]
    kh = in_harm[row_off]
    # Early help, or the family declines it.
    e = np.flatnonzero(rd == EARLY_HELP)
    dec_e = declined[row_ref[e]]
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
    p47 = np.zeros(m)
    p47[a] = 0.12 + np.where(ksev[a] >= 2, 0.45, np.where(ksev[a] == 1, 0.30, 0.0))
    s = rd == STRATEGY
    p47[s] = 0.92
    d47 = np.where(s, rdec + rng.integers(0, 5, m), rdec + rng.integers(5, 40, m))
    busy = (w.cp_end[row_child] > rdec) | (w.la_end[row_child] > rdec)
    # Accommodation straight from an assessment: adolescents at risk outside the
    # family, and the most severe harm.
    kage = age[row_off]
    p_acc = np.where(
        a_mask := (rd == ASSESSMENT) & kh & ~busy,
        0.12 * ((kage >= 13) & (ht[row_off] == OTHER)) + 0.10 * (ksev == 3),
        0.0,
    )
    acc = np.flatnonzero(a_mask & (rng.random(m) < p_acc))
    w.start_care(row_child[acc], rdec[acc] + rng.integers(3, 30, acc.size))
    busy = (w.cp_end[row_child] > rdec) | (w.la_end[row_child] > rdec)
    go = np.flatnonzero((rng.random(m) < p47) & ~busy)
    if go.size == 0:
        return
    k, d = row_child[go], d47[go]
    log.add(k, code(CSC, "section47_enquiry"), d, ROLE["subject"])
    gs, gh = ksev[go], kh[go]
    prior_plan = w.cp_start[k] > -(2**39)
    p_care = (
        0.03
        + np.where(gs == 3, 0.25, np.where(gs == 2, 0.10, 0.0))
        + 0.06 * (gh & (ht[row_off[go]] == OTHER))
    )
    p_conf = 0.18 + np.where(gs >= 2, 0.45, np.where(gs == 1, 0.30, 0.0)) + 0.1 * prior_plan
    u = rng.random(go.size)
    care = u < p_care
    conf = ~care & (u < p_care + p_conf)
    cd = d[care] + rng.integers(0, 7, care.sum())
    w.start_care(k[care], cd)
    icpc_day = d[conf] + rng.integers(10, 25, conf.sum())
    kc = k[conf]
    log.add(kc, code(CSC, "initial_child_protection_conference"), icpc_day, ROLE["subject"])
    plan = rng.random(kc.size) < 0.88
    kp, pd_ = kc[plan], icpc_day[plan]
    dur = np.maximum(rng.lognormal(np.log(p.CP_PLAN_MEDIAN_DAYS), 0.6, kp.size), 60).astype(
        np.int64
    )
    w.start_plan(kp, pd_, pd_ + dur)
    # A plan usually (not always) stops the harm within a few months.
    stop = (rng.random(kp.size) < 0.5) & (w.h_end[kp] > pd_)
    ks = kp[stop]
    w.h_end[ks] = np.maximum(
        np.minimum(w.h_end[ks], pd_[stop] + rng.integers(14, 120, ks.size)), w.h_start[ks] + 1
    )


def _plans_to_care(w: World_, c, in_harm, d0, d1) -> None:
    """Children on a plan whose harm goes on are sometimes taken into care."""
    on_plan = (
        (w.cp_start[c] < d1) & (w.cp_end[c] > d0) & ~((w.la_start[c] < d1) & (w.la_end[c] > d0))
    )
    go = np.flatnonzero(on_plan & in_harm & (w.rng.random(c.size) < 0.08))
    if go.size:
        child_ids = c[go]
        day = np.maximum(w.days_in(d0, d1, go.size), w.cp_start[child_ids] + 1)
        w.start_care(child_ids, day)
