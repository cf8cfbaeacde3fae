"""Internal rates of the simulated world, tuned against england.md.

Each constant is a documented assumption (see docs/synthetic-world.md).  Rates
are per month unless the name says otherwise; probabilities are per event.
They are tuned together: moving one moves several calibration rows.
"""

from __future__ import annotations

# --- Population ---------------------------------------------------------------
# Children per family (completed family size), mean about 1.97.
FAMILY_SIZE_P = (0.38, 0.38, 0.16, 0.06, 0.02)
# Gap between births: 300 days plus a gamma(2, 500 days), mean about 3.5 years.
BIRTH_GAP_MIN_DAYS = 300
BIRTH_GAP_SHAPE, BIRTH_GAP_SCALE_DAYS = 2.0, 500.0
MAX_FAMILY_SPAN_YEARS = 12
# An urban local authority skews towards the most deprived: IMD quintile shares.
QUINTILE_SHARES = (0.26, 0.23, 0.20, 0.17, 0.14)
# Ethnicity of the 0-17 population (seed 003 Table 1, 2011 census column).
ETHNICITY_SHARES = {"White": 0.793, "Asian": 0.097, "Black": 0.047, "Mixed": 0.050, "Other": 0.012}
ETHNICITY_NOT_RECORDED = 0.02  # share of people whose ethnicity is "Not recorded"
SEX_MALE = 0.512
SEX_NOT_RECORDED = 0.002
CHILD_DISABILITY = (0.05, 0.92, 0.03)  # Yes / No / Not recorded
ADULT_DISABILITY = (0.08, 0.85, 0.07)

# Family adversity: a latent N(0, 1) correlated with deprivation that every
# risk factor loads on, which is what makes the factors overlap.
ADVERSITY_DEPRIVATION_CORR = 0.4

# Prevalence of adult risk factors (share of adults of that kind) and their
# loading on family adversity and on the adult's own propensity.
MOTHER_FACTORS = {"mh": 0.12, "subst": 0.04, "crim": 0.03, "da": 0.01, "care_leaver": 0.02}
FATHER_FACTORS = {"mh": 0.06, "subst": 0.07, "crim": 0.12, "da": 0.07, "care_leaver": 0.02}
# New partners are a riskier population (seed 002: Emma Tustin, Savannah Brockhill).
PARTNER_FACTORS = {"mh": 0.12, "subst": 0.15, "crim": 0.25, "da": 0.20, "care_leaver": 0.05}
FACTOR_ADVERSITY_LOADING = 0.6
FACTOR_PERSONAL_LOADING = 0.9
HOUSING_INSTABILITY = 0.08
HOUSING_LOADING = 0.9
MOTHER_AGE_FIRST_BIRTH = (28.0, 5.0)  # years, mean and sd; minus 1.5 per SD of adversity
YOUNG_PARENT_AGE = 20.0
RELATIVE_IN_HOUSEHOLD = 0.05

# Household dynamics (per year).
FATHER_PRESENT_LOGIT = 2.0  # minus 0.5 per SD of adversity; about 85 % present
SEPARATION_RATE = 0.045  # per year, times exp(0.9 DA + 0.5 substance + 0.3 criminal)
NEW_PARTNER_RATE = 0.25  # per year while no partner is present
PARTNER_LEAVE_RATE = 0.30  # per year, times exp(0.5 DA)
MAX_NEW_PARTNERS = 3
# A new partner is often recorded late: share recorded late and the mean delay.
PARTNER_LATE_SHARE = 0.6
PARTNER_LATE_MEAN_DAYS = 150

# --- Latent harm --------------------------------------------------------------
HARM_BASE = 0.00034  # monthly hazard with no risk factor, age 5-14
HARM_BETA = {
    "da": 1.3,
    "subst": 1.0,
    "mh": 0.6,
    "crim": 0.5,
    "new_partner": 0.9,
    "young": 0.5,
    "care_leaver": 0.5,
    "housing": 0.5,
}
HARM_DEPRIVATION_BETA = 0.25  # per SD of deprivation (poverty and neglect)
HARM_FAMILY_FRAILTY_SD = 1.1
# Age multipliers of the harm hazard: under 1, 1-4, 5-9, 10-14, 15-17.
HARM_AGE = (2.2, 1.2, 0.9, 0.9, 1.3)
HARM_MONTHLY_END = 0.10  # mean episode about 10 months, unless someone intervenes
HARM_SEVERITY_P = (0.5, 0.35, 0.15)

