"""Signals: SIGHUP reloads without dropping clients; SIGTERM stops accepting,
lets in-flight transactions finish and exits 0; SIGINT exits at once.
(PgBouncer 1.18 swaps TERM and INT; pooler.DRAIN_SIGNAL/FAST_SIGNAL map them.)"""

import signal
import time

import psycopg
import pytest

from cluster import wait_for
from helpers import BackendSampler, run_threads
from pooler import DRAIN_SIGNAL, FAST_SIGNAL, IS_PGBOUNCER, SLACK, wait_port_closed


def can_query(s, dbname="testdb", user="u_app"):
    try:
        with s.connect(dbname=dbname, user=user, connect_timeout=3) as c:
            return c.execute("SELECT 1").fetchone()[0] == 1
    except psycopg.Error:
        return False


def test_sighup_applies_pool_size_and_new_database(sluice, pg, role):
    dbs = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb"}
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1}, databases=dbs)
    keeper = s.connect(user=role)
    pid_before = keeper.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert not can_query(s, dbname="added_db", user=role)

    def three_at_once():
        def client(i):
            with s.connect(user=role) as c:
                with c.transaction():
                    c.execute("SELECT pg_sleep(0.4)")
        with BackendSampler(pg, role) as sampler:
            _, errors = run_threads(client, 3, timeout=30 * SLACK)
        assert not errors, errors
        return sampler.max

    assert three_at_once() == 1
    s.reload(
        config={"default_pool_size": 3},
        # added_db is PostgreSQL's "postgres" database, so its server is not counted for testdb
        databases={**dbs, "added_db": f"host=127.0.0.1 port={pg.port} dbname=postgres"},
    )
    wait_for(lambda: can_query(s, dbname="added_db", user=role), timeout=5 * SLACK, what="the new database")
    assert s.alive()
    # the connection from before the reload still works
    assert keeper.execute("SELECT pg_backend_pid()").fetchone()[0] == pid_before
    assert three_at_once() == 3


def test_sighup_with_broken_config_keeps_running(sluice, pg):
    s = sluice(config={"pool_mode": "transaction"})
    c = s.connect()
    with open(s.config_path, "a") as f:
        f.write("pool_mode = not-a-mode\ndefault_pool_size = many\n")
    s.signal(signal.SIGHUP)
    time.sleep(0.5)
    assert s.alive(), "a bad config on reload must not kill the pooler"
    assert c.execute("SELECT 'still served'").fetchone()[0] == "still served"
    assert can_query(s)


def test_sighup_removed_database(sluice, pg):
    dbs = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb",
           "gone_db": f"host=127.0.0.1 port={pg.port} dbname=testdb"}
    s = sluice(config={"pool_mode": "transaction"}, databases=dbs)
    assert can_query(s, dbname="gone_db")
    s.reload(databases={"testdb": dbs["testdb"]})
    wait_for(lambda: not can_query(s, dbname="gone_db"), timeout=5 * SLACK, what="gone_db to be refused")
    assert can_query(s)


def test_sigterm_lets_open_transaction_commit(sluice, pg, role):
    pg.execute("CREATE TABLE t_drain (id int)")
    pg.execute("GRANT ALL ON t_drain TO PUBLIC")
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 2})
    c = s.connect(user=role)
    c.execute("BEGIN")
    c.execute("INSERT INTO t_drain VALUES (1)")
    s.signal(DRAIN_SIGNAL)
    time.sleep(0.5)
    assert s.alive(), "exited with a transaction still open"
    # no new clients while draining (PgBouncer 1.18 still accepts them)
    if not IS_PGBOUNCER:
        with pytest.raises(psycopg.OperationalError):
            s.connect(user=role, connect_timeout=3)
    # the open transaction carries on and commits
    c.execute("INSERT INTO t_drain VALUES (2)")
    c.execute("COMMIT")
    assert pg.execute("SELECT id FROM t_drain ORDER BY id") == [(1,), (2,)]
    c.close()
    rc = s.wait_exit(10)
    assert rc == 0, f"exit code {rc} after a clean drain"


def test_sigterm_session_client_finishes_transaction(sluice, pg, role):
    """Session mode: the client in a transaction may finish it."""
    pg.execute("CREATE TABLE t_drain_sess (id int)")
    pg.execute("GRANT ALL ON t_drain_sess TO PUBLIC")
    s = sluice(config={"pool_mode": "session", "default_pool_size": 2})
    c = s.connect(user=role)
    with c.transaction():
        c.execute("INSERT INTO t_drain_sess VALUES (1)")
        s.signal(DRAIN_SIGNAL)
        time.sleep(0.3)
        c.execute("INSERT INTO t_drain_sess VALUES (2)")
    assert pg.scalar("SELECT count(*) FROM t_drain_sess") == 2
    c.close()
    assert s.wait_exit(10) == 0


def test_sigterm_idle_exits_promptly(sluice, pg):
    s = sluice(config={"pool_mode": "transaction"})
    idle = s.connect()
    idle.execute("SELECT 1")  # an idle client, not in a transaction
    t0 = time.monotonic()
    s.signal(DRAIN_SIGNAL)
    rc = s.wait_exit(10)
    assert rc == 0
    assert time.monotonic() - t0 < 6 * SLACK
    assert wait_port_closed(s.port, 2)


def test_sigint_exits_at_once(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction"})
    c = s.connect(user=role)
    c.execute("BEGIN")
    c.execute("SELECT 1")
    t0 = time.monotonic()
    s.signal(FAST_SIGNAL)
    rc = s.wait_exit(5)
    assert time.monotonic() - t0 < 3 * SLACK, "SIGINT should not wait for the open transaction"
    # exit status: anything but a crash (PgBouncer exits 1)
    assert rc >= 0 or rc == -FAST_SIGNAL, f"unexpected exit status {rc}"
    with pytest.raises(psycopg.OperationalError):
        c.execute("SELECT 2")
    # PostgreSQL rolls the transaction back once the server connection is gone
    wait_for(lambda: pg.backends(role) == 0, timeout=5 * SLACK, what="the server connection to go")
