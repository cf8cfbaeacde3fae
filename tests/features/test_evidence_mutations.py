"""Mutation test: every comparison in the evidence SQL is pinned by a check.

:func:`features.evidence` lists the records behind a feature value, and a
screener reads them as the reason's evidence.  Its SQL
(:func:`features.evidence.evidence_sql`) repeats the point-in-time rules of
the feature SQL: "recorded strictly before ``as_of``", the household as of
``as_of`` (:func:`features.sql.household_ctes`), "at or after the start of
the window", "before the 18th birthday", "joined in the last 12 months".
An off-by-one there lists a record that arrived with the referral, or hides
one that was counted, only when a timestamp falls exactly on the boundary.

As in ``test_mutations.py`` (the helpers are in ``mutants.py``), each
comparison is found in the generated text of every feature's look-up
(:func:`features.evidence.evidence_sql`) and flipped to its off-by-one twin,
one mutant at a time.  A comparison of the household
(:func:`features.sql.household_ctes`) is one mutant, flipped in every
look-up at once, as a slip there would be.  A comparison ``evidence.py``
writes is one mutant per branch of ``evidence_body`` and subject
(``e.recorded_at < t.as_of (CTE final SELECT) in [agency_events,
siblings]``), flipped in every feature that branch writes for that subject:
the siblings' "recorded before ``as_of``" is pinned apart from the
child's.  (Features of the referral itself, and ages, select no records:
their look-ups never read the household CTEs.)

The mutant is caught when, for some (referral, child) of the edge-case
worlds of ``world.py`` (and one more, :func:`tests.features.edge_world.edge_world`, for the
boundaries those never reach) and some feature, the records listed

- differ from a plain-Python reference (:class:`Reference`, written from the
  rules, not from the SQL: the subject's events recorded before ``as_of``
  the counter counts, the prior referrals with the decisions known by then,
  the memberships of the household as of ``as_of``), or
- do not give back the feature's value (the brute-force
  ``reference_features``, which the feature SQL is held equal to): a counter
  equals the number of its records (per person, then summed or the
  maximum), a state is set when its latest start is after its latest end,
  ``household_n_adults`` is the number of adults listed, and so on.

Where a mutant is caught, the unmutated look-up must pass the same check,
so a mutant is never "caught" by a check the real code fails too.
"""

from __future__ import annotations

import importlib
import math
from collections import Counter
from functools import cache

import pandas as pd

from features import StoreSnapshot
from features import definitions as d
from features.inputs import check_referrals
from features.memory_evidence import evidence_frame, ondemand_evidence
from features.sql import household_ctes
from store import vocabulary as v
from tests.features.edge_world import EDGE_WORLD, RECORD_TABLES, edge_world
from tests.features.mutants import SEEDS, Mutation, World, apply_all, comparisons, world
from tests.features.reference import (
    DAY,
    active,
    event_counts,
    household_as_of,
    prior_of,
    referral_counts,
    whole_days,
)

# ``features.evidence`` is the function (re-exported by ``features``); this is its module.
EV = importlib.import_module("features.evidence")

# Features whose look-up selects records from the store (the others describe
# the referral or the child, and have no comparison in their own SELECT).
RECORD_SPECS = [s for s in d.FEATURE_SPECS if s.record.table in RECORD_TABLES]
_CSC = d.cat("children_social_care", v.AGENCIES)

# Comparisons whose off-by-one twin cannot change any listed record, each with
# why, keyed by ``Mutation.name``.
_FIRST_RECORDED = (
    "a member's listed membership is the first recorded of those current as of as_of "
    "with the member's latest start; members_asof only holds that start when one of them "
    "was recorded before as_of, so one recorded exactly at as_of is never the first"
)
EQUIVALENT: dict[str, str] = {
    f"m.recorded_at < t.as_of (CTE final SELECT) in [household_members, {subject}]": (
        _FIRST_RECORDED
    )
    for subject in ("household_adults", "household_parents", "siblings")
}
# The data contract refuses a referral child aged 18 or over on received_at, so no
# stored referral about an adult was received at their 18th birthday.
EQUIVALENT[
    "r.received_at < (p.date_of_birth + INTERVAL '18' YEAR) (CTE final SELECT) "
    "in [referrals, household_adults]"
] = "a referral about someone aged 18 or over is refused by the data contract"


