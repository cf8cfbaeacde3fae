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
# The hazard in harm grows by one for every SI_ESCALATION_DAYS the episode has
# lasted, to at most SI_ESCALATION_MAX more.
SI_ESCALATION_DAYS, SI_ESCALATION_MAX = 60.0, 9.0

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
# The routes in monthly._step propose candidate referrals; these keep a share of
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

# --- The monthly routes (monthly._step) -------------------------------------------
# Each route's rates, moved out of the engine (issue #18) with their values
# unchanged.  A route's rate is ``base`` plus a term per circumstance (for
# example ``harm``: a child in an active harm episode; ``physical``: in a
# physical-abuse episode); monthly, times the household's exposure to
# agencies unless the route is from family or community.

# Type of a new harm episode: relative weights of neglect, physical,
# emotional, sexual abuse and other harm (criminal or sexual exploitation).
HARM_TYPE_WEIGHTS = {
    "neglect": {"base": 0.45, "subst": 0.5, "young": 0.2, "housing": 0.2},
    "physical": {"base": 0.18, "under1": 0.35, "da": 0.2},
    "emotional": {"base": 0.12, "da": 0.6, "mh": 0.2},
    "sexual": {"base": 0.03, "age5": 0.06},
    "other": {"base": 0.03, "age13": 0.55},
}
PHYSICAL_INFANT_SEVERITY_BUMP = 0.35  # a baby's physical abuse is one level more severe

# What health, schools and the police see about children.
ED_ATTENDANCE = {"under5": 0.025, "older": 0.012, "physical": 0.06, "harm": 0.015}
INJURY_NONMOBILE = {"base": 0.0008, "physical": 0.06}  # babies under six months
INJURY_MOBILE = {"base": 0.003, "physical_per_severity": 0.03}
INJURY_SEVERE_SHARE = 0.2  # an injury outside physical abuse recorded as severity 2
MISSED_APPOINTMENT_UNDER5 = {"base": 0.012, "neglect": 0.07}
MISSED_APPOINTMENT_OLDER = {"base": 0.004, "neglect": 0.03}
HEALTH_SERVICE_DECLINED = {"neglect": 0.01}
SCHOOL_ABSENCE = {"base": 0.012, "neglect": 0.09, "harm": 0.03, "other_over12": 0.1}
EXCLUSION = {"base": 0.0012, "harm": 0.012, "other": 0.02}  # ages 10-15
MISSING_EPISODE = {"base": 0.0006, "other": 0.07, "harm": 0.01}  # ages 12 and over

# Severity of a police domestic incident: 1, plus one with this chance, plus
# one more with ``base`` (and ``da`` more when an abusive adult lives there).
DOMESTIC_SEVERITY = {"second": 0.35, "base": 0.1, "da": 0.1}

# Adults' own services while they live with children (factor holders only).
OTHER_OFFENCE = 0.015  # criminal factor
VIOLENT_OFFENCE = 0.007  # criminal factor
ARREST_SHARE = 0.6  # of violent offences
SUPERVISION_SHARE = 0.12  # of offences, starting 30-89 days later, for a year
MH_CONTACT, MH_CRISIS, MH_SERVICE_DECLINED = 0.05, 0.005, 0.004
TREATMENT_START, SUBSTANCE_SERVICE_DECLINED = 0.012, 0.006  # treatment lasts 90-359 days
RESTRAINING_ORDER = 0.004  # domestic-abuse factor
# Housing events of the household (``housing``: the housing-instability factor).
ADDRESS_MOVE = {"base": 0.004, "housing": 0.03}
HOMELESSNESS_APPLICATION = {"housing": 0.008}
EVICTION = {"housing": 0.003}

