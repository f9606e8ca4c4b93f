"""PostgreSQL restarted under load: clients see errors while it is down, and
afterwards new queries through the pooler work. Also: a pooled idle server that
PostgreSQL terminates is not handed to the next client."""

import threading
import time

import psycopg
import pytest

from cluster import wait_for
from pooler import SLACK, psycopg_defaults


@pytest.mark.timeout(150)
@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_postgres_restart_under_load(sluice, pg_private, mode):
    s = sluice(
        # session mode: one server per worker, else workers wait for the whole run
        config={"pool_mode": mode, "default_pool_size": 4 if mode == "transaction" else 8, "server_login_retry": 0.5,
                "query_wait_timeout": 10, "server_connect_timeout": 3},
        databases={"testdb": f"host=127.0.0.1 port={pg_private.port} dbname=testdb"},
        pg_cluster=pg_private,
    )
    stop = threading.Event()
    restarted_at = [None]
    stats = {}

    def worker(i):
        ok_before = ok_after = errors = 0
        conn = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(s.dsn(), autocommit=True, connect_timeout=5, **psycopg_defaults())
                assert conn.execute("SELECT %s::int", [i]).fetchone()[0] == i
                if restarted_at[0] is None:
                    ok_before += 1
                else:
                    ok_after += 1
            except psycopg.Error:
                errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
            time.sleep(0.01)
        if conn is not None:
            conn.close()
        stats[i] = (ok_before, ok_after, errors)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    pg_private.restart(mode="fast")
    restarted_at[0] = time.monotonic()
    time.sleep(3.0 * SLACK)
    stop.set()
    for t in threads:
        t.join(30)
    assert len(stats) == 8, "a worker thread hung"
    assert all(b > 0 for b, _, _ in stats.values()), f"no queries before the restart: {stats}"
    assert all(a > 0 for _, a, _ in stats.values()), f"some clients never recovered after the restart: {stats}"
    # and a brand-new client works
    with s.connect() as c:
        assert c.execute("SELECT 'after restart'").fetchone()[0] == "after restart"
    assert s.alive()


def test_postgres_down_then_up(sluice, pg_private):
    s = sluice(
        config={"pool_mode": "transaction", "server_login_retry": 0.5, "query_wait_timeout": 3,
                "server_connect_timeout": 2},
        databases={"testdb": f"host=127.0.0.1 port={pg_private.port} dbname=testdb"},
        pg_cluster=pg_private,
    )
    with s.connect() as c:
        c.execute("SELECT 1")
    pg_private.stop(mode="fast")
    t0 = time.monotonic()
    with pytest.raises(psycopg.Error):
        with s.connect(connect_timeout=15) as c:
            c.execute("SELECT 1")
    assert time.monotonic() - t0 < 12 * SLACK, "an error should come within query_wait_timeout, not a hang"
    pg_private.start()

    def works():
        try:
            with s.connect(connect_timeout=10) as c:
                return c.execute("SELECT 'up'").fetchone()[0] == "up"
        except psycopg.Error:
            return False

    wait_for(works, timeout=15 * SLACK, interval=0.2, what="queries to work again")


def test_terminated_idle_server_is_not_reused(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    c = s.connect(user=role)
    pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert pg.scalar("SELECT pg_terminate_backend(%s)", [pid]) is True
    time.sleep(0.3)
    assert c.execute("SELECT 'fresh server'").fetchone()[0] == "fresh server"
    assert c.execute("SELECT pg_backend_pid()").fetchone()[0] != pid


def test_terminated_server_in_session_mode(sluice, pg, role):
    """The client's own server dies: that client gets an error, others carry on."""
    s = sluice(config={"pool_mode": "session", "default_pool_size": 2})
    victim = s.connect(user=role)
    other = s.connect(user=role)
    pid = victim.execute("SELECT pg_backend_pid()").fetchone()[0]
    other.execute("SELECT 1")
    pg.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(psycopg.OperationalError):
        victim.execute("SELECT 1")
    assert other.execute("SELECT 'unaffected'").fetchone()[0] == "unaffected"
    with s.connect(user=role) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
