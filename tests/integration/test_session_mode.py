"""Session pooling: a client keeps one server until it disconnects; the next
client waits for it, and gets it back clean (server_reset_query)."""

import time

import pytest

from helpers import Background, check_queries_errors_transactions


def test_queries_errors_transactions(sluice, pg):
    s = sluice(config={"pool_mode": "session"})
    check_queries_errors_transactions(s, pg, "t_session_basic")


def test_unix_socket(sluice, pg):
    s = sluice(config={"pool_mode": "session"})
    with s.connect(host=s.dir) as c:
        assert c.execute("SELECT 42").fetchone()[0] == 42


def test_session_keeps_one_server(sluice, pg):
    s = sluice(config={"pool_mode": "session", "default_pool_size": 2})
    with s.connect() as c:
        c.execute("SET work_mem = '7MB'")
        pids = {c.execute("SELECT pg_backend_pid()").fetchone()[0] for _ in range(10)}
        assert len(pids) == 1
        assert c.execute("SHOW work_mem").fetchone()[0] == "7MB"


def test_waiting_for_the_only_server(sluice, pg, role):
    s = sluice(config={"pool_mode": "session", "default_pool_size": 1})
    first = s.connect(user=role)
    pid1 = first.execute("SELECT pg_backend_pid()").fetchone()[0]

    def second_client():
        c = s.connect(user=role)
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        c.close()
        return pid, time.monotonic()

    bg = Background(second_client)
    time.sleep(1.0)
    assert not bg.done.is_set(), "second client got a server while the pool of 1 was taken"
    assert pg.backends(role) == 1
    released_at = time.monotonic()
    first.close()
    pid2, got_at = bg.result(timeout=15)
    assert pid2 == pid1, "the second client should get the same (only) server"
    assert got_at >= released_at


def test_reset_between_clients(sluice, pg, role):
    """SET, temp tables, prepared statements and advisory locks of one client are
    gone for the next client on the same server (DISCARD ALL)."""
    s = sluice(config={"pool_mode": "session", "default_pool_size": 1})
    with s.connect(user=role) as a:
        pid_a = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        a.execute("SET work_mem = '13MB'")
        a.execute("SET my.leak = 'from client a'")
        a.execute("SET statement_timeout = '123s'")
        a.execute("CREATE TEMP TABLE t_leak (x int)")
        a.execute("PREPARE leaky AS SELECT 1")
        a.execute("SELECT pg_advisory_lock(4242)")
        a.execute("LISTEN leak_channel")
    b = s.connect(user=role)
    assert b.execute("SELECT pg_backend_pid()").fetchone()[0] == pid_a, "not the same server"
    assert b.execute("SHOW work_mem").fetchone()[0] != "13MB"
    assert b.execute("SHOW statement_timeout").fetchone()[0] == "0"
    assert b.execute("SELECT current_setting('my.leak', true)").fetchone()[0] in (None, "")
    assert b.execute("SELECT to_regclass('pg_temp.t_leak')").fetchone()[0] is None
    assert b.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0
    assert b.execute("SELECT count(*) FROM pg_listening_channels()").fetchone()[0] == 0
    assert b.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[0] == 0


def test_custom_server_reset_query(sluice, pg, role):
    """server_reset_query is what runs between clients (here: a marker instead of DISCARD ALL)."""
    s = sluice(config={"pool_mode": "session", "default_pool_size": 1,
                       "server_reset_query": "SELECT set_config('my.reset', 'ran', false)"})
    with s.connect(user=role) as a:
        pid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert a.execute("SELECT current_setting('my.reset', true)").fetchone()[0] in (None, "")
    with s.connect(user=role) as b:
        assert b.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        assert b.execute("SELECT current_setting('my.reset', true)").fetchone()[0] == "ran"


def test_empty_server_reset_query_does_not_reset(sluice, pg, role):
    """server_reset_query = '' (PgBouncer's advice for transaction mode): nothing runs."""
    s = sluice(config={"pool_mode": "session", "default_pool_size": 1, "server_reset_query": ""})
    with s.connect(user=role) as a:
        pid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        a.execute("SET my.kept = 'kept'")
    with s.connect(user=role) as b:
        assert b.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        assert b.execute("SELECT current_setting('my.kept', true)").fetchone()[0] == "kept"


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_connect_query(sluice, pg, role, mode):
    """connect_query in the database entry runs once on each new server connection."""
    databases = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb "
                           "connect_query='SELECT set_config(''my.cq'', ''connected'', false)'"}
    s = sluice(config={"pool_mode": mode, "default_pool_size": 1, "server_reset_query": ""},
               databases=databases)
    with s.connect(user=role) as c:
        assert c.execute("SELECT current_setting('my.cq', true)").fetchone()[0] == "connected"
