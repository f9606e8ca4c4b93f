"""auth_user / auth_query / auth_dbname: users who are not in auth_file are
looked up in PostgreSQL, through libpq on sluice's event loop.

A PostgreSQL of this module's own, where every role but postgres must give a
password over TCP (pg_hba `md5`: SCRAM for SCRAM-stored roles, md5 for
md5-stored ones), so that sluice's own log-in to PostgreSQL as a looked-up
user is really checked. The look-up role aq_auth is no superuser: it calls
the SECURITY DEFINER function PgBouncer's documentation recommends, which
applies the same rules as the default auth_query (VALID UNTIL, rolcanlogin);
aq_super runs the default query against pg_authid itself.

Behaviour: a user found logs in with the secret PostgreSQL has (SCRAM or
md5) and its server connection logs in as that user; a wrong password, an
unknown user, an expired role and a role without LOGIN fail alike (28P01);
a look-up that cannot be done (auth_user's password, database down, query
error, timeout) lets nobody in (08006) and says why in the log; clients
that leave while they wait are dropped; 200 logins at once complete while
another client's queries keep being answered.
"""

import os
import socket
import statistics
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from cluster import PgCluster, wait_for
from pgwire import TLS_SWITCH
from pgwire import PgError, md5_secret, startup_packet
from pooler import SLACK

pytestmark = pytest.mark.sluice_only  # the look-up's log lines and timings are sluice's

AUTH_USER, AUTH_PW = "aq_auth", "Auth-pw-9"
AUTH2_USER, AUTH2_PW = "aq_auth2", "Auth2-pw-8"
SUPER_USER, SUPER_PW = "aq_super", "Super-pw-7"
USERS = {
    "aq_alice": "Alice-aq-1",  # SCRAM, as PostgreSQL 15 stores passwords by default
    "aq_bob": "Bob-aq-2",  # md5-stored
    "aq_expired": "Expired-aq-3",  # VALID UNTIL in the past
    "aq_future": "Future-aq-4",  # VALID UNTIL in the future
    "aq_nologin": "Nologin-aq-5",  # NOLOGIN
}
STORM_USERS = 100
STORM_LOGINS = 200

FUNCTION_QUERY = "SELECT uname, phash FROM aq.user_lookup($1)"
SLOW_QUERY = "SELECT uname, phash FROM aq.slow_lookup($1)"

LOOKUP_FUNCTIONS = """
CREATE SCHEMA aq;
CREATE FUNCTION aq.user_lookup(i_username text, OUT uname text, OUT phash text)
RETURNS record AS $$
BEGIN
    SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END
    FROM pg_authid WHERE rolname = i_username AND rolcanlogin
    INTO uname, phash;
    RETURN;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION aq.slow_lookup(i_username text, OUT uname text, OUT phash text)
RETURNS record AS $$
BEGIN
    PERFORM pg_sleep(current_setting('aq.delay', true)::float8);
    SELECT l.uname, l.phash FROM aq.user_lookup(i_username) l INTO uname, phash;
    RETURN;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION aq.user_lookup(text), aq.slow_lookup(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA aq TO aq_auth, aq_auth2;
GRANT EXECUTE ON FUNCTION aq.user_lookup(text), aq.slow_lookup(text) TO aq_auth, aq_auth2;
"""


class AqCluster(PgCluster):
    """The module's PostgreSQL: passwords required over TCP for all but postgres."""

    def write_hba(self):
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 md5\n")


