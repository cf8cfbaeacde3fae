"""What SQLite and PostgreSQL must agree on, checked on a real server of each.

Each of these failed on at least one dialect before ``records/`` was fixed:

* several processes opening a new database at once raced to create the
  tables (PostgreSQL: a duplicate ``pg_type`` key; SQLite: "database is
  locked");
* one read transaction was not one snapshot on PostgreSQL (``READ
  COMMITTED``), so a page and its total could disagree;
* an id longer than its column, or a NUL character, was stored by SQLite
  and refused by PostgreSQL with a 500, failing every view in its batch.

And what serialises writers: two stores in one process share no lock of
their own, so only the database's (the file lock and ``BEGIN IMMEDIATE``,
or ``LOCK TABLE``) keeps their chain whole and their rules checked.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

import records
from records import kinds
from records.db import audit_log
from tests.records.conftest import BACKENDS, auth, both

SCREENER = records.Principal("Sam Screener", "screener", "t1")


@pytest.fixture(params=BACKENDS)
def new_url(request, tmp_path) -> str:
    """The URL of a database no process has opened yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records.sqlite'}"
    return request.getfixturevalue("postgres_url")


def test_concurrent_starts_on_a_new_database(new_url):
    n = 6
    barrier = threading.Barrier(n)

    def open_store(i: int) -> records.Principal:
        barrier.wait()  # all at once, as `mast serve --workers N` starts
        store = records.RecordsStore(new_url)
        try:
            return store.create_token(f"Worker {i}", "screener")[1]
        finally:
            store.close()

    with ThreadPoolExecutor(n) as pool:
        made = list(pool.map(open_store, range(n)))
    store = records.RecordsStore(new_url)
    try:
        assert sorted(t["token_id"] for t in store.list_tokens()) == sorted(
            p.token_id for p in made
        )
        report = store.verify()
        assert report.ok and report.entries == n
    finally:
        store.close()


@both
def test_one_read_is_one_snapshot(store):
    count = select(func.count()).select_from(audit_log)
    store.log_view(SCREENER, kinds.SCORE_VIEW, referral_id="R-1")
    with store.db.read() as conn:
        before = conn.execute(count).scalar_one()
        store.log_view(SCREENER, kinds.SCORE_VIEW, referral_id="R-2")  # commits meanwhile
        assert conn.execute(count).scalar_one() == before == 1
    with store.db.read() as conn:
        assert conn.execute(count).scalar_one() == 2


@both
def test_two_stores_in_one_process_keep_one_chain_and_the_rules(store):
    """Two stores, as two server processes: nothing but the database lock serialises them."""
    other = records.RecordsStore(store.url)
    stores = (store, other)
    n_views, n_referrals, tries = 60, 8, 4

    def view(i: int) -> records.Entry:
        return stores[i % 2].log_view(SCREENER, kinds.SCORE_VIEW, referral_id=f"R-V{i:03d}")

    def decide(i: int) -> str:
        """Every referral gets ``tries`` first decisions at once: exactly one may win."""
        referral = f"R-D{i // tries:02d}"
        body = records.DecisionIn(
            decision_id=f"dec-race-{i:04d}", decision="assessment", rationale="r"
        )
        try:
            stores[i % 2].record_decision(SCREENER, referral, body, records.ReferralStatus(False))
        except records.RuleViolation as err:
            return err.rule
        return "stored"

    try:
        with ThreadPoolExecutor(8) as pool:
            views = pool.map(view, range(n_views))
            outcomes = list(pool.map(decide, range(n_referrals * tries)))
            returned = list(views)
        assert outcomes.count("stored") == n_referrals
        assert outcomes.count("already_decided") == n_referrals * (tries - 1)
        stored, total = store.query(limit=10_000)
        assert [e.seq for e in stored] == list(
            range(1, total + 1)
        ) and total == n_views + n_referrals
        decided = [e.referral_id for e in stored if e.kind == kinds.DECISION]
        assert sorted(decided) == [f"R-D{r:02d}" for r in range(n_referrals)]
        by_seq = {e.seq: e for e in stored}
        assert all(by_seq[e.seq].hash == e.hash for e in returned)
        assert store.verify().ok and other.verify().ok
    finally:
        other.close()


@both
def test_bad_columns_fail_alone_and_name_the_field(store):
    good = store.log_view(SCREENER, kinds.SCORE_VIEW, referral_id="R-1")
    bad = [
        ({"referral_id": "R" * 65}, "referral_id: at most 64"),
        ({"person_id": "P\x00"}, "person_id: contains a NUL"),
        ({"detail": {"note": "x\ud800"}}, "payload: .*not valid Unicode"),
    ]
    with ThreadPoolExecutor(5) as pool:
        with store.db.write_lock():  # a batch is waiting: a bad view must fail before joining it
            queued = [
                pool.submit(store.log_view, SCREENER, kinds.SCORE_VIEW, referral_id=f"R-{i}")
                for i in (2, 3)
            ]
            for kwargs, message in bad:
                refused = pool.submit(store.log_view, SCREENER, kinds.CHRONOLOGY_VIEW, **kwargs)
                with pytest.raises(ValueError, match=message):
                    refused.result(timeout=5)  # at once, while the lock is still held
            assert not any(f.done() for f in queued)
        assert sorted(f.result(timeout=30).seq for f in queued) == [2, 3]
    entries, total = store.query(limit=100)
    assert total == 3 and entries[0] == good
    assert {e.referral_id for e in entries} == {"R-1", "R-2", "R-3"}
    assert store.verify().ok


