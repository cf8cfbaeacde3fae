"""Keep one library warning away from users; imported before pandera and Splink.

pandera (and Splink) import pyspark when it is installed (the optional
``spark`` extra), and pyspark 4.3 warns that its pandas API does not fully support pandas 3.
MAST never uses that API (the Spark path is checked against DuckDB's figures
in ``tests/linkage/test_spark.py``), so the warning says nothing a user of
``mast link`` or ``mast demo`` can act on.
"""

import warnings

warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)
