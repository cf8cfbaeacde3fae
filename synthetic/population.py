"""Families, children, adults and who lives with whom over time.

A family is one household.  Its children are born over up to twelve years;
its mother stays; a father may be present from the start and may separate;
new partners arrive and leave, and new partners are a riskier population with
their own histories.  Everything is drawn at once, vectorised over families,
before the monthly loop starts.

Days are integers counted from the first simulated day (``span_start``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic import params as p
from synthetic.config import SimulationConfig

YEAR = 365.25
NEVER = np.int32(2**31 - 1)
ETHNICITIES = ("White", "Asian", "Black", "Mixed", "Other")  # order of the share table
ROLE_PARENT, ROLE_PARTNER, ROLE_RELATIVE = 0, 1, 2
FACTOR_NAMES = ("mh", "subst", "crim", "da", "care_leaver")


@dataclass
class Population:
    """Everything drawn before the monthly loop, as parallel numpy arrays."""

    t0: np.datetime64  # first simulated day
    n_days: int  # days from t0 to the extract date
    window_start: int  # first observed day (after burn-in)
    # families (households)
    fam_decile: np.ndarray
    fam_eth: np.ndarray  # index into ETHNICITIES
    fam_adversity: np.ndarray
    fam_dep_z: np.ndarray
    fam_housing: np.ndarray
    fam_young: np.ndarray
    fam_care_leaver: np.ndarray
    fam_frailty: np.ndarray
    fam_exposure: np.ndarray
    fam_propensity: np.ndarray  # how readily people around the family refer (mean 1)
    fam_mother: np.ndarray  # adult index of the mother
    fam_formation: np.ndarray
    # children, sorted by date of birth
    child_fam: np.ndarray
    child_dob: np.ndarray
    child_dob18: np.ndarray
    child_male: np.ndarray
    child_sex: np.ndarray  # 0 Female, 1 Male, 2 Not recorded
    child_eth_nr: np.ndarray
    child_disability: np.ndarray
    # adults
    adult_fam: np.ndarray
    adult_dob: np.ndarray
    adult_female: np.ndarray
    adult_eth: np.ndarray  # index into ETHNICITIES, or -1 for Not recorded
    adult_disability: np.ndarray
    adult_flags: dict[str, np.ndarray]
    # residence spells of adults in their family's household
    spell_adult: np.ndarray
    spell_fam: np.ndarray
    spell_role: np.ndarray
    spell_start: np.ndarray
    spell_end: np.ndarray  # NEVER when still there

    @property
    def n_families(self) -> int:
        return self.fam_decile.size

    @property
    def n_children(self) -> int:
        return self.child_dob.size

    @property
    def n_adults(self) -> int:
        return self.adult_dob.size


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def intercept_for_prevalence(prevalence: float, score: np.ndarray) -> float:
    """The logit intercept ``a`` with ``mean(sigmoid(a + score)) == prevalence``.

    Solved by bisection so that a factor keeps its target prevalence however
    strongly it loads on adversity.
    """
    score = score[:200_000]  # a fixed subsample is plenty, and keeps big runs fast
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _sigmoid(mid + score).mean() < prevalence:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _draw_factors(
    rng, prevalence: dict[str, float], adversity: np.ndarray
) -> dict[str, np.ndarray]:
    """Risk factors of one kind of adult, overlapping through adversity and the person."""
    personal = rng.standard_normal(adversity.size)
    out = {}
    for name in FACTOR_NAMES:
        score = p.FACTOR_ADVERSITY_LOADING * adversity + p.FACTOR_PERSONAL_LOADING * personal
        score = score + 0.3 * rng.standard_normal(adversity.size)
        a = intercept_for_prevalence(prevalence[name], score)
        out[name] = rng.random(adversity.size) < _sigmoid(a + score)
    return out


def birthday18(t0: np.datetime64, dob: np.ndarray) -> np.ndarray:
    """Day (from ``t0``) of each 18th birthday, by the calendar."""
    dates = t0 + dob.astype("timedelta64[D]")
    months = dates.astype("datetime64[M]")
    b18 = (months + 216).astype("datetime64[D]") + (dates - months.astype("datetime64[D]"))
    return (b18 - t0).astype(np.int64).astype(np.int32)


def _family_sizes(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Completed family sizes and each child's birth offset (days after the first)."""
    size = rng.choice(len(p.FAMILY_SIZE_P), size=n, p=p.FAMILY_SIZE_P) + 1
    kmax = len(p.FAMILY_SIZE_P)
    gaps = p.BIRTH_GAP_MIN_DAYS + rng.gamma(p.BIRTH_GAP_SHAPE, p.BIRTH_GAP_SCALE_DAYS, (n, kmax))
    gaps[:, 0] = 0.0
    offsets = np.cumsum(gaps, axis=1)
    born = (np.arange(kmax)[None, :] < size[:, None]) & (offsets < p.MAX_FAMILY_SPAN_YEARS * YEAR)
    return born, offsets


