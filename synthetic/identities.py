"""Each agency's view of each person: the identities ``mast link`` has to resolve.

The simulated world knows who everyone is (``people.person_id``).  A real
local authority does not: police, health, schools, housing, probation and
children's social care each keep their own record of a person, under their
own identifier, with the name, date of birth and address typed their way.
:func:`simulate_agency_identities` writes that view (contract 1.1,
``agency_records`` and ``agency_event_records``) with the errors real
extracts carry, and keeps the answer (which person is behind each record)
apart, for ``truth.agency_record_people``.

Errors, each drawn per agency record (rates in :data:`ERROR_RATES`):

- typos in names, nicknames (``Elizabeth`` -> ``Liz``), forename and surname
  swapped (more often for naming conventions that English systems handle
  badly), accents dropped by systems that cannot store them;
- day and month of birth transposed, a mistyped day, a year off by one, a
  missing date of birth;
- surnames changed (on partnering, or a child taking a step-parent's name)
  with some agencies still holding the old one; old addresses after a move;
- NHS numbers missing, more often for adults and for people who arrived in
  England recently (who are registered with a GP later, if at all);
- twins (the world's siblings born on the same day share surname, birth date
  and address) and same-named relatives (sons named after their fathers);
- a second record of the same person inside one agency.

Names come from Faker: ``en_GB`` and other locales, chosen by the person's
ethnic group, so that names of many origins appear, because linkage error
differs by community and that is a fairness question.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
from faker import Faker

from linkage.prepare import fold_accents
from store.identities import IDENTITY_SCHEMAS

# Faker locales by the person's ethnic group, with their shares.  The
# 'White' mix includes Irish and Eastern European names; 'Black' mixes
# Caribbean-British (en_GB), West and East African names.
LOCALES: dict[str, tuple[tuple[str, float], ...]] = {
    "White": (
        ("en_GB", 0.83),
        ("en_IE", 0.05),
        ("pl_PL", 0.05),
        ("ro_RO", 0.04),
        ("it_IT", 0.02),
        ("lt_LT", 0.01),
    ),
    "Asian": (("en_PK", 0.45), ("en_IN", 0.45), ("en_GB", 0.10)),
    "Black": (
        ("en_GB", 0.30),
        ("yo_NG", 0.25),
        ("ig_NG", 0.15),
        ("tw_GH", 0.15),
        ("en_KE", 0.15),
    ),
    "Mixed": (
        ("en_GB", 0.60),
        ("yo_NG", 0.10),
        ("en_IN", 0.10),
        ("en_PK", 0.10),
        ("tw_GH", 0.10),
    ),
    "Other": (("tr_TR", 0.35), ("en_PK", 0.25), ("es_ES", 0.20), ("pt_BR", 0.20)),
    "Not recorded": (("en_GB", 0.90), ("pl_PL", 0.05), ("en_PK", 0.05)),
}
ALL_LOCALES = tuple(sorted({loc for mix in LOCALES.values() for loc, _ in mix}))
# Naming conventions that English forename/surname fields often get the wrong
# way round (family name first, or a given name read as a surname).
SWAP_PRONE = {"en_PK", "en_IN", "yo_NG", "ig_NG", "tw_GH", "en_KE", "tr_TR"}
POOL_SIZE = 3_000  # names drawn per locale and kind: Faker's own frequency weights

NICKNAMES = {
    "William": ("Will", "Bill", "Billy"),
    "Robert": ("Rob", "Bob", "Bobby"),
    "Richard": ("Rich", "Dick"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Thomas": ("Tom", "Tommy"),
    "Joseph": ("Joe", "Joey"),
    "Michael": ("Mike", "Mick"),
    "Christopher": ("Chris",),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Anthony": ("Tony",),
    "Andrew": ("Andy", "Drew"),
    "Jonathan": ("Jon", "Johnny"),
    "Benjamin": ("Ben",),
    "Samuel": ("Sam",),
    "Alexander": ("Alex",),
    "Nicholas": ("Nick",),
    "Edward": ("Ed", "Eddie", "Ted"),
    "Frederick": ("Fred", "Freddie"),
    "Charles": ("Charlie",),
    "Harold": ("Harry",),
    "Henry": ("Harry",),
    "Joshua": ("Josh",),
    "Steven": ("Steve",),
    "Stephen": ("Steve",),
    "Peter": ("Pete",),
    "Elizabeth": ("Liz", "Beth", "Lizzie", "Betty"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "Katherine": ("Kate", "Katie", "Kathy"),
    "Catherine": ("Cathy", "Kate", "Cat"),
    "Rebecca": ("Becky", "Becca"),
    "Jennifer": ("Jenny", "Jen"),
    "Victoria": ("Vicky", "Tori"),
    "Alexandra": ("Alex", "Lexi"),
    "Samantha": ("Sam",),
    "Charlotte": ("Lottie", "Charlie"),
    "Abigail": ("Abi", "Abby"),
    "Jessica": ("Jess",),
    "Eleanor": ("Ellie", "Nell"),
    "Deborah": ("Debbie", "Deb"),
    "Susan": ("Sue", "Susie"),
    "Patricia": ("Pat", "Trish"),
    "Christine": ("Chris",),
    "Amanda": ("Mandy",),
    "Natasha": ("Tash",),
    "Olivia": ("Liv",),
    "Isabella": ("Bella", "Izzy"),
    "Isabelle": ("Izzy",),
    "Gemma": ("Gem",),
    "Mohammed": ("Mo",),
    "Muhammad": ("Mo",),
    "Oluwaseun": ("Seun",),
    "Oluwadamilare": ("Dami",),
    "Aleksandra": ("Ola",),
    "Małgorzata": ("Gosia",),
    "Katarzyna": ("Kasia",),
    "Aleksander": ("Olek",),
}

# Chance of each error in one agency record.  Police and housing record
# people in the street, often from what they say; health and schools copy
# from documents.  no_name: forename missing; dob_swap: day and month
# transposed; old_surname / old_address: the earlier one, where there is one;
# duplicate: the agency holds the person a second time.
_RATES = """
agency                nickname typo  swap  accents no_name dob_swap dob_day dob_year no_dob no_sex old_surname old_address no_postcode postcode_typo duplicate
police                0.10     0.03  0.03  0.6     0.002   0.02     0.010   0.006    0.02   0.02   0.4         0.3         0.05        0.02          0.03
health                0.02     0.015 0.015 0.3     0.0     0.01     0.004   0.002    0.0    0.005  0.3         0.25        0.02        0.01          0.01
education             0.04     0.015 0.01  0.3     0.0     0.01     0.004   0.002    0.0    0.0    0.3         0.2         0.01        0.01          0.005
housing               0.08     0.03  0.03  0.6     0.0     0.02     0.010   0.006    0.02   0.05   0.4         0.35        0.0         0.02          0.02
probation             0.06     0.02  0.02  0.5     0.0     0.01     0.006   0.004    0.0    0.0    0.4         0.3         0.05        0.01          0.01
adult_mental_health   0.05     0.02  0.02  0.4     0.0     0.015    0.006   0.004    0.005  0.01   0.35        0.3         0.03        0.01          0.01
substance_misuse      0.08     0.03  0.02  0.5     0.0     0.02     0.008   0.005    0.01   0.02   0.4         0.35        0.05        0.02          0.01
children_social_care  0.04     0.02  0.02  0.4     0.0     0.015    0.006   0.004    0.005  0.01   0.35        0.3         0.02        0.01          0.02
"""
ERROR_RATES = pd.read_csv(io.StringIO(_RATES), sep=r"\s+", index_col="agency")

# Share of records holding an NHS number, by agency, for (children, adults).
NHS_NUMBER_HELD = {
    "health": (0.99, 0.95),
    "children_social_care": (0.80, 0.35),
    "education": (0.20, 0.0),
    "police": (0.03, 0.05),
    "housing": (0.03, 0.05),
    "probation": (0.0, 0.25),
    "adult_mental_health": (0.90, 0.85),
    "substance_misuse": (0.70, 0.65),
}
# People who arrived in England recently are registered with a GP later, if at
# all, so every agency holds their NHS number less often (times this factor).
RECENT_ARRIVAL_NHS_FACTOR = 0.55
RECENT_ARRIVAL_SHARE = {
    "en_GB": 0.0,
    "en_IE": 0.1,
}  # other locales: 0.35 of adults, 0.12 of children
AGENCY_PREFIX = {
    "police": "PN",
    "health": "GP",
    "education": "ED",
    "housing": "HO",
    "probation": "PR",
    "adult_mental_health": "MH",
    "substance_misuse": "SM",
    "children_social_care": "CS",
}
OFFENDING_EVENTS = ("violent_offence", "other_offence", "arrest", "restraining_order")


@dataclass
class AgencyIdentities:
    """Contract 1.1 tables and their answer.

    Attributes
    ----------
    tables
        ``agency_records``, ``agency_event_records`` and ``person_records``.
    truth
        ``agency``, ``agency_record_id``, ``person_id``: evaluation only.
    """

    tables: dict[str, pd.DataFrame]
    truth: pd.DataFrame


def simulate_agency_identities(
    tables: dict[str, pd.DataFrame], random_state: int
) -> AgencyIdentities:
    """Write each agency's view of each person in a simulated world.

    Parameters
    ----------
    tables
        The world's contract tables (``people``, ``household_members``,
        ``agency_events``, ``referral_children``).
    random_state
        Seed.  The identities draw from their own stream, so switching them
        on changes nothing else in the world.
    """
    rng = np.random.default_rng([random_state, 20])
    people = _people_with_names(tables, rng, random_state)
    holdings = _holdings(tables, people, rng)
    records = _records(holdings, people, tables, rng)
    records, event_records = _assign_ids(records, tables["agency_events"], rng)
    columns = list(IDENTITY_SCHEMAS["agency_records"].columns)
    truth = records[["agency", "agency_record_id", "person_id"]].reset_index(drop=True)
    return AgencyIdentities(
        tables={
            "agency_records": records[columns].reset_index(drop=True),
            "agency_event_records": event_records,
            "person_records": _person_records(records),
        },
        truth=truth,
    )


# --------------------------------------------------------------------------- names


def _name_pools(random_state: int) -> dict[tuple[str, str], np.ndarray]:
    """Per locale: arrays of female, male and family names in Faker's frequencies."""
    pools = {}
    for i, locale in enumerate(ALL_LOCALES):
        fake = Faker(locale)
        fake.seed_instance(random_state * 1_000 + i)
        pools[(locale, "F")] = np.array([fake.first_name_female() for _ in range(POOL_SIZE)])
        pools[(locale, "M")] = np.array([fake.first_name_male() for _ in range(POOL_SIZE)])
        pools[(locale, "S")] = np.array([fake.last_name() for _ in range(POOL_SIZE)])
    return pools


