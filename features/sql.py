"""The feature SQL, generated from :mod:`features.definitions`.

One query, built from common table expressions, computes every feature for a
set of *target* (referral, child) rows.  The query names its input relations
through placeholders (``{events}``, ``{members}``, ...), so the training path
runs it over the store's tables and the serving path over the same tables
pre-filtered to the few people a new referral concerns: the SQL text is the
same in both.

The SQL is deliberately plain: joins, ``CASE``, ``COUNT``/``SUM``/``MAX``/
``MIN``, one window function, ANSI interval literals.  Engine-specific bits
(date arithmetic, the bit test) go through :class:`Dialect`, so a Spark
backend needs a second ``Dialect``, not a second set of definitions.

How the counters stay cheap (the join of people to their records is the
query's bulk, and one event meets every later ``as_of`` of its person):

- every static predicate (event type, agency, role, severity; a prior
  referral's source, decision, closure reason) is evaluated once per record
  and kept as one bit of an integer (:func:`event_classes`,
  :func:`referral_classes`); the join carries that integer, and each counter
  is a bit test plus its window, a comparison with a per-(person, as_of)
  column (``since_12m`` ...) computed once instead of per row;
- event counters are counted in a few groups of event types that share no
  counter (:func:`event_families`), each over its own events only, so a
  joined row evaluates a handful of counters rather than all of them;
- referral windows are nested (3 months within 6 within 12 within 24), so a
  prior referral gets the index of the narrowest window holding it once, and
  a windowed counter is ``index <= k``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from features import definitions as d
from store import vocabulary as v


@dataclass(frozen=True)
class Dialect:
    """Date arithmetic and the bit test, the parts of the SQL that differ between engines."""

    name: str
    # Keyword that makes a CTE referenced more than once be computed once
    # (DuckDB); engines that do this themselves (Spark) leave it empty.
    materialized: str = "MATERIALIZED"

    def minus_days(self, ts: str, days: int) -> str:
        return f"({ts} - INTERVAL '{int(days)}' DAY)"

    def plus_days(self, ts: str, days: int) -> str:
        return f"({ts} + INTERVAL '{int(days)}' DAY)"

    def plus_years(self, ts: str, years: int) -> str:
        return f"({ts} + INTERVAL '{int(years)}' YEAR)"

    def has_bit(self, mask: str, bit: int) -> str:
        """True if bit ``bit`` of the integer ``mask`` is set (``&`` is DuckDB's and Spark's)."""
        return self.has_bit_any(mask, [bit])

    def has_bit_any(self, mask: str, bits) -> str:
        """True if any of ``bits`` is set in the integer ``mask``."""
        return f"({mask} & {sum(1 << b for b in bits)}) <> 0"

    def whole_months(self, start: str, end: str) -> str:
        """Whole calendar months from ``start`` to ``end``, as an age is counted.

        A month is complete on the day of the month that matches ``start``
        (born 3 March: 1 month old on 3 April); a start on the 29th-31st
        completes in a shorter month only on the 1st of the next.  Written with
        ``year``/``month``/``day`` so that Spark reads it unchanged, and mirrored
        by :func:`features.ondemand.whole_months`.
        """
        return (
            f"((year({end}) - year({start})) * 12 + month({end}) - month({start}) "
            f"- CASE WHEN day({end}) < day({start}) THEN 1 ELSE 0 END)"
        )

    def whole_days(self, start: str, end: str) -> str:
        """Whole days from ``start`` to ``end`` (floor), exact to the microsecond."""
        return (
            f"FLOOR(date_diff('microsecond', CAST({start} AS TIMESTAMP), "
            f"CAST({end} AS TIMESTAMP)) / 86400000000.0)"
        )


DUCKDB = Dialect("duckdb")


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in(col: str, values) -> str:
    return f"{col} IN ({', '.join(_q(x) for x in values)})"


def event_predicate(
    flt: d.EventFilter, dialect: Dialect = DUCKDB, e: str = "e", dob: str = "pt.date_of_birth"
) -> str:
    """SQL predicate selecting the events a filter describes (window not included)."""
    parts = [_in(f"{e}.event_type", flt.event_types)]
    if flt.agencies:
        parts.append(_in(f"{e}.agency", flt.agencies))
    if flt.roles:
        parts.append(_in(f"{e}.role", flt.roles))
    if flt.exclude_roles:
        parts.append(f"({e}.role IS NULL OR NOT {_in(f'{e}.role', flt.exclude_roles)})")
    if flt.min_severity is not None:
        parts.append(f"{e}.severity >= {int(flt.min_severity)}")
    if flt.age_limit == "adult":
        parts.append(f"{e}.occurred_at < {dialect.plus_years(dob, d.ADULT_YEARS)}")
    elif flt.age_limit == "non_mobile":
        parts.append(f"{e}.occurred_at < {dialect.plus_days(dob, d.NON_MOBILE_DAYS)}")
    return " AND ".join(parts)


def window_predicate(col: str, window: str, as_of: str, dialect: Dialect = DUCKDB) -> str | None:
    days = d.WINDOWS.get(window)
    return None if days is None else f"{col} >= {dialect.minus_days(as_of, days)}"


def referral_predicate(
    c: d.ReferralCounter,
    dialect: Dialect = DUCKDB,
    h: str = "h",
    as_of: str = "h.as_of",
    dob: str = "h.date_of_birth",
) -> str:
    """SQL predicate over one prior referral (with its decision, if made by ``as_of``)."""
    parts = []
    if c.sources:
        parts.append(_in(f"{h}.source", c.sources))
    win = window_predicate(f"{h}.received_at", c.window, as_of, dialect)
    if win:
        parts.append(win)
    if c.decision:
        parts.append(f"{h}.decision = {_q(c.decision)}")
    if c.closure_reason:
        parts.append(f"{h}.closure_reason = {_q(c.closure_reason)}")
    if c.age_limit == "adult":
        parts.append(f"{h}.received_at < {dialect.plus_years(dob, d.ADULT_YEARS)}")
    return " AND ".join(parts) if parts else "TRUE"


def _count(pred: str, name: str) -> str:
    # COUNT of a CASE without ELSE is standard SQL and yields a BIGINT (a SUM
    # would widen to a 128-bit integer in DuckDB and run slower).
    return f"COUNT(CASE WHEN {pred} THEN 1 END) AS {name}"


def static_referral(c: d.ReferralCounter) -> d.ReferralCounter:
    """``c`` without its window and age limit: what one prior referral alone decides."""
    return d.ReferralCounter(
        name=c.name,
        window="ever",
        sources=c.sources,
        decision=c.decision,
        closure_reason=c.closure_reason,
    )


def _ageless(flt: d.EventFilter) -> d.EventFilter:
    return d.EventFilter(
        event_types=flt.event_types,
        agencies=flt.agencies,
        roles=flt.roles,
        exclude_roles=flt.exclude_roles,
        min_severity=flt.min_severity,
    )


def _age_test(age_limit: str | None, col: str, pt: str = "pt") -> str | None:
    """``col`` happened before the person passed ``age_limit`` (bounds are columns of ``pt``)."""
    if age_limit is None:
        return None
    return f"{col} < {pt}.{_AGE_BOUND[age_limit]}"


_AGE_BOUND = {"adult": "adult_at", "non_mobile": "non_mobile_until"}


def event_classes(dialect: Dialect = DUCKDB) -> list[tuple[str, str]]:
    """The static event predicates, in bit order, as (key, SQL over ``e``).

    One per distinct counter filter (its window and age limit left out: they
    depend on ``as_of`` and the person, and are tested after the join), and a
    start and an end per state.  The feature query evaluates each once per
    event and keeps the answers as the bits of one integer, so joining events
    to every (person, ``as_of``) carries one integer instead of the strings,
    and each counter becomes a bit test.
    """
    bits: dict[str, str] = {}
    for c in d.EVENT_COUNTERS:
        pred = event_predicate(_ageless(c.filter), dialect)
        bits.setdefault(pred, pred)
    for s in d.EVENT_STATES:
        for kind, etype in (("start", s.start), ("end", s.end)):
            bits[f"{s.name}:{kind}"] = f"e.agency = {_q(s.agency)} AND e.event_type = {_q(etype)}"
    if len(bits) > 62:
        raise ValueError(f"{len(bits)} static event predicates do not fit one BIGINT")
    return list(bits.items())


def event_class_key(c: d.EventCounter, dialect: Dialect = DUCKDB) -> str:
    """The :func:`event_classes` key of a counter."""
    return event_predicate(_ageless(c.filter), dialect)


def referral_classes(dialect: Dialect = DUCKDB) -> list[tuple[str, str]]:
    """The distinct static referral predicates (no window), in bit order, over ``h``."""
    bits: dict[str, str] = {}
    for c in d.REFERRAL_COUNTERS:
        pred = referral_predicate(static_referral(c), dialect)
        if pred != "TRUE":
            bits.setdefault(pred, pred)
    if len(bits) > 62:
        raise ValueError(f"{len(bits)} static referral predicates do not fit one BIGINT")
    return list(bits.items())


def predicate_mask(predicates: list[tuple[str, str]]) -> str:
    """One BIGINT whose bit ``k`` says whether predicate ``k`` holds (NULL counts as false)."""
    return " + ".join(
        f"CASE WHEN {sql} THEN CAST({1 << k} AS BIGINT) ELSE 0 END"
        for k, (_, sql) in enumerate(predicates)
    )


def referral_mask_sql() -> str:
    """The BIGINT of a referral's static predicate bits, over ``h`` (its source, decision...).

    What :class:`features.StoreSnapshot` holds per referral; the service's
    live overlay (``serving/live.py``) computes it for a referral received
    since, with this same SQL.
    """
    return predicate_mask(referral_classes())


def _since(window: str) -> str:
    """Column of ``pt`` holding ``as_of`` minus the window (computed once per person and as_of)."""
    return f"since_{window}"


def _nested_windows(windows) -> list[str]:
    """Windows (not "ever") from the narrowest to the widest; each contains the previous."""
    return sorted({w for w in windows if d.WINDOWS.get(w) is not None}, key=lambda w: d.WINDOWS[w])


def active_membership(m: str, as_of: str) -> str:
    """A household membership known, started and not known to have ended, as of ``as_of``."""
    return (
        f"{m}.recorded_at < {as_of} AND {m}.start_date <= {as_of} AND NOT ("
        f"{m}.end_date IS NOT NULL AND {m}.end_date < {as_of} "
        f"AND {m}.end_recorded_at IS NOT NULL AND {m}.end_recorded_at < {as_of})"
    )


# The named adults of every referral: (referral_id, adult_number, status, person_id).
NAMED_ADULTS_VIEW = "mast_named_adults"
FOUND = d.cat("found", v.NAMED_ADULT_STATUSES)
NOT_SEARCHED = d.cat("not_searched", v.NAMED_ADULT_STATUSES)

# Relations the query reads; the caller maps each to a table, view or registered frame.
RELATIONS = (
    "target_referrals",
    "target_children",
    "people",
    "households",
    "members",
    "referrals",
    "referral_children",
    "decisions",
    "events",
    "named_adults",
)

STORE_RELATIONS = {
    "target_referrals": "referrals",
    "target_children": "referral_children",
    "people": "people",
    "households": "households",
    "members": "household_members",
    "referrals": "referrals",
    "referral_children": "referral_children",
    "decisions": "screening_decisions",
    "events": "agency_events",
    # Not a table: a view each engine makes from the store's named adults and
    # what ``mast link`` found of them (features.named_adults.named_adults_sql).
    "named_adults": NAMED_ADULTS_VIEW,
}

PROTECTED_SQL = ("sex", "ethnicity", "disability", "imd_decile", "age_years")


def _x_expressions(dialect: Dialect) -> dict[str, str]:
    """SQL for every column of X, keyed by feature name, over the final joins."""
    x: dict[str, str] = {}
    for m in d.CHILD_MEASURES:
        x[m.name] = child_measure(m, dialect)
    for c in d.SAME_CONCERN_COUNTERS:
        x[f"child_{c.name}"] = f"COALESCE(sc.{c.name}, 0)"
    for g in d.GROUP_EVENT_COUNTERS:
        x[g.name] = f"COALESCE(ge.{g.name}, 0)"
    for family in d.REFERRAL_FLAGS:
        for name, col, value in family.flags():
            test = f"t.{col}" if value is None else f"t.{col} = {_q(value)}"
            x[name] = f"CASE WHEN {test} THEN 1 ELSE 0 END"
    x["referral_n_concerns"] = " + ".join(
        f"CASE WHEN t.{col} THEN 1 ELSE 0 END" for col in v.CONCERN_COLUMNS
    )
    x["referral_n_children"] = "t.n_children"
    for g in d.GROUP_MEASURES:
        col = f"{_GROUP_BASE[_base_of(g)]}.{g.name}"
        x[g.name] = col if g.measure in d.NULLABLE_MEASURES else f"COALESCE({col}, 0)"
    for name in d.CHILD_COUNTERS:
        x[f"child_{name}"] = f"COALESCE(c.{name}, 0)"
    for name in d.ADULT_COUNTERS:
        for agg in ("max", "sum"):
            x[f"adults_{name}_{agg}"] = f"COALESCE(a.adults_{name}_{agg}, 0)"
    for name in d.SIBLING_COUNTERS:
        x[f"siblings_{name}_sum"] = f"COALESCE(s.siblings_{name}_sum, 0)"
    x.update(_named_x())
    missing = set(d.FEATURE_NAMES) ^ set(x)
    assert not missing, f"SQL and definitions disagree on {sorted(missing)}"
    return {name: x[name] for name in d.FEATURE_NAMES}


def _named_x() -> dict[str, str]:
    """The named-adult family over ``ns`` (named_status) and ``nf`` (named_agg).

    Missing (NULL) when an adult named on the referral could not be searched
    for (the store was never linked): "not searched" is not "not found".
    A referral naming no one counts 0.
    """
    x = {d.NAMED_FOUND: "ns.n_found", d.NAMED_NOT_FOUND: "ns.n_not_found"}
    for name in d.NAMED_ADULT_COUNTERS:
        for agg in ("max", "sum"):
            x[f"named_adults_{name}_{agg}"] = f"nf.named_adults_{name}_{agg}"
    return {
        k: f"CASE WHEN ns.unsearched = 1 THEN NULL ELSE COALESCE({col}, 0) END"
        for k, col in x.items()
    }


def named_ctes() -> list[tuple[str, str]]:
    """The named adults of each target referral, as of it (:class:`Membership` source "named").

    ``named_status``: how many adults the referral names were found, not found
    (a ``possible`` match is not found), and whether any could not be searched.
    ``named_asof``: the store persons the found adults' records belong to,
    each once per referral, beside ``members_asof`` for the household.
    """
    named = [m for m in d.MEMBERSHIPS.values() if m.source == "named"]
    assert len(named) == 1, "one named group is computed"
    times = "(SELECT DISTINCT referral_id, as_of FROM targets)"
    return [
        (
            "named_status",
            f"""SELECT tr.referral_id, tr.as_of,
                COUNT(DISTINCT CASE WHEN n.status = {_q(FOUND)} THEN n.adult_number END) AS n_found,
                COUNT(DISTINCT CASE WHEN n.status NOT IN ({_q(FOUND)}, {_q(NOT_SEARCHED)})
                    THEN n.adult_number END) AS n_not_found,
                MAX(CASE WHEN n.status = {_q(NOT_SEARCHED)} THEN 1 ELSE 0 END) AS unsearched
            FROM {times} tr JOIN {{named_adults}} n ON n.referral_id = tr.referral_id
            GROUP BY tr.referral_id, tr.as_of""",
        ),
        (
            "named_asof",
            f"""SELECT DISTINCT tr.referral_id, tr.as_of, n.person_id AS member_id
            FROM {times} tr JOIN {{named_adults}} n ON n.referral_id = tr.referral_id
            WHERE n.status = {_q(FOUND)} AND n.person_id IS NOT NULL""",
        ),
    ]


def child_measure(m: d.ChildMeasure, dialect: Dialect) -> str:
    """SQL for a :class:`features.definitions.ChildMeasure` over the final joins (NULL if none)."""
    if m.measure == "age_months":
        return dialect.whole_months("cp.date_of_birth", "t.as_of")
    return dialect.whole_days("c.last_received_at", "t.as_of")


# The aggregate CTE (and its alias in the final SELECT) each group is counted in:
# adults in adult_agg, children in sib_agg (the household's people by role).
_GROUP_BASE = {"adult_agg": "a", "sib_agg": "s"}


def _base_of(g: d.GroupMeasure) -> str:
    roles = set(d.MEMBERSHIPS[g.membership].roles)
    if roles <= set(d.MEMBERSHIPS["household_adults"].roles):
        return "adult_agg"
    if roles <= set(d.MEMBERSHIPS["siblings"].roles) and "age_at_birth" not in g.measure:
        return "sib_agg"
    raise ValueError(f"{g.name}: no aggregate over {g.membership} computes {g.measure}")


def group_measures(base: str, dialect: Dialect) -> str:
    """The :data:`features.definitions.GROUP_MEASURES` counted in ``base``, as SQL columns."""
    cols = []
    for g in d.GROUP_MEASURES:
        if _base_of(g) != base:
            continue
        m = d.MEMBERSHIPS[g.membership]
        member = _in("ma.role", m.roles)
        if m.joined_within:
            member += f" AND ma.start_date >= {dialect.minus_days('ma.as_of', d.WINDOWS[m.joined_within])}"
        age = f"FLOOR({dialect.whole_days('pf.date_of_birth', 'cp.date_of_birth')} / {d.DAYS_PER_YEAR})"
        expr = {
            "count": f"COUNT(CASE WHEN {member} THEN 1 END)",
            "days_since_newest_joined": (
                f"MIN(CASE WHEN {member} THEN {dialect.whole_days('ma.start_date', 'ma.as_of')} END)"
            ),
            "youngest_age_at_birth": f"MIN(CASE WHEN {member} THEN {age} END)",
            "oldest_age_at_birth": f"MAX(CASE WHEN {member} THEN {age} END)",
            "most": f"MAX(CASE WHEN {member} THEN pf.{g.counter} ELSE 0 END)",
        }.get(g.measure)
        if g.measure == "joined_within":
            since = dialect.minus_days("ma.as_of", d.WINDOWS[g.window])
            expr = f"MAX(CASE WHEN {member} AND ma.start_date >= {since} THEN 1 ELSE 0 END)"
        cols.append(f"{expr} AS {g.name}")
    return ",\n    ".join(cols)


def household_ctes(dialect: Dialect = DUCKDB, chunk_filter: str = "") -> list[tuple[str, str]]:
    """Targets, the child's homes and the other members of them, as of each referral.

    Shared by the feature query and the evidence look-up, so "who lived with
    the child" has one definition.
    """
    concerns = ", ".join(f"r.{c}" for c in v.CONCERN_COLUMNS)
    adult_roles = _in("ma.role", d.MEMBERSHIPS["household_adults"].roles)
    sibling_roles = _in("ma.role", d.MEMBERSHIPS["siblings"].roles)
    return [
        (
            "targets",
            f"""SELECT rc.referral_id, rc.person_id, r.received_at AS as_of, r.source,
                r.referrer_relationship, {concerns},
                COUNT(*) OVER (PARTITION BY rc.referral_id) AS n_children
            FROM {{target_children}} rc JOIN {{target_referrals}} r ON r.referral_id = rc.referral_id
            {chunk_filter}""",
        ),
        (
            "child_times",
            "SELECT DISTINCT person_id, as_of FROM targets",
        ),
        (
            "child_homes",
            f"""SELECT DISTINCT ct.person_id, ct.as_of, m.household_id
            FROM child_times ct JOIN {{members}} m ON m.person_id = ct.person_id
            WHERE {active_membership("m", "ct.as_of")}""",
        ),
        (
            "members_asof",
            f"""SELECT ch.person_id AS child_id, ch.as_of, o.person_id AS member_id,
                MIN(o.role) AS role, MAX(o.start_date) AS start_date
            FROM child_homes ch JOIN {{members}} o
              ON o.household_id = ch.household_id AND o.person_id <> ch.person_id
            WHERE {active_membership("o", "ch.as_of")}
            GROUP BY ch.person_id, ch.as_of, o.person_id""",
        ),
        (
            "adults_asof",
            f"SELECT ma.* FROM members_asof ma WHERE {adult_roles}",
        ),
        (
            "siblings_asof",
            f"SELECT ma.* FROM members_asof ma WHERE {sibling_roles}",
        ),
    ]


def _event_types_of(key: str) -> set[str]:
    """The event types a static event predicate (an :func:`event_classes` key) can match."""
    for c in d.EVENT_COUNTERS:
        if event_class_key(c) == key:
            return set(c.filter.event_types)
    name, kind = key.rsplit(":", 1)
    state = next(s for s in d.EVENT_STATES if s.name == name)
    return {state.start if kind == "start" else state.end}


def event_families(n_families: int = 4) -> list[list[int]]:
    """The event-class bits split into groups no event type straddles, of balanced size.

    Bits whose predicates can match the same event type are in one group, so
    every event touches the counters of one group only.  Counting each group
    over its own events means a joined event row evaluates a handful of
    counters instead of all of them.
    """
    classes = event_classes()
    parent = list(range(len(classes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for k, (key, _) in enumerate(classes):
        for t in sorted(_event_types_of(key)):
            if t in owner:
                parent[root(k)] = root(owner[t])
            else:
                owner[t] = k
    components: dict[int, list[int]] = {}
    for k in range(len(classes)):
        components.setdefault(root(k), []).append(k)
    # Balance the groups by how many output columns (counters, state ends) they carry.
    uses = [event_class_key(c) for c in d.EVENT_COUNTERS]
    uses += [f"{st.name}:{kind}" for st in d.EVENT_STATES for kind in ("start", "end")]
    keys = [key for key, _ in classes]
    weight = {r: sum(uses.count(keys[k]) for k in bits) for r, bits in components.items()}
    groups: list[list[int]] = [[] for _ in range(min(n_families, len(components)))]
    sizes = [0] * len(groups)
    for r in sorted(components, key=lambda r: (-weight[r], components[r][0])):
        g = sizes.index(min(sizes))
        groups[g].extend(components[r])
        sizes[g] += weight[r]
    return [sorted(g) for g in groups]


# Event counters some subject reads per person (a counter only counted across a
# group, d.GROUP_EVENT_COUNTERS, lends just its bit).
_PER_PERSON = {
    *d.CHILD_COUNTERS,
    *d.ADULT_COUNTERS,
    *d.SIBLING_COUNTERS,
    *d.NEW_ADULT_COUNTERS,
    *d.NAMED_ADULT_COUNTERS,
}


def group_event_ctes(dialect: Dialect) -> list[tuple[str, str]]:
    """The CTE counting :data:`features.definitions.GROUP_EVENT_COUNTERS` (none if there are none).

    Each member's events of the counter, recorded before ``as_of`` and in its
    window, joined to the child's household as of ``as_of``; distinct
    moments (``occurred_at``) counted, so an incident recorded for two
    members counts once.
    """
    if not d.GROUP_EVENT_COUNTERS:
        return []
    bit = {key: k for k, (key, _) in enumerate(event_classes(dialect))}
    cols = []
    for g in d.GROUP_EVENT_COUNTERS:
        c = d.COUNTERS[g.counter]
        m = d.MEMBERSHIPS[g.membership]
        test = f"{_in('ma.role', m.roles)} AND {dialect.has_bit('ec.bits', bit[event_class_key(c, dialect)])}"
        if m.joined_within:
            test += f" AND ma.start_date >= {dialect.minus_days('ma.as_of', d.WINDOWS[m.joined_within])}"
        if d.WINDOWS[c.window] is not None:
            test += f" AND ec.occurred_at >= {dialect.minus_days('ma.as_of', d.WINDOWS[c.window])}"
        cols.append(f"COUNT(DISTINCT CASE WHEN {test} THEN ec.occurred_at END) AS {g.name}")
    counts = ",\n    ".join(cols)
    body = f"""SELECT ma.child_id, ma.as_of,
    {counts}
            FROM members_asof ma
            JOIN ev_class ec ON ec.person_id = ma.member_id AND ec.recorded_at < ma.as_of
            GROUP BY ma.child_id, ma.as_of"""
    return [("group_events", body)]


def _event_ctes(dialect: Dialect) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Per-person event counters: classify each event once, then count bits per (person, as_of).

    Returns the CTEs and, for every counter column, the CTE that holds it.
    """
    classes = event_classes(dialect)
    bit = {key: k for k, (key, _) in enumerate(classes)}
    ctes = [
        (
            # Through people, whose size the planner knows, so the events are
            # probed against a small hash table rather than hashed themselves.
            "ev_people",
            "SELECT p.person_id FROM {people} p WHERE p.person_id IN (SELECT person_id FROM pt)",
        ),
        (
            "ev_class",
            f"""SELECT e.person_id, e.recorded_at, e.occurred_at,
                {predicate_mask(classes)} AS bits
            FROM {{events}} e JOIN ev_people p ON p.person_id = e.person_id""",
        ),
    ]
    owner: dict[str, str] = {}
    for i, group in enumerate(event_families()):
        mine = set(group)
        counters = []
        for c in d.EVENT_COUNTERS:
            k = bit[event_class_key(c, dialect)]
            if k not in mine or c.name not in _PER_PERSON:
                continue
            test = dialect.has_bit("ec.bits", k)
            if d.WINDOWS[c.window] is not None:
                test += f" AND ec.occurred_at >= pt.{_since(c.window)}"
            age = _age_test(c.filter.age_limit, "ec.occurred_at")
            if age:
                test += f" AND {age}"
            counters.append(_count(test, c.name))
            owner[c.name] = f"ev_agg{i}"
        for s in d.EVENT_STATES:
            for kind in ("start", "end"):
                k = bit[f"{s.name}:{kind}"]
                if k in mine:
                    counters.append(
                        f"MAX(CASE WHEN {dialect.has_bit('ec.bits', k)} "
                        f"THEN ec.occurred_at END) AS {s.name}__{kind}"
                    )
                    owner[f"{s.name}__{kind}"] = f"ev_agg{i}"
        counters = ",\n    ".join(counters)
        ctes.append(
            (
                f"ev_agg{i}",
                f"""SELECT pt.person_id, pt.as_of,
    {counters}
            FROM pt JOIN ev_class ec ON ec.person_id = pt.person_id AND ec.recorded_at < pt.as_of
            WHERE {dialect.has_bit_any("ec.bits", group)}
            GROUP BY pt.person_id, pt.as_of""",
            )
        )
    return ctes, owner


