"""Search the linked records for an adult a referrer names.

A referrer names "the mother's new partner, Jay Smith, about 30": a name as
they heard it, perhaps a date of birth, perhaps an address.  MAST scores
that against every agency's records with the Splink model ``mast link``
trained (:mod:`linkage.saved`), so a nickname or a transposed date weighs
exactly as it did when the records were linked, and answers with the linked
person(s) it matches, each with its match probability and the fields that
agree and disagree.

The answer has three outcomes, never a fourth that reads as reassurance:

``found``
    A person matched at or above the governance threshold.
``possible``
    Only matches between the review floor and the threshold: shown with
    their probability for a person to judge, never taken as the adult.
``not_found``
    Nothing matched: *not found in the records MAST holds*, which says
    nothing about whether the adult has a history elsewhere.

Only records an agency held before ``as_of`` (the referral's received time)
are searched, so a referral is scored on what could have been known then.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb
import pandas as pd
from splink import Linker, block_on

from linkage.model import blocking_rules, default_db_api
from linkage.prepare import prepare_records, read_records
from linkage.run import FIELD_NAMES
from linkage.saved import SavedModel, load_model

FOUND, POSSIBLE, NOT_FOUND = "found", "possible", "not_found"
# At most this many candidate persons are returned (the best first).
MAX_CANDIDATES = 3
# The table the adults searched for are written to, always under this name, so
# that the SQL Splink generates for a search is the same text every time.
QUERY_TABLE = "named_adult_query"


@dataclass(frozen=True)
class PreparedSearch:
    """The SQL one search runs, as Splink generated it, to run again as it is.

    Splink builds its SQL in Python for every ``predict_between`` call (with
    sqlglot), which costs more than the DuckDB query it builds.  The SQL is
    a function of the model, the blocking rules, the threshold and the
    tables' names and columns only, never of the adults searched for (they
    are rows of :data:`QUERY_TABLE`), so it is generated once per search
    index and replayed.

    Attributes
    ----------
    key
        The saved model's run id and rule version the SQL was generated for.
    steps
        ``(table, sql)``: each table Splink creates, in order, and its SQL.
    predictions
        The table of scored pairs (the last step's).
    """

    key: tuple[str, str]
    steps: tuple[tuple[str, str], ...]
    predictions: str


@dataclass(frozen=True)
class AdultQuery:
    """An adult's identifying fields as the referrer gave them (each but the name optional)."""

    name: str
    date_of_birth: date | None = None
    postcode: str | None = None
    address: str | None = None
    sex: str | None = None


@dataclass(frozen=True)
class Candidate:
    """One linked person the adult may be."""

    person_key: str
    match_probability: float
    agreeing_fields: tuple[str, ...]
    disagreeing_fields: tuple[str, ...]
    records: tuple[tuple[str, str], ...]  # (agency, agency_record_id) of the person's records


@dataclass(frozen=True)
class SearchResult:
    """What a search found: see the module docstring for the three outcomes."""

    status: str
    candidates: tuple[Candidate, ...] = ()
    threshold: float = 0.0
    review_floor: float = 0.0
    rule_version: str = ""
    best: Candidate | None = field(default=None)


def split_name(name: str) -> tuple[str | None, str | None]:
    """Given and family name from a name as typed: first word and last word.

    One word is taken as the family name (a referrer who knows one name of
    a man usually knows his surname).  Order mistakes ("Smith Jay") are the
    model's to catch: a blocking rule pairs reversed names.
    """
    words = name.replace(",", " ").split()
    if not words:
        return None, None
    if len(words) == 1:
        return None, words[0]
    return words[0], words[-1]


def query_record(adult: AdultQuery, unique_id: str = "referral:named") -> pd.DataFrame:
    """The adult as one prepared record, normalised exactly as agency records are."""
    return query_records([adult], [unique_id.split(":", 1)[1]])


def query_records(adults: list[AdultQuery], record_ids: list[str]) -> pd.DataFrame:
    """Adults as prepared records of agency ``referral`` (ids ``record_ids``), normalised as agency records are."""
    rows = []
    for adult, rid in zip(adults, record_ids, strict=True):
        given, family = split_name(adult.name)
        rows.append(
            {
                "agency": "referral",
                "agency_record_id": rid,
                "given_name": given,
                "family_name": family,
                "date_of_birth": pd.Timestamp(adult.date_of_birth) if adult.date_of_birth else None,
                "sex": adult.sex,
                "postcode": adult.postcode,
                "address": adult.address,
                "nhs_number": None,
                "upn": None,
                "pnc_id": None,
            }
        )
    raw = pd.DataFrame(rows)
    # A filled row beside them, so that a column the referrer left empty keeps
    # its text type through prepare_records' string operations; then dropped.
    filler = raw.iloc[:1].assign(
        agency_record_id="__filler__",
        **{c: "x" for c in ("given_name", "family_name", "postcode", "address", "nhs_number")},
        upn="x",
        pnc_id="x",
        sex="Female",
        date_of_birth=pd.Timestamp("2000-01-01"),
    )
    both = pd.concat([raw, filler], ignore_index=True)
    return prepare_records(both).iloc[: len(raw)].reset_index(drop=True)


def search_blocking_rules() -> list:
    """The model's candidate pairs, widened for what a referrer knows.

    A referrer often knows a surname and little else, or a date of birth
    and a misheard name: surname alone and date of birth alone also make
    a candidate pair.  Widening the candidates never lowers a score; each
    pair is still scored by the trained model.
    """
    return [*blocking_rules(), block_on("family_name"), block_on("date_of_birth")]


class PersonSearch:
    """The linked records held in memory, searchable with the trained model.

    Build once per store (:meth:`from_store`); :meth:`search` is then one
    DuckDB query over the records in memory.

    Parameters
    ----------
    records
        :func:`linkage.prepare.read_records` output.
    links
        ``person_links`` rows (``agency``, ``agency_record_id``, ``person_key``).
    recorded_at
        When each record was first held, by ``unique_id``.
    saved
        The model and governance settings of the run that made ``links``.
    """

    def __init__(
        self,
        records: pd.DataFrame,
        links: pd.DataFrame,
        recorded_at: pd.Series,
        saved: SavedModel,
    ) -> None:
        self.saved = saved
        self._db_api = default_db_api(memory_limit="1GB", threads=1)
        self._con = self._db_api.duckdb_con
        # Every column typed as text (the date as a date) whatever the extract
        # held: a column an agency never fills has no type of its own.
        self._types = [(c, "DATE" if c == "date_of_birth" else "VARCHAR") for c in records.columns]
        self._create_typed_table("agency_records_typed", records)
        self._records = self._db_api.register("agency_records_typed", table_name="agency_records")
        self._linker = Linker(self._records, saved.model_json, log_level=logging.ERROR)
        # Name frequencies from the records, as in the run: a rare surname agreeing counts more.
        for col in ("given_name", "family_name", "full_name"):
            self._linker.table_management.compute_tf_table(col)
        uid = links["agency"] + ":" + links["agency_record_id"]
        self._person = pd.Series(links["person_key"].to_numpy(), index=uid.to_numpy())
        self._recorded_at = recorded_at
        members = pd.DataFrame({"person_key": self._person.to_numpy(), "uid": self._person.index})
        self._members = members.groupby("person_key")["uid"].agg(tuple).to_dict()
        self._rules = search_blocking_rules()
        # The adults searched for: rows of one table, written afresh for each search.
        self._query = self._db_api.register(QUERY_TABLE, table_name=QUERY_TABLE)
        self._prepared: PreparedSearch | None = None
        # One DuckDB connection, used by one request at a time.
        self._lock = threading.Lock()

    @classmethod
    def from_store(cls, con: duckdb.DuckDBPyConnection) -> PersonSearch | None:
        """The search over the store's linked records, or ``None`` if it was never linked.

        ``None`` means *MAST cannot search*, which callers show as such
        (run ``mast link``), never as "not found".
        """
        saved = load_model(con)
        if saved is None:
            return None
        try:
            records = read_records(con)
        except LookupError:
            return None
        links = con.execute("SELECT agency, agency_record_id, person_key FROM person_links").df()
        held = con.execute(
            "SELECT agency || ':' || agency_record_id AS uid, recorded_at FROM agency_records"
        ).df()
        return cls(records, links, held.set_index("uid")["recorded_at"], saved)

    def search(self, adult: AdultQuery, as_of: datetime | None = None) -> SearchResult:
        """The linked persons ``adult`` may be, from records held before ``as_of``."""
        return self.search_many([adult], [as_of])[0]

    def search_many(
        self, adults: list[AdultQuery], as_of: list[datetime | None], *, cached: bool = True
    ) -> list[SearchResult]:
        """:meth:`search` for many adults at once, each as of its own moment.

        One Splink scoring of all the adults against the records (training
        resolves every adult named on every past referral this way); each
        adult's answer is exactly what :meth:`search` gives for it alone.
        ``cached=False`` has Splink generate its SQL afresh (what every search
        did before :class:`PreparedSearch`; kept for the benchmark's ratio and
        the test that both give the same answers).
        """
        if not adults:
            return []
        with self._lock:
            ids = [f"{QUERY_TABLE}_{i}" for i in range(len(adults))]
            self._create_typed_table(QUERY_TABLE, query_records(adults, ids))
            try:
                if cached and self._prepared is not None and self._prepared.key == self._key:
                    pairs = self._replay(self._prepared)
                else:
                    pairs, prepared = self._predict()
                    if cached:
                        self._prepared = prepared
            finally:
                self._con.execute(f"DROP TABLE IF EXISTS {QUERY_TABLE}")
        if pairs.empty:
            return [self._result(pairs, when) for when in as_of]
        which = pairs["unique_id_l"].astype(str).str.rsplit("_", n=1).str[-1].astype(int)
        groups = dict(tuple(pairs.groupby(which.to_numpy())))
        return [self._result(groups.get(i, pairs.iloc[:0]), when) for i, when in enumerate(as_of)]

    @property
    def _key(self) -> tuple[str, str]:
        return (self.saved.run_id, self.saved.rule_version)

    def _predict(self) -> tuple[pd.DataFrame, PreparedSearch]:
        """Score :data:`QUERY_TABLE` with Splink, noting each table its SQL creates."""
        created: list[tuple[str, str]] = []
        run = self._db_api._execute_sql_against_backend

        def noting(sql: str):
            if sql.startswith("CREATE TABLE "):
                created.append((sql.split(None, 3)[2], sql))
            return run(sql)

        self._db_api._execute_sql_against_backend = noting
        try:
            scored = self._linker.inference.predict_between(
                self._query,
                self._records,
                blocking_rules_to_generate_predictions=self._rules,
                threshold_match_probability=self.saved.review_floor,
                warning_mode="never",
            )
        finally:
            del self._db_api._execute_sql_against_backend  # the class's own again
        try:
            pairs = scored.as_pandas_dataframe()
        finally:
            scored.drop_table_from_database_and_remove_from_cache()
        prepared = PreparedSearch(self._key, tuple(created), scored.physical_name)
        if not created or created[-1][0] != prepared.predictions:
            raise RuntimeError("Splink's predictions were not the last table its SQL created.")
        return pairs, prepared

    def _replay(self, prepared: PreparedSearch) -> pd.DataFrame:
        """The scored pairs from :meth:`_predict`'s SQL, run again as it is (no Splink)."""
        try:
            for table, sql in prepared.steps:
                self._con.execute(f"DROP TABLE IF EXISTS {table}")
                self._con.execute(sql)
            return self._con.execute(f"SELECT * FROM {prepared.predictions}").df()
        finally:
            for table, _ in prepared.steps:
                self._con.execute(f"DROP TABLE IF EXISTS {table}")

    def _create_typed_table(self, name: str, frame: pd.DataFrame) -> None:
        """``frame`` as a table of the columns' fixed types (an all-null column has none of its own)."""
        self._con.register("_named_adult_in", frame)
        try:
            columns = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in self._types)
            self._con.execute(f"CREATE TABLE {name} AS SELECT {columns} FROM _named_adult_in")
        finally:
            self._con.unregister("_named_adult_in")

    def _result(self, pairs: pd.DataFrame, as_of: datetime | None) -> SearchResult:
        saved = self.saved
        empty = SearchResult(NOT_FOUND, (), saved.threshold, saved.review_floor, saved.rule_version)
        if pairs.empty:
            return empty
        uid = pairs["unique_id_r"].astype(str)
        if as_of is not None:
            held = uid.map(self._recorded_at)
            pairs = pairs[(held < pd.Timestamp(as_of)).to_numpy()]
            uid = uid[pairs.index]
        pairs = pairs.assign(person_key=uid.map(self._person).to_numpy())
        pairs = pairs[pairs["person_key"].notna()]
        if pairs.empty:
            return empty
        best = (
            pairs.sort_values(["match_probability", "person_key"], ascending=[False, True])
            .drop_duplicates("person_key")
            .head(MAX_CANDIDATES)
        )
        weights = [c for c in FIELD_NAMES if c in best.columns]
        candidates = []
        for row in best.to_dict("records"):
            members = self._members.get(row["person_key"], ())
            if as_of is not None:
                members = tuple(
                    m for m in members if self._recorded_at.get(m, pd.NaT) < pd.Timestamp(as_of)
                )
            candidates.append(
                Candidate(
                    person_key=row["person_key"],
                    match_probability=float(row["match_probability"]),
                    agreeing_fields=tuple(FIELD_NAMES[c] for c in weights if row[c] > 0),
                    disagreeing_fields=tuple(FIELD_NAMES[c] for c in weights if row[c] < 0),
                    records=tuple(tuple(m.split(":", 1)) for m in members),
                )
            )
        top = candidates[0]
        status = FOUND if top.match_probability >= saved.threshold else POSSIBLE
        return SearchResult(
            status,
            tuple(candidates),
            saved.threshold,
            saved.review_floor,
            saved.rule_version,
            best=top if status == FOUND else None,
        )
