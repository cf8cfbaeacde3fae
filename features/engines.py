"""One interface to the feature engines: features for many referrals or one, and their records.

Every caller (training, ``mast features``, the scoring service, monitoring)
asks a :class:`FeatureEngine` for two things, as feast's offline store or
Splink's database API are asked:

- :meth:`FeatureEngine.features` -- the :class:`~features.FeatureTable` for
  the given :class:`Targets` (new referrals and their children), or, for
  training, for every referral the engine holds (``targets=None``);
- :meth:`FeatureEngine.evidence` -- the records behind named features of the
  children on one referral, keyed ``(person_id, feature)``.

Three engines implement it, all evaluating :mod:`features.definitions`:

- :class:`SQLEngine`, the feature SQL (:mod:`features.sql`) on a DuckDB
  connection to the store: training over the whole store in chunks, and new
  referrals over a copy narrowed to the people they concern;
- :class:`MemoryEngine`, the scoring service's: the same definitions over a
  :class:`~features.StoreSnapshot` held in memory (:mod:`features.ondemand`),
  about a millisecond a referral, its predicate bits computed by DuckDB from
  the same SQL when the snapshot loaded;
- :class:`features.spark.SparkEngine`, the same generated SQL translated to
  Spark SQL by sqlglot and run by pyspark, for stores that outgrow one machine.

``tests/features/test_engines.py`` holds every engine to the brute-force
reference (``tests/features/reference.py``), column for column and record
for record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import pandas as pd

from features import build as _build
from features import definitions as d
from features import ondemand
from features.build import FeatureTable
from features.evidence import EVIDENCE_COLUMNS, evidence
from features.inputs import Rows, as_frames, check_named_adults, check_referrals
from features.memory_evidence import ondemand_evidence
from features.snapshot import StoreSnapshot

Progress = Callable[[str, float, float], None]
Evidence = dict[tuple[str, str], list[dict]]


class Targets:
    """New referrals and their children, checked once, for any engine.

    Parameters
    ----------
    referrals, referral_children
        Contract-shaped rows: DataFrames (a batch, a notebook) or sequences of
        mappings (the service, where a DataFrame costs more than the features).
    named_adults
        The adults the new referrals name, as the service's search found
        them (:func:`features.inputs.check_named_adults`): each engine counts
        the found ones as the ``named_adults`` group.  Rows given for a
        referral replace the store's; a referral with none names no one
        (or, if stored, keeps what ``mast link`` found).

    Raises
    ------
    ValueError
        Naming the row and column of the first bad value
        (:func:`features.inputs.check_referrals`).
    """

    __slots__ = ("_frames", "named_adults", "referral_children", "referrals")

    def __init__(self, referrals: Rows, referral_children: Rows, named_adults: Rows | None = None):
        self.referrals, self.referral_children = check_referrals(referrals, referral_children)
        self.named_adults = check_named_adults(named_adults, self.referrals)
        self._frames: tuple[pd.DataFrame, pd.DataFrame] | None = None

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The checked rows as contract-typed frames (built once, on first use)."""
        if self._frames is None:
            self._frames = as_frames(self.referrals, self.referral_children)
        return self._frames

    def __len__(self) -> int:
        return len(self.referral_children)


def _targets(targets: Targets | tuple[Rows, Rows]) -> Targets:
    return targets if isinstance(targets, Targets) else Targets(*targets)


def _evidence_target(
    target: Targets | tuple[Rows, Rows], wanted: Mapping[str, Sequence[str]]
) -> Targets:
    """``target`` checked as one referral, and ``wanted`` as its children and known features."""
    target = _targets(target)
    if len({r["referral_id"] for r in target.referrals}) != 1:
        raise ValueError("evidence() looks up the records of one referral at a time")
    children = {c["person_id"] for c in target.referral_children}
    for pid, names in wanted.items():
        if pid not in children:
            raise ValueError(f"person_id {pid!r} is not a child on this referral")
        for name in names:
            if name not in d.SPECS_BY_NAME:
                raise ValueError(f"Unknown feature {name!r}: see features.catalogue()")
    return target


