import pytest

from tests.training.fakeworld import make_store


@pytest.fixture(scope="session")
def fake_store(tmp_path_factory):
    """A fake 10-year local authority: (path, tables, truth, feature table)."""
    path = tmp_path_factory.mktemp("store") / "fake.duckdb"
    return make_store(path, n_children=1200, years=10.0, random_state=0)
