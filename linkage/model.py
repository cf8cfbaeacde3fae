"""The Splink model: blocking rules, comparisons, unsupervised training, clustering.

``mast link`` resolves agency records into persons with a Fellegi-Sunter
model (Splink 5, DuckDB by default).  m and u probabilities are estimated
from the records themselves, without labels: u from random pairs (almost all
non-matches), m by expectation maximisation on pairs blocked on one field
at a time, so each field's m is learnt from pairs the other fields chose.
Records are clustered at the governance threshold; pairs scored between the
review floor and the threshold are kept as *possible matches*, never merged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.blocking_rule_library import CustomRule

# Bump when the comparisons or blocking rules change: every link records it.
RULES_VERSION = "1.0"


@dataclass(frozen=True)
class LinkageRules:
    """What governance sets: when two records are one person, and what a person reviews.

    Attributes
    ----------
    threshold
        Match probability at or above which records are linked (merged into
        one person).  A higher threshold links less and wrongly merges less.
    review_floor
        Pairs scored at or above this but below ``threshold`` are kept as
        possible matches for a screener or manager to confirm or reject.
    random_state
        Seed of the random pair sample that estimates u.
    u_pairs, em_pairs
        At most this many random pairs estimate u (fewer for a small extract:
        50 per record, at least 500,000), and at most this many blocked pairs
        each expectation-maximisation session.
    """

    threshold: float = 0.9
    review_floor: float = 0.2
    random_state: int = 0
    u_pairs: float = 2e6
    em_pairs: float = 2e6

    def __post_init__(self):
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must lie strictly between 0 and 1, got {self.threshold}")
        if not 0 < self.review_floor <= self.threshold:
            raise ValueError(
                f"review_floor must lie in (0, threshold={self.threshold}], got {self.review_floor}"
            )


@dataclass
class LinkageResult:
    """What one run of the model produced.

    Attributes
    ----------
    links
        One row per agency record: ``agency``, ``agency_record_id``,
        ``person_key``, ``match_probability`` (the strongest link that put it
        in its cluster; empty for a record linked to nothing).
    possible
        Possible matches below the threshold with the fields that agree and disagree.
    rule_version
        ``RULES_VERSION`` + a digest of the settings and the threshold.
    model_json
        The trained Splink model, for audit.
    """

    links: pd.DataFrame
    possible: pd.DataFrame
    rule_version: str
    model_json: dict = field(repr=False)
    n_scored_pairs: int = 0
    # People's verdicts applied: confirmed, rejected, and links cut to keep rejected pairs apart.
    labels: dict = field(default_factory=dict)
    # The governance settings the run used (saved with the model for searches).
    rules: LinkageRules | None = None


# Starting m (or u) for levels the training pairs may never show (a date of
# birth ten years out in one person's records; two people's NHS numbers one
# keystroke apart).  Expectation maximisation replaces them where the data
# show the level; otherwise they stand, as the documented prior.
RARE = 1e-4

COMPARED_FIELDS = ("name", "date of birth", "address", "NHS number", "UPN", "PNC id", "sex")


def _dob_comparison():
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_description="date of birth",
        comparison_levels=[
            cll.NullLevel("date_of_birth"),
            cll.ExactMatchLevel("date_of_birth"),
            cll.CustomLevel(
                "day(date_of_birth_l) = month(date_of_birth_r) AND "
                "month(date_of_birth_l) = day(date_of_birth_r) AND "
                "year(date_of_birth_l) = year(date_of_birth_r)",
                label_for_charts="day and month transposed",
                base_dialect_str="duckdb",
            ),
            cll.DamerauLevenshteinLevel("dob_text", 1),
            cll.CustomLevel(
                "abs(date_diff('day', date_of_birth_l, date_of_birth_r)) <= 366",
                label_for_charts="within a year",
                base_dialect_str="duckdb",
            ),
            cll.CustomLevel(
                "abs(date_diff('day', date_of_birth_l, date_of_birth_r)) <= 3653",
                label_for_charts="within ten years",
                base_dialect_str="duckdb",
            ).configure(m_probability=RARE),
            # A generation apart: a father and the son named after him.
            cll.ElseLevel().configure(m_probability=RARE),
        ],
    )


def _address_comparison():
    return cl.CustomComparison(
        output_column_name="address",
        comparison_description="address",
        comparison_levels=[
            cll.NullLevel("postcode"),
            cll.And(cll.ExactMatchLevel("postcode"), cll.ExactMatchLevel("address")),
            cll.ExactMatchLevel("postcode").configure(m_probability=0.01),
            cll.ExactMatchLevel("address"),
            cll.ElseLevel(),
        ],
    )


def _nhs_comparison():
    return cl.CustomComparison(
        output_column_name="nhs_number",
        comparison_description="NHS number",
        comparison_levels=[
            cll.NullLevel("nhs_number"),
            cll.ExactMatchLevel("nhs_number"),
            cll.DamerauLevenshteinLevel("nhs_number", 1).configure(u_probability=RARE),
            cll.ElseLevel(),
        ],
    )


def splink_settings(rules: LinkageRules) -> SettingsCreator:
    """The comparisons and the blocking rules that generate candidate pairs."""
    return SettingsCreator(
        link_type="dedupe_only",  # one table of every agency's records; duplicates within an agency too
        unique_id_column_name="unique_id",
        comparisons=[
            cl.ForenameSurnameComparison(
                "given_name",
                "family_name",
                forename_surname_concat_col_name="full_name",
                jaro_winkler_thresholds=[0.92, 0.8],
            ),
            _dob_comparison(),
            _address_comparison(),
            _nhs_comparison(),
            cl.ExactMatch("upn"),
            cl.ExactMatch("pnc_id"),
            cl.ExactMatch("sex"),
        ],
        blocking_rules_to_generate_predictions=blocking_rules(),
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
        additional_columns_to_retain=[],
        max_iterations=20,
    )


def blocking_rules() -> list:
    """Candidate pairs: any one of these must hold (their union is scored).

    Each rule tolerates the errors the others cannot: a shared identifier
    survives any name or date error; date of birth with an initial survives
    a surname change or a nickname; full name survives a wrong date; surname
    with postcode survives a nickname and a wrong date together; the reversed
    rule catches forename and surname swapped.
    """
    return [
        block_on("nhs_number"),
        block_on("upn"),
        block_on("pnc_id"),
        block_on("date_of_birth", "substr(family_name, 1, 1)"),
        block_on("date_of_birth", "substr(given_name, 1, 1)"),
        block_on("date_of_birth", "postcode"),
        block_on("given_name", "family_name"),
        block_on("family_name", "postcode"),
        CustomRule(
            "l.given_name = r.family_name AND l.family_name = r.given_name",
            sql_dialect="duckdb",
        ),
    ]


def rule_version(rules: LinkageRules) -> str:
    """``RULES_VERSION`` plus a digest of everything that decides a link."""
    settings = splink_settings(rules).create_settings_dict("duckdb")
    payload = json.dumps(
        {"settings": settings, "threshold": rules.threshold, "floor": rules.review_floor},
        sort_keys=True,
        default=str,
    )
    return f"{RULES_VERSION}+{hashlib.sha256(payload.encode()).hexdigest()[:10]}"


def default_db_api(memory_limit: str = "6GB", threads: int | None = None) -> DuckDBAPI:
    """Splink's DuckDB backend in memory, capped so a 200,000-child extract fits in 8 GB.

    DuckDB spills to a temporary directory beyond ``memory_limit`` instead
    of failing.  Extensions are never downloaded: linkage makes no network
    call (``tests/linkage`` checks this).
    """
    import duckdb

    config = {"memory_limit": memory_limit, "autoinstall_known_extensions": False}
    if threads is not None:
        config["threads"] = threads
    return DuckDBAPI(duckdb.connect(":memory:", config=config))


def train_linker(records: pd.DataFrame, rules: LinkageRules, db_api=None) -> Linker:
    """Build the linker and estimate its parameters from unlabelled records.

    Parameters
    ----------
    records
        :func:`linkage.prepare.prepare_records` output.
    db_api
        A Splink database API (``DuckDBAPI()`` by default; ``SparkAPI`` for a
        national extract, see docs/linkage.md).
    """
    db_api = db_api or default_db_api()
    table = db_api.register(records, table_name="agency_records_prepared")
    linker = Linker(table, splink_settings(rules), log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("nhs_number"), block_on("given_name", "family_name", "date_of_birth")],
        recall=0.8,
    )
    # A small extract needs fewer random pairs than a national one.
    u_pairs = min(rules.u_pairs, max(5e5, 50.0 * len(records)))
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=rules.random_state)
    # m for every field but the NHS number, from pairs sharing an NHS number
    # (nearly all one person, so relatives sharing a name and an address do
    # not teach the model that a different date of birth is a small matter);
    # then m for the NHS number, from pairs sharing a date of birth.
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("nhs_number"), max_pairs=rules.em_pairs
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"), max_pairs=rules.em_pairs
    )
    return linker