@both
def test_nul_in_an_audit_filter_is_a_422(store, client, tokens):
    with pytest.raises(ValueError, match="actor .*NUL"):
        store.query(actor="Sam\x00")
    before = store.verify().entries
    r = client.get("/v1/audit", params={"user": "Sam\x00"}, headers=auth(tokens["governance"]))
    assert r.status_code == 422 and "NUL" in r.text
    assert store.verify().entries == before  # a refused query is not logged as run


def test_the_server_is_postgresql(postgres_cluster, postgres_url):
    """The PostgreSQL tests run on the real thing: this names what and how fast it started."""
    store = records.RecordsStore(postgres_url)
    try:
        with store.db.engine.connect() as conn:
            version = conn.execute(text("SHOW server_version_num")).scalar_one()
            triggers = conn.execute(
                text(
                    "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                    "AND tgrelid = 'audit_log'::regclass ORDER BY tgname"
                )
            ).scalars()
            assert list(triggers) == ["audit_log_append_only", "audit_log_no_truncate"]
        assert store.db.dialect == "postgresql" and int(version) >= 120000
    finally:
        store.close()
    print(
        f"\nPostgreSQL {int(version) // 10000} from {postgres_cluster.bin_dir}: "
        f"started in {postgres_cluster.startup_seconds:.2f} s"
    )


def _triggers(store) -> list[str]:
    with store.db.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                    "AND tgrelid = 'audit_log'::regclass ORDER BY tgname"
                )
            ).scalars()
        )


def _old_trail(url: str) -> int:
    """A trail with entries, as an earlier MAST left it: no TRUNCATE guard."""
    old = records.RecordsStore(url)
    try:
        for i in range(3):
            old.log_view(SCREENER, kinds.SCORE_VIEW, referral_id=f"R-OLD-{i}")
        with old.db.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER audit_log_no_truncate ON audit_log"))
        assert _triggers(old) == ["audit_log_append_only"]
        return old.verify().entries
    finally:
        old.close()


def test_a_trail_made_before_the_truncate_guard_gets_it(postgres_url):
    """A PostgreSQL trail from before the guard existed is guarded on the next start."""
    entries = _old_trail(postgres_url)
    again = records.RecordsStore(postgres_url)
    try:
        with pytest.raises(DBAPIError, match="append-only"):
            with again.db.engine.begin() as conn:
                conn.execute(text("TRUNCATE audit_log"))
        report = again.verify()
        assert report.ok and report.entries == entries
    finally:
        again.close()
    third = records.RecordsStore(postgres_url)  # a second upgrade adds nothing
    try:
        assert _triggers(third) == ["audit_log_append_only", "audit_log_no_truncate"]
    finally:
        third.close()


def test_a_role_that_may_not_add_the_guard_still_starts(postgres_url, caplog):
    """Least privilege: a role that does not own audit_log starts, and says what is missing."""
    entries = _old_trail(postgres_url)
    schema = postgres_url.rsplit("search_path%3D", 1)[1]
    role = f"app_{schema}"
    owner = create_engine(postgres_url)  # not a RecordsStore: opening one would upgrade
    try:
        with owner.begin() as conn:
            conn.execute(text(f"CREATE ROLE {role} LOGIN"))
            conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
            # UPDATE for the writers' LOCK TABLE ... IN EXCLUSIVE MODE; the append-only
            # trigger still refuses every UPDATE.
            conn.execute(
                text(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA {schema} TO {role}")
            )
            conn.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"))
    finally:
        owner.dispose()
    as_role = postgres_url.replace("://mast@", f"://{role}@", 1)
    assert as_role != postgres_url
    with caplog.at_level("WARNING", logger="records.db"):
        app = records.RecordsStore(as_role)
    try:
        assert _triggers(app) == ["audit_log_append_only"], _triggers(app)
        assert "no TRUNCATE guard" in caplog.text and "CREATE TRIGGER" in caplog.text
        app.log_view(SCREENER, kinds.SCORE_VIEW, referral_id="R-NEW")
        assert app.verify().entries == entries + 1
        assert _triggers(app) == ["audit_log_append_only"]
    finally:
        app.close()
    # A read-only open (mast audit-log verify) leaves the schema alone, even as the owner.
    read_only = records.RecordsStore(postgres_url, must_exist=True)
    try:
        assert _triggers(read_only) == ["audit_log_append_only"]
    finally:
        read_only.close()
