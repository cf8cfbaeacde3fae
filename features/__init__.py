"""Point-in-time multi-agency features per (referral, child), SQL in DuckDB.

``build_features`` serves training (every referral in the store, in SQL) and
serving (new referrals; in memory from a ``StoreSnapshot`` whose static
predicates the same SQL computed) with one definition of every feature;
``catalogue`` explains each column of ``X`` in plain language, and
``evidence`` (store) and ``ondemand_evidence`` (snapshot) list the records
behind a value.
"""

from features.build import KEY_COLUMNS, PROTECTED_COLUMNS, FeatureTable, build_features
from features.catalogue import (
    catalogue,
    catalogue_json,
    catalogue_markdown,
    model_inputs,
    monotone_signs,
    write_catalogue,
)
from features.definitions import FEATURE_NAMES, FeatureSpec
from features.evidence import EVIDENCE_COLUMNS, evidence
from features.memory_evidence import ondemand_evidence
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
    "model_inputs",
    "monotone_signs",
    "evidence",
    "ondemand_evidence",
    "write_catalogue",
]