def _draw(pools, locales: np.ndarray, kind: np.ndarray | str, rng) -> np.ndarray:
    out = np.empty(locales.size, dtype=object)
    kinds = np.broadcast_to(np.asarray(kind, dtype=object), locales.shape)
    for locale in np.unique(locales):
        for k in ("F", "M", "S"):
            idx = np.flatnonzero((locales == locale) & (kinds == k))
            if idx.size:
                out[idx] = rng.choice(pools[(locale, k)], size=idx.size)
    return out


def _locale_of(ethnicity: pd.Series, rng) -> np.ndarray:
    out = np.empty(len(ethnicity), dtype=object)
    eth = ethnicity.to_numpy()
    for group, mix in LOCALES.items():
        idx = np.flatnonzero(eth == group)
        names = [m[0] for m in mix]
        shares = np.array([m[1] for m in mix])
        out[idx] = rng.choice(names, size=idx.size, p=shares / shares.sum())
    return out


def _people_with_names(tables, rng, random_state: int) -> pd.DataFrame:
    """One row per person: true names, household, address history, NHS number, UPN."""
    pools = _name_pools(random_state)
    people = tables["people"][["person_id", "date_of_birth", "sex", "ethnicity"]].copy()
    members = (
        tables["household_members"]
        .sort_values(["person_id", "start_date"])
        .drop_duplicates("person_id")[["person_id", "household_id", "role"]]
    )
    people = people.merge(members, on="person_id", how="left")
    # Households without a recorded member get their own pseudo-household.
    lonely = people["household_id"].isna()
    people.loc[lonely, "household_id"] = "solo-" + people.loc[lonely, "person_id"]
    people["role"] = people["role"].fillna("other_adult")
    n = len(people)
    people["locale"] = _locale_of(people["ethnicity"], rng)
    # The household's locale and surname are those of its first parent.
    anchor_rank = people["role"].map({"parent": 0, "relative": 1, "child": 2}).fillna(3)
    anchor = (
        people.assign(_r=anchor_rank)
        .sort_values(["household_id", "_r", "person_id"])
        .drop_duplicates("household_id")[["household_id", "locale"]]
    )
    anchor["family_surname"] = _draw(pools, anchor["locale"].to_numpy(), "S", rng)
    people = people.merge(
        anchor.rename(columns={"locale": "household_locale"}), on="household_id", how="left"
    )
    own_family = people["role"].isin(["child", "parent", "relative"]).to_numpy()
    people.loc[own_family, "locale"] = people.loc[own_family, "household_locale"]
    sex = people["sex"].to_numpy()
    kind = np.where(sex == "Female", "F", np.where(sex == "Male", "M", rng.choice(["F", "M"], n)))
    people["kind"] = kind
    people["given_name"] = _draw(pools, people["locale"].to_numpy(), kind, rng)
    own_surname = _draw(pools, people["locale"].to_numpy(), "S", rng)
    # A quarter of mothers keep a surname of their own.
    keeps_own = (people["role"] == "parent").to_numpy() & (rng.random(n) < 0.25)
    people["family_name"] = np.where(own_family & ~keeps_own, people["family_surname"], own_surname)
    # Sons named after their father (or the mother's partner).
    men = people[(people["kind"] == "M") & people["role"].isin(["parent", "partner"])]
    father = men.drop_duplicates("household_id").set_index("household_id")["given_name"]
    junior = (
        (people["role"] == "child").to_numpy()
        & (kind == "M")
        & people["household_id"].isin(father.index).to_numpy()
        & (rng.random(n) < 0.06)
    )
    people.loc[junior, "given_name"] = people.loc[junior, "household_id"].map(father)
    # Earlier surnames: women who partnered, children who took a step-parent's name.
    adult_woman = (people["role"] != "child").to_numpy() & (kind == "F")
    changed = (adult_woman & (rng.random(n) < 0.30)) | (
        (people["role"] == "child").to_numpy() & (rng.random(n) < 0.04)
    )
    people["old_family_name"] = np.where(
        changed, _draw(pools, people["locale"].to_numpy(), "S", rng), None
    )
    is_child = (people["role"] == "child").to_numpy()
    share = people["locale"].map(RECENT_ARRIVAL_SHARE).fillna(-1).to_numpy()
    share = np.where(share >= 0, share, np.where(is_child, 0.12, 0.35))
    people["recent_arrival"] = rng.random(n) < share
    people["is_child"] = is_child
    people["nhs_number"] = _nhs_numbers(n, rng)
    people["upn"] = _upns(n, rng)
    people["pnc_id"] = _pnc_ids(people["date_of_birth"], rng)
    return people.drop(columns=["family_surname", "household_locale"])