def _window_bucket(col: str, windows: list[str], prefix: str) -> str:
    """Index of the narrowest of the nested ``windows`` holding ``col`` (``len(windows)`` if none)."""
    whens = " ".join(f"WHEN {col} >= {prefix}{_since(w)} THEN {i}" for i, w in enumerate(windows))
    return f"CASE {whens} ELSE {len(windows)} END"


def feature_ctes(dialect: Dialect = DUCKDB, chunk_filter: str = "") -> list[tuple[str, str]]:
    """Every CTE of the feature query, in order."""
    ref_windows = _nested_windows(
        [*(c.window for c in d.REFERRAL_COUNTERS), *(c.window for c in d.SAME_CONCERN_COUNTERS)]
    )
    all_windows = _nested_windows([*ref_windows, *(c.window for c in d.EVENT_COUNTERS)])
    since = ",\n                ".join(
        f"{dialect.minus_days('x.as_of', d.WINDOWS[w])} AS {_since(w)}" for w in all_windows
    )
    rclasses = referral_classes(dialect)
    rbit = {key: k for k, (key, _) in enumerate(rclasses)}
    ref_counters = []
    for c in d.REFERRAL_COUNTERS:
        conds = []
        static = referral_predicate(static_referral(c), dialect)
        if static != "TRUE":
            conds.append(dialect.has_bit("h.rbits", rbit[static]))
        if d.WINDOWS.get(c.window) is not None:
            conds.append(f"h.wb <= {ref_windows.index(c.window)}")
        age = _age_test(c.age_limit, "h.received_at", "h")
        if age:
            conds.append(age)
        ref_counters.append(
            _count(" AND ".join(conds), c.name) if conds else f"COUNT(*) AS {c.name}"
        )
    ref_counters = ",\n    ".join(ref_counters)
    concerns_h = ", ".join(f"r.{c}" for c in v.CONCERN_COLUMNS)
    same = " OR ".join(f"(h.{c} AND t.{c})" for c in v.CONCERN_COLUMNS)
    same_counts = ",\n                ".join(
        _count(
            f"({same})"
            + (f" AND h.wb <= {ref_windows.index(c.window)}" if d.WINDOWS[c.window] else ""),
            c.name,
        )
        for c in d.SAME_CONCERN_COUNTERS
    )
    ev_names = [c.name for c in d.EVENT_COUNTERS if c.name in _PER_PERSON]
    ref_names = [c.name for c in d.REFERRAL_COUNTERS]
    ev_ctes, owner = _event_ctes(dialect)
    states = []
    for s in d.EVENT_STATES:
        start, end = (
            f"{owner[s.name + '__start']}.{s.name}__start",
            f"{owner[s.name + '__end']}.{s.name}__end",
        )
        states.append(
            f"CASE WHEN {start} IS NOT NULL AND ({end} IS NULL OR {start} > {end}) "
            f"THEN 1 ELSE 0 END AS {s.name}"
        )
    ev_joins = "\n            ".join(
        f"LEFT JOIN {name} ON {name}.person_id = pt.person_id AND {name}.as_of = pt.as_of"
        for name in dict.fromkeys(owner.values())
    )
    # No COALESCE: a person without records has NULL counters here, which
    # every consumer treats as 0 (MAX and SUM skip NULLs, X coalesces).
    person_cols = ",\n    ".join(
        [f"{owner[n]}.{n}" for n in ev_names] + states + [f"rf.{n}" for n in ref_names]
    )
    adult_aggs = ",\n    ".join(
        f"MAX(pf.{n}) AS adults_{n}_max, SUM(pf.{n}) AS adults_{n}_sum" for n in d.ADULT_COUNTERS
    )
    adult_groups = group_measures("adult_agg", dialect)
    sibling_groups = group_measures("sib_agg", dialect)
    sib_aggs = ",\n    ".join(f"SUM(pf.{n}) AS siblings_{n}_sum" for n in d.SIBLING_COUNTERS)
    named_aggs = ",\n    ".join(
        f"MAX(pf.{n}) AS named_adults_{n}_max, SUM(pf.{n}) AS named_adults_{n}_sum"
        for n in d.NAMED_ADULT_COUNTERS
    )
    return (
        household_ctes(dialect, chunk_filter)
        + named_ctes()
        + [
            (
                "persons",
                """SELECT person_id, as_of FROM child_times
            UNION
            SELECT member_id AS person_id, as_of FROM members_asof
            UNION
            SELECT member_id AS person_id, as_of FROM named_asof""",
            ),
            (
                "pt",
                f"""SELECT x.person_id, x.as_of, p.date_of_birth,
                {dialect.plus_years("p.date_of_birth", d.ADULT_YEARS)} AS adult_at,
                {dialect.plus_days("p.date_of_birth", d.NON_MOBILE_DAYS)} AS non_mobile_until,
                {since}
            FROM persons x JOIN {{people}} p ON p.person_id = x.person_id""",
            ),
        ]
        + ev_ctes
        + [
            (
                "ref_hist",
                f"""SELECT pt.person_id, pt.as_of, pt.adult_at, r.received_at, r.source,
                {concerns_h}, dd.decision, dd.closure_reason,
                {_window_bucket("r.received_at", ref_windows, "pt.")} AS wb
            FROM pt JOIN {{referral_children}} rc ON rc.person_id = pt.person_id
            JOIN {{referrals}} r ON r.referral_id = rc.referral_id AND r.received_at < pt.as_of
            LEFT JOIN {{decisions}} dd ON dd.referral_id = r.referral_id AND dd.decided_at < pt.as_of""",
            ),
            (
                "ref_agg",
                f"""SELECT h.person_id, h.as_of, MAX(h.received_at) AS last_received_at,
    {ref_counters}
            FROM (SELECT h.person_id, h.as_of, h.received_at, h.adult_at, h.wb,
                    {predicate_mask(rclasses)} AS rbits
                  FROM ref_hist h) h
            GROUP BY h.person_id, h.as_of""",
            ),
            (
                "same_concern",
                f"""SELECT t.referral_id, t.person_id,
                {same_counts}
            FROM targets t JOIN ref_hist h ON h.person_id = t.person_id AND h.as_of = t.as_of
            GROUP BY t.referral_id, t.person_id""",
            ),
            (
                "person_feats",
                f"""SELECT pt.person_id, pt.as_of, pt.date_of_birth, rf.last_received_at,
    {person_cols}
            FROM pt {ev_joins}
            LEFT JOIN ref_agg rf ON rf.person_id = pt.person_id AND rf.as_of = pt.as_of""",
            ),
            (
                "adult_agg",
                f"""SELECT ma.child_id, ma.as_of,
    {adult_groups},
    {adult_aggs}
            FROM adults_asof ma
            JOIN person_feats pf ON pf.person_id = ma.member_id AND pf.as_of = ma.as_of
            JOIN {{people}} cp ON cp.person_id = ma.child_id
            GROUP BY ma.child_id, ma.as_of""",
            ),
            (
                "sib_agg",
                f"""SELECT ma.child_id, ma.as_of,
    {sibling_groups},
    {sib_aggs}
            FROM siblings_asof ma
            JOIN person_feats pf ON pf.person_id = ma.member_id AND pf.as_of = ma.as_of
            GROUP BY ma.child_id, ma.as_of""",
            ),
            (
                "named_agg",
                f"""SELECT na.referral_id, na.as_of,
    {named_aggs}
            FROM named_asof na
            JOIN person_feats pf ON pf.person_id = na.member_id AND pf.as_of = na.as_of
            GROUP BY na.referral_id, na.as_of""",
            ),
            *group_event_ctes(dialect),
            (
                "child_imd",
                """SELECT ch.person_id, ch.as_of, MIN(hh.imd_decile) AS imd_decile
            FROM child_homes ch JOIN {households} hh ON hh.household_id = ch.household_id
            GROUP BY ch.person_id, ch.as_of""",
            ),
        ]
    )


