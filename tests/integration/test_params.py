"""Session parameters follow each client onto whichever server it gets, and
the startup parameters drivers send are applied, not refused."""

import os
import socket
import struct

import psycopg
import pytest

import pgwire
from cluster import wait_for
from pooler import IS_PGBOUNCER, SLACK

REQUIRED_PARAMS = {
    "server_version", "server_encoding", "client_encoding", "DateStyle", "TimeZone",
    "integer_datetimes", "standard_conforming_strings", "IntervalStyle",
    "application_name", "is_superuser", "session_authorization",
}


def test_login_reports_parameters_and_key(sluice, pg):
    s = sluice(config={"pool_mode": "transaction"})
    raw = s.raw_login(params={"application_name": "param-check"})
    missing = REQUIRED_PARAMS - set(raw.params)
    assert not missing, f"ParameterStatus missing {missing}"
    assert raw.params["server_version"] == pg.version, "server_version must be PostgreSQL's own"
    assert raw.params["application_name"] == "param-check"
    assert raw.params["session_authorization"] == "u_app"
    assert raw.backend_key is not None, "no BackendKeyData"
    assert raw.status == b"I"


@pytest.mark.sluice_only
def test_backend_key_pid_is_positive_and_unique(sluice, pg):
    """sluice issues its own keys: pid a positive int4 (PgBouncer's may be negative)."""
    s = sluice(config={"pool_mode": "transaction"})
    keys = [s.raw_login().backend_key for _ in range(20)]
    for pid, _secret in keys:
        assert 0 < pid <= 2**31 - 1
    assert len(set(keys)) == 20


def show_all(conn):
    return {
        name: conn.execute(f"SHOW {name}").fetchone()[0]
        for name in ("TimeZone", "DateStyle", "application_name", "client_encoding", "IntervalStyle")
    }


def test_set_params_follow_client_in_transaction_mode(sluice, pg, role):
    """Two clients over one server with different TimeZone, DateStyle,
    IntervalStyle, application_name and client_encoding each see their own."""
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    a = s.connect(user=role, application_name="app_a", client_encoding="LATIN1")
    b = s.connect(user=role, application_name="app_b", client_encoding="UTF8")
    a.execute("SET TimeZone = 'America/New_York'")
    a.execute("SET DateStyle = 'SQL, DMY'")
    a.execute("SET IntervalStyle = 'sql_standard'")
    b.execute("SET TimeZone = 'Asia/Tokyo'")
    b.execute("SET DateStyle = 'German'")
    want_a = {"TimeZone": "America/New_York", "DateStyle": "SQL, DMY", "application_name": "app_a",
              "client_encoding": "LATIN1", "IntervalStyle": "sql_standard"}
    want_b = {"TimeZone": "Asia/Tokyo", "DateStyle": "German, DMY", "application_name": "app_b",
              "client_encoding": "UTF8", "IntervalStyle": "postgres"}
    if IS_PGBOUNCER:  # PgBouncer 1.18 does not track IntervalStyle
        del want_a["IntervalStyle"], want_b["IntervalStyle"]
    for _ in range(4):
        assert {k: v for k, v in show_all(a).items() if k in want_a} == want_a
        assert {k: v for k, v in show_all(b).items() if k in want_b} == want_b
        # the values are really in effect, not just reported
        assert a.execute("SELECT to_char(timestamptz '2024-01-01 12:00+00', 'HH24')").fetchone()[0] == "07"
        assert b.execute("SELECT to_char(timestamptz '2024-01-01 12:00+00', 'HH24')").fetchone()[0] == "21"
        assert a.execute("SELECT '2024-03-04'::date::text").fetchone()[0] == "04/03/2024"
        assert b.execute("SELECT '2024-03-04'::date::text").fetchone()[0] == "04.03.2024"
    pid_a = a.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert pid_a == b.execute("SELECT pg_backend_pid()").fetchone()[0], "the clients did not share the server"
    # the application_name PostgreSQL shows is the active client's
    assert a.execute("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()").fetchone()[0] == "app_a"
    # the client-side view (ParameterStatus) agrees too
    assert a.info.parameter_status("TimeZone") == "America/New_York"
    assert b.info.parameter_status("TimeZone") == "Asia/Tokyo"


