"""The records database and every file beside it are readable by their owner only."""

from __future__ import annotations

import os
import stat

import records
from records import kinds

SCREENER = records.Principal(name="Sam Screener", role="screener", token_id="t1")


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_database_wal_and_lock_are_0600(tmp_path):
    os.umask(0o022)  # the usual umask, which made them 0644
    db = tmp_path / "records.sqlite"
    store = records.RecordsStore(f"sqlite:///{db}")
    store.log_view(SCREENER, kinds.SCORE_VIEW, referral_id="R-1")
    files = [db, f"{db}-wal", f"{db}-shm", f"{db}-writer.lock"]
    assert {str(f): _mode(f) for f in files} == {str(f): 0o600 for f in files}
    store.close()
    assert _mode(store.anchor.path) == 0o600


def test_an_older_world_readable_database_is_narrowed(tmp_path):
    db = tmp_path / "records.sqlite"
    records.RecordsStore(f"sqlite:///{db}").close()
    os.chmod(db, 0o644)
    records.RecordsStore(f"sqlite:///{db}", must_exist=True).close()
    assert _mode(db) == 0o600
