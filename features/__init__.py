"""Point-in-time multi-agency features per (referral, child), SQL in DuckDB.

``build_features`` serves training (every referral in the store) and serving
(new referrals passed as frames) with one definition of every feature;
``catalogue`` explains each column of ``X`` in plain language and
``evidence`` lists the records behind a value.
"""

from features.build import KEY_COLUMNS, PROTECTED_COLUMNS, FeatureTable, build_features
from features.catalogue import catalogue, catalogue_json, catalogue_markdown, write_catalogue
from features.definitions import FEATURE_NAMES, FeatureSpec
from features.evidence import EVIDENCE_COLUMNS, evidence
from features.snapshot import StoreSnapshot

__all__ = [
    "EVIDENCE_COLUMNS",
    "FEATURE_NAMES",
    "KEY_COLUMNS",
    "PROTECTED_COLUMNS",
    "FeatureSpec",
    "FeatureTable",
    "StoreSnapshot",
    "build_features",
    "catalogue",
    "catalogue_json",
    "catalogue_markdown",
    "evidence",
    "write_catalogue",
]
