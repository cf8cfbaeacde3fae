"""Who is this adult? Linking people across agencies without a shared identifier.

``link_records`` resolves each agency's own records (contract 1.1
``agency_records``) into persons with a Splink model trained without labels;
``write_links`` stores the result as ``person_links`` and
``possible_matches`` (and the trained model, :mod:`linkage.saved`);
:class:`PersonSearch` finds an adult named on a referral among the linked
records; :mod:`linkage.quality` measures it against the simulator's truth.
"""

from linkage.model import LinkageResult, LinkageRules, blocking_rules, rule_version, splink_settings
from linkage.named import resolve_named_adults, write_named_adult_links
from linkage.prepare import prepare_records, read_records
from linkage.quality import cluster_quality, naive_person_key, pairwise_quality
from linkage.run import link_records
from linkage.saved import SavedModel, load_model, save_model
from linkage.search import AdultQuery, PersonSearch, SearchResult
from linkage.store import write_links

__all__ = [
    "AdultQuery",
    "LinkageResult",
    "LinkageRules",
    "PersonSearch",
    "SavedModel",
    "SearchResult",
    "blocking_rules",
    "cluster_quality",
    "link_records",
    "load_model",
    "naive_person_key",
    "pairwise_quality",
    "prepare_records",
    "read_records",
    "resolve_named_adults",
    "write_named_adult_links",
    "rule_version",
    "save_model",
    "splink_settings",
    "write_links",
]