def _cell(x) -> str:
    """A value of an evidence row as comparable text (NULL and NaN alike)."""
    if x is None or (not isinstance(x, str) and pd.isna(x)):
        return ""
    if isinstance(x, pd.Timestamp):
        return x.isoformat()
    return str(x)


def _detail(*parts) -> str:
    """``concat_ws(', ', ...)``: the parts that are not NULL."""
    return ", ".join(p for p in parts if p is not None)


class Reference:
    """The records behind every feature for one world, by brute force over its tables."""

    def __init__(self, w: World):
        t = w.tables
        self.people = {r["person_id"]: r for r in t["people"].to_dict("records")}
        self.members = t["household_members"].to_dict("records")
        self.referrals = {r["referral_id"]: r for r in t["referrals"].to_dict("records")}
        self.decisions = {r["referral_id"]: r for r in t["screening_decisions"].to_dict("records")}
        self.referrals_of: dict[str, list[str]] = {}
        for rc in t["referral_children"].to_dict("records"):
            self.referrals_of.setdefault(rc["person_id"], []).append(rc["referral_id"])
        self.events_of: dict[str, list[dict]] = {}
        for e in t["agency_events"].to_dict("records"):
            e = {k: (None if not isinstance(x, str) and pd.isna(x) else x) for k, x in e.items()}
            self.events_of.setdefault(e["person_id"], []).append(e)
        self.values = w.expected.set_index(["referral_id", "person_id"])
        links = t.get("named_adult_links")
        self.named_of: dict[str, set[str]] = {}
        for r in [] if links is None else links.to_dict("records"):
            if r["status"] == "found" and isinstance(r["person_id"], str):
                if r["person_id"] in self.people:
                    self.named_of.setdefault(r["referral_id"], set()).add(r["person_id"])

    @cache  # noqa: B019 - one Reference per world, kept for the session
    def household(self, child: str, as_of: pd.Timestamp) -> tuple[frozenset, dict]:
        """The child's homes as of ``as_of``, and each other member's (role, latest start)."""
        return household_as_of(self.members, child, as_of)

    def subjects(
        self, subject: str, child: str, as_of, referral_id: str | None = None
    ) -> list[tuple[str, str, pd.Timestamp]]:
        """(person, relationship, latest start) the feature's subject covers."""
        if subject in ("child", "referral"):
            return [(child, "child", None)]
        if subject == "named_adults":  # the found adults' store persons (issue #20)
            named = sorted(self.named_of.get(referral_id, ()))
            return [(p, "named by the referrer", None) for p in named]
        _, others = self.household(child, as_of)
        out = []
        for p, (role, start) in sorted(others.items()):
            if subject == "household_adults" and role in v.ADULT_ROLES:
                out.append((p, role, start))
            elif subject == "new_household_adults" and role in v.ADULT_ROLES:
                if start >= as_of - d.WINDOWS["12m"] * DAY:
                    out.append((p, role, start))
            elif subject == "household_parents" and role == "parent":
                out.append((p, role, start))
            elif subject == "siblings" and role == "child":
                out.append((p, "sibling", start))
        return out

    def prior(self, person: str, as_of) -> list[tuple[dict, dict | None]]:
        """The person's referrals received before ``as_of``, with the decision made by then."""
        return prior_of(self.referrals_of.get(person, []), self.referrals, self.decisions, as_of)

    def records(self, spec: d.FeatureSpec, referral_id: str, child: str) -> list[tuple]:
        """The evidence rows ``spec`` should list for the child on the referral."""
        rec, this = spec.record, self.referrals[referral_id]
        as_of = this["received_at"]
        people = self.subjects(rec.subject, child, as_of, referral_id)
        rows = []
        if rec.table == "agency_events":
            counter = d.COUNTERS[rec.counter]
            for p, rel, _ in people:
                dob = self.people[p]["date_of_birth"]
                for e in self.events_of.get(p, []):
                    if not e["recorded_at"] < as_of:
                        continue
                    if isinstance(counter, d.EventState):
                        counts = e["agency"] == counter.agency and e["event_type"] in (
                            counter.start,
                            counter.end,
                        )
                    else:
                        counts = event_counts(counter, e, dob, as_of)
                    if counts:
                        sev = None if e["severity"] is None else f"severity {int(e['severity'])}"
                        role = None if e["role"] is None else f"role: {e['role']}"
                        rows.append(
                            ("agency_event", e["agency"], e["event_type"], p, rel)
                            + (e["occurred_at"], e["recorded_at"], _detail(role, sev))
                        )
        elif rec.table == "referrals":
            for p, rel, _ in people:
                dob = self.people[p]["date_of_birth"]
                for r, dec in self.prior(p, as_of):
                    if rec.same_concern:
                        days = rec.window_days
                        counts = any(r[c] and this[c] for c in v.CONCERN_COLUMNS) and (
                            days is None or r["received_at"] >= as_of - days * DAY
                        )
                    else:
                        counts = referral_counts(d.COUNTERS[rec.counter], r, dec, dob, as_of)
                    if counts:
                        decided = None if dec is None else f"decision: {dec['decision']}"
                        reason = None if dec is None else dec["closure_reason"]
                        closed = (
                            None if reason is None or pd.isna(reason) else f"closed as {reason}"
                        )
                        rows.append(
                            ("referral", _CSC, f"referral from {r['source']}", p, rel)
                            + (r["received_at"], r["received_at"])
                            + (_detail(f"referral {r['referral_id']}", decided, closed),)
                        )
        else:  # household_members: the membership that makes them a member as of as_of
            homes, _ = self.household(child, as_of)
            within = rec.joined_within_days
            for p, rel, start in people:
                if within and not start >= as_of - within * DAY:
                    continue
                current = [
                    m
                    for m in self.members
                    if m["person_id"] == p
                    and m["household_id"] in homes
                    and pd.Timestamp(m["start_date"]) == start
                    and active(m, as_of)
                ]
                # One row per member (the counts count members): the first recorded.
                for m in sorted(current, key=lambda m: (m["recorded_at"], m["household_id"]))[:1]:
                    rows.append(
                        ("household_member", None, "joined household", p, rel, start)
                        + (m["recorded_at"], f"household {m['household_id']}")
                    )
        return rows

    def implied(self, spec: d.FeatureSpec, rows: pd.DataFrame, child: str, as_of) -> float:
        """The feature's value as the listed records give it."""
        rec = spec.record
        if spec.name == "child_days_since_last_referral":
            return whole_days(rows["occurred_at"].max(), as_of) if len(rows) else math.nan
        if rec.table == "household_members":
            starts = [pd.Timestamp(x) for x in rows["occurred_at"]]
            if spec.name.startswith("household_new_adult_"):
                return float(len(rows) > 0)
            if spec.name == "household_days_since_adult_joined":
                return min((whole_days(s, as_of) for s in starts), default=math.nan)
            if spec.name.startswith("parent_age_at_birth_"):
                born = self.people[child]["date_of_birth"]
                ages = [
                    math.floor(whole_days(self.people[p]["date_of_birth"], born) / d.DAYS_PER_YEAR)
                    for p in rows["person_id"]
                ]
                pick = min if spec.name.endswith("_min") else max
                return pick(ages) if ages else math.nan
            return float(len(rows))  # household_n_adults, household_n_siblings
        counter = d.COUNTERS.get(rec.counter)
        per_person = []
        for _, mine in rows.groupby("person_id"):
            if isinstance(counter, d.EventState):
                starts = mine.loc[mine["event_type"] == counter.start, "occurred_at"]
                ends = mine.loc[mine["event_type"] == counter.end, "occurred_at"]
                current = len(starts) > 0 and (len(ends) == 0 or starts.max() > ends.max())
                per_person.append(int(current))
            else:
                per_person.append(len(mine))
        if spec.aggregate in ("max", "flag"):
            return float(max(per_person, default=0))
        return float(sum(per_person))

    def problem(self, con, spec: d.FeatureSpec, referral_id: str, child: str) -> str | None:
        """What is wrong with ``features.evidence`` for the child on the referral, or None."""
        got = EV.evidence(con, referral_id, child, spec.name)
        want = self.records(spec, referral_id, child)
        have = Counter(tuple(_cell(x) for x in row) for row in got.itertuples(index=False))
        if have != Counter(tuple(_cell(x) for x in row) for row in want):
            return f"lists {len(got)} records, the reference {len(want)}"
        as_of = self.referrals[referral_id]["received_at"]
        implied = self.implied(spec, got, child, as_of)
        value = float(self.values.at[(referral_id, child), spec.name])
        if not (implied == value or (math.isnan(implied) and math.isnan(value))):
            return f"records imply {implied}, the feature is {value}"
        return None


