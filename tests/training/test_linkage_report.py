"""Training hands the board's report a linkage section when the store holds links."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from tests.audit.test_linkage import _predictions, _RuleScorer, _store_with_links
from training.pipeline import _linkage_metadata


def test_a_linked_store_gives_the_report_its_linkage_section(tmp_path):
    con, world = _store_with_links(tmp_path)
    try:
        run = SimpleNamespace(con=con, scorer=_RuleScorer(), predictions=_predictions(world))
        section = _linkage_metadata(run)["linkage"]
    finally:
        con.close()
    assert section["summary"].startswith("MAST joined ")
    assert section["cost"][0]["children"] == len(world.tables["referral_children"])


def test_a_failure_leaves_the_section_out_and_says_so(tmp_path, caplog):
    con, world = _store_with_links(tmp_path)
    try:
        broken = SimpleNamespace(con=con, scorer=object(), predictions=_predictions(world))
        with caplog.at_level(logging.WARNING):
            assert _linkage_metadata(broken) == {}
    finally:
        con.close()
    assert "linkage section left out of the report" in caplog.text
