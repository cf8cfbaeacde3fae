"""The feature SQL on Spark: DuckDB's query, translated by sqlglot, run by pyspark.

Where a store outgrows one machine (a national decade, linkage across every
agency), the definitions must run on an existing distributed engine.  As
Splink does, MAST does not write a second query for Spark: the text
:func:`features.sql.feature_parts` generates for DuckDB is translated by
sqlglot (``read="duckdb", write="spark"``) and handed to ``spark.sql``, one
CTE at a time (each a view; those read twice cached, as DuckDB's
``MATERIALIZED`` does).  The
evidence look-ups (:func:`features.evidence.evidence_sql`) go the same way.
The only engine-specific choice left is :data:`SPARK`, which drops DuckDB's
``MATERIALIZED`` hint (Spark decides for itself what to reuse).

The store's tables reach Spark as Parquet that DuckDB writes (timestamps
without a time zone, read back by Spark as ``TIMESTAMP_NTZ``, so no clock
shifts a boundary); the session runs in UTC with the UI off.  pyspark is an
optional extra (``pip install -e '.[spark]'``, Java 17): importing this module
does not need it, making an engine does.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd

from features import build as _build
from features import definitions as d
from features.engines import Evidence, Progress, Targets, _evidence_target, _targets
from features.evidence import EVIDENCE_COLUMNS, evidence_sql
from features.inputs import Rows
from features.named_adults import ensure_named_adults
from features.sql import STORE_RELATIONS, Dialect, feature_parts, uses

SPARK = Dialect("spark", materialized="")
_STORE_TABLES = tuple(dict.fromkeys(STORE_RELATIONS.values()))


def spark_session(cores: int = 2, driver_memory: str = "2g", shuffle_partitions: int | None = None):
    """A local Spark session for the features: ``cores`` threads, UI off, loopback only, UTC.

    One session serves a whole run (a test module, a benchmark): starting one
    costs seconds.  Needs pyspark (the ``spark`` extra) and a Java 17 runtime.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as err:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "The Spark engine needs pyspark: pip install -e '.[spark]' (and a Java 17 runtime)."
        ) from err
    return (
        SparkSession.builder.master(f"local[{int(cores)}]")
        .appName("mast-features")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions or 2 * int(cores)))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


