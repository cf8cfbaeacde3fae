"""The public API: serving equals training, X is clean, the catalogue and evidence match."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import features
from features import (
    FEATURE_NAMES,
    PROTECTED_COLUMNS,
    FeatureTable,
    build_features,
    catalogue,
    evidence,
    write_catalogue,
)
from store import vocabulary as v
from tests.features.world import add_named_adults, random_world, store_of

FEATURES_DIR = Path(features.__file__).resolve().parent


@pytest.fixture(scope="module")
def world():
    tables = random_world(11)
    con = store_of(tables)
    return tables, con, build_features(con)


def _one(tables, referral_id):
    refs = tables["referrals"][tables["referrals"]["referral_id"] == referral_id]
    referral_children = tables["referral_children"][
        tables["referral_children"]["referral_id"] == referral_id
    ]
    return refs, referral_children


@pytest.mark.parametrize("seed", [0, 5])
def test_serving_batch_equals_training(seed):
    tables = random_world(seed)
    con = store_of(tables)
    trained = build_features(con)
    served = build_features(con, tables["referrals"], tables["referral_children"])
    pd.testing.assert_frame_equal(served.to_frame(), trained.to_frame())


def test_serving_one_referral_equals_its_training_rows(world):
    tables, con, trained = world
    full = trained.to_frame()
    for referral_id in tables["referrals"]["referral_id"]:
        got = build_features(con, *_one(tables, referral_id)).to_frame()
        want = full[full["referral_id"] == referral_id].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want)


def test_serving_new_referral_not_in_store(world):
    """A referral the store has never seen: same as if it had been stored first."""
    tables, con, _ = world
    referral_children = (
        tables["referral_children"].groupby("referral_id").filter(lambda g: len(g) > 1)
    )
    child_ids = list(referral_children["person_id"].iloc[:2])
    new_ref = (
        tables["referrals"]
        .iloc[[0]]
        .assign(
            referral_id="R-NEW", received_at=pd.Timestamp("2023-11-30 09:15:00"), source="family"
        )
    )
    new_children = pd.DataFrame({"referral_id": "R-NEW", "person_id": child_ids})
    served = build_features(con, new_ref, new_children).to_frame()
    grown = {k: t.copy() for k, t in tables.items()}
    grown["referrals"] = pd.concat([grown["referrals"], new_ref], ignore_index=True)
    grown["referral_children"] = pd.concat(
        [grown["referral_children"], new_children], ignore_index=True
    )
    stored = build_features(store_of(grown)).to_frame()
    want = stored[stored["referral_id"] == "R-NEW"].reset_index(drop=True)
    pd.testing.assert_frame_equal(served, want)
    assert served["referral_source_family"].eq(1).all()
    assert served["referral_n_children"].eq(2).all()


def test_serving_and_training_agree_on_the_simulated_world():
    import synthetic  # a project package: missing it is a failure, not a skip

    world = synthetic.small_world(random_state=3, n_children=1_500, years=3)
    con = store_of(world.tables)
    trained = build_features(con).to_frame()
    assert len(trained) == len(world.tables["referral_children"])
    ids = trained["referral_id"].drop_duplicates().sample(15, random_state=0)
    refs = world.tables["referrals"][world.tables["referrals"]["referral_id"].isin(ids)]
    referral_children = world.tables["referral_children"][
        world.tables["referral_children"]["referral_id"].isin(ids)
    ]
    served = build_features(con, refs, referral_children).to_frame()
    want = trained[trained["referral_id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(served, want)
    # The simulated world has histories: the features are not all zero.
    X = trained[FEATURE_NAMES]
    assert (X["child_prior_referrals_ever"] > 0).mean() > 0.05
    assert X["household_n_adults"].gt(0).mean() > 0.5


def test_x_is_numeric_and_protected_apart(world):
    _, _, table = world
    assert list(table.X.columns) == FEATURE_NAMES == table.feature_names
    assert all(dtype == np.float64 for dtype in table.X.dtypes)
    assert list(table.protected.columns) == list(PROTECTED_COLUMNS)
    pattern = re.compile(r"(^|_)(sex|ethnicity|disability|imd|deprivation|age_band)(_|$)")
    leaked = [c for c in table.X.columns if pattern.search(c)]
    assert leaked == []
    assert table.keys.index.equals(table.X.index) and table.X.index.equals(table.protected.index)
    assert set(table.protected["sex"]) <= set(v.SEXES)
    assert set(table.protected["ethnicity"]) <= set(v.ETHNICITIES)
    assert set(table.protected["deprivation_quintile"]) <= set(v.DEPRIVATION_QUINTILES)
    assert set(table.protected["age_band"]) <= {*v.AGE_BANDS, v.NOT_RECORDED}


def test_age_band_and_quintile_match_the_vocabulary(world):
    tables, _, table = world
    frame = table.to_frame().merge(tables["people"], on="person_id", suffixes=("", "_p"))
    days = np.floor((frame["received_at"] - frame["date_of_birth"]) / pd.Timedelta(days=1))
    assert list(frame["age_band"]) == [v.age_band(x) for x in days / 365.25]
    decile = frame["imd_decile"].astype("Float64")
    assert list(frame["deprivation_quintile"]) == [
        v.deprivation_quintile(None if pd.isna(x) else int(x)) for x in decile
    ]


def test_to_frame_round_trips(world):
    _, _, table = world
    back = FeatureTable.from_frame(table.to_frame())
    pd.testing.assert_frame_equal(back.X, table.X)
    pd.testing.assert_frame_equal(back.protected, table.protected)
    with pytest.raises(ValueError, match="missing column"):
        FeatureTable.from_frame(table.to_frame().drop(columns=["child_age_months"]))


def test_catalogue_covers_every_column_of_x_in_order(tmp_path):
    specs = catalogue()
    assert [s.name for s in specs] == FEATURE_NAMES
    for s in specs:
        assert s.definition and s.agency and s.window
        assert s.subject in features.definitions.SUBJECTS
        text = s.describe(3)
        assert isinstance(text, str) and text
    written = write_catalogue(tmp_path / "catalogue")
    md = (tmp_path / "catalogue.md").read_text()
    js = json.loads((tmp_path / "catalogue.json").read_text())
    assert len(written) == 2
    assert [e["name"] for e in js] == FEATURE_NAMES
    for name in FEATURE_NAMES:
        assert f"`{name}`" in md


def test_describe_reads_like_the_brief():
    spec = {s.name: s for s in catalogue()}
    assert spec["child_prior_referrals_family_12m"].describe(3.0) == (
        "3 referrals from family members in the last 12 months"
    )
    assert "domestic-abuse incidents as perpetrator" in spec[
        "new_adults_da_perpetrator_ever_max"
    ].describe(4)
    assert spec["child_cp_plan_current"].describe(1) == (
        "currently subject to a child protection plan"
    )
    assert spec["child_cp_plan_current"].describe(0) == (
        "not currently subject to a child protection plan"
    )
    assert spec["household_new_adult_3m"].describe(0) == (
        "no adult joined the household in the last 3 months"
    )
    assert spec["referrer_parent"].describe(1) == "the referrer is the child's parent"
    assert "none on record" in spec["child_days_since_last_referral"].describe(float("nan"))


def test_every_flag_reads_both_ways():
    """A flag has its own words for "not set": "not " + its words reads wrongly.

    Screeners read these ("not an adult joined the household ..." was shown
    before), so every flag names its absent form and no text doubles a
    negation or keeps a raw category code.
    """
    flags = [s for s in catalogue() if s.aggregate == "flag"]
    assert len(flags) > 30
    for s in flags:
        present, absent = s.describe(1), s.describe(0)
        assert s.absent and absent == s.absent != present, s.name
        for text in (present, absent):
            assert "not not" not in text and "'" not in text.replace("child's", ""), text
            assert not text.startswith(("not an ", "not a ", "not the referr")), text
            assert not re.search(r"[a-z]+_[a-z]+", text), text


def test_every_category_in_the_sql_is_in_the_vocabulary():
    vocabulary = set(v.ALL_EVENT_TYPES) | set(v.AGENCIES) | set(v.EVENT_ROLES)
    vocabulary |= set(v.REFERRAL_SOURCES) | set(v.REFERRER_RELATIONSHIPS) | set(v.DECISIONS)
    vocabulary |= set(v.CLOSURE_REASONS) | set(v.HOUSEHOLD_ROLES) | set(v.NAMED_ADULT_STATUSES)
    sql = features.sql.feature_query()
    literals = set(re.findall(r"'([a-z_][a-z_0-9]*)'", sql))
    literals -= {"microsecond"}  # date_diff's unit, not a category
    assert {"domestic_incident", "perpetrator", "no_further_action", "parent"} <= literals
    assert literals - vocabulary == set()


def test_features_never_read_the_truth_schema():
    offenders = [
        str(p)
        for p in FEATURES_DIR.rglob("*.py")
        if re.search(r"\btruth\b|latent_harm|TRUTH_SCHEMA", p.read_text())
    ]
    assert offenders == []
    assert "truth" not in features.sql.feature_query().lower()


def test_evidence_lists_exactly_the_records_counted(world):
    tables, con, table = world
    frame = table.to_frame()
    names = [
        "child_prior_referrals_ever",
        "child_prior_referrals_same_concern_ever",
        "child_prior_nfa_ever",
        "child_injuries_ever",
        "child_section47_enquiries_ever",
        "adults_da_perpetrator_ever_sum",
        "adults_childhood_csc_events_sum",
        "siblings_prior_referrals_ever_sum",
        "household_n_adults",
        "household_n_siblings",
    ]
    checked = 0
    for row in frame.itertuples(index=False):
        for name in names:
            ev = evidence(con, row.referral_id, row.person_id, name)
            assert list(ev.columns) == features.EVIDENCE_COLUMNS
            assert len(ev) == getattr(row, name), (row.referral_id, row.person_id, name)
            assert (ev["recorded_at"] < row.received_at).all()
            checked += len(ev)
    assert checked > 0
    perp = evidence(
        con, frame["referral_id"][0], frame["person_id"][0], "adults_da_perpetrator_ever_max"
    )
    assert set(perp["event_type"]) <= {"domestic_incident"}


def test_evidence_for_a_referral_not_in_the_store(world):
    tables, con, trained = world
    row = trained.to_frame().iloc[3]
    refs, _ = _one(tables, row["referral_id"])
    ev = evidence(
        con, refs.assign(referral_id="R-UNSTORED"), row["person_id"], "child_prior_referrals_ever"
    )
    assert len(ev) == row["child_prior_referrals_ever"]


def test_bad_input_names_the_problem(world):
    tables, con, _ = world
    refs, referral_children = _one(tables, tables["referrals"]["referral_id"].iloc[0])
    with pytest.raises(ValueError, match="both"):
        build_features(con, refs)
    with pytest.raises(ValueError, match="source"):
        build_features(con, refs.assign(source="carrier_pigeon"), referral_children)
    with pytest.raises(ValueError, match="missing column"):
        build_features(con, refs.drop(columns=["received_at"]), referral_children)
    with pytest.raises(ValueError, match="not in the referrals frame"):
        build_features(con, refs, referral_children.assign(referral_id="R-OTHER"))
    with pytest.raises(ValueError, match="Unknown feature"):
        evidence(
            con, refs["referral_id"].iloc[0], referral_children["person_id"].iloc[0], "shoe_size"
        )
    empty = build_features(con, refs.iloc[:0], referral_children.iloc[:0])
    assert len(empty) == 0 and list(empty.X.columns) == FEATURE_NAMES


def test_a_referral_without_any_concern_is_refused_on_both_paths(world):
    """The data contract needs at least one concern category; new referrals are held to it."""
    tables, con, _ = world
    refs, referral_children = _one(tables, tables["referrals"]["referral_id"].iloc[0])
    none = refs.assign(**dict.fromkeys(v.CONCERN_COLUMNS, False))
    message = r"referrals row 1, concern columns \[.*\]: no concern category is True"
    with pytest.raises(ValueError, match=message):
        build_features(con, none, referral_children)
    snapshot = features.StoreSnapshot.load(con)
    with pytest.raises(ValueError, match=message):
        build_features(
            None, none.to_dict("records"), referral_children.to_dict("records"), snapshot=snapshot
        )
    # the second row is named when it is the one without a concern
    two = pd.concat([refs, none.assign(referral_id="R-EMPTY")], ignore_index=True)
    with pytest.raises(ValueError, match="referrals row 2, concern columns"):
        build_features(con, two, referral_children)
    # one concern is enough
    one = none.assign(**{v.CONCERN_COLUMNS[0]: True})
    assert (
        build_features(con, one, referral_children)
        .X[f"referral_{v.CONCERN_COLUMNS[0]}"]
        .eq(1)
        .all()
    )


def test_chunked_training_build_equals_one_query():
    tables = add_named_adults(random_world(4), 4)  # the named adults' group too (issue #20)
    con = store_of(tables)
    whole = build_features(con).to_frame()
    assert (whole[features.definitions.NAMED_ADULT_NAMES].fillna(0) != 0).any().any()
    seen = []
    chunked = build_features(
        con, chunk_rows=5, progress=lambda s, c, t: seen.append((c, t))
    ).to_frame()
    pd.testing.assert_frame_equal(chunked, whole)
    assert seen[-1][0] == seen[-1][1] > 1


def test_a_count_of_one_reads_in_the_singular():
    """ "1 children on this referral" read wrongly to screeners; every counted unit has a singular."""
    specs = [s for s in catalogue() if s.aggregate in ("value", "max", "sum") and not s.reads_as]
    for spec in specs:
        one, two = spec.describe(1), spec.describe(2)
        assert two == f"2 {spec.unit}"
        if spec.unit.startswith(("adult(s)", "sibling(s)")):
            continue  # already reads either way
        assert one != f"1 {spec.unit}", spec.name
    assert catalogue_spec("referral_n_children").describe(1) == "1 child on this referral"
    assert catalogue_spec("child_prior_referrals_12m").describe(1) == (
        "1 referral in the last 12 months"
    )


def test_ages_and_spans_read_as_a_person_says_them():
    """Issue #14: no "176 months old" or "5514 days"; ages in years and months, spans as "ago"."""
    age = catalogue_spec("child_age_months")
    assert age.describe(176) == "the child is aged 14 years 8 months"
    assert age.describe(12) == "the child is aged 1 year"
    assert age.describe(5) == "the child is aged 5 months"
    last = catalogue_spec("child_days_since_last_referral")
    assert last.describe(5514) == "the child's previous referral was 15 years ago"
    assert last.describe(1) == "the child's previous referral was 1 day ago"
    assert last.describe(400) == "the child's previous referral was 1 year 1 month ago"
    joined = catalogue_spec("household_days_since_adult_joined")
    assert joined.describe(61) == "the newest adult joined the household 2 months ago"
    for spec in catalogue():
        for value in (0, 1, 30, 176, 5514):
            text = spec.describe(value)
            assert "months old" not in text and " days since" not in text, (spec.name, text)