@cache
def _checked(key: int) -> tuple[World, Reference, tuple[tuple[str, str], ...]]:
    """A world with its reference and its (referral, child) targets, built when first needed."""
    w = edge_world().world if key == EDGE_WORLD else world(key)
    targets = w.tables["referral_children"][["referral_id", "person_id"]]
    return w, Reference(w), tuple(targets.itertuples(index=False, name=None))


def _checks(specs: list[d.FeatureSpec]):
    """(world, reference, feature, referral, child) to try, the likeliest to fail first.

    First every feature for the children of the edge world's referral, whose
    boundaries are laid out for the look-up; then each feature over every
    (referral, child) of the edge world and of the worlds of ``world.py``.
    """
    edge = edge_world()
    w, ref, targets = _checked(EDGE_WORLD)
    around = [t for t in targets if t[0] == edge.referral_id]
    for spec in specs:
        for rid, pid in around:
            yield w, ref, spec, rid, pid
    for spec in specs:
        for key in (EDGE_WORLD, *SEEDS):
            w, ref, targets = _checked(key)
            for rid, pid in targets:
                yield w, ref, spec, rid, pid


def _lookup(spec: d.FeatureSpec) -> str:
    """The branch of ``evidence.py`` that writes the feature's SELECT, and its subject."""
    rec = spec.record
    kind = rec.table
    if rec.same_concern:
        kind += ", same concern"
    if isinstance(d.COUNTERS.get(rec.counter), d.EventState):
        kind += ", state"
    return f"{kind}, {rec.subject}"


