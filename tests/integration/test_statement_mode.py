"""Statement pooling: the server goes back after every statement; a
transaction block is refused with an error."""

import psycopg
import pytest
from psycopg import errors

from pgwire import PgError

STMT = {"pool_mode": "statement"}


def test_queries_and_errors(sluice, pg, role):
    pg.execute("CREATE TABLE t_stmt (id int PRIMARY KEY)")
    pg.execute("GRANT ALL ON t_stmt TO PUBLIC")
    s = sluice(config={**STMT, "default_pool_size": 1})
    a = s.connect(user=role)
    b = s.connect(user=role)
    for i in range(5):
        assert a.execute("SELECT %s::int", [i]).fetchone()[0] == i
        assert b.execute("SELECT %s::int + 100", [i]).fetchone()[0] == i + 100
    a.execute("INSERT INTO t_stmt VALUES (1)")
    with pytest.raises(errors.UniqueViolation):
        b.execute("INSERT INTO t_stmt VALUES (1)")
    assert b.execute("SELECT count(*) FROM t_stmt").fetchone()[0] == 1
    assert a.execute("SELECT pg_backend_pid()").fetchone()[0] == b.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_transaction_block_is_refused(sluice, pg, role):
    pg.execute("CREATE TABLE t_stmt_block (id int)")
    pg.execute("GRANT ALL ON t_stmt_block TO PUBLIC")
    s = sluice(config={**STMT, "default_pool_size": 1})
    raw = s.raw_login(user=role)
    got_error = None
    try:
        raw.query("BEGIN")
        raw.query("INSERT INTO t_stmt_block VALUES (1)")
        raw.query("COMMIT")
    except PgError as e:
        got_error = e
    except Exception as e:  # connection closed after the error
        got_error = e
    assert got_error is not None, "a BEGIN block went through in statement mode"
    if isinstance(got_error, PgError):
        assert got_error.severity in ("ERROR", "FATAL")
    assert pg.scalar("SELECT count(*) FROM t_stmt_block") == 0
    # a single statement that is an implicit transaction is fine, and the pool still works
    with s.connect(user=role) as c:
        c.execute("INSERT INTO t_stmt_block VALUES (2)")
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert pg.scalar("SELECT count(*) FROM t_stmt_block") == 1
    assert pg.backends(role, states=["idle in transaction", "idle in transaction (aborted)"]) == 0


def test_psycopg_transaction_refused(sluice, pg, role):
    s = sluice(config={**STMT, "default_pool_size": 2})
    c = s.connect(user=role)
    with pytest.raises(psycopg.Error):
        with c.transaction():
            c.execute("SELECT 1")
    with s.connect(user=role) as d:
        assert d.execute("SELECT 5").fetchone()[0] == 5