def test_every_feature_says_whether_it_records_what_happened_or_what_was_decided():
    from features.definitions import DECIDED, NATURES

    for spec in catalogue():
        assert spec.nature in NATURES, spec.name
    decided = {s.name for s in catalogue() if s.nature == DECIDED}
    assert {"referral_source_family", "referrer_grandparent", "child_prior_nfa_ever"} <= decided
    assert "child_prior_malicious_ever" in decided
    assert "adults_da_perpetrator_ever_max" not in decided
    md = features.catalogue_markdown()
    assert "| what was decided |" in md and "| what happened |" in md
    assert "may only raise risk" in md and "not a model input by default" in md


def test_constrained_inputs_leave_out_who_referred_and_constrain_referral_counts():
    names = [s.name for s in catalogue()]
    inputs = features.model_inputs(names)
    assert not [n for n in inputs if n.startswith(("referral_source_", "referrer_"))]
    assert not [n for n in inputs if catalogue_spec(n).about_referrer]
    assert features.model_inputs(names, constrained=False) == names
    signs = dict(zip(inputs, features.monotone_signs(inputs), strict=True))
    for n in (
        "child_prior_referrals_12m",
        "child_prior_nfa_ever",
        "child_prior_malicious_ever",
        "child_prior_family_declined_ever",
        "child_prior_early_help_ever",
        "child_prior_referrals_same_concern_ever",
    ):
        assert signs[n] == 1, n
    assert signs["adults_da_perpetrator_ever_max"] == 0
    assert set(features.monotone_signs(inputs, constrained=False)) == {0}


def catalogue_spec(name: str):
    return {s.name: s for s in catalogue()}[name]