@pytest.fixture(scope="module")
def aq_pg(certs):
    cluster = AqCluster(name="pgaq", max_connections=400, certs=certs if TLS_SWITCH else None)
    try:
        cluster.init().start().setup_roles()
        with cluster.connect() as c:
            c.execute("SET password_encryption = 'scram-sha-256'")
            c.execute(f"CREATE ROLE {AUTH_USER} LOGIN PASSWORD '{AUTH_PW}'")
            c.execute(f"CREATE ROLE {AUTH2_USER} LOGIN PASSWORD '{AUTH2_PW}'")
            c.execute(f"CREATE ROLE {SUPER_USER} LOGIN SUPERUSER PASSWORD '{SUPER_PW}'")
            c.execute(f"CREATE ROLE aq_alice LOGIN PASSWORD '{USERS['aq_alice']}'")
            c.execute(f"CREATE ROLE aq_expired LOGIN PASSWORD '{USERS['aq_expired']}' VALID UNTIL '2001-01-01'")
            c.execute(f"CREATE ROLE aq_future LOGIN PASSWORD '{USERS['aq_future']}' VALID UNTIL '2999-01-01'")
            c.execute(f"CREATE ROLE aq_nologin NOLOGIN PASSWORD '{USERS['aq_nologin']}'")
            for i in range(STORM_USERS):
                c.execute(f"CREATE ROLE aq_s{i} LOGIN PASSWORD 'Storm-pw-{i}'")
            c.execute("SET password_encryption = 'md5'")
            c.execute(f"CREATE ROLE aq_bob LOGIN PASSWORD '{USERS['aq_bob']}'")
            c.execute(LOOKUP_FUNCTIONS)
            c.execute("ALTER DATABASE testdb SET aq.delay = '0'")
        yield cluster
    finally:
        cluster.destroy()


def userlist(**extra):
    """auth_file: the look-up roles (cleartext, as libpq needs) and u_app; none of the aq_ users."""
    ul = {AUTH_USER: AUTH_PW, AUTH2_USER: AUTH2_PW, SUPER_USER: SUPER_PW, "u_app": "pw_app"}
    ul.update(extra)
    return ul


def aq_sluice(sluice, aq_pg, config=None, databases=None, ul=None):
    cfg = {"auth_type": "scram-sha-256", "auth_user": AUTH_USER, "auth_query": FUNCTION_QUERY}
    cfg.update(config or {})
    dbs = databases or {"testdb": f"host=127.0.0.1 port={aq_pg.port} dbname=testdb"}
    started = aq_pg.scalar("SELECT clock_timestamp()")
    s = sluice(config=cfg, databases=dbs, userlist=ul if ul is not None else userlist(), pg_cluster=aq_pg)
    s.pg_started = started
    return s


def login_error(s, user, password, database="testdb"):
    with pytest.raises(PgError) as e:
        s.raw().startup(user, database, password=password)
    return e.value


def wrong_password_message(user):
    return f'password authentication failed for user "{user}"'


def lookup_backends(s, user=AUTH_USER):
    """sluice's look-up connections as `user` now, leaving out backends of an
    earlier test's sluice that PostgreSQL has not reaped yet."""
    return s.pg.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND application_name = 'sluice auth_query' "
        "AND backend_start >= %s",
        [user, s.pg_started],
    )


def assert_no_secret_in_log(s, pg):
    log = s.log_text()
    bob_md5 = pg.scalar("SELECT rolpassword FROM pg_authid WHERE rolname = 'aq_bob'")
    for secret in (AUTH_PW, AUTH2_PW, SUPER_PW, "SCRAM-SHA-256$", bob_md5):
        assert secret not in log, f"{secret[:14]}... in sluice's log"


# ---------------------------------------------------------------- users found


