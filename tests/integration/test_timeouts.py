"""Every timeout: server_connect_timeout, server_login_retry,
server_idle_timeout, server_lifetime, client_login_timeout,
client_idle_timeout, idle_transaction_timeout, query_timeout,
query_wait_timeout. Bounds are generous (2 cores, sanitizer builds)."""

import socket
import time

import psycopg
import pytest

from cluster import wait_for
from helpers import Background, Blackhole, Proxy
from pgwire import ConnectionClosed, PgError, startup_packet
from pooler import SLACK, expect


def assert_between(elapsed, lo, hi, what):
    assert lo <= elapsed <= hi * SLACK, f"{what}: took {elapsed:.2f}s, expected {lo}..{hi * SLACK}s"


def test_server_connect_timeout(sluice, pg):
    """PostgreSQL's address accepts TCP but never answers: sluice gives up on it
    after server_connect_timeout and the client gets an error, not a hang."""
    hole = Blackhole()
    try:
        databases = {"testdb": f"host=127.0.0.1 port={hole.port} dbname=testdb"}
        s = sluice(
            config={"pool_mode": "transaction", "server_connect_timeout": 1, "server_login_retry": 1,
                    "query_wait_timeout": 4},
            databases=databases,
        )
        raw = s.raw(timeout=20)
        t0 = time.monotonic()
        with pytest.raises((PgError, ConnectionClosed)) as e:
            raw.startup("u_app", "testdb")
            raw.query("SELECT 1")
        elapsed = time.monotonic() - t0
        assert_between(elapsed, 0.5, 12, "error after server_connect_timeout")
        if isinstance(e.value, PgError):
            assert e.value.sqlstate[:2] in ("08", "57", "53"), e.value
        wait_for(lambda: hole.accepted, timeout=5, what="a connection attempt to the blackhole")
        # sluice closed the silent server connection after about server_connect_timeout
        first = wait_for(lambda: hole.accepted[0][1], timeout=10 * SLACK, what="sluice closing the silent server")
        assert_between(first - hole.accepted[0][0], 0.5, 5, "server_connect_timeout")
    finally:
        hole.close()


def test_server_login_retry(sluice, pg):
    """A server whose log-in fails (connection closed at once) is retried only
    every server_login_retry while clients keep asking, and the pool recovers
    when the server comes back."""
    proxy = Proxy(pg.port, mode="refuse")
    try:
        databases = {"testdb": f"host=127.0.0.1 port={proxy.port} dbname=testdb"}
        s = sluice(
            config={"pool_mode": "transaction", "server_login_retry": 1, "query_wait_timeout": 2},
            databases=databases,
        )

        def one_client():
            with s.connect(connect_timeout=int(10 * SLACK)) as c:
                c.execute("SELECT 1")

        # steady demand: a new client every 0.25 s for 4 s
        clients = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 4.0:
            clients.append(Background(one_client))
            time.sleep(0.25)
        attempts = proxy.connections
        # 16 clients in 4 s; with a 1 s retry interval a handful of attempts, not one per client
        assert 2 <= attempts <= 7, f"{attempts} server connection attempts in 4 s with server_login_retry=1"
        errors = [c.exception(timeout=20 * SLACK) for c in clients[:4]]
        assert all(isinstance(e, psycopg.Error) for e in errors), errors
        proxy.mode = "forward"
        t1 = time.monotonic()

        def works():
            try:
                one_client()
                return True
            except psycopg.Error:
                return False

        wait_for(works, timeout=12 * SLACK, interval=0.2, what="the pool to recover")
        assert time.monotonic() - t1 <= 10 * SLACK
        for c in clients:
            c.done.wait(20 * SLACK)
    finally:
        proxy.close()


