"""The Spark path: the same model and rules, on Splink's Spark backend.

Runs where pyspark is installed (``pip install -e '.[spark]'``) with a Java
runtime (Debian's ``default-jre-headless``).  ``.ci/run`` installs both and
sets ``CI_REQUIRE_SPARK=1``, so in CI this fails rather than skips when
either is missing.  One local Spark session (one core, UI off, loopback
only) serves the whole run.  Slow: about 80 s on a 400-child world.
"""

from __future__ import annotations

import os
import shutil

import pytest

from linkage import LinkageRules, link_records, pairwise_quality, prepare_records
from synthetic import SimulationConfig, simulate
from synthetic.identities import simulate_agency_identities

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]


def _pyspark_sql():
    if os.environ.get("CI_REQUIRE_SPARK") == "1":
        import pyspark.sql  # CI installs it: an ImportError here is a failure, not a skip

        assert shutil.which("java"), "CI_REQUIRE_SPARK=1 but no java on PATH"
        return pyspark.sql
    if shutil.which("java") is None:
        pytest.skip("no Java runtime (apt-get install default-jre-headless)")
    return pytest.importorskip(
        "pyspark.sql", reason="pyspark not installed (pip install -e '.[spark]')"
    )


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    pyspark_sql = _pyspark_sql()
    from splink.backends.spark import similarity_jar_location

    session = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("mast-link-test")
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
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