@pytest.mark.parametrize("auth_type", ["scram-sha-256", "md5"])
def test_scram_user_only_in_postgres_logs_in(sluice, aq_pg, auth_type):
    """aq_alice is only in PostgreSQL, with a SCRAM secret: she logs in with
    SCRAM (also under auth_type md5, as for a SCRAM secret in auth_file), and
    her server connection logs in to PostgreSQL as her with the keys from her
    proof (PostgreSQL asks sluice for SCRAM)."""
    s = aq_sluice(sluice, aq_pg, config={"auth_type": auth_type, "pool_mode": "transaction"})
    for _ in range(2):  # the second login reuses the look-up connection
        with s.connect(user="aq_alice", password=USERS["aq_alice"]) as c:
            assert c.execute("SELECT current_user").fetchone()[0] == "aq_alice"
            assert c.execute("SELECT sum(x) FROM generate_series(1, 10) x").fetchone()[0] == 55
    raw = s.raw()
    raw.startup("aq_alice", "testdb", password=USERS["aq_alice"])
    assert raw.auth_requests[0] == 10
    assert raw.scalar("SELECT session_user") == "aq_alice"
    wait_for(lambda: lookup_backends(s) == 1, timeout=5 * SLACK, what="one look-up connection, reused")
    assert_no_secret_in_log(s, aq_pg)


def test_md5_user_logs_in_with_md5_and_server_login_uses_the_hash(sluice, aq_pg):
    """aq_bob's secret is md5: auth_type md5 asks him for md5, and sluice logs
    in to PostgreSQL (pg_hba md5) as him with the stored hash. Even at
    verbose=2 no secret reaches the log."""
    s = aq_sluice(sluice, aq_pg, config={"auth_type": "md5", "verbose": 2})
    raw = s.raw()
    raw.startup("aq_bob", "testdb", password=USERS["aq_bob"])
    assert raw.auth_requests[0] == 5
    assert raw.scalar("SELECT current_user") == "aq_bob"
    with s.connect(user="aq_bob", password=USERS["aq_bob"]) as c:
        assert c.execute("SELECT 40 + 2").fetchone()[0] == 42
    assert 'user "aq_bob": found' in s.log_text()  # the debug lines name the user, never the secret
    assert_no_secret_in_log(s, aq_pg)


def test_md5_secret_under_scram_fails_like_a_wrong_password(sluice, aq_pg):
    """An md5 secret cannot serve SCRAM: the mock exchange, then 28P01, as for auth_file."""
    s = aq_sluice(sluice, aq_pg)
    e = login_error(s, "aq_bob", USERS["aq_bob"])
    assert (e.sqlstate, e.message) == ("28P01", wrong_password_message("aq_bob"))


def test_trust_accepts_a_user_that_exists(sluice, aq_pg):
    """trust checks no password, but with an auth_query the user must exist."""
    s = aq_sluice(sluice, aq_pg, config={"auth_type": "trust"})
    raw = s.raw()
    raw.startup("aq_bob", "testdb")  # server login with the md5 secret auth_query gave
    assert raw.scalar("SELECT current_user") == "aq_bob"
    e = login_error(s, "aq_nobody", None)
    assert (e.sqlstate, e.message) == ("28P01", wrong_password_message("aq_nobody"))


# ---------------------------------------------------------------- refused alike


@pytest.mark.parametrize("lookup", ["function", "default query"])
def test_wrong_password_unknown_expired_and_nologin_fail_alike(sluice, aq_pg, lookup):
    """A wrong password, an unknown role, a role whose VALID UNTIL has passed
    and a role without LOGIN: the same 28P01 and message, under the SECURITY
    DEFINER function and under the default auth_query (as a superuser). A
    role valid until a date to come logs in."""
    config = {} if lookup == "function" else {"auth_user": SUPER_USER, "auth_query": None}
    s = aq_sluice(sluice, aq_pg, config=config)
    if lookup == "default query":
        assert "auth_query" not in s.render()  # sluice's default, PgBouncer 1.25's
    cases = {
        "aq_alice": "not-her-password",
        "aq_nobody": "whatever",
        "aq_expired": USERS["aq_expired"],  # the right password, expired
        "aq_nologin": USERS["aq_nologin"],
    }
    for user, password in cases.items():
        e = login_error(s, user, password)
        assert e.sqlstate == "28P01", (user, e)
        assert e.message == wrong_password_message(user), (user, e)
        assert e.severity == "FATAL"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        s.connect(user="aq_expired", password=USERS["aq_expired"])
    with s.connect(user="aq_future", password=USERS["aq_future"]) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "aq_future"
    with s.connect(user="aq_alice", password=USERS["aq_alice"]) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_auth_file_users_unchanged(sluice, aq_pg):
    """A user in auth_file is never looked up: it logs in as before, and a
    wrong password fails as before, with no look-up connection made."""
    s = aq_sluice(sluice, aq_pg, config={"pool_mode": "transaction"})
    with s.connect(user="u_app", password="pw_app") as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "u_app"
    e = login_error(s, "u_app", "nope")
    assert (e.sqlstate, e.message) == ("28P01", wrong_password_message("u_app"))
    assert lookup_backends(s) == 0


