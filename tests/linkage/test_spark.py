"""The Spark path: the same model and rules, on Splink's Spark backend.

Runs only where pyspark is installed (``pip install -e '.[spark]'`` and a
Java 17 runtime); CI does not install it (a 450 MB download), so there it is
skipped, not faked.  Slow: a local Spark session takes minutes even on a tiny world.
"""

from __future__ import annotations

import pytest

from linkage import LinkageRules, link_records, pairwise_quality, prepare_records
from synthetic import SimulationConfig, simulate
from synthetic.identities import simulate_agency_identities

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    pyspark_sql = pytest.importorskip("pyspark.sql")
    from splink.backends.spark import similarity_jar_location

    session = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_spark_links_a_small_world_as_well_as_duckdb(spark, tmp_path):
    from splink import SparkAPI

    spark.sparkContext.setCheckpointDir(str(tmp_path / "checkpoints"))
    world = simulate(SimulationConfig(n_children=400, years=2, burn_in_years=1, random_state=3))
    identities = simulate_agency_identities(world.tables, 3)
    records = prepare_records(identities.tables["agency_records"])
    rules = LinkageRules(u_pairs=2e5, em_pairs=2e5, random_state=3)
    on_spark = link_records(records, rules, db_api=SparkAPI(spark_session=spark))
    on_duckdb = link_records(records, rules)
    truth = identities.truth.assign(
        unique_id=identities.truth["agency"] + ":" + identities.truth["agency_record_id"]
    )
    scores = {}
    for name, result in (("spark", on_spark), ("duckdb", on_duckdb)):
        judged = result.links.merge(truth, on="unique_id", validate="1:1")
        scores[name] = pairwise_quality(judged["person_key"], judged["person_id"], n_boot=10).iloc[
            0
        ]
    assert scores["spark"]["f1"] >= 0.95
    assert abs(scores["spark"]["f1"] - scores["duckdb"]["f1"]) < 0.02
    assert on_spark.rule_version == on_duckdb.rule_version