def test_startup_params_follow_client_in_transaction_mode(sluice, pg, role):
    """TimeZone / DateStyle / application_name given in the StartupMessage."""
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    a = s.raw_login(user=role, params={"TimeZone": "Europe/Berlin", "DateStyle": "ISO, DMY", "application_name": "raw_a"})
    b = s.raw_login(user=role, params={"TimeZone": "UTC", "application_name": "raw_b"})
    assert a.params.get("TimeZone") == "Europe/Berlin"
    for _ in range(3):
        assert a.scalar("SHOW TimeZone") == "Europe/Berlin"
        assert b.scalar("SHOW TimeZone") == "UTC"
        assert a.scalar("SHOW DateStyle") == "ISO, DMY"
        assert b.scalar("SHOW DateStyle") == "ISO, MDY"
        assert a.scalar("SHOW application_name") == "raw_a"
        assert b.scalar("SHOW application_name") == "raw_b"
    assert a.scalar("SELECT pg_backend_pid()") == b.scalar("SELECT pg_backend_pid()")


def test_params_survive_server_reset(sluice, pg, role):
    """With server_reset_query_always the server is DISCARD ALLed after every
    transaction; the client's parameters are applied again."""
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1, "server_reset_query_always": 1})
    a = s.connect(user=role, application_name="keep_me")
    a.execute("SET TimeZone = 'Asia/Kolkata'")
    b = s.connect(user=role)
    b.execute("SET my.x = 'reset me'")  # gone after the reset
    for _ in range(3):
        assert a.execute("SHOW TimeZone").fetchone()[0] == "Asia/Kolkata"
        assert a.execute("SHOW application_name").fetchone()[0] == "keep_me"
        assert b.execute("SELECT current_setting('my.x', true)").fetchone()[0] in (None, "")
        assert b.execute("SHOW TimeZone").fetchone()[0] == "UTC"


def test_session_mode_next_client_gets_its_own_params(sluice, pg, role):
    s = sluice(config={"pool_mode": "session", "default_pool_size": 1})
    with s.connect(user=role, application_name="first") as a:
        a.execute("SET TimeZone = 'Asia/Tokyo'")
        pid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
    with s.connect(user=role, application_name="second") as b:
        assert b.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        assert b.execute("SHOW application_name").fetchone()[0] == "second"
        assert b.execute("SHOW TimeZone").fetchone()[0] == "UTC"


@pytest.mark.sluice_only
def test_options_startup_parameter(sluice, pg, role):
    """options='-c ...' is applied for that client, and only for it."""
    pg.execute("CREATE SCHEMA IF NOT EXISTS s_opts")
    pg.execute("GRANT ALL ON SCHEMA s_opts TO PUBLIC")
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    a = s.connect(user=role, options="-c search_path=s_opts -c statement_timeout=700 -c lock_timeout=1234")
    b = s.connect(user=role)
    for _ in range(2):
        assert a.execute("SHOW search_path").fetchone()[0] == "s_opts"
        assert a.execute("SHOW lock_timeout").fetchone()[0] == "1234ms"
        assert b.execute("SHOW search_path").fetchone()[0] == '"$user", public'
        assert b.execute("SHOW statement_timeout").fetchone()[0] == "0"
    with pytest.raises(psycopg.errors.QueryCanceled):
        a.execute("SELECT pg_sleep(3)")
    assert b.execute("SELECT pg_sleep(1.0), 'b not limited'").fetchone()[1] == "b not limited"
    assert a.execute("SELECT pg_backend_pid()").fetchone()[0] == b.execute("SELECT pg_backend_pid()").fetchone()[0]


@pytest.mark.sluice_only
def test_options_with_escaped_space(sluice, pg):
    s = sluice(config={"pool_mode": "transaction"})
    with s.connect(options=r"-c application_name=with\ space") as c:
        assert c.execute("SHOW application_name").fetchone()[0] == "with space"


