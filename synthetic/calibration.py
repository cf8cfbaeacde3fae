"""Achieved against target for every row of england.md the world models.

Everything is measured from the contract tables (plus the truth table for
the latent-harm rows), in DuckDB, on the observed window
``[config.start, config.start + years)``, exactly as a feature engineer or an
auditor would measure it on a real extract.  Rows that need more history than
the run has (the six-year rows) report ``NaN`` and ``within = False``.

Where england.md gives a published figure without an acceptable range (the
serious-incident profile), the range used here is a documented tolerance of
about ±7 points (see docs/synthetic-world.md).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from store import TRUTH_SCHEMA
from synthetic import params as p
from synthetic.config import SimulationConfig

SEED_003 = "seed 003 (Panel annual report)"
COLUMNS = ["quantity", "achieved", "target", "low", "high", "within", "source"]


def _connection(con_or_world) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A DuckDB connection over the world's tables (registered, not copied)."""
    if isinstance(con_or_world, duckdb.DuckDBPyConnection):
        exists = con_or_world.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = ? AND table_name = 'latent_harm'",
            [TRUTH_SCHEMA],
        ).fetchone()[0]
        if exists:
            con_or_world.execute(
                f"CREATE OR REPLACE TEMP VIEW latent_harm AS SELECT * FROM {TRUTH_SCHEMA}.latent_harm"
            )
        return con_or_world, bool(exists)
    con = duckdb.connect()
    for name, frame in con_or_world.tables.items():
        con.register(name, frame)
    con.register("latent_harm", con_or_world.truth)
    return con, True


def _one(con, sql: str, params: list | None = None) -> float:
    value = con.execute(sql, params or []).fetchone()[0]
    return float("nan") if value is None else float(value)