def sites() -> dict[str, dict[str, list[Mutation]]]:
    """Every comparison of the evidence SQL: mutant name -> {feature: its occurrences}.

    A comparison of the household (:func:`features.sql.household_ctes`) is one
    mutant, flipped in every look-up.  A comparison ``evidence.py`` writes is
    one mutant per branch and subject (:func:`_lookup`): "recorded before
    ``as_of``" for the siblings' events is pinned apart from the child's.
    """
    out: dict[str, dict[str, list[Mutation]]] = {}
    for spec in RECORD_SPECS:
        for m in comparisons(EV.evidence_sql(spec)):
            shared = m.where.startswith(("CTE child_homes", "CTE members_asof"))
            name = m.name if shared else f"{m.name} in [{_lookup(spec)}]"
            out.setdefault(name, {}).setdefault(spec.name, []).append(m)
    return out


def _search_order(features: list[str]) -> list[d.FeatureSpec]:
    """Record features using a comparison, the most revealing first.

    Only the order of the search: every one of ``features`` is tried before
    a mutant is declared a survivor.  Membership lists show every household
    boundary directly (a household member's counter shows it only if that
    member has a counted record); among counters, the one with the fewest
    conditions (no source, decision, role, severity, age or window) lists a
    record on a boundary whatever else the record is, and the child's own
    records are listed for every referral.
    """

    def rank(spec: d.FeatureSpec) -> tuple:
        rec = spec.record
        conditions = sum(
            bool(getattr(rec, k))
            for k in ("sources", "decision", "closure_reason", "roles", "exclude_roles")
            + ("min_severity", "age_limit", "window_days", "same_concern", "joined_within_days")
        )
        return (rec.table != "household_members", conditions, rec.subject != "child")

    return sorted((s for s in RECORD_SPECS if s.name in features), key=rank)