def test_console_logins_are_never_looked_up(sluice, aq_pg):
    s = aq_sluice(sluice, aq_pg, config={"admin_users": "aq_alice"})
    for port, db in ((s.admin_port, "sluice"), (s.port, "pgbouncer")):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host="127.0.0.1", port=port, user="aq_alice", dbname=db,
                            password=USERS["aq_alice"], connect_timeout=10)
    assert lookup_backends(s) == 0
    assert "auth_query" not in s.log_text()


# ---------------------------------------------------------------- look-ups that fail


def assert_lookup_failed(s, user="aq_alice", database="testdb"):
    e = login_error(s, user, USERS.get(user, "x"), database)
    assert (e.sqlstate, e.message) == ("08006", "authentication lookup failed"), e
    return e


def test_auth_user_wrong_password(sluice, aq_pg):
    """auth_user's password in auth_file is wrong: nobody looked up gets in;
    the log says PostgreSQL refused auth_user."""
    s = aq_sluice(sluice, aq_pg, ul=userlist(**{AUTH_USER: "not-the-auth-pw"}))
    assert_lookup_failed(s)
    with pytest.raises(psycopg.OperationalError, match="authentication lookup failed"):
        s.connect(user="aq_alice", password=USERS["aq_alice"])
    wait_for(lambda: f'password authentication failed for user "{AUTH_USER}"' in s.log_text(),
             timeout=5 * SLACK, what="the log line")
    assert "not-the-auth-pw" not in s.log_text()
    with s.connect(user="u_app", password="pw_app") as c:  # auth_file users still log in
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_auth_user_with_a_verifier_in_auth_file(sluice, aq_pg):
    """libpq cannot log in with an md5 verifier: the log says so plainly."""
    s = aq_sluice(sluice, aq_pg, ul=userlist(**{AUTH_USER: md5_secret(AUTH_USER, AUTH_PW)}))
    assert_lookup_failed(s)
    wait_for(lambda: "md5 or SCRAM verifier" in s.log_text(), timeout=5 * SLACK, what="the hint")


def test_query_error_fails_the_login(sluice, aq_pg):
    s = aq_sluice(sluice, aq_pg, config={"auth_query": "SELECT no_such_column FROM pg_roles WHERE rolname = $1"})
    assert_lookup_failed(s)
    wait_for(lambda: 'failed: 42703 column "no_such_column" does not exist' in s.log_text(),
             timeout=5 * SLACK, what="the query's error in the log")
    s2 = aq_sluice(sluice, aq_pg, config={"auth_query": "SELECT $1::text"})  # one column
    assert_lookup_failed(s2)
    wait_for(lambda: "two columns" in s2.log_text(), timeout=5 * SLACK, what="the shape in the log")


