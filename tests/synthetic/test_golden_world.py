"""The simulator's output for one seed is pinned: a refactor may not change a byte.

The hashes were taken on ``main`` before the engine was split into named
functions (issue #18); a change to the simulator that *means* to change the
world updates them in the same commit and says why in CHANGELOG.md.  The
hashes cover values, dtypes and row order (``pandas.util.hash_pandas_object``
under the pinned pandas), so a reordering or a new draw from the generator
shows here too.
"""

from __future__ import annotations

from tests.synthetic.test_determinism_contract import frame_hashes

# table: (rows, sha256 of the row hashes) for conftest.SMALL (2,500 children,
# 3 years after a 2-year burn-in, random_state=11).
GOLDEN = {
    "people": (8619, "57937a1a1962bd97ba609ce544a8a5081380affcb6e8cc574ab7b6d05a9e899b"),
    "households": (1874, "fcfbb3b768127f7284278c2030ab2335cb630bffb702787205cb4624ede1952d"),
    "household_members": (8294, "d60549375a645573c33280ff1ac72ae0aeea59a319ef58a3b460467bfd4de860"),
    "referrals": (423, "60011883f8f19a31e33e9e35bfe7589307e49214206a93b56b01aff03e8df3d1"),
    "referral_children": (637, "05b9aae4b846dc7c09a8b18573ede9876f870bdbb35ca9554fe18f3409fb52d6"),
    "screening_decisions": (
        423,
        "804d89c055b583a27ea9f5f569d8b258d82d459d61d2fd01c9f262e699e9634e",
    ),
    "agency_events": (16637, "e9b16cb66bed1217306203d53c5ae2077c703302b85471123c8557c4f62c798d"),
    "truth": (241, "8042c7474a3a902997ce423bd15e33ada6d4b56ebe820c841fb041058adc6d87"),
}


def test_the_small_world_is_byte_for_byte_the_pinned_one(small):
    got = frame_hashes(small)
    rows = {name: len(frame) for name, frame in {**small.tables, "truth": small.truth}.items()}
    assert rows == {name: n for name, (n, _) in GOLDEN.items()}
    assert got == {name: digest for name, (_, digest) in GOLDEN.items()}
