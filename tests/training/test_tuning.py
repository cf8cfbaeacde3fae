import itertools
from types import SimpleNamespace

import numpy as np
import pytest

import training.tuning
from training import tune_lightgbm
from training.tuning import sample_candidates


def _data(seed, n=2000):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[:, 0] - 1)))).astype(int)
    return X, y


def test_search_is_seeded_and_deterministic():
    assert sample_candidates(5, 1) == sample_candidates(5, 1)
    assert sample_candidates(5, 1) != sample_candidates(5, 2)
    (Xt, yt), (Xv, yv) = _data(0), _data(1)
    kw = dict(
        feature_names=[f"f{i}" for i in range(5)],
        n_iter=2,
        num_boost_round=100,
        early_stopping_rounds=10,
        random_state=3,
        num_threads=1,
    )
    a = tune_lightgbm(Xt, yt, Xv, yv, **kw)
    b = tune_lightgbm(Xt, yt, Xv, yv, **kw)
    np.testing.assert_array_equal(
        a.booster.predict(Xv, raw_score=True), b.booster.predict(Xv, raw_score=True)
    )
    # The kept booster has exactly the best number of trees.
    assert a.booster.num_trees() == a.best_iteration
    assert a.best_score == min(t["valid_logloss"] for t in a.trials)
    assert a.params["deterministic"] is True and a.params["num_threads"] == 1


def test_budget_stops_the_search_after_the_first_candidate():
    (Xt, yt), (Xv, yv) = _data(0), _data(1)
    res = tune_lightgbm(
        Xt,
        yt,
        Xv,
        yv,
        [f"f{i}" for i in range(5)],
        n_iter=20,
        time_budget_seconds=1e-6,
        num_boost_round=50,
        early_stopping_rounds=5,
        random_state=0,
        num_threads=1,
    )
    assert len(res.trials) == 1
    assert res.stopped_by_budget and res.n_candidates == 20
    assert res.summary.startswith("1 of 20 candidates: cut short by the 1e-06 s time budget")


@pytest.fixture
def loaded_machine(monkeypatch):
    """A clock on which every reading is ten minutes after the last: a very loaded machine."""
    ticks = itertools.count(step=600.0)
    clock = SimpleNamespace(perf_counter=lambda: float(next(ticks)))
    monkeypatch.setattr(training.tuning, "time", clock)


def test_by_default_n_iter_alone_decides_however_slow_the_machine(loaded_machine):
    """No wall-clock budget unless asked: every candidate runs, the result is the seed's."""
    (Xt, yt), (Xv, yv) = _data(0), _data(1)
    kw = dict(
        feature_names=[f"f{i}" for i in range(5)],
        n_iter=4,
        num_boost_round=40,
        early_stopping_rounds=5,
        random_state=7,
        num_threads=1,
    )
    res = tune_lightgbm(Xt, yt, Xv, yv, **kw)
    assert len(res.trials) == res.n_candidates == 4
    assert not res.stopped_by_budget and res.summary == "4 of 4 candidates: complete search"
    want = sample_candidates(4, 7)
    assert [{k: t[k] for k in c} for t, c in zip(res.trials, want, strict=True)] == want
    # The same clock with an opt-in budget cuts the search short, and says so.
    cut = tune_lightgbm(Xt, yt, Xv, yv, time_budget_seconds=90, **kw)
    assert len(cut.trials) == 1 and cut.stopped_by_budget
    with pytest.raises(ValueError, match="time_budget_seconds"):
        tune_lightgbm(Xt, yt, Xv, yv, time_budget_seconds=0, **kw)
