"""Turning the loop's integer arrays into the contract tables.

This is also where the extract date bites: a record entered after the end of
the window is not in the extract (an event that happened on the last day but
was typed in a week later is missing, as it would be in a real one), and a
household move whose end was recorded after the extract date is still open.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from store import vocabulary as v
from synthetic import params as p
from synthetic.events import CODE, PAIRS, ROLE
from synthetic.legacy import FormerPartners
from synthetic.monthly import HARM_TYPES, Outcome
from synthetic.population import ETHNICITIES, ROLE_PARTNER, Population

DAY = 86_400
SEX_NAMES = ("Female", "Male", v.NOT_RECORDED)
DISABILITY_NAMES = ("Yes", "No", v.NOT_RECORDED)


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Deterministic string identifiers such as ``P00000001`` (1-based numbers).

    Built with Arrow compute kernels: formatting ten million identifiers in
    numpy or Python takes longer than simulating them.
    """
    digits = pc.utf8_lpad(
        pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0"
    )
    return pc.binary_join_element_wise(prefix, digits, "")


def _names(values, codes: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Category names for integer codes (null where ``null`` is true)."""
    codes = np.asarray(codes, dtype=np.int64)
    index = pa.array(np.where(null, 0, codes) if null is not None else codes, mask=null)
    return pc.take(pa.array(list(values), pa.string()), index)


def _take(array: pa.Array, index: np.ndarray) -> pa.Array:
    return pc.take(array, pa.array(np.asarray(index, dtype=np.int64)))


def _frame(columns: dict) -> pd.DataFrame:
    """An Arrow table turned into pandas (str columns stay Arrow-backed, integers nullable)."""
    table = pa.table(
        {
            k: (v if isinstance(v, pa.Array | pa.ChunkedArray) else pa.array(v, from_pandas=True))
            for k, v in columns.items()
        }
    )
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def _ts(t0: np.datetime64, seconds: np.ndarray) -> np.ndarray:
    return (t0.astype("datetime64[s]") + seconds.astype("timedelta64[s]")).astype("datetime64[us]")


def _date(t0: np.datetime64, days: np.ndarray) -> np.ndarray:
    return (t0 + np.asarray(days, dtype=np.int64).astype("timedelta64[D]")).astype("datetime64[us]")


def person_ids(pop: Population, former: FormerPartners) -> np.ndarray:
    """Fixed-width ``P…`` person ids for everyone, so ids sort as numbers do.

    Children come first, then the household adults, then the former partners
    from outside the households.
    """
    n = pop.n_children + pop.n_adults + former.n
    return ids("P", np.arange(1, n + 1), max(8, len(str(n))))


def build_tables(
    pop: Population,
    out: Outcome,
    former: FormerPartners,
    rng: np.random.Generator,
    local_authority: str,
    random_state: int,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The seven contract tables and the latent-harm truth table."""
    t0 = pop.t0
    extract = pop.n_days * DAY
    pid = person_ids(pop, former)
    n_fam = pop.n_families
    hid = ids("H", np.arange(1, n_fam + 1), max(7, len(str(n_fam))))
    eth_names = ETHNICITIES + (v.NOT_RECORDED,)

    child_eth = np.where(pop.child_eth_nr, len(ETHNICITIES), pop.fam_eth[pop.child_fam])
    adult_eth = np.concatenate([pop.adult_eth, former.eth])
    adult_eth = np.where(adult_eth < 0, len(ETHNICITIES), adult_eth)
    adult_male = 1 - np.concatenate([pop.adult_female, former.female]).astype(np.int8)
    people = _frame(
        {
            "person_id": pid,
            "date_of_birth": _date(t0, np.concatenate([pop.child_dob, pop.adult_dob, former.dob])),
            "sex": _names(SEX_NAMES, np.concatenate([pop.child_sex, adult_male])),
            "ethnicity": _names(eth_names, np.concatenate([child_eth, adult_eth])),
            "disability": _names(
                DISABILITY_NAMES,
                np.concatenate([pop.child_disability, pop.adult_disability, former.disability]),
            ),
        }
    )
    households = _frame(
        {
            "household_id": hid,
            "imd_decile": pop.fam_decile.astype(np.int64),
            "local_authority": _names((local_authority,), np.zeros(n_fam, np.int64)),
        }
    )
    members = _members(pop, out, rng, pid, hid)

    # Referrals, numbered in the order they arrived.
    r = out.referrals
    n_r = r.day.size
    # MAST screens referrals about children: the month's referral step can
    # pick a child who turns 18 before the referral's day; such a "child" is
    # not named on it, and a referral left naming nobody is not written
    # (its id is skipped).  Filtering here leaves every random draw as it was.
    named = r.day[r.child_ref] < pop.child_dob18[r.child]
    kept = np.zeros(n_r, bool)
    kept[r.child_ref[named]] = True
    received = r.day * DAY + rng.integers(8 * 3600, 20 * 3600, n_r)
    decided = received + (r.decided_day - r.day) * DAY + rng.integers(1800, 6 * 3600, n_r)
    order = np.argsort(received, kind="stable")
    rank = np.empty(n_r, np.int64)
    rank[order] = np.arange(n_r)
    rid = ids("R", np.arange(1, n_r + 1), max(8, len(str(n_r))))
    bits = np.unpackbits(r.concerns[order][:, None], axis=1, bitorder="little")
    referrals = _frame(
        {
            "referral_id": rid,
            "received_at": _ts(t0, received[order]),
            "source": _names(v.REFERRAL_SOURCES, r.source[order]),
            "referrer_relationship": _names(v.REFERRER_RELATIONSHIPS, r.relationship[order]),
            **{col: bits[:, i].astype(bool) for i, col in enumerate(v.CONCERN_COLUMNS)},
        }
    )
    referrals = referrals[kept[order]].reset_index(drop=True)
    rows = np.lexsort((r.child, rank[r.child_ref]))
    rows = rows[named[rows]]
    referral_children = _frame(
        {
            "referral_id": _take(rid, rank[r.child_ref][rows]),
            "person_id": _take(pid, r.child[rows]),
        }
    )
    done = order[(decided[order] < extract) & kept[order]]
    closure = r.closure[done]
    screening = _frame(
        {
            "referral_id": _take(rid, rank[done]),
            "decided_at": _ts(t0, decided[done]),
            "decision": _names(v.DECISIONS, r.decision[done]),
            "closure_reason": _names(v.CLOSURE_REASONS, np.maximum(closure, 0), null=closure < 0),
        }
    )

    events = _events(pop, out, rng, pid, extract, random_state)
    truth = _truth(pop, out, pid)
    tables = {
        "people": people,
        "households": households,
        "household_members": members,
        "referrals": referrals,
        "referral_children": referral_children,
        "screening_decisions": screening,
        "agency_events": events,
    }
    return tables, truth


def _members(pop: Population, out: Outcome, rng, pid, hid) -> pd.DataFrame:
    """Who lived where: adults' spells, and children's, broken by time in care."""
    nd = pop.n_days
    # Adults.
    start = pop.spell_start
    end = pop.spell_end.astype(np.int64)
    partner = pop.spell_role == ROLE_PARTNER
    late = partner & (rng.random(start.size) < p.PARTNER_LATE_SHARE)
    delay = np.where(
        late,
        rng.exponential(p.PARTNER_LATE_MEAN_DAYS, start.size),
        rng.random(start.size) * np.where(partner, 30, 60),
    )
    rec = start * DAY + (delay * DAY).astype(np.int64) + rng.integers(3600, 8 * 3600, start.size)
    end_delay = rng.exponential(np.where(partner, 90.0, 60.0)) * DAY
    end_rec = np.minimum(end, nd + 1) * DAY + end_delay.astype(np.int64) + 3600
    a_person = pop.n_children + pop.spell_adult
    a_fam = pop.spell_fam
    a_role = pop.spell_role.astype(np.int64) + 1  # index into HOUSEHOLD_ROLES

    # Children: from birth to 18, minus time looked after.
    la_c, la_s, la_e = out.la_child, out.la_start, out.la_end
    child_ids = np.arange(pop.n_children)
    seg_child = np.concatenate([child_ids, la_c])
    seg_start = np.concatenate([pop.child_dob.astype(np.int64), la_e])
    end_child = np.concatenate([la_c, child_ids])
    end_day = np.concatenate([la_s, pop.child_dob18.astype(np.int64)])
    o1 = np.lexsort((seg_start, seg_child))
    o2 = np.lexsort((end_day, end_child))
    seg_child, seg_start, end_day = seg_child[o1], seg_start[o1], end_day[o2]
    ok = end_day > seg_start
    seg_child, seg_start, end_day = seg_child[ok], seg_start[ok], end_day[ok]
    returned = seg_start != pop.child_dob[seg_child]
    c_rec = (
        seg_start * DAY
        + np.where(
            returned, rng.integers(0, 3, seg_child.size), rng.integers(0, 30, seg_child.size)
        )
        * DAY
        + rng.integers(3600, 8 * 3600, seg_child.size)
    )
    c_end_rec = end_day * DAY + rng.integers(0, 4, seg_child.size) * DAY + 3600

    person = np.concatenate([a_person, seg_child])
    fam = np.concatenate([a_fam, pop.child_fam[seg_child]])
    role = np.concatenate([a_role, np.zeros(seg_child.size, np.int64)])
    s_day = np.concatenate([start, seg_start])
    e_day = np.concatenate([end, end_day])
    r_sec = np.concatenate([rec, c_rec])
    er_sec = np.concatenate([end_rec, c_end_rec])
    extract = nd * DAY
    keep = (r_sec < extract) & (s_day < nd)
    order = np.flatnonzero(keep)
    order = order[np.lexsort((s_day[order], person[order]))]
    person, fam, role, s_day, e_day, r_sec, er_sec = (
        a[order] for a in (person, fam, role, s_day, e_day, r_sec, er_sec)
    )
    open_ = (e_day >= nd) | (er_sec >= extract)
    e_day = np.where(open_, 0, e_day)
    er_sec = np.where(open_, 0, er_sec)
    return _frame(
        {
            "person_id": _take(pid, person),
            "household_id": _take(hid, fam),
            "role": _names(v.HOUSEHOLD_ROLES, role),
            "start_date": _date(pop.t0, s_day),
            "end_date": pa.array(_date(pop.t0, e_day), mask=open_),
            "recorded_at": _ts(pop.t0, r_sec),
            "end_recorded_at": pa.array(_ts(pop.t0, er_sec), mask=open_),
        }
    )


def _events(
    pop: Population, out: Outcome, rng, pid, extract: int, random_state: int
) -> pd.DataFrame:
    """All agency events, with recording delays, sorted by person then recorded_at.

    The rows of one incident (a domestic incident's victim, perpetrator and
    witnesses) share one ``occurred_at`` and one ``recorded_at``: those of
    its first row.
    """
    cp, cc, cd, cr, cs, ci = out.child_log.arrays()
    ap, ac, ad, ar, as_, ai = out.adult_log.arrays()
    person = np.concatenate([cp, ap + pop.n_children])
    ecode = np.concatenate([cc, ac]).astype(np.int64)
    day = np.concatenate([cd, ad]).astype(np.int64)
    role = np.concatenate([cr, ar])
    sev = np.concatenate([cs, as_])
    incident = np.concatenate([ci, ai])
    del cp, cc, cd, cr, cs, ci, ap, ac, ad, ar, as_, ai
    agency_of_pair = np.array([v.AGENCIES.index(a) for a, _ in PAIRS])
    mean_delay = np.array([p.RECORDING_DELAY_DAYS[a] for a in v.AGENCIES])[agency_of_pair][ecode]
    occurred = day * DAY + rng.integers(0, DAY, day.size)
    delay = (rng.exponential(1.0, day.size) * mean_delay * DAY).astype(np.int64)
    recorded = occurred + delay + rng.integers(60, 4 * 3600, day.size)
    del day, delay, mean_delay
    shared = np.flatnonzero(incident >= 0)
    _, first, which = np.unique(incident[shared], return_index=True, return_inverse=True)
    lead = shared[first][which]
    occurred[shared], recorded[shared] = occurred[lead], recorded[lead]
    del incident, shared, first, which, lead
    # Serious incidents come last, timed from their own stream (see engine.World_).
    si_rng = np.random.default_rng([random_state, 8])
    n_si = out.si_child.size
    si_occurred = out.si_day * DAY + si_rng.integers(0, DAY, n_si)
    si_recorded = si_occurred + si_rng.integers(3600, 3 * DAY, n_si)
    person = np.concatenate([person, out.si_child])
    ecode = np.concatenate(
        [ecode, np.full(n_si, CODE[("children_social_care", "serious_incident")])]
    )
    role = np.concatenate([role, np.full(n_si, ROLE["subject"], np.int8)])
    sev = np.concatenate([sev, np.full(n_si, 3, np.int8)])
    occurred = np.concatenate([occurred, si_occurred])
    recorded = np.concatenate([recorded, si_recorded])
    keep = np.flatnonzero(recorded < extract)
    order = keep[np.lexsort((occurred[keep], recorded[keep], person[keep]))]
    person, ecode, role, sev, occurred, recorded = (
        a[order] for a in (person, ecode, role, sev, occurred, recorded)
    )
    n = person.size
    return _frame(
        {
            "event_id": ids("E", np.arange(1, n + 1), max(9, len(str(n)))),
            "person_id": _take(pid, person),
            "agency": _names(v.AGENCIES, agency_of_pair[ecode]),
            "event_type": _names([t for _, t in PAIRS], ecode),
            "occurred_at": _ts(pop.t0, occurred),
            "recorded_at": _ts(pop.t0, recorded),
            "role": _names(v.EVENT_ROLES, np.maximum(role, 0), null=role < 0),
            "severity": pa.array(sev.astype(np.int64), mask=sev <= 0),
        }
    )


def _truth(pop: Population, out: Outcome, pid) -> pd.DataFrame:
    """Latent harm episodes; episodes still going at the extract date end on it."""
    order = np.lexsort((out.harm_start, out.harm_child))
    child = out.harm_child[order]
    start = out.harm_start[order]
    end = np.minimum(out.harm_end[order], pop.n_days)
    return _frame(
        {
            "person_id": _take(pid, child),
            "start_date": _date(pop.t0, start),
            "end_date": _date(pop.t0, np.maximum(end, start)),
            "harm_type": _names(HARM_TYPES, out.harm_type[order]),
            "severity": out.harm_sev[order].astype(np.int64),
        }
    )