@pytest.mark.sluice_only
def test_driver_startup_parameters(sluice, pg, role):
    """Startup parameters JDBC and others send directly."""
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    params = {
        "search_path": "pg_catalog, public",
        "statement_timeout": "4321",
        "lock_timeout": "999",
        "idle_in_transaction_session_timeout": "600000",
        "extra_float_digits": "2",
    }
    a = s.raw_login(user=role, params=params)
    b = s.raw_login(user=role)
    assert a.scalar("SHOW search_path") == "pg_catalog, public"
    assert a.scalar("SHOW statement_timeout") == "4321ms"
    assert a.scalar("SHOW lock_timeout") == "999ms"
    assert a.scalar("SHOW idle_in_transaction_session_timeout") == "10min"
    assert a.scalar("SHOW extra_float_digits") == "2"
    assert b.scalar("SHOW statement_timeout") == "0"
    assert b.scalar("SHOW extra_float_digits") == "1"
    assert a.scalar("SHOW statement_timeout") == "4321ms"


def test_ignore_startup_parameters(sluice, pg):
    """A parameter listed in ignore_startup_parameters is accepted and dropped."""
    s = sluice(config={"pool_mode": "transaction", "ignore_startup_parameters": "extra_float_digits,geqo"})
    raw = s.raw_login(params={"geqo": "off"})
    assert raw.scalar("SHOW geqo") == "on"


@pytest.mark.parametrize("app", ["billing-api", None])
def test_application_name_add_host(sluice, pg, role, app):
    """The server sees "app - addr:port" for a client at addr:port ("app" when
    the client sent no name); a later SET passes through unchanged."""
    s = sluice(config={"application_name_add_host": 1})
    kw = {"application_name": app} if app else {}
    c = s.connect(user=role, **kw)
    with socket.socket(fileno=os.dup(c.pgconn.socket)) as sock:  # a copy: closing it keeps c's
        local_port = sock.getsockname()[1]
    name = c.execute("SELECT current_setting('application_name')").fetchone()[0]
    assert name == f"{app or 'app'} - 127.0.0.1:{local_port}"
    c.execute("SET application_name = 'renamed'")
    assert c.execute("SELECT current_setting('application_name')").fetchone()[0] == "renamed"


@pytest.mark.parametrize("mode", ["session", "transaction"])
@pytest.mark.parametrize("asked", ["utf8", "UTF-8", "unicode", "latin1", "ISO_8859_5"])
def test_client_encoding_reported_in_postgresql_spelling(sluice, pg, role, mode, asked):
    """ParameterStatus client_encoding is the name PostgreSQL itself reports
    ('UTF8' for 'utf8'), in the welcome and on the server."""
    direct = pgwire.RawConn(port=pg.port)
    direct.startup(role, pg.DBNAME, params={"client_encoding": asked})
    canonical = direct.params["client_encoding"]
    direct.terminate()
    assert canonical == {"latin1": "LATIN1", "ISO_8859_5": "ISO_8859_5"}.get(asked, "UTF8")
    s = sluice(config={"pool_mode": mode})
    raw = s.raw_login(user=role, params={"client_encoding": asked})
    assert raw.params["client_encoding"] == canonical
    assert raw.scalar("SHOW client_encoding") == canonical
    assert raw.params["client_encoding"] == canonical  # and no change announced later


