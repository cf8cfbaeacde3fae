"""Point-in-time multi-agency features per (referral, child), one definition, three engines.

A :class:`FeatureEngine` gives the features of many referrals (training) or
of one (serving) and the records behind them: :class:`SQLEngine` runs the
feature SQL on a DuckDB store, :class:`MemoryEngine` the same definitions
over a :class:`StoreSnapshot` in memory (the scoring service), and
:class:`SparkEngine` the same SQL translated to Spark SQL (national scale).
``catalogue`` explains each column of ``X`` in plain language.  Callers
outside ``features/`` use only the names exported here.
"""

from features.build import KEY_COLUMNS, PROTECTED_COLUMNS, FeatureTable, build_features
from features.catalogue import (
    catalogue,
    catalogue_json,
    catalogue_markdown,
    counted_what,
    counting_features,
    model_inputs,
    monotone_signs,
    write_catalogue,
)
from features.definitions import (
    FEATURE_NAMES,
    REFERRER_LABELS,
    SOURCE_LABELS,
    WINDOW_WORDS,
    EvidenceSource,
    FeatureSpec,
    ago_words,
    evidence_of,
)
from features.engines import (
    FeatureEngine,
    MemoryEngine,
    SQLEngine,
    Targets,
    engine_for,
)
from features.evidence import EVIDENCE_COLUMNS, evidence
from features.memory_evidence import ondemand_evidence
from features.snapshot import NEVER, StoreSnapshot
from features.spark import SparkEngine, spark_session
from features.sql import active_membership, referral_mask_sql

__all__ = [
    "NEVER",
    "REFERRER_LABELS",
    "SOURCE_LABELS",
    "WINDOW_WORDS",
    "active_membership",
    "ago_words",
    "counted_what",
    "counting_features",
    "referral_mask_sql",
    "FeatureEngine",
    "MemoryEngine",
    "SQLEngine",
    "SparkEngine",
    "Targets",
    "engine_for",
    "spark_session",
    "EVIDENCE_COLUMNS",
    "FEATURE_NAMES",
    "KEY_COLUMNS",
    "PROTECTED_COLUMNS",
    "FeatureSpec",
    "EvidenceSource",
    "evidence_of",
    "FeatureTable",
    "StoreSnapshot",
    "build_features",
    "catalogue",
    "catalogue_json",
    "catalogue_markdown",
    "model_inputs",
    "monotone_signs",
    "evidence",
    "ondemand_evidence",
    "write_catalogue",
]
