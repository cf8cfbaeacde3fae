"""Adults named on a referral: how often the search finds the right person, and what it costs.

Simulates a world with agency identities, links it (``mast link``'s
Splink model), names adults on its referrals as a referrer would type them
(:mod:`synthetic.named_adults`), searches each against the linked records as
of the referral, and prints, in one run, the search's accuracy against the
simulator's truth beside a naive exact match on name and date of birth, and
the time one search adds to a request: with the SQL Splink generated once
per search index replayed (:class:`linkage.search.PreparedSearch`, what the
service does) beside Splink generating it afresh for every search (before),
interleaved query by query so both see the same machine load.

    flock /tmp/mast-heavy.lock .venv/bin/python benchmarks/bench_named_adults.py --children 3000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=3_000)
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--random-state", type=int, default=7)
    args = parser.parse_args()

    from linkage import LinkageRules, link_records, prepare_records, write_links
    from linkage.search import FOUND, AdultQuery, PersonSearch
    from store import connect, write_tables
    from store.identities import write_identity_tables
    from synthetic import SimulationConfig, simulate
    from synthetic.identities import simulate_agency_identities
    from synthetic.named_adults import simulate_named_adults

    config = SimulationConfig(
        n_children=args.children, years=3, burn_in_years=2, random_state=args.random_state
    )
    world = simulate(config)
    identities = simulate_agency_identities(world.tables, args.random_state)
    records = identities.tables["agency_records"]
    named = simulate_named_adults(world.tables, records, identities.truth, args.random_state)
    rules = LinkageRules(random_state=args.random_state)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "world.duckdb"
        con = connect(path)
        write_tables(
            con,
            world.tables,
            replace=True,
            also=lambda c: write_identity_tables(c, identities.tables, identities.truth, True),
        )
        started = time.perf_counter()
        result = link_records(prepare_records(records), rules)
        write_links(con, result)
        link_s = time.perf_counter() - started
        started = time.perf_counter()
        search = PersonSearch.from_store(con)
        load_s = time.perf_counter() - started
        con.close()

    truth_of = identities.truth.assign(
        uid=identities.truth["agency"] + ":" + identities.truth["agency_record_id"]
    )
    truth_of = truth_of.set_index("uid")["person_id"]
    received = world.tables["referrals"].set_index("referral_id")["received_at"]
    sample = named.table.merge(named.truth, on=["referral_id", "adult_number"])
    sample = sample.sample(min(args.searches, len(sample)), random_state=args.random_state)
    # Naive: exact (folded) name and date of birth, as a person searching one system would.
    prepared = prepare_records(records).assign(person_id=lambda f: f["unique_id"].map(truth_of))
    naive_keys = set(
        zip(prepared["full_name"], prepared["date_of_birth"], prepared["person_id"], strict=True)
    )

    outcomes, times, fresh_times, naive_right, same = [], [], [], 0, 0
    for row in sample.itertuples(index=False):
        dob = None if pd.isna(row.date_of_birth) else pd.Timestamp(row.date_of_birth).date()
        query = AdultQuery(row.name, dob, row.postcode, row.address)
        when = received[row.referral_id]
        t0 = time.perf_counter()
        fresh = search.search_many([query], [when], cached=False)[0]
        fresh_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        found = search.search(query, as_of=when)
        times.append(time.perf_counter() - t0)
        same += found == fresh
        people = {truth_of[f"{a}:{r}"] for a, r in found.best.records} if found.best else set()
        outcomes.append(
            {
                "status": found.status,
                "right": found.status == FOUND and people == {row.person_id},
                "contains": row.person_id in people,
                "dob_known": dob is not None and not row.date_of_birth_approximate,
            }
        )
        from linkage.prepare import fold_name

        folded = " ".join(filter(None, [fold_name(w) for w in row.name.split()]))
        naive_right += (folded, dob, row.person_id) in naive_keys
    out = pd.DataFrame(outcomes)
    n = len(out)
    print(
        f"world: {args.children:,} children, {len(records):,} agency records; "
        f"{len(named.table):,} named adults on {named.table['referral_id'].nunique():,} referrals"
    )
    print(f"mast link: {link_s:.1f} s; search index loaded in {load_s:.2f} s")
    print(f"searches: {n}")
    for status in ("found", "possible", "not_found"):
        print(f"  {status:>10}: {(out['status'] == status).mean():6.1%}")
    print(
        f"found, and the person found is exactly the true person: {out['right'].mean():6.1%}"
        f"   (naive exact name + date of birth: {naive_right / n:6.1%})"
    )
    wrong = ((out["status"] == "found") & ~out["contains"]).sum()
    print(f"found the wrong person: {wrong} of {(out['status'] == 'found').sum()} found")
    for known, part in out.groupby("dob_known"):
        print(
            f"  date of birth {'known' if known else 'unknown or approximate'}: "
            f"right {part['right'].mean():6.1%} of {len(part)}"
        )
    ms, fresh_ms = np.array(times) * 1000, np.array(fresh_times) * 1000
    print("time per search (ms)      Splink SQL afresh (before)   prepared SQL (now)   ratio")
    for what, f in (("median", np.median), ("95th percentile", lambda x: np.percentile(x, 95))):
        print(f"  {what:<24}{f(fresh_ms):>20.0f}{f(ms):>21.0f}{f(fresh_ms) / f(ms):>8.1f}x")
    print(f"  identical results (candidates, probabilities, fields): {same} of {n}")
    # Training resolves every named adult at once (PersonSearch.search_many).
    queries = [
        AdultQuery(
            r.name,
            None if pd.isna(r.date_of_birth) else pd.Timestamp(r.date_of_birth).date(),
            r.postcode,
            r.address,
        )
        for r in sample.itertuples(index=False)
    ]
    t0 = time.perf_counter()
    batch = search.search_many(queries, [received[r] for r in sample["referral_id"]])
    batch_s = time.perf_counter() - t0
    agree = np.mean([b.status == o for b, o in zip(batch, out["status"], strict=True)])
    print(
        f"the same {n} searches in one batch (training): {batch_s:.2f} s, "
        f"{1000 * batch_s / n:.1f} ms each; one at a time {ms.sum() / 1000:.2f} s; "
        f"ratio {ms.sum() / 1000 / batch_s:.1f}x; same outcome for {agree:.0%}"
    )


if __name__ == "__main__":
    main()