def _nhs_numbers(n: int, rng) -> np.ndarray:
    """Unique ten-digit numbers with a valid modulus 11 check digit."""
    numbers = np.empty(0, dtype=np.int64)
    while numbers.size < n:
        base = rng.choice(900_000_000, size=int(n * 1.2) + 10, replace=False) + 100_000_000
        digits = (base[:, None] // 10 ** np.arange(8, -1, -1)) % 10
        check = (11 - (digits * np.arange(10, 1, -1)).sum(axis=1) % 11) % 11
        ok = check != 10
        numbers = np.unique(np.concatenate([numbers, base[ok] * 10 + check[ok]]))
    numbers = rng.permutation(numbers)[:n]
    return np.array([f"{x:010d}" for x in numbers], dtype=object)


def _upns(n: int, rng) -> np.ndarray:
    serial = rng.choice(10**11, size=n, replace=False)
    letters = rng.choice(list("ABCDEFGHJKLMNPQRTUVWXYZ"), size=n)
    last = rng.integers(0, 10, size=n)
    return np.array([f"{a}{s:011d}{d}" for a, s, d in zip(letters, serial, last, strict=True)])


def _pnc_ids(dob: pd.Series, rng) -> np.ndarray:
    n = len(dob)
    year = (pd.to_datetime(dob).dt.year.to_numpy() + 18).clip(None, 2030) % 100
    serial = rng.choice(10_000_000, size=n, replace=False)
    letters = rng.choice(list("ABCDEFGHJKLMNPQRTUVWXYZ"), size=n)
    return np.array([f"{y:02d}/{s}{c}" for y, s, c in zip(year, serial, letters, strict=True)])


# ------------------------------------------------------------------- who holds whom


def _holdings(tables, people: pd.DataFrame, rng) -> pd.DataFrame:
    """(person_id, agency, recorded_at) for every record an agency holds on a person."""
    events = tables["agency_events"]
    from_events = events.groupby(["person_id", "agency"], as_index=False).agg(
        recorded_at=("recorded_at", "min")
    )
    dob = pd.to_datetime(people.set_index("person_id")["date_of_birth"])
    extract_day = events["recorded_at"].max()
    # Everyone is registered with a GP: from birth, or from moving in.
    first_seen = (
        tables["household_members"].groupby("person_id")["recorded_at"].min().reindex(dob.index)
    )
    health_at = np.where(people.set_index("person_id")["is_child"], dob, first_seen.fillna(dob))
    health = pd.DataFrame({"person_id": dob.index, "agency": "health", "recorded_at": health_at})
    # Schools hold every child who reached reception age.
    school_age = dob + pd.DateOffset(years=4, months=5)
    kids = people.loc[people["is_child"], "person_id"]
    kids = kids[school_age.reindex(kids).to_numpy() <= extract_day]
    education = pd.DataFrame(
        {
            "person_id": kids,
            "agency": "education",
            "recorded_at": school_age.reindex(kids).to_numpy(),
        }
    )
    # Children's social care holds every referred child and the adults of their household.
    referred = tables["referral_children"].merge(
        tables["referrals"][["referral_id", "received_at"]], on="referral_id"
    )
    referred = referred.groupby("person_id", as_index=False)["received_at"].min()
    households = people[["person_id", "household_id", "is_child"]]
    adults = referred.merge(households, on="person_id").merge(
        households[~households["is_child"]], on="household_id", suffixes=("_c", "")
    )
    csc = pd.concat(
        [referred, adults.groupby("person_id", as_index=False)["received_at"].min()]
    ).rename(columns={"received_at": "recorded_at"})
    csc = (
        csc.groupby("person_id", as_index=False)["recorded_at"]
        .min()
        .assign(agency="children_social_care")
    )
    held = pd.concat([from_events, health, education, csc], ignore_index=True)
    held["recorded_at"] = pd.to_datetime(held["recorded_at"])
    held = held.groupby(["person_id", "agency"], as_index=False)["recorded_at"].min()
    held = held.sort_values(["agency", "person_id"]).reset_index(drop=True)
    # A second record of the same person inside one agency.
    dup = rng.random(len(held)) < held["agency"].map(ERROR_RATES["duplicate"]).to_numpy()
    held["copy"] = 0
    held = pd.concat([held, held[dup].assign(copy=1)], ignore_index=True)
    offenders = events.loc[
        events["event_type"].isin(OFFENDING_EVENTS) | (events["role"] == "perpetrator"),
        "person_id",
    ].unique()
    held["offender"] = held["person_id"].isin(offenders)
    return held


# ------------------------------------------------------------------------ errors


def _typo(word: str, r: float, pos: float, letter: str) -> str:
    if len(word) < 3:
        return word
    i = int(pos * (len(word) - 1))
    if r < 0.3:  # substitution
        return word[:i] + letter + word[i + 1 :]
    if r < 0.55:  # deletion
        return word[:i] + word[i + 1 :]
    if r < 0.75:  # insertion
        return word[:i] + letter + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # adjacent transposition


def _apply_typos(values: np.ndarray, mask: np.ndarray, rng) -> None:
    idx = np.flatnonzero(mask & pd.notna(values))
    r, pos = rng.random(idx.size), rng.random(idx.size)
    letters = rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=idx.size)
    for j, k in enumerate(idx):
        values[k] = _typo(values[k], r[j], pos[j], letters[j])


