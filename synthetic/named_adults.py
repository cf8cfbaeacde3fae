"""Adults a referrer names, as the referrer types them (issue #20, item 5).

A referral often names an adult who is not on the household's record: "the
mother's new partner, Jay, staying most nights", "a visitor".  This module
post-processes a simulated world (after :func:`synthetic.simulate` and
:func:`synthetic.identities.simulate_agency_identities`, never inside the
engine's step) and adds, for a share of referrals, the adults their
referrers name:

* an adult who joins the child's household in the 12 months *after* the
  referral: at the referral, the mother's or father's new partner, not yet
  living at the address as far as the records know;
* an adult who joined in the 12 months *before*: the new partner, living there;
* now and then, an adult of another household: a visitor.

Names and dates of birth are those of one of the adult's agency records,
with what a referrer gets wrong: a nickname, a misspelling, a surname only,
a date of birth unknown or only a year.  Which person the named adult truly
is goes to ``truth`` only, never to the contract table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from store.vocabulary import NAMED_ADULT_FIELDS
from synthetic.identities import NICKNAMES, _typo

# Of referrals with an adult the referrer could name, the share that names one.
NAME_SHARE = 0.5
# Of every referral, the share naming a visitor from another household.
VISITOR_SHARE = 0.03
JOIN_WINDOW_DAYS = 365
# What the referrer knows: P(date of birth exact), P(only the year), else unknown.
DOB_EXACT, DOB_YEAR = 0.3, 0.25
P_POSTCODE = 0.25
P_NICKNAME, P_TYPO, P_SURNAME_ONLY = 0.2, 0.15, 0.1

NAMED_ADULT_COLUMNS = ("referral_id", "adult_number", *NAMED_ADULT_FIELDS)


@dataclass
class NamedAdults:
    """The contract table ``referral_named_adults`` and its answer (``truth``)."""

    table: pd.DataFrame
    truth: pd.DataFrame  # referral_id, adult_number, person_id


def _candidates(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """(referral, adult, relationship, lives_at_address) pairs a referrer could name."""
    refs = tables["referrals"][["referral_id", "received_at"]].merge(
        tables["referral_children"], on="referral_id"
    )
    members = tables["household_members"]
    homes = refs.merge(
        members[members["role"] == "child"][["person_id", "household_id"]], on="person_id"
    ).drop_duplicates(["referral_id", "household_id"])
    partners = members[members["role"] == "partner"][["person_id", "household_id", "start_date"]]
    pairs = homes.drop(columns="person_id").merge(partners, on="household_id")
    gap = (pairs["start_date"] - pairs["received_at"]).dt.days
    soon = (gap > 0) & (gap <= JOIN_WINDOW_DAYS)
    recent = (gap <= 0) & (gap > -JOIN_WINDOW_DAYS)
    pairs = pairs[soon | recent].assign(
        relationship="mothers_new_partner",
        lives_at_address=np.where(soon[soon | recent], "no", "yes"),
    )
    return pairs[["referral_id", "person_id", "relationship", "lives_at_address"]]


def _visitors(tables, rng) -> pd.DataFrame:
    refs = tables["referrals"]["referral_id"].to_numpy()
    adults = tables["household_members"]
    adults = adults[adults["role"].isin(["partner", "parent", "relative"])]["person_id"].unique()
    chosen = refs[rng.random(refs.size) < VISITOR_SHARE]
    if chosen.size == 0 or adults.size == 0:
        return pd.DataFrame(
            columns=["referral_id", "person_id", "relationship", "lives_at_address"]
        )
    return pd.DataFrame(
        {
            "referral_id": chosen,
            "person_id": rng.choice(np.sort(adults), chosen.size),
            "relationship": "visitor",
            "lives_at_address": rng.choice(["no", "unknown"], chosen.size),
        }
    )


def as_typed(record: pd.Series, r: np.ndarray, letter: str) -> dict:
    """One agency record's identifying fields as a referrer would type them (``r``: 6 uniforms)."""
    given, family = record["given_name"], record["family_name"]
    if isinstance(given, str) and r[0] < P_NICKNAME and NICKNAMES.get(given):
        options = NICKNAMES[given]
        given = options[int(r[1] * len(options))]
    elif isinstance(given, str) and r[0] < P_NICKNAME + P_TYPO:
        given = _typo(given, r[1], r[2], letter)
    if r[3] < P_SURNAME_ONLY:
        given = None
    name = " ".join(w for w in (given, family) if isinstance(w, str) and w)
    dob = record["date_of_birth"]
    exact = pd.notna(dob) and r[4] < DOB_EXACT
    year = pd.notna(dob) and DOB_EXACT <= r[4] < DOB_EXACT + DOB_YEAR
    return {
        "name": name,
        # Only the year: 1 July of it, marked approximate.
        "date_of_birth": pd.Timestamp(dob)
        if exact
        else (pd.Timestamp(year=pd.Timestamp(dob).year, month=7, day=1) if year else pd.NaT),
        "date_of_birth_approximate": bool(year),
        "postcode": record["postcode"] if r[5] < P_POSTCODE else None,
        "address": None,
    }


def simulate_named_adults(
    tables: dict[str, pd.DataFrame],
    agency_records: pd.DataFrame,
    record_people: pd.DataFrame,
    random_state: int,
) -> NamedAdults:
    """The adults referrers name on a simulated world's referrals.

    Parameters
    ----------
    tables
        The world's contract tables.
    agency_records, record_people
        :func:`synthetic.identities.simulate_agency_identities` output: the
        records, and the truth of which person each is (names are read from
        a record, so that the named adult is as hard to find as in life).
    random_state
        Seed; the named adults draw from their own stream.
    """
    rng = np.random.default_rng([random_state, 205])
    pairs = _candidates(tables)
    pairs = pairs[rng.random(len(pairs)) < NAME_SHARE]
    pairs = pd.concat([pairs, _visitors(tables, rng)], ignore_index=True)
    pairs = pairs.drop_duplicates(["referral_id", "person_id"]).sort_values(
        ["referral_id", "person_id"], ignore_index=True
    )
    held = agency_records.merge(record_people, on=["agency", "agency_record_id"])
    held = held[held["person_id"].isin(pairs["person_id"])].sort_values(
        ["person_id", "agency", "agency_record_id"]
    )
    by_person = {p: g for p, g in held.groupby("person_id", sort=False)}
    pairs = pairs[pairs["person_id"].isin(by_person)].reset_index(drop=True)
    rows = []
    for row in pairs.itertuples(index=False):
        records = by_person[row.person_id]
        record = records.iloc[int(rng.integers(len(records)))]
        typed = as_typed(record, rng.random(6), str(rng.choice(list("aeinorst"))))
        rows.append(
            {
                "referral_id": row.referral_id,
                **typed,
                "relationship": row.relationship,
                "lives_at_address": row.lives_at_address,
            }
        )
    table = pd.DataFrame(rows, columns=[c for c in NAMED_ADULT_COLUMNS if c != "adult_number"])
    table = table[table["name"].str.len() > 0] if len(table) else table
    table.insert(1, "adult_number", table.groupby("referral_id").cumcount() + 1)
    truth = pairs.loc[table.index, ["referral_id", "person_id"]].assign(
        adult_number=table["adult_number"].to_numpy()
    )
    return NamedAdults(table.reset_index(drop=True), truth.reset_index(drop=True))