_BASELINE: dict[tuple, str | None] = {}


def _baseline(w: World, ref: Reference, spec: d.FeatureSpec, rid: str, pid: str) -> str | None:
    key = (w.seed, spec.name, rid, pid)
    if key not in _BASELINE:
        _BASELINE[key] = ref.problem(w.con, spec, rid, pid)
    return _BASELINE[key]


def _detects(monkeypatch, site: dict[str, list[Mutation]]) -> str | None:
    """Where the evidence SQL with ``site`` flipped fails a check (the real SQL passing it)."""
    real_sql = EV.evidence_sql
    mutated = {name: apply_all(real_sql(d.SPECS_BY_NAME[name]), ms) for name, ms in site.items()}
    monkeypatch.setattr(
        EV,
        "evidence_sql",
        lambda spec: mutated[spec.name] if spec.name in mutated else real_sql(spec),
    )
    found = None
    try:
        for w, ref, spec, rid, pid in _checks(_search_order(list(site))):
            problem = ref.problem(w.con, spec, rid, pid)
            if problem is not None:
                found = (w, ref, spec, rid, pid, problem)
                break
    finally:
        monkeypatch.undo()
    if found is None:
        return None
    w, ref, spec, rid, pid, problem = found
    real = _baseline(w, ref, spec, rid, pid)
    assert real is None, f"unmutated evidence fails too: {spec.name} on {rid}/{pid}: {real}"
    return f"world {w.seed}, {rid}/{pid}, {spec.name}: {problem}"


def test_the_evidence_sql_has_the_comparisons_the_rules_need():
    """The finder sees the evidence's point-in-time comparisons (a broken regex would pass)."""
    names = {n.split(" in [")[0] for n in sites()}
    for expected in [
        "m.recorded_at < ct.as_of (CTE child_homes)",
        "m.start_date <= ct.as_of (CTE child_homes)",
        "o.end_recorded_at < ch.as_of (CTE members_asof)",
        "e.recorded_at < t.as_of (CTE final SELECT)",
        "r.received_at < t.as_of (CTE final SELECT)",
        "dd.decided_at < t.as_of (CTE final SELECT)",
        "e.occurred_at >= (t.as_of - INTERVAL '365' DAY) (CTE final SELECT)",
        "r.received_at >= (t.as_of - INTERVAL '91' DAY) (CTE final SELECT)",
        "e.occurred_at < (p.date_of_birth + INTERVAL '18' YEAR) (CTE final SELECT)",
        "start_date >= (as_of - INTERVAL '365' DAY) (CTE subject)",
        "s.start_date >= (t.as_of - INTERVAL '91' DAY) (CTE final SELECT)",
    ]:
        assert expected in names, expected
    # Every comparison of the household the feature SQL uses is in the look-up too.
    shared = {m.text for name, body in household_ctes() for m in comparisons(body)}
    assert shared <= {n.split(" (")[0] for n in names}


def test_the_checks_pass_on_the_real_lookup():
    """The checks hold for the real look-up (else a mutant failing one would mean nothing).

    Every record feature, for the children of the edge world's referral,
    where every boundary is laid out (the mutation test checks the real
    look-up again wherever else it catches a mutant).
    """
    edge = edge_world()
    w, ref, targets = _checked(EDGE_WORLD)
    listed = 0
    for rid, pid in (t for t in targets if t[0] == edge.referral_id):
        for spec in RECORD_SPECS:
            assert _baseline(w, ref, spec, rid, pid) is None, (spec.name, rid, pid)
            listed += len(ref.records(spec, rid, pid))
    assert listed > 200