def test_server_idle_timeout(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "server_idle_timeout": 1, "default_pool_size": 3})
    conns = [s.connect(user=role) for _ in range(3)]
    bgs = [Background(c.execute, "SELECT pg_sleep(0.3)") for c in conns]
    for b in bgs:
        b.result(10)
    assert pg.backends(role) >= 2, "test premise: several servers were opened"
    t0 = time.monotonic()
    wait_for(lambda: pg.backends(role) == 0, timeout=10 * SLACK, what="idle servers to be closed")
    assert_between(time.monotonic() - t0, 0.3, 8, "server_idle_timeout")
    # clients are still connected and a new server is made on demand
    assert conns[0].execute("SELECT 'again'").fetchone()[0] == "again"


def test_server_idle_timeout_off_keeps_servers(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "server_idle_timeout": 0})
    with s.connect(user=role) as c:
        c.execute("SELECT 1")
    time.sleep(2.5)
    assert pg.backends(role) == 1


def test_server_lifetime(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "server_lifetime": 1, "default_pool_size": 1})
    c = s.connect(user=role)
    first = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    t0 = time.monotonic()
    pids = {first}
    while time.monotonic() - t0 < 10 * SLACK and len(pids) < 2:
        pids.add(c.execute("SELECT pg_backend_pid()").fetchone()[0])
        time.sleep(0.1)
    assert len(pids) >= 2, "the server outlived server_lifetime"
    assert_between(time.monotonic() - t0, 0.5, 8, "server_lifetime")
    # never more than the pool's one server at a time
    assert pg.backends(role) <= 1


def test_server_lifetime_does_not_cut_a_transaction(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "server_lifetime": 1, "default_pool_size": 1})
    c = s.connect(user=role)
    with c.transaction():
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        time.sleep(2.0)
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid


def test_client_login_timeout_silent_socket(sluice, pg):
    s = sluice(config={"client_login_timeout": 1})
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.settimeout(15 * SLACK)
    t0 = time.monotonic()
    try:
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    assert_between(time.monotonic() - t0, 0.5, 10, "client_login_timeout")
    sock.close()
    with s.connect() as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_client_login_timeout_after_ssl_request(sluice, pg):
    s = sluice(config={"client_login_timeout": 1})
    raw = s.raw(timeout=15)
    assert raw.ssl_if_offered() in (b"N", b"S")  # S under the TLS switch: the wait is in TLS
    t0 = time.monotonic()
    closed, _ = raw.wait_closed(timeout=15 * SLACK)
    assert closed
    assert_between(time.monotonic() - t0, 0.5, 10, "client_login_timeout after SSLRequest")


def test_client_login_timeout_during_password(sluice, pg):
    """The client is asked for a password and never answers."""
    s = sluice(config={"client_login_timeout": 1, "auth_type": "md5"}, userlist={"u_app": "pw_app"})
    raw = s.raw(timeout=15)
    raw.send(startup_packet({"user": "u_app", "database": "testdb"}))
    mtype, body = raw.recv_msg()
    assert mtype == b"R"
    t0 = time.monotonic()
    closed, _ = raw.wait_closed(timeout=15 * SLACK)
    assert closed
    assert_between(time.monotonic() - t0, 0.5, 10, "client_login_timeout during auth")


def test_client_idle_timeout(sluice, pg):
    s = sluice(config={"pool_mode": "transaction", "client_idle_timeout": 1})
    raw = s.raw_login()
    assert raw.query("SELECT 1") == [["1"]]
    t0 = time.monotonic()
    kind, fields, closed = raw.error_or_close(timeout=15 * SLACK)
    assert kind in ("error", "close"), kind
    assert closed
    if kind == "error":
        assert fields["C"][:2] in ("08", "57"), fields
    assert_between(time.monotonic() - t0, 0.5, 10, "client_idle_timeout")
    # a busy client is not idle: queries every 0.3 s keep it alive past the timeout
    busy = s.connect()
    for _ in range(8):
        busy.execute("SELECT 1")
        time.sleep(0.3)