@runtime_checkable
class FeatureEngine(Protocol):
    """What every engine offers; see the module docstring."""

    name: str

    def features(
        self, targets: Targets | None = None, progress: Progress | None = None
    ) -> FeatureTable:
        """Features per (referral, child) for ``targets``, or every held referral if None."""
        ...

    def evidence(self, target: Targets, wanted: Mapping[str, Sequence[str]]) -> Evidence:
        """Records behind ``wanted[person_id]`` features of one referral's children."""
        ...


class SQLEngine:
    """The feature SQL on a DuckDB connection to the store (training, ``mast features``).

    Parameters
    ----------
    con
        A connection to the MAST store (read-only is enough).
    chunk_rows
        Training: build this many (referral, child) rows per query, which
        bounds memory on a national-sized store.  The result does not depend on it.
    """

    name = "duckdb"

    def __init__(self, con, chunk_rows: int = 250_000):
        if con is None:
            raise ValueError("SQLEngine needs a connection to the store")
        self.con = con
        self.chunk_rows = chunk_rows

    def features(
        self, targets: Targets | tuple[Rows, Rows] | None = None, progress: Progress | None = None
    ) -> FeatureTable:
        if targets is None:
            return _build._split(_build._store_features(self.con, progress, self.chunk_rows))
        targets = _targets(targets)
        refs, children = targets.frames()
        if children.empty:
            return _build._split(_build._empty_raw(self.con, _build.STORE_RELATIONS))
        tables = _build._narrowed_tables(self.con, refs, children, targets.named_adults)
        if progress:
            progress("features", 0, 1)
        raw = _build._on_demand().run(tables)
        if progress:
            progress("features", 1, 1)
        return _build._split(raw)

    def evidence(
        self, target: Targets | tuple[Rows, Rows], wanted: Mapping[str, Sequence[str]]
    ) -> Evidence:
        refs, children = _evidence_target(target, wanted).frames()
        out: Evidence = {}
        for pid, names in wanted.items():
            for name in dict.fromkeys(names):
                frame = evidence(self.con, refs, pid, name, referral_children=children)
                out[(pid, name)] = _rows(frame)
        return out


def _rows(frame: pd.DataFrame) -> list[dict]:
    """Evidence rows as plain dicts, times as ``datetime`` and missing values as None."""
    rows = []
    for r in frame[EVIDENCE_COLUMNS].astype(object).to_dict("records"):
        for k, x in r.items():
            if x is None or x is pd.NaT or (isinstance(x, float) and x != x) or x is pd.NA:
                r[k] = None
            elif isinstance(x, pd.Timestamp):
                r[k] = x.to_pydatetime()
        rows.append(r)
    return rows


class MemoryEngine:
    """The definitions over a :class:`~features.StoreSnapshot` in memory (the scoring service).

    Serves new referrals only: training reads the store in SQL
    (:class:`SQLEngine`), which the snapshot was loaded from.
    """

    name = "memory"

    def __init__(self, snapshot: StoreSnapshot):
        if snapshot is None:
            raise ValueError("MemoryEngine needs a StoreSnapshot (StoreSnapshot.load(con))")
        self.snapshot = snapshot

    def features(
        self, targets: Targets | tuple[Rows, Rows] | None = None, progress: Progress | None = None
    ) -> FeatureTable:
        if targets is None:
            raise ValueError(
                "The in-memory engine serves new referrals: build the training table "
                "with SQLEngine over the store."
            )
        target = _targets(targets)
        raw = ondemand.evaluate(
            self.snapshot, target.referrals, target.referral_children, target.named_adults
        )
        # The service never reads the protected characteristics: built only if read.
        return _build._split(raw, lazy=True)

    def evidence(
        self, target: Targets | tuple[Rows, Rows], wanted: Mapping[str, Sequence[str]]
    ) -> Evidence:
        target = _evidence_target(target, wanted)
        return ondemand_evidence(
            self.snapshot, target.referrals, target.referral_children, wanted, target.named_adults
        )


def engine_for(con=None, snapshot: StoreSnapshot | None = None) -> FeatureEngine:
    """The in-memory engine over ``snapshot`` if given, else the SQL engine on ``con``."""
    if snapshot is not None:
        return MemoryEngine(snapshot)
    return SQLEngine(con)