def test_lookup_database_down_then_back(sluice, aq_pg):
    """The look-up server is down: clients get 08006 at once; when it is back,
    the next look-up connects afresh (the idle one died with the server)."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]  # bound, never listening: refused
    dbs = {
        "testdb": f"host=127.0.0.1 port={aq_pg.port} dbname=testdb",
        "deadauth": f"host=127.0.0.1 port={aq_pg.port} dbname=testdb auth_dbname=nowhere",
        "nowhere": f"host=127.0.0.1 port={dead_port} dbname=testdb",
    }
    try:
        s = aq_sluice(sluice, aq_pg, databases=dbs, config={"server_login_retry": 0.1})
        assert_lookup_failed(s, database="deadauth")
        wait_for(lambda: "Connection refused" in s.log_text(), timeout=5 * SLACK, what="the reason")
        with s.connect(user="aq_alice", password=USERS["aq_alice"]) as c:  # connects the look-up
            assert c.execute("SELECT 1").fetchone()[0] == 1
        aq_pg.stop()
        try:
            t0 = time.monotonic()
            assert_lookup_failed(s)
            assert time.monotonic() - t0 < 10 * SLACK
        finally:
            aq_pg.start()
        with s.connect(user="aq_alice", password=USERS["aq_alice"]) as c:
            assert c.execute("SELECT current_user").fetchone()[0] == "aq_alice"
    finally:
        closed.close()


def test_lookup_timeout_closes_and_remakes_the_connection(sluice, aq_pg):
    """A look-up slower than internal_query_timeout fails its clients; the
    connection is closed and the next look-up makes a new one."""
    dbs = {
        "testdb": f"host=127.0.0.1 port={aq_pg.port} dbname=testdb",
        "slow": f"host=127.0.0.1 port={aq_pg.port} dbname=testdb auth_query='{SLOW_QUERY}'",
    }
    s = aq_sluice(sluice, aq_pg, databases=dbs, config={"internal_query_timeout": 0.5})
    aq_pg.execute(f"ALTER ROLE {AUTH_USER} SET aq.delay = '10'")
    try:
        t0 = time.monotonic()
        assert_lookup_failed(s, database="slow")
        assert time.monotonic() - t0 < 2.5 * SLACK
        wait_for(lambda: "internal_query_timeout" in s.log_text(), timeout=5 * SLACK, what="the reason")
        # PostgreSQL stops the abandoned query too (statement_timeout), long before its 10 s
        wait_for(lambda: aq_pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                      "AND query LIKE '%aq.slow_lookup%' AND pid <> pg_backend_pid()") == 0,
                 timeout=4, what="the abandoned look-up to stop in PostgreSQL")
        with s.connect(user="aq_alice", password=USERS["aq_alice"]) as c:
            assert c.execute("SELECT 1").fetchone()[0] == 1
    finally:
        aq_pg.execute(f"ALTER ROLE {AUTH_USER} RESET aq.delay")


# ---------------------------------------------------------------- per-database keys


def test_per_database_overrides(sluice, aq_pg):
    """[databases] auth_user / auth_query / auth_dbname override the global keys.
    The global auth_user cannot log in; the function exists in testdb only."""
    base = f"host=127.0.0.1 port={aq_pg.port}"
    dbs = {
        "testdb": f"{base} dbname=testdb",
        "own_user": f"{base} dbname=testdb auth_user={AUTH2_USER}",
        "no_function": f"{base} dbname=postgres auth_user={AUTH2_USER}",
        "via_auth_db": f"{base} dbname=postgres auth_user={AUTH2_USER} auth_dbname=testdb",
        "own_query": f"{base} dbname=testdb auth_user={AUTH2_USER} "
        f"auth_query='SELECT uname, phash FROM aq.user_lookup($1) WHERE uname <> ''aq_alice'''",
    }
    s = aq_sluice(sluice, aq_pg, databases=dbs, config={"auth_user": "aq_no_such_role"})
    assert_lookup_failed(s, database="testdb")  # the global auth_user
    with s.connect(user="aq_alice", password=USERS["aq_alice"], dbname="own_user") as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "aq_alice"
    assert lookup_backends(s, AUTH2_USER) >= 1
    assert_lookup_failed(s, database="no_function")  # runs in postgres: no aq.user_lookup
    wait_for(lambda: 'failed: 3F000 schema "aq" does not exist' in s.log_text(), timeout=5 * SLACK,
             what="the query's error in the log")
    with s.connect(user="aq_alice", password=USERS["aq_alice"], dbname="via_auth_db") as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "postgres"
    e = login_error(s, "aq_alice", USERS["aq_alice"], "own_query")
    assert (e.sqlstate, e.message) == ("28P01", wrong_password_message("aq_alice"))
    with s.connect(user="aq_future", password=USERS["aq_future"], dbname="own_query") as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


@pytest.mark.parametrize("host", ["unix socket", "host name"])
def test_lookup_over_a_unix_socket_and_by_host_name(sluice, aq_pg, host):
    """The look-up connection goes where the entry says: a unix socket
    directory, or a host name resolved by sluice (never by libpq, which
    would block the loop) and handed to libpq as hostaddr."""
    where = aq_pg.sockdir if host == "unix socket" else "localhost"
    s = aq_sluice(sluice, aq_pg, databases={"testdb": f"host={where} port={aq_pg.port} dbname=testdb"})
    with s.connect(user="aq_alice", password=USERS["aq_alice"]) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "aq_alice"
    wait_for(lambda: lookup_backends(s) == 1, timeout=5 * SLACK, what="the look-up connection")


def test_reload_changes_the_lookup(sluice, aq_pg):
    """auth_user and auth_query are reloadable: the next look-up follows them."""
    s = aq_sluice(sluice, aq_pg)
    with s.connect(user="aq_alice", password=USERS["aq_alice"]) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
    n = s.log_text().count("configuration reloaded")
    s.reload(config={"auth_user": AUTH2_USER,
                     "auth_query": "SELECT uname, phash FROM aq.user_lookup($1) WHERE uname <> 'aq_alice'"})
    wait_for(lambda: s.log_text().count("configuration reloaded") > n, timeout=5 * SLACK, what="the reload")
    e = login_error(s, "aq_alice", USERS["aq_alice"])
    assert (e.sqlstate, e.message) == ("28P01", wrong_password_message("aq_alice"))
    with s.connect(user="aq_future", password=USERS["aq_future"]) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
    wait_for(lambda: lookup_backends(s, AUTH2_USER) == 1, timeout=5 * SLACK, what="the new look-up connection")


# ---------------------------------------------------------------- clients that leave


def test_clients_that_leave_while_waiting(sluice, aq_pg):
    """Clients hang up while their look-up runs, while it is queued, and while
    sharing another client's look-up: sluice drops them (no use after free
    under ASan), and the client that stays logs in."""
    dbs = {"testdb": f"host=127.0.0.1 port={aq_pg.port} dbname=testdb"}
    s = aq_sluice(sluice, aq_pg, databases=dbs, config={"auth_query": SLOW_QUERY})
    aq_pg.execute(f"ALTER ROLE {AUTH_USER} SET aq.delay = '0.4'")
    try:
        leavers = []
        for user in ["aq_alice", "aq_future", "aq_bob", "aq_alice", "aq_nobody", "aq_future"]:
            r = s.raw()
            r.send(startup_packet({"user": user, "database": "testdb"}))
            leavers.append(r)
        time.sleep(0.1)
        stayer = s.raw(timeout=20)
        stayer.send(startup_packet({"user": "aq_alice", "database": "testdb"}))
        for r in leavers:
            r.close()
        stayer.finish_login("aq_alice", USERS["aq_alice"])
        assert stayer.scalar("SELECT current_user") == "aq_alice"
        wait_for(lambda: s.log_text().count("client closed connection") >= len(leavers),
                 timeout=10 * SLACK, what="the leavers' disconnects")
        assert s.alive()
    finally:
        aq_pg.execute(f"ALTER ROLE {AUTH_USER} RESET aq.delay")


def test_client_login_timeout_while_waiting(sluice, aq_pg):
    """client_login_timeout also bounds the wait for a look-up; its late answer goes nowhere."""
    base = f"host=127.0.0.1 port={aq_pg.port} dbname=testdb"
    dbs = {"testdb": base, "fast": f"{base} auth_user={AUTH2_USER} auth_query='{FUNCTION_QUERY}'"}
    s = aq_sluice(sluice, aq_pg, databases=dbs, config={"auth_query": SLOW_QUERY, "client_login_timeout": 0.5})
    aq_pg.execute(f"ALTER ROLE {AUTH_USER} SET aq.delay = '2'")
    try:
        e = login_error(s, "aq_alice", USERS["aq_alice"])
        assert (e.sqlstate, e.message) == ("08P01", "client_login_timeout")
        time.sleep(2.5)  # its look-up answers after the client is gone
        assert s.alive()
        with s.connect(user="aq_future", password=USERS["aq_future"], dbname="fast") as c:
            assert c.execute("SELECT 1").fetchone()[0] == 1
    finally:
        aq_pg.execute(f"ALTER ROLE {AUTH_USER} RESET aq.delay")


# ---------------------------------------------------------------- a login storm

STORM_SCRIPT = """
import asyncio, sys, time
import asyncpg

