"""Off-by-one mutants of generated SQL, and the edge-case worlds that must tell them apart.

Shared by the mutation tests of the feature SQL (``test_mutations.py``) and
of the evidence SQL (``test_evidence_mutations.py``): both find every
ordering comparison in the SQL text (so a comparison added later is covered
without editing a test), flip it to its off-by-one twin (``<`` <-> ``<=``,
``>`` <-> ``>=``) and require some world of ``world.py``, which puts records
exactly on every point-in-time boundary, to expose it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import duckdb
import pandas as pd

from tests.features.reference import reference_features
from tests.features.world import add_named_adults, random_world, store_of

SEEDS = range(8)
FLIP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}
# A comparison operator that is not part of "<>" (not equal) or "->" / "=>".
_OPERATOR = re.compile(r"(?<![<>=!\-])(<=|>=|<|>)(?![<>=])")
_OPERAND = r"(?:[\w.]+(?:\([^()]*\))?|\([^()]*\))"
_CTE = re.compile(r"^(\w+) AS(?: MATERIALIZED)? \($", re.M)


@dataclass(frozen=True)
class Mutation:
    """One comparison of a generated SQL text flipped to its off-by-one twin."""

    position: int
    old: str
    new: str
    text: str  # the comparison as written, e.g. "ec.recorded_at < pt.as_of"
    where: str  # the CTE it is in and the output column it feeds

    def apply(self, sql: str) -> str:
        return sql[: self.position] + self.new + sql[self.position + len(self.old) :]

    @property
    def name(self) -> str:
        return f"{self.text} ({self.where})"

    def __str__(self) -> str:
        return f"`{self.text}` -> `{self.new}` ({self.where})"


def _where(sql: str, pos: int) -> str:
    """The CTE holding ``pos`` and the nearest column alias after it on its line.

    The statement after the last CTE (after the ``)`` closing it, see
    :func:`features.sql.with_ctes`) is the "final SELECT".
    """
    ctes = [m for m in _CTE.finditer(sql) if m.start() < pos]
    cte = ctes[-1].group(1) if ctes else "final SELECT"
    headers = list(_CTE.finditer(sql))
    if headers:
        final = sql.find("\n)\n", headers[-1].end())
        if 0 <= final < pos:
            cte = "final SELECT"
    line_end = sql.find("\n", pos)
    alias = re.search(
        r"\bAS (?!BIGINT\b|DOUBLE\b|TIMESTAMP\b|VARCHAR\b|DATE\b)(\w+)",
        sql[pos : line_end if line_end >= 0 else None],
    )
    return f"CTE {cte}" + (f", column {alias.group(1)}" if alias else "")


def comparisons(sql: str) -> list[Mutation]:
    """Every ordering comparison in ``sql``, as the mutation that flips it."""
    out = []
    for m in _OPERATOR.finditer(sql):
        left = re.search(rf"({_OPERAND})\s*$", sql[: m.start()])
        right = re.match(rf"\s*({_OPERAND})", sql[m.end() :])
        text = " ".join(
            x for x in (left and left.group(1), m.group(1), right and right.group(1)) if x
        )
        op = m.group(1)
        out.append(Mutation(m.start(), op, FLIP[op], text, _where(sql, m.start())))
    return out


def apply_all(sql: str, mutations: list[Mutation]) -> str:
    """``sql`` with every one of ``mutations`` (comparisons found in it) flipped."""
    for m in sorted(mutations, key=lambda m: m.position, reverse=True):
        sql = m.apply(sql)
    return sql


@dataclass(frozen=True)
class World:
    """One edge-case world: its tables, a store holding them and the reference features."""

    seed: int
    tables: dict[str, pd.DataFrame]
    con: duckdb.DuckDBPyConnection
    expected: pd.DataFrame


@cache
def world(seed: int) -> World:
    """World ``seed`` of ``world.py``, built once per test session (about 0.5 s)."""
    tables = add_named_adults(random_world(seed), seed)
    return World(seed, tables, store_of(tables), reference_features(tables))


def worlds() -> tuple[World, ...]:
    """The worlds of :data:`SEEDS`."""
    return tuple(world(seed) for seed in SEEDS)