def _nickname(name: str, r: float) -> str:
    options = NICKNAMES.get(name)
    return options[int(r * len(options))] if options else name


def _records(held: pd.DataFrame, people: pd.DataFrame, tables, rng) -> pd.DataFrame:
    rec = held.merge(people, on="person_id", how="left")
    n = len(rec)
    rate = ERROR_RATES.reindex(rec["agency"]).reset_index(drop=True)

    def hit(col: str, scale: np.ndarray | float = 1.0) -> np.ndarray:
        return rng.random(n) < rate[col].to_numpy() * scale

    given = rec["given_name"].to_numpy(dtype=object).copy()
    family = rec["family_name"].to_numpy(dtype=object).copy()
    nick = hit("nickname", np.where(rec["is_child"], 0.5, 1.0))
    given[nick] = [
        _nickname(g, r) for g, r in zip(given[nick], rng.random(nick.sum()), strict=True)
    ]
    old = hit("old_surname") & rec["old_family_name"].notna().to_numpy()
    family[old] = rec["old_family_name"].to_numpy()[old]
    _apply_typos(given, hit("typo"), rng)
    _apply_typos(family, hit("typo"), rng)
    prone = rec["locale"].isin(SWAP_PRONE).to_numpy()
    swap = hit("swap", np.where(prone, 3.0, 1.0))
    given[swap], family[swap] = family[swap], given[swap].copy()
    accents = hit("accents")
    given[accents] = [fold_accents(x) for x in given[accents]]
    family[accents] = [fold_accents(x) for x in family[accents]]
    no_name = hit("no_name")
    given[no_name] = None
    # Upper case in some systems, title case in others.
    upper = rec["agency"].isin(["police", "probation"]).to_numpy()
    given[upper] = [None if g is None else g.upper() for g in given[upper]]
    family[upper] = [None if f is None else f.upper() for f in family[upper]]

    dob = pd.to_datetime(rec["date_of_birth"])
    year, month, day = dob.dt.year.to_numpy(), dob.dt.month.to_numpy(), dob.dt.day.to_numpy()
    swap_dm = hit("dob_swap") & (day <= 12) & (day != month)
    month2, day2 = np.where(swap_dm, day, month), np.where(swap_dm, month, day)
    new_day = rng.integers(1, 29, size=n)
    day2 = np.where(hit("dob_day") & ~swap_dm, new_day, day2)
    year2 = year + np.where(hit("dob_year"), rng.choice([-1, 1], size=n), 0)
    recorded_dob = pd.to_datetime(
        pd.DataFrame({"year": year2, "month": month2, "day": day2}), errors="coerce"
    )
    recorded_dob = recorded_dob.where(~hit("no_dob", np.where(rec["is_child"], 0.2, 1.0)))

    sex = rec["sex"].where(~hit("no_sex"), "Not recorded")
    address, postcode = _addresses(rec, tables, rng, hit("old_address"))
    postcode = np.where(hit("no_postcode"), None, postcode)
    pc_typo = hit("postcode_typo") & pd.notna(postcode)
    postcode[pc_typo] = [
        _postcode_typo(p, r)
        for p, r in zip(postcode[pc_typo], rng.random(pc_typo.sum()), strict=True)
    ]

    held_child, held_adult = zip(*(NHS_NUMBER_HELD[a] for a in ERROR_RATES.index), strict=True)
    p_child = pd.Series(held_child, index=ERROR_RATES.index)
    p_adult = pd.Series(held_adult, index=ERROR_RATES.index)
    p_nhs = np.where(
        rec["is_child"], rec["agency"].map(p_child), rec["agency"].map(p_adult)
    ) * np.where(rec["recent_arrival"], RECENT_ARRIVAL_NHS_FACTOR, 1.0)
    nhs = np.where(rng.random(n) < p_nhs, rec["nhs_number"], None)
    nhs_typo = (rng.random(n) < 0.003) & pd.notna(nhs)
    nhs[nhs_typo] = [
        _transpose_digits(x, r)
        for x, r in zip(nhs[nhs_typo], rng.random(nhs_typo.sum()), strict=True)
    ]
    agency = rec["agency"].to_numpy()
    upn_p = np.where(
        agency == "education", 1.0, np.where(agency == "children_social_care", 0.3, 0.0)
    )
    upn = np.where(rec["is_child"].to_numpy() & (rng.random(n) < upn_p), rec["upn"], None)
    pnc_p = np.where(agency == "probation", 0.98, np.where(agency == "police", 0.95, 0.0))
    pnc = np.where(rec["offender"].to_numpy() & (rng.random(n) < pnc_p), rec["pnc_id"], None)

    return pd.DataFrame(
        {
            "person_id": rec["person_id"],
            "agency": agency,
            "given_name": given,
            "family_name": family,
            "date_of_birth": recorded_dob,
            "sex": sex,
            "postcode": postcode,
            "address": address,
            "nhs_number": nhs,
            "upn": upn,
            "pnc_id": pnc,
            "recorded_at": rec["recorded_at"],
            "copy": rec["copy"],
        }
    )