port, n_logins, n_users, timeout = (int(a) for a in sys.argv[1:5])

async def one(i):
    user = f"aq_s{i % n_users}"
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user=user, password=f"Storm-pw-{i % n_users}",
                                 database="testdb", timeout=timeout, statement_cache_size=0)
    try:
        return await conn.fetchval("SELECT current_user")
    finally:
        await conn.close()

async def main():
    results = await asyncio.gather(*(one(i) for i in range(n_logins)), return_exceptions=True)
    for r in results:
        print(r if isinstance(r, str) else f"ERROR {type(r).__name__}: {r}")

t0 = time.monotonic()
asyncio.run(main())
print(f"TOTAL {time.monotonic() - t0:.3f}")
"""


def test_login_storm_does_not_stall_other_clients(sluice, aq_pg):
    """200 logins of auth_query users at once (100 users, each twice, from
    asyncpg in a process of their own) all complete, while a client of
    another user, already logged in, runs queries throughout. Figures are
    printed, never asserted."""
    s = aq_sluice(sluice, aq_pg, config={"pool_mode": "transaction", "default_pool_size": 2, "max_client_conn": 400})
    other = s.connect(user="u_app", password="pw_app")
    latencies, stop = [], threading.Event()

    def ping():
        while not stop.is_set():
            t0 = time.perf_counter()
            assert other.execute("SELECT 1").fetchone()[0] == 1
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.002)

    pinger = threading.Thread(target=ping, daemon=True)
    pinger.start()
    time.sleep(0.5)
    quiet = list(latencies)
    storm = subprocess.run(
        [sys.executable, "-c", STORM_SCRIPT, str(s.port), str(STORM_LOGINS), str(STORM_USERS), str(int(60 * SLACK))],
        capture_output=True, text=True, timeout=120 * SLACK,
    )
    during = latencies[len(quiet):]
    stop.set()
    pinger.join(10)
    lines = storm.stdout.split()
    assert storm.returncode == 0, storm.stderr[-2000:]
    out = storm.stdout.splitlines()
    total = float(out[-1].split()[1])
    assert sorted(out[:-1]) == sorted(f"aq_s{i % STORM_USERS}" for i in range(STORM_LOGINS)), \
        [line for line in out if line.startswith("ERROR")][:3] or lines[:5]
    assert len(during) > 0
    print(f"\nauth_query login storm: {STORM_LOGINS} logins of {STORM_USERS} users in {total:.3f} s; "
          f"other client: {len(during)} queries during it, worst {max(during) * 1e3:.1f} ms, "
          f"median {statistics.median(during) * 1e3:.2f} ms (before it: median "
          f"{statistics.median(quiet) * 1e3:.2f} ms, worst {max(quiet) * 1e3:.1f} ms)")
    assert_no_secret_in_log(s, aq_pg)