def _active_session():
    """The Spark session already running in this process, if any (None without pyspark)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    return SparkSession.getActiveSession()


@cache
def _translate(sql: str) -> str:
    import sqlglot

    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]


def spark_sql(duckdb_sql: str) -> str:
    """Spark SQL for a query written for DuckDB (sqlglot; cached per text)."""
    return _translate(duckdb_sql)


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


class SparkEngine:
    """The feature SQL on Spark, over a copy of the store's tables in Parquet.

    Parameters
    ----------
    con
        A connection to the MAST store (read-only is enough): its tables are
        written once to Parquet under ``workdir`` and registered as views.
    spark
        A SparkSession (default: :func:`spark_session`, two local cores,
        stopped by :meth:`close`).
    workdir
        Where the Parquet copy goes (default a temporary directory, removed
        by :meth:`close`).
    """

    name = "spark"

    def __init__(self, con, spark=None, workdir: str | Path | None = None):
        # A session already running in this process (another engine's, Splink's)
        # is used, and left running by close().
        self._own_session = spark is None and _active_session() is None
        self.spark = spark if spark is not None else spark_session()
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="mast-spark-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._n = 0
        self.relations = {}
        ensure_named_adults(con)  # the store's named adults, a view (features.named_adults)
        for table in _STORE_TABLES:
            path = self.workdir / f"{table}.parquet"
            con.execute(f"COPY (SELECT * FROM {table}) TO '{path}' (FORMAT PARQUET)")
            view = f"mast_{table}"
            self.spark.read.parquet(str(path)).createOrReplaceTempView(view)
            self.relations[table] = view

    def close(self) -> None:
        """Remove the Parquet copy and stop the session, each only if this engine made it."""
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self._own_session:
            self.spark.stop()

    # -- the relations a query reads ---------------------------------------
    def _store(self) -> dict[str, str]:
        return {name: self.relations[table] for name, table in STORE_RELATIONS.items()}

    def _frame_view(self, frame: pd.DataFrame, stem: str):
        """``frame`` as a Spark DataFrame, through Parquet written by DuckDB (the store's types)."""
        self._n += 1
        path = self.workdir / f"{stem}-{self._n}.parquet"
        con = duckdb.connect()
        try:
            con.register("frame", frame)
            con.execute(f"COPY (SELECT * FROM frame) TO '{path}' (FORMAT PARQUET)")
        finally:
            con.close()
        return self.spark.read.parquet(str(path))

    def _with_targets(self, target: Targets) -> dict[str, str]:
        """Relations with the targets registered and, as in the store, counted as history."""
        refs, children = target.frames()
        tref = self._frame_view(refs, "targets")
        tchild = self._frame_view(children, "target-children")
        n = self._n
        names = {"target_referrals": f"mast_tref_{n}", "target_children": f"mast_tchild_{n}"}
        tref.createOrReplaceTempView(names["target_referrals"])
        tchild.createOrReplaceTempView(names["target_children"])
        # A batch of new referrals sees its own earlier members, as the SQL
        # engine's narrowed copy does: history is the store plus the new ones.
        stored = self.spark.table(self.relations["referrals"])
        new = tref.join(stored.select("referral_id"), "referral_id", "left_anti")
        new_children = tchild.join(new.select("referral_id"), "referral_id", "left_semi")
        stored.unionByName(new, allowMissingColumns=True).createOrReplaceTempView(f"mast_refs_{n}")
        self.spark.table(self.relations["referral_children"]).unionByName(
            new_children
        ).createOrReplaceTempView(f"mast_rc_{n}")
        return {
            **self._store(),
            **names,
            "referrals": f"mast_refs_{n}",
            "referral_children": f"mast_rc_{n}",
        }

    # -- the interface -------------------------------------------------------
    def features(
        self, targets: Targets | tuple[Rows, Rows] | None = None, progress: Progress | None = None
    ) -> _build.FeatureTable:
        relations = self._store() if targets is None else self._with_targets(_targets(targets))
        ctes, select = feature_parts(relations, SPARK)
        counts = uses(ctes, select)
        cached = []
        try:
            # Each CTE a view, those read more than once cached: as one
            # statement, Spark's optimizer spent half a minute on the plan of
            # even a tiny store (every CTE inlined where it is read).
            for i, (name, body) in enumerate(ctes):
                if progress:
                    progress("features", i, len(ctes) + 1)
                self.spark.sql(f"DROP VIEW IF EXISTS {name}")
                if counts[name] > 1:
                    self.spark.sql(f"CACHE TABLE {name} AS {spark_sql(body)}")
                    cached.append(name)
                else:
                    self.spark.sql(spark_sql(body)).createOrReplaceTempView(name)
            frame = self.spark.sql(spark_sql(select)).toPandas()
        finally:
            for name in cached:
                self.spark.sql(f"UNCACHE TABLE IF EXISTS {name}")
        if progress:
            progress("features", len(ctes) + 1, len(ctes) + 1)
        return _build._split({c: frame[c] for c in frame.columns})

    def evidence(
        self, target: Targets | tuple[Rows, Rows], wanted: Mapping[str, Sequence[str]]
    ) -> Evidence:
        from features.engines import _rows

        target = _evidence_target(target, wanted)
        relations = self._with_targets(target)
        referral_id = target.referrals[0]["referral_id"]
        out: Evidence = {}
        for pid, names in wanted.items():
            for name in dict.fromkeys(names):
                sql = evidence_sql(d.SPECS_BY_NAME[name], SPARK)
                # The two parameters (referral_id, person_id) as literals: one statement.
                sql = sql.replace("?", _literal(referral_id), 1).replace("?", _literal(pid), 1)
                frame = self.spark.sql(spark_sql(sql.format(**relations))).toPandas()
                out[(pid, name)] = _rows(frame[EVIDENCE_COLUMNS])
        return out
