"""The monitoring policy file is versioned and checked."""

from __future__ import annotations

import pytest

from monitoring import load_monitoring_policy


def test_the_shipped_policy_reads():
    p = load_monitoring_policy()
    assert p.version and p.psi_moderate < p.psi_breach


def test_a_bad_value_names_the_file_and_key(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('version = "x"\n[drift]\nbreach = "high"\n')
    with pytest.raises(ValueError, match=r"p\.toml: drift\.breach"):
        load_monitoring_policy(f)
    f.write_text("min_referrals = 5\n")
    with pytest.raises(ValueError, match="version"):
        load_monitoring_policy(f)
