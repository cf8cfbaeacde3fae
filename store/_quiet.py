"""Import pandera without pyspark's pandas API; imported before anything else in ``store``.

``import pandera.pandas`` (pandera 0.35) probes for ``pyspark.pandas`` at
import, to register pandera's types for pandas-on-Spark frames, whenever
pyspark is installed (MAST's optional ``spark`` extra).  MAST never validates
such frames (the Spark path of ``mast link`` uses Spark SQL), yet the probe
cost every process that imports ``store`` about 0.35 s (the scoring service
included), and pyspark 4.3 warned on it that its pandas API does not fully
support pandas 3, a warning nobody using ``mast link`` or ``mast demo`` could
act on.  pandera has no setting to skip the probe, so the probe is made to
find no ``pyspark.pandas`` (pandera then carries on as without pyspark); the
block is lifted straight after, so anything that does want pyspark's pandas
API still imports it.

The warning itself stays filtered: the Spark path of ``mast link`` moves
frames through pyspark's pandas conversion, which gives it too (its figures
are checked against DuckDB's in ``tests/linkage/test_spark.py``).
"""

import sys
import warnings

warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)


def _import_pandera_without_pyspark_pandas() -> None:
    if "pandera.pandas" in sys.modules or "pyspark.pandas" in sys.modules:
        return
    sys.modules["pyspark.pandas"] = None  # an import of it now raises ImportError
    try:
        import pandera.pandas  # noqa: F401
    finally:
        if sys.modules.get("pyspark.pandas", False) is None:
            del sys.modules["pyspark.pandas"]


_import_pandera_without_pyspark_pandas()