def test_idle_transaction_timeout(sluice, pg, role):
    pg.execute("CREATE TABLE t_idle_tx (id int)")
    pg.execute("GRANT ALL ON t_idle_tx TO PUBLIC")
    s = sluice(config={"pool_mode": "transaction", "idle_transaction_timeout": 1, "default_pool_size": 1})
    raw = s.raw_login(user=role)
    raw.query("BEGIN")
    raw.query("INSERT INTO t_idle_tx VALUES (1)")
    t0 = time.monotonic()
    kind, fields, closed = raw.error_or_close(timeout=15 * SLACK)
    assert kind in ("error", "close"), kind
    assert closed
    assert_between(time.monotonic() - t0, 0.5, 10, "idle_transaction_timeout")
    if kind == "error":
        assert fields["C"] == expect("25P03", "08P01"), fields
    # rolled back, and the pool's one server is usable and clean
    with s.connect(user=role) as c:
        assert c.execute("SELECT count(*) FROM t_idle_tx").fetchone()[0] == 0
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert pg.scalar("SELECT count(*) FROM t_idle_tx") == 0


def test_idle_transaction_timeout_spares_idle_clients(sluice, pg):
    s = sluice(config={"pool_mode": "transaction", "idle_transaction_timeout": 1})
    c = s.connect()
    c.execute("SELECT 1")
    time.sleep(2.0)
    assert c.execute("SELECT 'idle, not in a transaction'").fetchone()[0] == "idle, not in a transaction"


def test_query_timeout(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "query_timeout": 1, "default_pool_size": 1})
    raw = s.raw_login(user=role)
    t0 = time.monotonic()
    with pytest.raises((PgError, ConnectionClosed)) as e:
        raw.query("SELECT pg_sleep(8)", timeout=20 * SLACK)
    assert_between(time.monotonic() - t0, 0.5, 6, "query_timeout")
    if isinstance(e.value, PgError):
        assert e.value.sqlstate == expect("57014", "08P01"), e.value
    # the pool serves the next query promptly (the sleeping server was cancelled or closed)
    t1 = time.monotonic()
    with s.connect(user=role) as c:
        assert c.execute("SELECT 'next'").fetchone()[0] == "next"
    assert time.monotonic() - t1 < 6 * SLACK
    # a short query is not affected
    with s.connect(user=role) as c:
        assert c.execute("SELECT pg_sleep(0.2), 'short'").fetchone()[1] == "short"


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_query_wait_timeout(sluice, pg, role, mode):
    s = sluice(config={"pool_mode": mode, "query_wait_timeout": 1, "default_pool_size": 1})
    holder = s.connect(user=role)
    holder.execute("BEGIN")
    holder.execute("SELECT 1")  # holds the only server
    t0 = time.monotonic()
    with pytest.raises((PgError, ConnectionClosed)) as e:
        raw = s.raw(timeout=20)
        raw.startup(role, "testdb")
        raw.query("SELECT 'should not run'")
    assert_between(time.monotonic() - t0, 0.5, 6, "query_wait_timeout")
    if isinstance(e.value, PgError):
        assert e.value.sqlstate[:2] in ("08", "57"), e.value
    # the holder is undisturbed
    assert holder.execute("SELECT 'holder ok'").fetchone()[0] == "holder ok"
    holder.execute("COMMIT")


def test_server_check_query(sluice, pg, role):
    """A server idle longer than server_check_delay is checked with
    server_check_query before a client gets it (seen in PostgreSQL's log)."""
    pg.execute(f'ALTER ROLE "{role}" SET log_statement = \'all\'')
    marker = f"check_marker_{role}"
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1, "server_check_delay": 0.5,
                       "server_check_query": f"SELECT '{marker}'"})
    c = s.connect(user=role)
    c.execute("SELECT 1")
    time.sleep(1.5)
    assert c.execute("SELECT 'after idle'").fetchone()[0] == "after idle"

    def logged():
        with open(pg.logfile, errors="replace") as f:
            return marker in f.read()

    wait_for(logged, timeout=5 * SLACK, what="server_check_query in PostgreSQL's log")