# --- Serious incidents ----------------------------------------------------------
SI_BASE = 0.088e-7  # monthly hazard outside harm, before age, sex and deprivation
SI_HARM_FACTOR = 400.0  # times SI_SEVERITY for a child in an active harm episode
SI_OUTSIDE_HARM = 0.3  # relative hazard outside any harm episode (SUDI, suicide, accidents)
SI_SEVERITY = (0.4, 1.0, 2.5)
SI_AGE = (16.0, 1.0, 0.45, 0.8, 3.5)  # under 1, 1-4, 5-9, 10-14, 15-17
SI_MALE = 1.2
SI_DEPRIVATION_BETA = 0.1  # per SD of deprivation
SI_DA = 1.8
SI_FRAILTY_BETA = 1.0  # per SD of the family's unobserved harm frailty
SI_RISK_BETA = 0.6  # per current family risk factor (capped at 4)

# --- Agency observation rates (monthly, before the exposure multiplier) ----------
RECORDING_DELAY_DAYS = {  # mean recording delay by agency
    "police": 1.0,
    "health": 5.0,
    "education": 10.0,
    "housing": 20.0,
    "probation": 3.0,
    "adult_mental_health": 10.0,
    "substance_misuse": 10.0,
    "children_social_care": 2.0,
}
# Police domestic incidents (monthly, per household): a background rate for any
# couple, plus this much when one of them has the domestic-abuse factor.
DA_INCIDENT_BASE = 0.0025
DA_INCIDENT_ABUSIVE = 0.07
# Domestic abuse is between people aged 16 or over (Domestic Abuse Act 2021,
# s.1): no incident, in the window or in an adult's history, has a younger party.
DA_MIN_AGE = 16.0
# When no partner lives with her, a mother's former partner is a possible party
# to an incident (post-separation abuse): the children's father for as long as
# there are children (contact keeps them in touch), a later partner for this
# long after he left.
EX_PARTNER_YEARS = 2.0

# --- Screening and outcomes ---------------------------------------------------
# Probability of detecting the harm behind a referral, by source.
DETECT = {
    "police": 0.75,
    "school": 0.7,
    "health": 0.8,
    "family": 0.45,
    "friend_or_neighbour": 0.45,
    "self": 0.7,
    "anonymous": 0.35,
    "la_service": 0.7,
    "other": 0.65,
}
# Screener's prior lean by source: family and community referrals more often closed.
SOURCE_LEAN = {
    "police": 0.0,
    "school": 0.1,
    "health": 0.2,
    "family": -0.7,
    "friend_or_neighbour": -0.6,
    "self": 0.1,
    "anonymous": -0.8,
    "la_service": 0.0,
    "other": -0.1,
}
SCREEN_THRESHOLDS = (-0.3, 0.35, 1.2)
# Chance a referral about a family with domestic abuse, substance misuse or
# mental ill-health at home also ticks that concern, whatever the route.
CONCERN_NAMES_KNOWN_FACTOR = 0.3  # early help, assessment, strategy discussion

# --- Referral volume ------------------------------------------------------------
# The routes in engine._step propose candidate referrals; these keep a share of
# them, more when a child in the household is being harmed (the referrer has
# seen something real), and per source to match the national source mix.
REFERRAL_KEEP_BASE = 0.15
REFERRAL_KNOWN_FACTOR = 3.0  # within REFERRAL_KNOWN_DAYS of a family's last referral
REFERRAL_KNOWN_DAYS = 4 * 365
REFERRAL_MERGE_DAYS = 90
REFERRAL_MERGE_SHARE = 0.85
REFERRAL_RISK_BETA = 0.9  # per current family risk factor (capped at 4)
REFERRAL_PROPENSITY_SD = 1.2  # lognormal spread of a family's referral propensity
REFERRAL_KEEP_HARM = 0.3
SOURCE_KEEP = {
    "police": 1.3,
    "school": 1.15,
    "health": 0.55,
    "family": 1.0,
    "friend_or_neighbour": 1.0,
    "self": 1.0,
    "anonymous": 1.0,
    "la_service": 1.0,
    "other": 1.0,
}

# Re-referral by the last referrer within a year (monthly), times a factor when
# the last referral was closed at the front door (no further action or early help).
REREFERRAL_RATE = 0.001
REREFERRAL_HARM_RATE = 0.008
REREFERRAL_CLOSED_FACTOR = 1.5

# Durations and stocks of statutory episodes.
CP_PLAN_MEDIAN_DAYS = 320.0  # lognormal, sigma 0.6: mean about 385 days (at least 60)
CARE_LONG_MEAN_YEARS = 8.0  # long care episodes (65 %), capped at the 18th birthday
INITIAL_CARE_SHARE = 0.0075  # children already looked after on the first simulated day
INITIAL_CARE_REMAINING_YEARS = 5.0