def _postcode_typo(code: str, r: float) -> str:
    chars = list(code.replace(" ", ""))
    i = int(r * (len(chars) - 1))
    chars[i], chars[i + 1] = chars[i + 1], chars[i]
    text = "".join(chars)
    return f"{text[:-3]} {text[-3:]}"


def _transpose_digits(number: str, r: float) -> str:
    i = int(r * 9)
    return number[:i] + number[i + 1] + number[i] + number[i + 2 :]


def _addresses(rec: pd.DataFrame, tables, rng, stale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each household's current address, or an earlier one if it moved and the agency lags."""
    households = np.sort(rec["household_id"].unique())
    moves = tables["agency_events"].loc[
        tables["agency_events"]["event_type"] == "address_move", "person_id"
    ]
    hh_of = rec.drop_duplicates("person_id").set_index("person_id")["household_id"]
    n_moves = hh_of.reindex(moves).value_counts().reindex(households).fillna(0).clip(0, 3)
    fake = Faker("en_GB")
    fake.seed_instance(int(rng.integers(2**31)))
    outward = np.array(sorted({fake.postcode().split()[0] for _ in range(60)}))
    streets = np.array([fake.street_name() for _ in range(1_500)])
    h = households.size
    slots = 4  # the current address and up to three earlier ones
    numbers = rng.integers(1, 200, size=(h, slots))
    street = rng.choice(streets, size=(h, slots))
    out_code = rng.choice(outward, size=(h, slots))
    inward = rng.integers(0, 10, size=(h, slots)).astype(str).astype(object) + rng.choice(
        list("ABDEFGHJLNPQRSTUWXYZ"), size=(h, slots, 2)
    ).astype(object).sum(axis=2)
    pos = pd.Series(np.arange(h), index=households).reindex(rec["household_id"]).to_numpy()
    moved = n_moves.to_numpy()[pos].astype(int)
    slot = np.where(
        stale & (moved > 0), 1 + (rng.random(len(rec)) * np.maximum(moved, 1)).astype(int), 0
    )
    address = numbers[pos, slot].astype(str).astype(object) + " " + street[pos, slot]
    postcode = out_code[pos, slot].astype(object) + " " + inward[pos, slot]
    return address.astype(object), postcode.astype(object)


# ---------------------------------------------------------------------- identifiers


def _person_records(records: pd.DataFrame) -> pd.DataFrame:
    """The record each world ``person_id`` stands for in the 1.0 tables.

    The 1.0 tables are the local authority's own: a person there is children's
    social care's record of them, or (for people it does not hold) the GP
    registration the simulated extract was keyed on.  Health holds everyone.
    """
    own = records[(records["copy"] == 0) & records["agency"].isin(["children_social_care", "health"])]
    own = own.sort_values(["person_id", "agency"])  # children_social_care before health
    own = own.drop_duplicates("person_id")
    return own[["person_id", "agency", "agency_record_id"]].reset_index(drop=True)


def _assign_ids(
    records: pd.DataFrame, events: pd.DataFrame, rng
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give records agency identifiers in an order that says nothing about the person."""
    records = records.iloc[rng.permutation(len(records))].reset_index(drop=True)
    serial = records.groupby("agency").cumcount().to_numpy() + 1
    start = records["agency"].map({a: 10_000 + 7_919 * i for i, a in enumerate(AGENCY_PREFIX)})
    records["agency_record_id"] = records["agency"].map(AGENCY_PREFIX) + (
        start.to_numpy() + serial
    ).astype(str)
    # Each event belongs to one of the person's records at its agency: when an
    # agency holds a person twice, their events are split between the two.
    ev = events[["event_id", "person_id", "agency"]]
    copies = records.groupby(["person_id", "agency"])["copy"].max().rename("copies")
    ev = ev.merge(copies, on=["person_id", "agency"], how="left")
    ev["copy"] = np.where(ev["copies"] > 0, rng.integers(0, 2, size=len(ev)), 0)
    ev = ev.merge(
        records[["person_id", "agency", "copy", "agency_record_id"]],
        on=["person_id", "agency", "copy"],
        how="left",
    )
    event_records = ev[["event_id", "agency", "agency_record_id"]].sort_values("event_id")
    return records, event_records.reset_index(drop=True)