def test_evidence_lists_no_membership_unknown_as_of_the_referral():
    """Someone in two of the child's homes from the same day is listed once, as known then.

    The bug: the membership listed was found by person and start date among
    the child's homes, whether or not it was known as of ``as_of``, so a
    parent who joined both homes the same day, the second joining recorded
    only as the referral arrived, was listed twice, once with a record from
    the future, and the adults listed outnumbered ``household_n_adults``.
    """
    w, rid, child, home = edge_world()
    as_of = w.tables["referrals"].set_index("referral_id").at[rid, "received_at"]
    value = w.expected.set_index(["referral_id", "person_id"]).loc[(rid, child)]
    for name, twice in [
        ("household_n_adults", "P-PARENT-TWICE"),
        ("parent_age_at_birth_min", "P-PARENT-TWICE"),
        ("household_n_siblings", "P-CHILD-TWICE"),
    ]:
        listed = EV.evidence(w.con, rid, child, name)
        assert (listed["recorded_at"] < as_of).all(), name
        assert listed.loc[listed["person_id"] == twice, "detail"].tolist() == [f"household {home}"]
    for name in ("household_n_adults", "household_n_siblings"):
        assert len(EV.evidence(w.con, rid, child, name)) == value[name] > 0, name


def test_a_member_of_two_homes_is_listed_once():
    """One row per member, as ``household_n_adults`` counts members, on both paths.

    The bug: a parent (or sibling) who joined two of the child's homes on
    the same day, both known before the referral, was listed once per home,
    so the records outnumbered the count the screener read.
    """
    w, rid, child, _ = edge_world()
    members = w.tables["household_members"]
    joinings = members[members["person_id"] == "P-PARENT-BOTH"].sort_values("recorded_at")
    assert len(joinings) == 2
    first = f"household {joinings['household_id'].iloc[0]}"
    refs = w.tables["referrals"][w.tables["referrals"]["referral_id"] == rid]
    on = w.tables["referral_children"]
    on = on[(on["referral_id"] == rid) & (on["person_id"] == child)]
    wanted = ["household_n_adults", "household_n_siblings"]
    memory = ondemand_evidence(
        StoreSnapshot.load(w.con), *check_referrals(refs, on), {child: wanted}
    )
    value = w.expected.set_index(["referral_id", "person_id"]).loc[(rid, child)]
    for name, both in (
        ("household_n_adults", "P-PARENT-BOTH"),
        ("household_n_siblings", "P-CHILD-BOTH"),
    ):
        listed = EV.evidence(w.con, rid, child, name)
        in_memory = evidence_frame(memory[(child, name)])
        for rows in (listed, in_memory):
            assert rows["person_id"].tolist().count(both) == 1, name
            assert len(rows) == rows["person_id"].nunique() == value[name], name
        if name == "household_n_adults":
            assert listed.loc[listed["person_id"] == both, "detail"].tolist() == [first]


def test_every_comparison_of_the_evidence_sql_is_pinned(monkeypatch):
    """Each comparison flipped alone makes some world's evidence wrong (about 11 s)."""
    all_sites = sites()
    assert len(all_sites) > 30
    survivors, caught = [], {}
    for name, site in all_sites.items():
        if name in EQUIVALENT:
            continue
        where = _detects(monkeypatch, site)
        if where is None:
            survivors.append(name)
        else:
            caught[name] = where
    assert not survivors, (
        f"{len(survivors)} of {len(all_sites)} off-by-one mutations of the evidence SQL "
        f"survive (no world of world.py tells them from the reference):\n  "
        + "\n  ".join(survivors)
    )
    assert len(caught) == len(all_sites) - len(EQUIVALENT)