# Referrals proposed from what agencies saw: probability per event.
REFER_DOMESTIC = {"base": 0.26, "harm": 0.28, "emotional_share": 0.3}
REFER_MISSING = {"base": 0.25, "harm": 0.3}
REFER_INJURY_NONMOBILE = {"base": 0.55, "physical": 0.3}
REFER_INJURY_MOBILE = {"per_severity": 0.06, "physical": 0.4}
REFER_ED = {"base": 0.015, "harm": 0.12}
REFER_MISSED_APPOINTMENT = {"base": 0.02, "neglect": 0.12}
REFER_ABSENCE = {"base": 0.04, "harm": 0.2}
REFER_EXCLUSION = {"base": 0.08, "harm": 0.2}
REFER_HOUSING = {"address_move": 0.01, "homelessness": 0.12, "eviction": 0.2, "harm": 0.15}
REFER_MH_CRISIS = {"base": 0.25, "harm": 0.2}
REFER_SUBSTANCE = {"base": 0.07, "harm": 0.15}
REFER_SUPERVISION = 0.08
# Direct concern with no recorded event (disclosures, observations), monthly.
# Without a harm episode to name, half name neglect and half emotional abuse.
DIRECT_NEGLECT_SHARE = 0.5
DIRECT_SCHOOL = {"base": 0.0012, "harm": 0.02}  # school age
DIRECT_HEALTH_VISITOR = {"base": 0.0008, "harm": 0.02}  # under 5
DIRECT_GP = {"base": 0.0004, "harm": 0.006}  # 5 and over
DIRECT_POLICE = {"base": 0.0008, "harm": 0.008}  # 10 and over
DIRECT_CHILD_SELF = {"base": 0.0002, "harm": 0.006}  # 12 and over, not exposure-scaled
# Household routes: one draw per household (``harm``: a child there is harmed).
HOUSEHOLD_LA_SERVICE = {"base": 0.0008, "harm": 0.008}
HOUSEHOLD_OTHER_PROFESSIONAL = {"base": 0.0006, "harm": 0.006}
HOUSEHOLD_FAMILY = {"base": 0.0005, "harm": 0.006}
HOUSEHOLD_SEPARATION = 0.08  # family referral in a month a partner leaves
HOUSEHOLD_FRIEND_OR_NEIGHBOUR = {"base": 0.0003, "harm": 0.003}
HOUSEHOLD_ANONYMOUS = {"base": 0.00025, "harm": 0.002}
HOUSEHOLD_SELF = 0.0008  # a parent with mental ill-health or substance misuse

# --- Screening and follow-up (monthly._screen) ------------------------------------
WHOLE_FAMILY_SHARE = 0.25  # a child-level referral names the siblings too
SCREEN_SCORE = {
    "seen": 1.4,  # the screener glimpses the harm behind the referral
    "seen_base": 0.5,
    "seen_per_severity": 0.35,
    "per_concern": 0.15,
    "prior_referrals": 0.6,  # times log(1 + earlier referrals), times history_weight
    "had_plan": 0.8,  # times history_weight
}
DECISION_DELAY_P = (0.5, 0.3, 0.15, 0.05)  # decided 0, 1, 2, 3 days after receipt
# Closure of a community referral with no harm behind it recorded as malicious,
# in a month a partner leaves and otherwise.
MALICIOUS_SHARE = {"separation": 0.55, "other": 0.3}
OTHER_CLOSURE_P = {  # the reason for the other closures at no further action
    "no_concerns_substantiated": 0.6,
    "signposted": 0.25,
    "family_declined_support": 0.05,
    "other": 0.1,
}
EARLY_HELP_DECLINED = 0.15
# Section 47 enquiry after an assessment: base plus a term by the harm's
# severity (none, 1, 2 or 3); after a strategy discussion.
S47_AFTER_ASSESSMENT = {"base": 0.12, "severity1": 0.30, "severity2+": 0.45}
S47_AFTER_STRATEGY = 0.92
# Accommodated straight from an assessment.
ACCOMMODATED = {"exploited_adolescent": 0.12, "severity3": 0.10}
# After an enquiry: care, else an initial child protection conference.
ENQUIRY_TO_CARE = {"base": 0.03, "severity2": 0.10, "severity3": 0.25, "exploitation": 0.06}
ENQUIRY_TO_CONFERENCE = {"base": 0.18, "severity1": 0.30, "severity2+": 0.45, "prior_plan": 0.1}
CONFERENCE_TO_PLAN = 0.88
CP_PLAN_SIGMA, CP_PLAN_MIN_DAYS = 0.6, 60
PLAN_STOPS_HARM = 0.5  # within 14-119 days of the plan
PLAN_TO_CARE = 0.08  # monthly, on a plan while the harm goes on
# Care episodes: short ones (lognormal around 100 days, sigma 0.8) and long ones.
CARE_SHORT_SHARE = 0.35
CARE_SHORT_MEDIAN_DAYS, CARE_SHORT_SIGMA = 100.0, 0.8
