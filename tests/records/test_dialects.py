"""The schema and queries compile for PostgreSQL as well as SQLite.

A static check, with no server: the DDL each dialect would receive
(tables, indexes, its own append-only triggers and nothing of the
other's), and that the statements the trail runs compile for PostgreSQL.
The behaviour is checked on a real PostgreSQL server by the tests marked
``@both`` (tests/records/conftest.py) and by test_databases.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import and_, create_mock_engine, func, select

from records.db import audit_log, metadata


def _ddl(url: str) -> list[str]:
    statements: list[str] = []

    def executor(sql, *args, **kwargs):
        statements.append(" ".join(str(sql.compile(dialect=engine.dialect)).split()))

    engine = create_mock_engine(url, executor)
    metadata.create_all(engine, checkfirst=False)
    return statements


@pytest.mark.parametrize(
    "url,own,foreign",
    [
        ("postgresql+psycopg://", "BEFORE TRUNCATE ON audit_log", "RAISE(ABORT"),
        ("sqlite://", "RAISE(ABORT", "plpgsql"),
    ],
)
def test_ddl_per_dialect(url, own, foreign):
    ddl = _ddl(url)
    joined = "\n".join(ddl)
    assert any(s.startswith("CREATE TABLE audit_log") for s in ddl)
    assert any(s.startswith("CREATE TABLE api_tokens") for s in ddl)
    assert own in joined and foreign not in joined
    assert "seq BIGINT NOT NULL" in joined


def test_trail_statements_compile_for_postgresql():
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    statements = [
        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1),
        select(audit_log)
        .where(and_(audit_log.c.referral_id == "R", audit_log.c.kind == "decision"))
        .order_by(audit_log.c.seq),
        select(func.count())
        .select_from(audit_log)
        .where(audit_log.c.at >= "2026-01-01T00:00:00.000000Z"),
        select(audit_log).where(audit_log.c.seq > 0).order_by(audit_log.c.seq).limit(10).offset(5),
        audit_log.insert().values(
            seq=1, at="t", kind="k", actor="a", role="r", payload="{}", prev_hash="0", hash="h"
        ),
    ]
    for statement in statements:
        sql = str(statement.compile(dialect=dialect))
        assert "audit_log" in sql