def feature_parts(
    relations: dict[str, str] | None = None, dialect: Dialect = DUCKDB, chunk_filter: str = ""
) -> tuple[list[tuple[str, str]], str]:
    """The feature query's CTEs and its final SELECT, with input relations substituted.

    :func:`feature_query` joins them into one statement (DuckDB); the Spark
    engine runs the CTEs one by one as cached views, which keeps each plan
    small enough for Spark's optimizer.
    """
    relations = {**STORE_RELATIONS, **(relations or {})}
    x = _x_expressions(dialect)
    group_join = (
        "LEFT JOIN group_events ge ON ge.child_id = t.person_id AND ge.as_of = t.as_of\n"
        if d.GROUP_EVENT_COUNTERS
        else ""
    )
    x_cols = ",\n  ".join(f"CAST({expr} AS DOUBLE) AS {name}" for name, expr in x.items())
    sql = f"""SELECT t.referral_id, t.person_id, t.as_of AS received_at,
  cp.sex, cp.ethnicity, cp.disability, ci.imd_decile,
  {dialect.whole_days("cp.date_of_birth", "t.as_of")} / {d.DAYS_PER_YEAR} AS age_years,
  {x_cols}
FROM targets t
LEFT JOIN {{people}} cp ON cp.person_id = t.person_id
LEFT JOIN person_feats c ON c.person_id = t.person_id AND c.as_of = t.as_of
LEFT JOIN adult_agg a ON a.child_id = t.person_id AND a.as_of = t.as_of
LEFT JOIN sib_agg s ON s.child_id = t.person_id AND s.as_of = t.as_of
LEFT JOIN same_concern sc ON sc.referral_id = t.referral_id AND sc.person_id = t.person_id
LEFT JOIN child_imd ci ON ci.person_id = t.person_id AND ci.as_of = t.as_of
LEFT JOIN named_status ns ON ns.referral_id = t.referral_id AND ns.as_of = t.as_of
LEFT JOIN named_agg nf ON nf.referral_id = t.referral_id AND nf.as_of = t.as_of
{group_join}ORDER BY t.referral_id, t.person_id"""
    ctes = [(name, body.format(**relations)) for name, body in feature_ctes(dialect, chunk_filter)]
    return ctes, sql.format(**relations)


