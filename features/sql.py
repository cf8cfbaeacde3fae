"""The feature SQL, generated from :mod:`features.definitions`.

One query, built from common table expressions, computes every feature for a
set of *target* (referral, child) rows.  The query names its input relations
through placeholders (``{events}``, ``{members}``, ...), so the training path
runs it over the store's tables and the serving path over the same tables
pre-filtered to the few people a new referral concerns: the SQL text is the
same in both.

The SQL is deliberately plain: joins, ``CASE``, ``SUM``/``MAX``/``MIN``, one
window function, ANSI interval literals.  Engine-specific bits (date
arithmetic) go through :class:`Dialect`, so a Spark backend needs a second
``Dialect``, not a second set of definitions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from features import definitions as d
from store import vocabulary as v


@dataclass(frozen=True)
class Dialect:
    """Date arithmetic, the only part of the SQL that differs between engines."""

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


def _event_counter_sql(c, dialect: Dialect) -> str:
    if isinstance(c, d.EventState):
        start = f"MAX(CASE WHEN e.agency = {_q(c.agency)} AND e.event_type = {_q(c.start)} THEN e.occurred_at END)"
        end = f"MAX(CASE WHEN e.agency = {_q(c.agency)} AND e.event_type = {_q(c.end)} THEN e.occurred_at END)"
        return f"CASE WHEN {start} IS NOT NULL AND ({end} IS NULL OR {start} > {end}) THEN 1 ELSE 0 END AS {c.name}"
    pred = event_predicate(c.filter, dialect)
    win = window_predicate("e.occurred_at", c.window, "pt.as_of", dialect)
    return _count(f"{pred} AND {win}" if win else pred, c.name)


def active_membership(m: str, as_of: str) -> str:
    """A household membership known, started and not known to have ended, as of ``as_of``."""
    return (
        f"{m}.recorded_at < {as_of} AND {m}.start_date <= {as_of} AND NOT ("
        f"{m}.end_date IS NOT NULL AND {m}.end_date < {as_of} "
        f"AND {m}.end_recorded_at IS NOT NULL AND {m}.end_recorded_at < {as_of})"
    )


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
}

PROTECTED_SQL = ("sex", "ethnicity", "disability", "imd_decile", "age_years")


def _x_expressions(dialect: Dialect) -> dict[str, str]:
    """SQL for every column of X, keyed by feature name, over the final joins."""
    x: dict[str, str] = {}
    x["child_age_months"] = (
        f"FLOOR({dialect.whole_days('cp.date_of_birth', 't.as_of')} / {d.DAYS_PER_MONTH})"
    )
    x["child_days_since_last_referral"] = dialect.whole_days("c.last_received_at", "t.as_of")
    for w in ("12m", "ever"):
        x[f"child_prior_referrals_same_concern_{w}"] = f"COALESCE(sc.same_concern_{w}, 0)"
    for src in v.REFERRAL_SOURCES:
        x[f"referral_source_{src}"] = f"CASE WHEN t.source = {_q(src)} THEN 1 ELSE 0 END"
    for rel in v.REFERRER_RELATIONSHIPS:
        x[f"referrer_{rel}"] = f"CASE WHEN t.referrer_relationship = {_q(rel)} THEN 1 ELSE 0 END"
    for col in v.CONCERN_COLUMNS:
        x[f"referral_{col}"] = f"CASE WHEN t.{col} THEN 1 ELSE 0 END"
    x["referral_n_concerns"] = " + ".join(
        f"CASE WHEN t.{col} THEN 1 ELSE 0 END" for col in v.CONCERN_COLUMNS
    )
    x["referral_n_children"] = "t.n_children"
    x["household_n_adults"] = "COALESCE(a.household_n_adults, 0)"
    for w in d.NEW_ADULT_WINDOWS:
        x[f"household_new_adult_{w}"] = f"COALESCE(a.household_new_adult_{w}, 0)"
    x["household_days_since_adult_joined"] = "a.household_days_since_adult_joined"
    x["parent_age_at_birth_min"] = "a.parent_age_at_birth_min"
    x["parent_age_at_birth_max"] = "a.parent_age_at_birth_max"
    x["household_n_siblings"] = "COALESCE(s.household_n_siblings, 0)"
    for name in d.CHILD_COUNTERS:
        x[f"child_{name}"] = f"COALESCE(c.{name}, 0)"
    for name in d.ADULT_COUNTERS:
        for agg in ("max", "sum"):
            x[f"adults_{name}_{agg}"] = f"COALESCE(a.adults_{name}_{agg}, 0)"
    for name in d.NEW_ADULT_COUNTERS:
        x[f"new_adults_{name}_max"] = f"COALESCE(a.new_adults_{name}_max, 0)"
    for name in d.SIBLING_COUNTERS:
        x[f"siblings_{name}_sum"] = f"COALESCE(s.siblings_{name}_sum, 0)"
    missing = set(d.FEATURE_NAMES) ^ set(x)
    assert not missing, f"SQL and definitions disagree on {sorted(missing)}"
    return {name: x[name] for name in d.FEATURE_NAMES}


def household_ctes(dialect: Dialect = DUCKDB, chunk_filter: str = "") -> list[tuple[str, str]]:
    """Targets, the child's homes and the other members of them, as of each referral.

    Shared by the feature query and the evidence look-up, so "who lived with
    the child" has one definition.
    """
    concerns = ", ".join(f"r.{c}" for c in v.CONCERN_COLUMNS)
    adult_roles = _in("ma.role", v.ADULT_ROLES)
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
            f"SELECT ma.* FROM members_asof ma WHERE ma.role = {_q(d.cat('child', v.HOUSEHOLD_ROLES))}",
        ),
    ]


def feature_ctes(dialect: Dialect = DUCKDB, chunk_filter: str = "") -> list[tuple[str, str]]:
    """Every CTE of the feature query, in order."""
    ev_counters = ",\n    ".join(
        _event_counter_sql(c, dialect) for c in [*d.EVENT_COUNTERS, *d.EVENT_STATES]
    )
    ref_counters = ",\n    ".join(
        _count(referral_predicate(c, dialect), c.name) for c in d.REFERRAL_COUNTERS
    )
    concerns_h = ", ".join(f"r.{c}" for c in v.CONCERN_COLUMNS)
    same = " OR ".join(f"(h.{c} AND t.{c})" for c in v.CONCERN_COLUMNS)
    same_12m = window_predicate("h.received_at", "12m", "t.as_of", dialect)
    ev_names = [c.name for c in [*d.EVENT_COUNTERS, *d.EVENT_STATES]]
    ref_names = [c.name for c in d.REFERRAL_COUNTERS]
    person_cols = ",\n    ".join(
        [f"COALESCE(ev.{n}, 0) AS {n}" for n in ev_names]
        + [f"COALESCE(rf.{n}, 0) AS {n}" for n in ref_names]
    )
    adult_aggs = ",\n    ".join(
        f"MAX(pf.{n}) AS adults_{n}_max, SUM(pf.{n}) AS adults_{n}_sum" for n in d.ADULT_COUNTERS
    )
    joined_12m = f"ma.start_date >= {dialect.minus_days('ma.as_of', d.WINDOWS['12m'])}"
    new_adult_aggs = ",\n    ".join(
        f"MAX(CASE WHEN {joined_12m} THEN pf.{n} ELSE 0 END) AS new_adults_{n}_max"
        for n in d.NEW_ADULT_COUNTERS
    )
    new_flags = ",\n    ".join(
        f"MAX(CASE WHEN ma.start_date >= {dialect.minus_days('ma.as_of', d.WINDOWS[w])} "
        f"THEN 1 ELSE 0 END) AS household_new_adult_{w}"
        for w in d.NEW_ADULT_WINDOWS
    )
    parent = _q(d.cat("parent", v.HOUSEHOLD_ROLES))
    parent_age = (
        f"CASE WHEN ma.role = {parent} THEN "
        f"FLOOR({dialect.whole_days('pf.date_of_birth', 'cp.date_of_birth')} / {d.DAYS_PER_YEAR}) END"
    )
    sib_aggs = ",\n    ".join(f"SUM(pf.{n}) AS siblings_{n}_sum" for n in d.SIBLING_COUNTERS)
    return household_ctes(dialect, chunk_filter) + [
        (
            "persons",
            """SELECT person_id, as_of FROM child_times
            UNION
            SELECT member_id AS person_id, as_of FROM members_asof""",
        ),
        (
            "pt",
            """SELECT x.person_id, x.as_of, p.date_of_birth
            FROM persons x JOIN {people} p ON p.person_id = x.person_id""",
        ),
        (
            "ev_agg",
            f"""SELECT pt.person_id, pt.as_of,
    {ev_counters}
            FROM pt JOIN {{events}} e ON e.person_id = pt.person_id AND e.recorded_at < pt.as_of
            GROUP BY pt.person_id, pt.as_of, pt.date_of_birth""",
        ),
        (
            "ref_hist",
            f"""SELECT pt.person_id, pt.as_of, pt.date_of_birth, r.received_at, r.source,
                {concerns_h}, dd.decision, dd.closure_reason
            FROM pt JOIN {{referral_children}} rc ON rc.person_id = pt.person_id
            JOIN {{referrals}} r ON r.referral_id = rc.referral_id AND r.received_at < pt.as_of
            LEFT JOIN {{decisions}} dd ON dd.referral_id = r.referral_id AND dd.decided_at < pt.as_of""",
        ),
        (
            "ref_agg",
            f"""SELECT h.person_id, h.as_of, MAX(h.received_at) AS last_received_at,
    {ref_counters}
            FROM ref_hist h
            GROUP BY h.person_id, h.as_of, h.date_of_birth""",
        ),
        (
            "same_concern",
            f"""SELECT t.referral_id, t.person_id,
                SUM(CASE WHEN {same} THEN 1 ELSE 0 END) AS same_concern_ever,
                SUM(CASE WHEN ({same}) AND {same_12m} THEN 1 ELSE 0 END) AS same_concern_12m
            FROM targets t JOIN ref_hist h ON h.person_id = t.person_id AND h.as_of = t.as_of
            GROUP BY t.referral_id, t.person_id""",
        ),
        (
            "person_feats",
            f"""SELECT pt.person_id, pt.as_of, pt.date_of_birth, rf.last_received_at,
    {person_cols}
            FROM pt LEFT JOIN ev_agg ev ON ev.person_id = pt.person_id AND ev.as_of = pt.as_of
            LEFT JOIN ref_agg rf ON rf.person_id = pt.person_id AND rf.as_of = pt.as_of""",
        ),
        (
            "adult_agg",
            f"""SELECT ma.child_id, ma.as_of, COUNT(*) AS household_n_adults,
    {new_flags},
    MIN({dialect.whole_days("ma.start_date", "ma.as_of")}) AS household_days_since_adult_joined,
    MIN({parent_age}) AS parent_age_at_birth_min,
    MAX({parent_age}) AS parent_age_at_birth_max,
    {adult_aggs},
    {new_adult_aggs}
            FROM adults_asof ma
            JOIN person_feats pf ON pf.person_id = ma.member_id AND pf.as_of = ma.as_of
            JOIN {{people}} cp ON cp.person_id = ma.child_id
            GROUP BY ma.child_id, ma.as_of""",
        ),
        (
            "sib_agg",
            f"""SELECT ma.child_id, ma.as_of, COUNT(*) AS household_n_siblings,
    {sib_aggs}
            FROM siblings_asof ma
            JOIN person_feats pf ON pf.person_id = ma.member_id AND pf.as_of = ma.as_of
            GROUP BY ma.child_id, ma.as_of""",
        ),
        (
            "child_imd",
            """SELECT ch.person_id, ch.as_of, MIN(hh.imd_decile) AS imd_decile
            FROM child_homes ch JOIN {households} hh ON hh.household_id = ch.household_id
            GROUP BY ch.person_id, ch.as_of""",
        ),
    ]


def feature_query(
    relations: dict[str, str] | None = None, dialect: Dialect = DUCKDB, chunk_filter: str = ""
) -> str:
    """The whole feature query, with input relations substituted.

    ``chunk_filter`` is a ``WHERE`` clause on the targets (``rc.referral_id``)
    so the training path can build in bounded-memory chunks.
    """
    relations = {**STORE_RELATIONS, **(relations or {})}
    x = _x_expressions(dialect)
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
ORDER BY t.referral_id, t.person_id"""
    return with_ctes(feature_ctes(dialect, chunk_filter), sql, dialect).format(**relations)


def with_ctes(ctes: list[tuple[str, str]], select: str, dialect: Dialect = DUCKDB) -> str:
    """``WITH`` the CTEs, marking those used more than once to be computed once."""
    parts = []
    for i, (name, body) in enumerate(ctes):
        later = " ".join(b for _, b in ctes[i + 1 :]) + " " + select
        uses = len(re.findall(rf"\b(?:FROM|JOIN)\s+{name}\b", later))
        mat = f" {dialect.materialized}" if uses > 1 and dialect.materialized else ""
        parts.append(f"{name} AS{mat} (\n  {body}\n)")
    return "WITH\n" + ",\n".join(parts) + "\n" + select