def build_population(config: SimulationConfig, rng: np.random.Generator) -> Population:
    """Draw the families, children, adults and residence spells of one run."""
    t0 = np.datetime64(config.span_start, "D")
    t1 = np.datetime64(config.window_end, "D")
    window_start = int((np.datetime64(config.window_start, "D") - t0).astype(int))
    n_days = int((t1 - t0).astype(int))
    span_years = n_days / YEAR
    g = p.MAX_FAMILY_SPAN_YEARS

    # Births must arrive at n/18 a year for the 0-17 population to hold at n.
    probe_born, _ = _family_sizes(np.random.default_rng(rng.integers(2**32)), 50_000)
    mean_kept = probe_born.sum(axis=1).mean()
    width_years = 18 + span_years + g
    n_fam = int(round(config.n_children * width_years / (18 * mean_kept)))
    first_birth = (-(18 + g) * YEAR + rng.random(n_fam) * width_years * YEAR).astype(np.int64)
    born, offsets = _family_sizes(rng, n_fam)
    fam_idx, slot = np.nonzero(born)
    dob = first_birth[fam_idx] + offsets[fam_idx, slot].astype(np.int64)
    keep = (dob < n_days) & (dob > -18 * YEAR - 2)
    fam_idx, dob = fam_idx[keep], dob[keep]
    dob18 = birthday18(t0, dob)
    keep = dob18 > 0
    fam_idx, dob, dob18 = fam_idx[keep], dob[keep], dob18[keep]
    # Renumber the families that kept at least one child.
    used, child_fam = np.unique(fam_idx, return_inverse=True)
    first_birth = first_birth[used]
    n_fam = used.size

    # Family characteristics.
    quintile = rng.choice(5, size=n_fam, p=p.QUINTILE_SHARES)
    decile = 2 * quintile + 1 + rng.integers(0, 2, n_fam)
    dep_z = (5.5 - decile) / 2.87
    shares = np.array([p.ETHNICITY_SHARES[e] for e in ETHNICITIES])
    eth = rng.choice(len(ETHNICITIES), size=n_fam, p=shares / shares.sum())
    r = p.ADVERSITY_DEPRIVATION_CORR
    adversity = r * dep_z + np.sqrt(1 - r * r) * rng.standard_normal(n_fam)
    h_score = p.HOUSING_LOADING * adversity
    housing = rng.random(n_fam) < _sigmoid(
        intercept_for_prevalence(p.HOUSING_INSTABILITY, h_score) + h_score
    )
    frailty = rng.normal(0.0, p.HARM_FAMILY_FRAILTY_SD, n_fam)
    # Referral propensity: some families are referred again and again (chaotic
    # circumstances, many professionals around them); it partly shares the
    # family's unobserved harm frailty.
    sd = p.REFERRAL_PROPENSITY_SD
    z = 0.85 * frailty / p.HARM_FAMILY_FRAILTY_SD + np.sqrt(1 - 0.85**2) * rng.standard_normal(
        n_fam
    )
    propensity = np.exp(sd * z - sd * sd / 2)
    formation = first_birth - (rng.random(n_fam) * 730).astype(np.int64)

    # Exposure: how visible the family is to agencies at equal latent risk.
    eth_shift = np.array([0.0, -0.2, 0.35, 0.35, 0.0])[eth]
    s = (5.5 - decile) / 9.0 + eth_shift
    raw = np.exp(config.exposure_bias * s)
    children_per_fam = np.bincount(child_fam, minlength=n_fam)
    exposure = raw / (np.sum(raw * children_per_fam) / children_per_fam.sum())

    # Mothers.
    mu, sd = p.MOTHER_AGE_FIRST_BIRTH
    age_first = np.clip(rng.normal(mu - 1.5 * adversity, sd), 15.0, 45.0)
    mother_dob = first_birth - (age_first * YEAR).astype(np.int64)
    young = age_first < p.YOUNG_PARENT_AGE
    m_flags = _draw_factors(rng, p.MOTHER_FACTORS, adversity)
    # Very young mothers are more often care leavers.
    m_flags["care_leaver"] |= young & (rng.random(n_fam) < 0.08)

    # Fathers present from the start, and when they separate.
    father = rng.random(n_fam) < _sigmoid(p.FATHER_PRESENT_LOGIT - 0.5 * adversity)
    fi = np.flatnonzero(father)
    f_flags = _draw_factors(rng, p.FATHER_FACTORS, adversity[fi])
    f_dob = mother_dob[fi] - (rng.normal(2.5, 3.0, fi.size) * YEAR).astype(np.int64)
    sep_rate = p.SEPARATION_RATE * np.exp(
        0.9 * f_flags["da"] + 0.5 * f_flags["subst"] + 0.3 * f_flags["crim"]
    )
    f_end = formation[fi] + (rng.exponential(1.0 / sep_rate) * YEAR).astype(np.int64)
    free_from = formation.copy()
    free_from[fi] = f_end

    adults_fam = [np.arange(n_fam), fi]
    adults_dob = [mother_dob, f_dob]
    adults_female = [np.ones(n_fam, bool), np.zeros(fi.size, bool)]
    adults_flags = [m_flags, f_flags]
    sp_role = [np.full(n_fam, ROLE_PARENT), np.full(fi.size, ROLE_PARENT)]
    sp_start = [formation, formation[fi]]
    sp_end = [np.full(n_fam, NEVER, np.int64), f_end]

    # New partners, one after another, while the household lasts.
    for _ in range(p.MAX_NEW_PARTNERS):
        arrive = free_from + (rng.exponential(1.0 / p.NEW_PARTNER_RATE, n_fam) * YEAR).astype(
            np.int64
        )
        # No partner arrives after the extract date or after the youngest child is grown up.
        last_child18 = np.zeros(n_fam, np.int64)
        np.maximum.at(last_child18, child_fam, dob18.astype(np.int64))
        ok = (arrive < n_days) & (arrive < last_child18)
        pi = np.flatnonzero(ok)
        if pi.size == 0:
            break
        flags = _draw_factors(rng, p.PARTNER_FACTORS, adversity[pi])
        leave_rate = p.PARTNER_LEAVE_RATE * np.exp(0.5 * flags["da"])
        stay = (rng.exponential(1.0 / leave_rate) * YEAR).astype(np.int64) + 30
        end = arrive[pi] + stay
        adults_fam.append(pi)
        adults_dob.append(
            np.minimum(
                mother_dob[pi] + (rng.normal(-1.0, 5.0, pi.size) * YEAR).astype(np.int64),
                arrive[pi] - int(17 * YEAR),
            )
        )
        adults_female.append(rng.random(pi.size) < 0.08)
        adults_flags.append(flags)
        sp_role.append(np.full(pi.size, ROLE_PARTNER))
        sp_start.append(arrive[pi])
        sp_end.append(end)
        free_from = np.full(n_fam, np.iinfo(np.int64).max // 4, np.int64)
        free_from[pi] = end

    # A grandparent lives with some households.
    ri = np.flatnonzero(rng.random(n_fam) < p.RELATIVE_IN_HOUSEHOLD)
    adults_fam.append(ri)
    adults_dob.append(mother_dob[ri] - (rng.normal(26.0, 4.0, ri.size) * YEAR).astype(np.int64))
    adults_female.append(rng.random(ri.size) < 0.85)
    adults_flags.append(
        {
            k: (rng.random(ri.size) < 0.05) if k == "mh" else np.zeros(ri.size, bool)
            for k in FACTOR_NAMES
        }
    )
    sp_role.append(np.full(ri.size, ROLE_RELATIVE))
    sp_start.append(formation[ri] + (rng.random(ri.size) * 365 * 3).astype(np.int64))
    sp_end.append(np.full(ri.size, NEVER, np.int64))

    adult_fam = np.concatenate(adults_fam)
    n_adults = adult_fam.size
    adult_flags = {k: np.concatenate([f[k] for f in adults_flags]) for k in FACTOR_NAMES}
    adult_eth = eth[adult_fam].copy()
    mixed = adult_eth == ETHNICITIES.index("Mixed")
    adult_eth[mixed] = rng.choice([0, 1, 2, 3], size=mixed.sum(), p=[0.5, 0.15, 0.25, 0.10])
    adult_eth[rng.random(n_adults) < p.ETHNICITY_NOT_RECORDED] = -1

    # Children: sorted by date of birth so the living are a contiguous slice.
    order = np.argsort(dob, kind="stable")
    child_fam, dob, dob18 = child_fam[order], dob[order], dob18[order]
    n_children = dob.size
    u = rng.random(n_children)
    sex = np.where(u < p.SEX_NOT_RECORDED, 2, np.where(u < p.SEX_NOT_RECORDED + p.SEX_MALE, 1, 0))
    male = np.where(sex == 2, rng.random(n_children) < p.SEX_MALE, sex == 1)

    return Population(
        t0=t0,
        n_days=n_days,
        window_start=window_start,
        fam_decile=decile.astype(np.int8),
        fam_eth=eth.astype(np.int8),
        fam_adversity=adversity,
        fam_dep_z=dep_z,
        fam_housing=housing,
        fam_young=young,
        fam_care_leaver=m_flags["care_leaver"],
        fam_frailty=frailty,
        fam_exposure=exposure,
        fam_propensity=propensity,
        fam_mother=np.arange(n_fam),
        fam_formation=formation,
        child_fam=child_fam.astype(np.int64),
        child_dob=dob.astype(np.int32),
        child_dob18=dob18,
        child_male=male,
        child_sex=sex.astype(np.int8),
        child_eth_nr=rng.random(n_children) < p.ETHNICITY_NOT_RECORDED,
        child_disability=rng.choice(3, size=n_children, p=p.CHILD_DISABILITY).astype(np.int8),
        adult_fam=adult_fam,
        adult_dob=np.concatenate(adults_dob),
        adult_female=np.concatenate(adults_female),
        adult_eth=adult_eth.astype(np.int8),
        adult_disability=rng.choice(3, size=n_adults, p=p.ADULT_DISABILITY).astype(np.int8),
        adult_flags=adult_flags,
        spell_adult=np.arange(n_adults),
        spell_fam=adult_fam,
        spell_role=np.concatenate(sp_role).astype(np.int8),
        spell_start=np.concatenate(sp_start),
        spell_end=np.concatenate(sp_end),
    )