def feature_query(
    relations: dict[str, str] | None = None, dialect: Dialect = DUCKDB, chunk_filter: str = ""
) -> str:
    """The whole feature query, with input relations substituted.

    ``chunk_filter`` is a ``WHERE`` clause on the targets (``rc.referral_id``)
    so the training path can build in bounded-memory chunks.
    """
    ctes, select = feature_parts(relations, dialect, chunk_filter)
    return with_ctes(ctes, select, dialect)


def uses(ctes: list[tuple[str, str]], select: str) -> dict[str, int]:
    """How many times each CTE is read by the later CTEs and the final SELECT."""
    out = {}
    for i, (name, _) in enumerate(ctes):
        later = " ".join(b for _, b in ctes[i + 1 :]) + " " + select
        out[name] = len(re.findall(rf"\b(?:FROM|JOIN)\s+{name}\b", later))
    return out


def with_ctes(ctes: list[tuple[str, str]], select: str, dialect: Dialect = DUCKDB) -> str:
    """``WITH`` the CTEs, marking those used more than once to be computed once."""
    parts = []
    counts = uses(ctes, select)
    for name, body in ctes:
        mat = f" {dialect.materialized}" if counts[name] > 1 and dialect.materialized else ""
        parts.append(f"{name} AS{mat} (\n  {body}\n)")
    return "WITH\n" + ",\n".join(parts) + "\n" + select