def calibration_report(con_or_world, config: SimulationConfig) -> pd.DataFrame:
    """Achieved against target for each modelled row of england.md.

    Parameters
    ----------
    con_or_world
        A :class:`synthetic.World` or an open DuckDB store connection.
    config
        The settings the world was simulated with (for its window and the
        serious-incident multiplier).

    Returns
    -------
    pandas.DataFrame
        Columns ``quantity, achieved, target, low, high, within, source``;
        rates are per 100 child-years and shares are percentages.
    """
    con, has_truth = _connection(con_or_world)
    ws, we = config.window_start, config.window_end
    span_start = config.span_start
    rows: list[tuple] = []

    def add(quantity, achieved, target, low, high, source):
        ok = (not math.isnan(achieved)) and low <= achieved <= high
        rows.append((quantity, achieved, target, low, high, bool(ok), source))

    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE cal_children AS
        SELECT p.person_id, p.date_of_birth::DATE AS dob,
               (p.date_of_birth + INTERVAL 18 YEAR)::DATE AS dob18, p.sex, p.ethnicity,
               any_value(m.household_id) AS household_id
        FROM people p JOIN household_members m USING (person_id)
        WHERE m.role = 'child'
        GROUP BY ALL
        """
    )
    child_years = _one(
        con,
        """SELECT sum(greatest(0, date_diff('day', greatest(dob, ?::DATE), least(dob18, ?::DATE))))
                  / 365.25 FROM cal_children""",
        [ws, we],
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE cal_refs AS
        SELECT rc.person_id, r.referral_id, r.received_at, r.source, s.decision,
               lag(r.received_at) OVER (PARTITION BY rc.person_id ORDER BY r.received_at) AS prev_at
        FROM referral_children rc JOIN referrals r USING (referral_id)
        LEFT JOIN screening_decisions s USING (referral_id)
        """
    )
    window = [ws, we]

    # Population.
    mid = ws + (we - ws) / 2
    eth = con.execute(
        """SELECT ethnicity, count(*) FROM cal_children
           WHERE dob <= ? AND dob18 > ? AND ethnicity <> 'Not recorded' GROUP BY 1""",
        [mid, mid],
    ).fetchall()
    total = sum(n for _, n in eth) or 1
    eth_share = {e: 100 * n / total for e, n in eth}
    for group in ("White", "Asian", "Black", "Mixed", "Other"):
        target = 100 * p.ETHNICITY_SHARES[group]
        label = "White British" if group == "White" else group
        add(
            f"ethnicity of 0-17 population: {label} (%)",
            eth_share.get(group, 0.0),
            target,
            max(0.0, target - 2),
            target + 2,
            "seed 003 Table 1 (2011 census)",
        )
    quint = con.execute(
        """SELECT (h.imd_decile - 1) // 2 AS q, count(*) FROM cal_children c
           JOIN households h USING (household_id)
           WHERE c.dob <= ? AND c.dob18 > ? GROUP BY 1""",
        [mid, mid],
    ).fetchall()
    qtotal = sum(n for _, n in quint) or 1
    qshare = {int(q): 100 * n / qtotal for q, n in quint if q is not None}
    for q in range(5):
        target = 100 * p.QUINTILE_SHARES[q]
        add(
            f"children in IMD quintile {q + 1} (%)",
            qshare.get(q, 0.0),
            target,
            target - 2,
            target + 2,
            "documented choice: urban skew",
        )

    # Front door.
    n_ref = _one(
        con, "SELECT count(*) FROM cal_refs WHERE received_at >= ? AND received_at < ?", window
    )
    add(
        "referrals per 100 child-years",
        100 * n_ref / child_years,
        5.4,
        4.5,
        6.5,
        "seed 004; DfE (children per referral)",
    )
    rerefs = _one(
        con,
        """SELECT 100 * avg((prev_at IS NOT NULL AND prev_at >= received_at - INTERVAL 365 DAY)::INT)
           FROM cal_refs WHERE received_at >= ? AND received_at < ?""",
        window,
    )
    add(
        "referrals that are re-referrals within 12 months (%)",
        rerefs,
        22.0,
        18.0,
        26.0,
        "DfE re-referrals 2024",
    )
    base_start = date(we.year - 7, we.month, 1)
    if base_start >= span_start:
        again = _one(
            con,
            """WITH base AS (
                   SELECT person_id, min(received_at) AS first_at FROM cal_refs
                   WHERE received_at >= ? AND received_at < ? GROUP BY 1)
               SELECT 100 * avg((EXISTS (SELECT 1 FROM cal_refs r WHERE r.person_id = b.person_id
                   AND r.received_at > b.first_at
                   AND r.received_at <= b.first_at + INTERVAL 6 YEAR))::INT) FROM base b""",
            [base_start, date(we.year - 6, we.month, 1)],
        )
    else:
        again = float("nan")
    add(
        "referred children referred again within 6 years (%)",
        again,
        55.0,
        45.0,
        65.0,
        "DfE / Manchester CIN study 2016",
    )
    six_ago = date(we.year - 6, we.month, 1)
    if six_ago >= span_start:
        last_day = we - timedelta(days=1)
        cin = _one(
            con,
            """SELECT 100 * avg((EXISTS (SELECT 1 FROM cal_refs r WHERE r.person_id = c.person_id
                   AND r.decision IN ('assessment', 'strategy_discussion')
                   AND r.received_at >= ? AND r.received_at < ?))::INT)
               FROM cal_children c WHERE c.dob <= ? AND c.dob18 > ?""",
            [six_ago, we, last_day, last_day],
        )
    else:
        cin = float("nan")
    add(
        "children in need (assessed) at some point in 6 years (%)",
        cin,
        10.0,
        7.0,
        13.0,
        "seed 002, 12.4",
    )
    src = dict(
        con.execute(
            """SELECT source, 100 * count(*) / sum(count(*)) OVER () FROM cal_refs
               WHERE received_at >= ? AND received_at < ? GROUP BY 1""",
            window,
        ).fetchall()
    )
    for name, label, target, low, high in (
        ("police", "police", 27.0, 20.0, 35.0),
        ("school", "schools", 17.0, 10.0, 25.0),
        ("health", "health", 14.0, 10.0, 20.0),
    ):
        add(
            f"referral source: {label} (%)",
            float(src.get(name, 0.0)),
            target,
            low,
            high,
            "DfE CIN statistics",
        )

    # Statutory activity.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE cal_csc AS
           SELECT e.person_id, e.event_type, e.occurred_at FROM agency_events e
           JOIN cal_children c USING (person_id) WHERE e.agency = 'children_social_care'"""
    )
    s47 = _one(
        con,
        """SELECT count(*) FROM cal_csc WHERE event_type = 'section47_enquiry'
           AND occurred_at >= ? AND occurred_at < ?""",
        window,
    )
    add(
        "section 47 enquiries per 100 child-years",
        100 * s47 / child_years,
        1.7,
        1.3,
        2.1,
        "seeds 002, 004",
    )
    icpc = _one(
        con,
        """SELECT 100 * avg((EXISTS (SELECT 1 FROM cal_csc i WHERE i.person_id = s.person_id
               AND i.event_type = 'initial_child_protection_conference'
               AND i.occurred_at > s.occurred_at
               AND i.occurred_at <= s.occurred_at + INTERVAL 60 DAY))::INT)
           FROM cal_csc s WHERE s.event_type = 'section47_enquiry'
           AND s.occurred_at >= ? AND s.occurred_at < ?::TIMESTAMP - INTERVAL 60 DAY""",
        window,
    )
    add("section 47 enquiries going on to an ICPC (%)", icpc, 37.0, 30.0, 45.0, "seed 002, 12.4")
    snaps = pd.date_range(ws, pd.Timestamp(we) - pd.DateOffset(months=3), freq="MS")
    con.register("cal_snaps", pd.DataFrame({"d": snaps.to_numpy()}))
    for start, end, label, target, low, high in (
        (
            "cp_plan_start",
            "cp_plan_end",
            "children on a child protection plan (%)",
            0.42,
            0.33,
            0.52,
        ),
        ("looked_after_start", "looked_after_end", "children looked after (%)", 0.67, 0.55, 0.80),
    ):
        prev = _one(
            con,
            f"""SELECT avg(100 * (
                   (SELECT count(*) FROM cal_csc WHERE event_type = '{start}' AND occurred_at <= s.d)
                 - (SELECT count(*) FROM cal_csc WHERE event_type = '{end}' AND occurred_at <= s.d))
                 / (SELECT count(*) FROM cal_children WHERE dob <= s.d AND dob18 > s.d))
               FROM cal_snaps s""",
        )
        add(f"{label} on a given day", prev, target, low, high, "seed 002, 12.4")

    # Latent harm (assumptions, not published figures).
    if has_truth:
        harm = _one(
            con,
            "SELECT count(*) FROM latent_harm h JOIN cal_children USING (person_id) "
            "WHERE h.start_date >= ? AND h.start_date < ?",
            window,
        )
        add(
            "latent significant-harm episodes per 100 child-years",
            100 * harm / child_years,
            1.75,
            1.0,
            2.5,
            "england.md assumption",
        )
        seen = _one(
            con,
            """SELECT 100 * avg((EXISTS (SELECT 1 FROM cal_refs r WHERE r.person_id = h.person_id
                   AND r.received_at >= h.start_date
                   AND r.received_at < h.start_date + INTERVAL 365 DAY))::INT)
               FROM latent_harm h WHERE h.start_date >= ?
               AND h.start_date < ?::DATE - INTERVAL 365 DAY""",
            window,
        )
        add(
            "harmed children referred within a year of harm starting (%)",
            seen,
            float("nan"),
            0.0,
            50.0,
            "england.md assumption (< half)",
        )

    _serious_incidents(con, config, child_years, add)
    return pd.DataFrame(rows, columns=COLUMNS)


def _serious_incidents(con, config: SimulationConfig, child_years: float, add) -> None:
    ws, we = config.window_start, config.window_end
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE cal_si AS
        SELECT s.person_id, s.occurred_at, c.dob, c.sex, c.household_id, h.imd_decile,
          EXISTS (SELECT 1 FROM cal_refs r JOIN cal_children sib USING (person_id)
                  WHERE sib.household_id = c.household_id AND r.received_at < s.occurred_at) AS known,
          EXISTS (SELECT 1 FROM cal_csc p WHERE p.person_id = s.person_id
                  AND p.event_type = 'cp_plan_start' AND p.occurred_at <= s.occurred_at
                  AND NOT EXISTS (SELECT 1 FROM cal_csc q WHERE q.person_id = s.person_id
                      AND q.event_type = 'cp_plan_end' AND q.occurred_at > p.occurred_at
                      AND q.occurred_at <= s.occurred_at)) AS on_plan,
          EXISTS (SELECT 1 FROM agency_events e JOIN household_members m USING (person_id)
                  WHERE m.household_id = c.household_id AND e.event_type = 'domestic_incident'
                  AND m.start_date <= s.occurred_at
                  AND (m.end_date IS NULL OR m.end_date > s.occurred_at - INTERVAL 730 DAY)
                  AND e.occurred_at < s.occurred_at
                  AND e.occurred_at >= s.occurred_at - INTERVAL 5 YEAR) AS domestic_abuse
        FROM cal_csc s JOIN cal_children c USING (person_id)
        JOIN households h USING (household_id)
        WHERE s.event_type = 'serious_incident' AND s.occurred_at >= ? AND s.occurred_at < ?
        """,
        [ws, we],
    )
    n = _one(con, "SELECT count(*) FROM cal_si")
    rate = 100_000 * n / child_years / config.serious_incident_multiplier
    add(
        "serious incidents per 100,000 child-years (÷ multiplier)",
        rate,
        4.5,
        3.0,
        6.0,
        "seeds 002-004 (379-536 a year)",
    )
    profile = con.execute(
        """SELECT
             100 * avg((occurred_at < dob + INTERVAL 1 YEAR)::INT),
             100 * avg((occurred_at >= dob + INTERVAL 15 YEAR)::INT),
             100 * avg((sex = 'Male')::INT) FILTER (WHERE sex <> 'Not recorded'),
             100 * avg(domestic_abuse::INT),
             100 * avg((imd_decile <= 2)::INT),
             100 * avg((imd_decile >= 9)::INT),
             100 * avg(known::INT),
             100 * avg(on_plan::INT)
           FROM cal_si"""
    ).fetchone()
    labels = (
        ("serious incidents: aged under 1 (%)", 35.0, 28.0, 42.0, f"{SEED_003}, para 20"),
        ("serious incidents: aged 15-17 (%)", 30.0, 23.0, 37.0, f"{SEED_003}, para 20"),
        ("serious incidents: male (%)", 53.0, 46.0, 60.0, f"{SEED_003}, para 20"),
        ("serious incidents: domestic abuse known (%)", 41.7, 34.0, 50.0, f"{SEED_003}, Table 4"),
        (
            "serious incidents: most deprived IMD quintile (%)",
            39.0,
            31.0,
            47.0,
            f"{SEED_003}, para 19",
        ),
        (
            "serious incidents: least deprived IMD quintile (%)",
            5.0,
            1.0,
            10.0,
            f"{SEED_003}, para 19",
        ),
        (
            "serious incidents: child or family previously known (%)",
            64.5,
            60.0,
            80.0,
            "seeds 002, 003",
        ),
        ("serious incidents: on a child protection plan (%)", 10.0, 5.0, 15.0, "seed 002, 12.4"),
    )
    few = n < 100
    for (label, target, low, high, source), achieved in zip(labels, profile, strict=True):
        if few:  # a profile of a handful of incidents is noise; say so in the row
            label = f"{label} [only {int(n)} incidents: use a larger run or a multiplier]"
        add(label, float(np.nan if achieved is None else achieved), target, low, high, source)