@pytest.mark.sluice_only
def test_session_mode_gives_the_real_backend_pid(sluice, pg, role):
    """Session mode: BackendKeyData carries the server's real pid, so
    pg_backend_pid() and NOTIFY agree with it; cancel, matched by pid and
    sluice's own secret, still stops that client's query and no other."""
    s = sluice(config={"pool_mode": "session", "default_pool_size": 2})
    a = s.raw_login(user=role)
    b = s.raw_login(user=role)
    pid_a, secret_a = a.backend_key
    assert int(a.scalar("SELECT pg_backend_pid()")) == pid_a
    assert int(b.scalar("SELECT pg_backend_pid()")) == b.backend_key[0] != pid_a
    a.query("LISTEN chan")
    a.send(pgwire.query_message("NOTIFY chan, 'hello'"))
    notes = [body for t, body in a.read_until(b"Z") if t == b"A"]
    assert notes and struct.unpack("!i", notes[0][:4])[0] == pid_a
    a.send(pgwire.query_message("SELECT pg_sleep(30) /* cancel-a */"))
    b.send(pgwire.query_message("SELECT pg_sleep(1), 'b survived' /* not-b */"))
    wait_for(lambda: pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE usename = %s "
                               "AND state = 'active' AND query LIKE '%%pg_sleep%%'", [role]) == 2,
             what="both queries running")
    assert pgwire.send_cancel(s.port, pid_a, secret_a ^ 1)  # wrong secret: nothing happens
    pgwire.send_cancel(s.port, pid_a, secret_a)
    with pytest.raises(pgwire.PgError) as e:
        a.read_result(timeout=15 * SLACK)
    assert e.value.sqlstate == "57014"
    assert b.read_result(timeout=15 * SLACK) == [["", "b survived"]]


@pytest.mark.sluice_only
def test_transaction_mode_keeps_sluices_own_keys(sluice, pg, role):
    """Transaction mode: clients share servers, so each has its own key."""
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    a = s.raw_login(user=role)
    b = s.raw_login(user=role)
    server_pid = int(a.scalar("SELECT pg_backend_pid()"))
    assert int(b.scalar("SELECT pg_backend_pid()")) == server_pid  # one server for both
    assert a.backend_key[0] != b.backend_key[0], "two clients must not share a key"


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_database_entry_sets_server_parameters(sluice, pg, role, mode):
    """client_encoding, datestyle and timezone in a [databases] entry go in
    each server connection's startup packet, as PgBouncer does: a client that
    asks for none of them gets them (welcome and session), one that asks for
    its own keeps its own, and the next client on that server has the
    entry's again."""
    entry = (f"host=127.0.0.1 port={pg.port} dbname=testdb client_encoding=LATIN1 "
             "datestyle='SQL, DMY' timezone=Asia/Tokyo")
    if not IS_PGBOUNCER:  # application_name in an entry: PgBouncer 1.18 has no such key
        entry += " application_name=from-ini"
    s = sluice(config={"pool_mode": mode, "default_pool_size": 1}, databases={"testdb": entry})
    plain = s.raw_login(user=role)
    assert (plain.params["TimeZone"], plain.params["client_encoding"], plain.params["DateStyle"]) == (
        "Asia/Tokyo", "LATIN1", "SQL, DMY")
    assert plain.scalar("SHOW TimeZone") == "Asia/Tokyo"
    assert plain.scalar("SHOW DateStyle") == "SQL, DMY"
    if not IS_PGBOUNCER:
        assert plain.scalar("SELECT current_setting('application_name')") == "from-ini"
    plain.terminate()
    own = s.raw_login(user=role, params={"TimeZone": "UTC", "client_encoding": "UTF8"})
    assert own.params["TimeZone"] == "UTC"
    assert own.scalar("SHOW TimeZone") == "UTC" and own.scalar("SHOW client_encoding") == "UTF8"
    own.terminate()
    again = s.raw_login(user=role)  # the one server, after `own` set its own
    assert again.scalar("SHOW TimeZone") == "Asia/Tokyo"
    assert again.scalar("SHOW client_encoding") == "LATIN1"


@pytest.mark.sluice_only
def test_database_entry_parameters_follow_a_reload(sluice, pg, role):
    """A changed timezone in the entry replaces the pool's servers; clients
    after the reload are welcomed with the new value and have it."""
    entry = f"host=127.0.0.1 port={pg.port} dbname=testdb"
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1},
               databases={"testdb": entry + " timezone=Asia/Tokyo"})
    first = s.raw_login(user=role)
    assert first.scalar("SHOW TimeZone") == "Asia/Tokyo"
    s.reload(databases={"testdb": entry + " timezone=Europe/Paris"})
    wait_for(lambda: "configuration reloaded" in s.log_text(), timeout=5 * SLACK, what="the reload")
    later = s.raw_login(user=role)
    assert later.params["TimeZone"] == "Europe/Paris"
    assert later.scalar("SHOW TimeZone") == "Europe/Paris"
