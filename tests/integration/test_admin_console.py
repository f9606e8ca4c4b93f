"""Admin console: every SHOW answers with PgBouncer's documented columns in
PgBouncer's order (sluice's own columns only at the end), with sensible types;
who may use the console and what; the console on the admin port and on the
main port as databases `sluice` and `pgbouncer`; simple query protocol only;
errors for unknown commands."""

import psycopg
import pytest

import pgwire
from admin_helpers import (
    ADMIN, NOBODY, OID_INT4, OID_INT8, OID_TEXT, OID_TIMESTAMPTZ, STATS, admin_config, admin_raw,
    console, pool_row, show, show_desc, wait_admin_port,
)
from pooler import SLACK

pytestmark = pytest.mark.sluice_only

# PgBouncer's documented columns (doc/usage.md, "Show commands"), in order.
# Types: s text, i integer (int4 or int8), T a time (timestamptz or text),
# x integer or text (PgBouncer sends these as text, an integer is as good).
_SOCKETS = [
    ("type", "s"), ("user", "s"), ("database", "s"), ("replication", "s"), ("state", "s"),
    ("addr", "s"), ("port", "i"), ("local_addr", "s"), ("local_port", "i"),
    ("connect_time", "T"), ("request_time", "T"), ("wait", "i"), ("wait_us", "i"),
    ("close_needed", "i"), ("ptr", "s"), ("link", "s"), ("remote_pid", "i"), ("tls", "s"),
    ("application_name", "s"), ("prepared_statements", "i"), ("id", "i"),
]
_TOTALS = [
    "total_xact_count", "total_query_count", "total_server_assignment_count",
    "total_server_closed_count", "total_received", "total_sent", "total_xact_time",
    "total_query_time", "total_wait_time", "total_server_lifetime", "total_client_parse_count",
    "total_server_parse_count", "total_bind_count",
]
_AVERAGES = [
    "avg_xact_count", "avg_query_count", "avg_server_assignment_count", "avg_recv", "avg_sent",
    "avg_xact_time", "avg_query_time", "avg_wait_time", "avg_server_lifetime",
    "avg_client_parse_count", "avg_server_parse_count", "avg_bind_count",
]
_SHORT = [
    "server_assignment_count", "xact_count", "query_count", "bytes_received", "bytes_sent",
    "xact_time", "query_time", "wait_time",
]
DOCUMENTED = {
    "POOLS": [
        ("database", "s"), ("user", "s"), ("cl_active", "i"), ("cl_waiting", "i"),
        ("cl_active_cancel_req", "i"), ("cl_waiting_cancel_req", "i"), ("sv_active", "i"),
        ("sv_active_cancel", "i"), ("sv_being_canceled", "i"), ("sv_idle", "i"), ("sv_used", "i"),
        ("sv_tested", "i"), ("sv_login", "i"), ("maxwait", "i"), ("maxwait_us", "i"),
        ("pool_mode", "s"), ("load_balance_hosts", "s"),
    ],
    "STATS": [("database", "s")] + [(c, "i") for c in _TOTALS + _AVERAGES],
    # PgBouncer 1.25's short names (not SHOW STATS's), averages prefix only parse/bind
    "STATS_TOTALS": [("database", "s")] + [(c, "i") for c in _SHORT + [
        "client_parse_count", "server_parse_count", "bind_count", "client_connect_count"]],
    "STATS_AVERAGES": [("database", "s")] + [(c, "i") for c in _SHORT + [
        "avg_client_parse_count", "avg_server_parse_count", "avg_bind_count",
        "client_connect_count"]],
    "TOTALS": [("name", "s"), ("value", "i")],
    "CLIENTS": _SOCKETS,
    "SERVERS": _SOCKETS,
    "DATABASES": [
        ("name", "s"), ("host", "s"), ("port", "i"), ("database", "s"), ("force_user", "s"),
        ("pool_size", "i"), ("min_pool_size", "i"), ("reserve_pool_size", "i"),
        ("server_lifetime", "i"), ("pool_mode", "s"), ("load_balance_hosts", "s"),
        ("max_connections", "i"), ("current_connections", "i"), ("max_client_connections", "i"),
        ("current_client_connections", "i"), ("paused", "i"), ("disabled", "i"),
    ],
    "USERS": [
        ("name", "s"), ("pool_size", "x"), ("reserve_pool_size", "x"), ("pool_mode", "s"),
        ("max_user_connections", "i"), ("current_connections", "i"),
        ("max_user_client_connections", "i"), ("current_client_connections", "i"),
    ],
    "CONFIG": [("key", "s"), ("value", "s"), ("default", "s"), ("changeable", "s")],
    "LISTS": [("list", "s"), ("items", "i")],
    "MEM": [("name", "s"), ("size", "i"), ("used", "i"), ("free", "i"), ("memtotal", "i")],
    "STATE": [("key", "s"), ("value", "s")],
    "VERSION": [("version", "s")],
    # sluice's pg_stat_activity (the list)
    "ACTIVITY": [
        ("client_id", "i"), ("datname", "s"), ("usename", "s"), ("application_name", "s"),
        ("client_addr", "s"), ("client_port", "i"), ("backend_start", "T"), ("xact_start", "T"),
        ("query_start", "T"), ("state_change", "T"), ("wait_event_type", "s"), ("wait_event", "s"),
        ("state", "s"), ("server_pid", "i"), ("query", "s"),
    ],
}
# sluice's own columns, which must come right after PgBouncer's
SLUICE_EXTRA = {"POOLS": [("wait_p50_us", "i"), ("wait_p99_us", "i"), ("wait_max_us", "i"), ("saturation", "n")],
                "CONFIG": [("source", "s")]}
LISTS_ROWS = [
    "databases", "users", "pools", "free_clients", "used_clients", "login_clients",
    "free_servers", "used_servers", "dns_names", "dns_zones", "dns_queries", "dns_pending",
]
TYPE_OK = {
    "s": {OID_TEXT},
    "i": {OID_INT4, OID_INT8},
    "T": {OID_TIMESTAMPTZ, OID_TEXT},
    "x": {OID_INT4, OID_INT8, OID_TEXT},
    "n": {1700},  # numeric
}
ALL_ITEMS = list(DOCUMENTED)


def _loaded(sluice, role, **cfg):
    """A sluice in transaction mode where `role` has run a query (so every view has rows)."""
    s = sluice(config=admin_config(pool_mode="transaction", **cfg))
    c = s.connect(user=role, application_name="console_test")
    assert c.execute("SELECT 1").fetchone()[0] == 1
    return s, c


def test_every_show_has_pgbouncers_columns_in_order(sluice, role):
    s, _ = _loaded(sluice, role)
    a = console(s)
    problems = []
    for item in ALL_ITEMS:
        names, oids, rows = show_desc(a, item)
        want = DOCUMENTED[item]
        want_names = [n for n, _ in want]
        if names[: len(want)] != want_names:
            problems.append(f"SHOW {item}: columns {names}\n   expected to start with {want_names}")
            continue
        extra = SLUICE_EXTRA.get(item, [])
        if item in SLUICE_EXTRA and names[len(want):len(want) + len(extra)] != [n for n, _ in extra]:
            problems.append(f"SHOW {item}: sluice columns after PgBouncer's are {names[len(want):]}, "
                            f"expected {[n for n, _ in extra]}")
        for (name, kind), oid in zip(want + extra, oids):
            if oid not in TYPE_OK[kind]:
                problems.append(f"SHOW {item}: column {name} has type oid {oid}, expected {kind!r} "
                                f"({sorted(TYPE_OK[kind])})")
        # psycopg parsed every cell by its declared type: an int column holding text
        # would have raised; check python types too
        for r in rows:
            for (name, kind), v in zip(want + extra, r):
                if v is not None and kind == "i" and not isinstance(v, int):
                    problems.append(f"SHOW {item}: {name}={v!r} is not an int")
        if len(names) != len(set(names)):
            problems.append(f"SHOW {item}: duplicate column names {names}")
    assert not problems, "\n".join(problems)


def test_every_show_answers_with_true_rows(sluice, pg, role):
    s, _ = _loaded(sluice, role)
    a = console(s)

    pools = show(a, "POOLS")
    p = pool_row(a, "testdb", role)
    assert p is not None, pools
    assert p["pool_mode"] == "transaction"
    assert (p["cl_active"], p["cl_waiting"], p["sv_active"], p["sv_idle"]) == (1, 0, 0, 1)
    assert (p["wait_p50_us"], p["wait_p99_us"], p["wait_max_us"]) >= (0, 0, 0)
    assert p["wait_p50_us"] <= p["wait_p99_us"] <= p["wait_max_us"] or p["wait_max_us"] == 0

    stats = {r["database"]: r for r in show(a, "STATS")}
    assert stats["testdb"]["total_xact_count"] == 1
    assert stats["testdb"]["total_query_count"] == 1
    assert stats["testdb"]["total_received"] > 0 and stats["testdb"]["total_sent"] > 0
    assert {r["database"] for r in show(a, "STATS_TOTALS")} == set(stats)
    assert {r["database"] for r in show(a, "STATS_AVERAGES")} == set(stats)

    # TOTALS: SHOW STATS summed over databases, as name/value rows
    totals = show(a, "TOTALS")
    names = [r["name"] for r in totals]
    assert names == _TOTALS + _AVERAGES
    tv = {r["name"]: r["value"] for r in totals}
    for col in _TOTALS:
        assert tv[col] == sum(r[col] for r in stats.values()), col

    clients = [r for r in show(a, "CLIENTS") if r["user"] == role]
    assert len(clients) == 1
    assert clients[0]["type"] == "C" and clients[0]["database"] == "testdb"
    assert clients[0]["application_name"] == "console_test"
    assert clients[0]["addr"] == "127.0.0.1" and clients[0]["local_port"] == s.port

    servers = [r for r in show(a, "SERVERS") if r["user"] == role]
    assert len(servers) == 1
    assert servers[0]["type"] == "S" and servers[0]["state"] == "idle"
    assert servers[0]["port"] == pg.port and servers[0]["remote_pid"] > 0

    dbs = {r["name"]: r for r in show(a, "DATABASES")}
    assert dbs["testdb"]["port"] == pg.port and dbs["testdb"]["database"] == "testdb"
    assert dbs["testdb"]["pool_size"] == 20
    assert dbs["testdb"]["current_connections"] == 1
    assert (dbs["testdb"]["paused"], dbs["testdb"]["disabled"]) == (0, 0)

    users = {r["name"]: r for r in show(a, "USERS")}
    assert users[role]["current_connections"] == 1
    assert users[role]["current_client_connections"] == 1

    config = {r["key"]: r for r in show(a, "CONFIG")}
    assert config["admin_users"]["value"] == ADMIN
    assert config["stats_users"]["value"] == STATS
    assert config["default_pool_size"]["value"] == "20"
    assert config["listen_port"]["value"] == str(s.port)
    assert config["listen_port"]["changeable"] == "no"
    assert config["default_pool_size"]["changeable"] == "yes"
    assert {r["changeable"] for r in config.values()} <= {"yes", "no"}

    lists = show(a, "LISTS")
    assert [r["list"] for r in lists] == LISTS_ROWS
    lv = {r["list"]: r["items"] for r in lists}
    assert lv["pools"] == len(pools)
    assert lv["used_servers"] == 1
    assert lv["used_clients"] >= 2  # the role's client and this console

    mem = show(a, "MEM")
    assert mem
    for r in mem:
        assert r["size"] > 0
        assert r["memtotal"] == r["size"] * (r["used"] + r["free"]), r

    state = show(a, "STATE")
    assert [(r["key"], r["value"]) for r in state] == [("active", "yes"), ("paused", "no"), ("suspended", "no")]

    version = show(a, "VERSION")
    assert len(version) == 1 and "sluice" in version[0]["version"].lower()

    activity = [r for r in show(a, "ACTIVITY") if r["usename"] == role]
    assert len(activity) == 1 and activity[0]["query"] == "SELECT 1"


def test_show_help_lists_the_commands(sluice):
    s = sluice(config=admin_config())
    a = console(s)
    notices = []
    a.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    cur = a.execute("SHOW HELP")
    assert cur.statusmessage == "SHOW"
    text = "\n".join(notices)
    for word in ("SHOW", "POOLS", "ACTIVITY", "PAUSE", "RESUME", "KILL_CLIENT", "RELOAD",
                 "SHUTDOWN", "SET", "WAIT_CLOSE", "DISABLE", "ENABLE", "SUSPEND", "RECONNECT"):
        assert word in text, f"SHOW HELP does not mention {word}: {text!r}"
    # case does not matter, a trailing ';' neither
    assert a.execute("show version;").fetchone()[0].lower().startswith("sluice")


# ---------------------------------------------------------------- access


def _sqlstate(exc):
    return getattr(exc, "sqlstate", None) or (exc.diag.sqlstate if getattr(exc, "diag", None) else None)


CONTROL = [
    "PAUSE", "PAUSE testdb", "RESUME", "RESUME testdb", "RELOAD", "SET default_pool_size = 3",
    "KILL testdb", "KILL_CLIENT 1", "RECONNECT", "RECONNECT testdb", "WAIT_CLOSE", "DISABLE testdb",
    "ENABLE testdb", "SUSPEND", "SHUTDOWN", "SHUTDOWN WAIT_FOR_CLIENTS", "SHUTDOWN WAIT_FOR_SERVERS",
]


def test_stats_user_may_show_but_not_control(sluice, role):
    s, c = _loaded(sluice, role)
    ro = console(s, user=STATS)
    for item in ALL_ITEMS:
        ro.execute(f"SHOW {item}").fetchall()
    for cmd in CONTROL:
        with pytest.raises(psycopg.Error) as ei:
            ro.execute(cmd)
        assert _sqlstate(ei.value) == "42501", f"{cmd}: {ei.value!r}"
        # the session survives the refusal
        assert ro.execute("SHOW VERSION").fetchone()
    # and none of it happened
    a = console(s)
    assert {r["key"]: r["value"] for r in show(a, "STATE")} == {"active": "yes", "paused": "no", "suspended": "no"}
    assert {r["key"]: r["value"] for r in show(a, "CONFIG")}["default_pool_size"] == "20"
    assert s.alive()
    assert c.execute("SELECT 2").fetchone()[0] == 2


def test_admin_user_may_control(sluice, role):
    s, c = _loaded(sluice, role)
    a = console(s)
    assert a.execute("PAUSE").statusmessage == "PAUSE"
    assert {r["key"]: r["value"] for r in show(a, "STATE")}["paused"] == "yes"
    assert a.execute("RESUME").statusmessage == "RESUME"
    assert a.execute("SET default_pool_size = 5").statusmessage.startswith("SET")
    assert c.execute("SELECT 3").fetchone()[0] == 3


@pytest.mark.parametrize("user", [NOBODY, "u_app"])
def test_user_in_neither_list_is_refused(sluice, user):
    s = sluice(config=admin_config())
    wait_admin_port(s)
    for port, db in ((s.admin_port, "sluice"), (s.admin_port, "testdb"), (s.port, "pgbouncer"), (s.port, "sluice")):
        r = pgwire.RawConn(port=port, timeout=10 * SLACK)
        s.raws.append(r)
        with pytest.raises(pgwire.PgError) as ei:
            r.startup(user, db)
        assert ei.value.sqlstate == "42501", (port, db, ei.value)
        closed, _ = r.wait_closed(timeout=5 * SLACK)
        assert closed
    # a refused console login is not a refused pooler
    with s.connect() as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


@pytest.mark.parametrize("dbname", ["pgbouncer", "sluice"])
def test_console_on_the_main_port(sluice, role, dbname):
    s, _ = _loaded(sluice, role)
    a = console(s, dbname=dbname, main_port=True)
    assert pool_row(a, "testdb", role) is not None
    assert a.execute("PAUSE testdb").statusmessage == "PAUSE"
    assert {r["name"]: r["paused"] for r in show(a, "DATABASES")}["testdb"] == 1
    a.execute("RESUME testdb")
    ro = console(s, user=STATS, dbname=dbname, main_port=True)
    assert ro.execute("SHOW VERSION").fetchone()
    with pytest.raises(psycopg.Error) as ei:
        ro.execute("PAUSE")
    assert _sqlstate(ei.value) == "42501"


# ---------------------------------------------------------------- protocol


def test_extended_protocol_is_refused(sluice):
    s = sluice(config=admin_config())
    a = console(s)
    with pytest.raises(psycopg.Error) as ei:
        a.execute("SHOW %s", ["POOLS"])
    assert _sqlstate(ei.value) in ("08P01", None), ei.value
    assert "simple query" in str(ei.value), ei.value

    # a prepared statement without parameters (prepare_threshold=None would disable it)
    b = console(s, prepare_threshold=5)
    with pytest.raises(psycopg.Error) as ei:
        b.execute("SHOW POOLS", prepare=True)
    assert "simple query" in str(ei.value), ei.value

    # the same at the byte level: Parse gets an ErrorResponse 08P01 and the connection ends
    r = admin_raw(s)
    r.startup(ADMIN, "sluice")
    r.send(pgwire.message(b"P", b"\0SHOW POOLS\0\0\0") + pgwire.message(b"S"))
    kind, fields, closed = r.error_or_close(timeout=5 * SLACK)
    assert kind == "error" and fields["C"] == "08P01", (kind, fields)
    assert closed

    # a fresh console session is fine
    assert console(s).execute("SHOW VERSION").fetchone()


@pytest.mark.parametrize("sql", [
    "FROBNICATE", "SHOW NOTHING_LIKE_THIS", "SHOW", "PAUSE a b", "SELECT 1", "BEGIN",
    "SHOW VERSION; SHOW STATE", "SET default_pool_size", "KILL_CLIENT", "SHUTDOWN NOW",
])
def test_bad_command_errors_and_session_goes_on(sluice, sql):
    s = sluice(config=admin_config())
    r = admin_raw(s)
    r.startup(ADMIN, "sluice")
    with pytest.raises(pgwire.PgError) as ei:
        r.query(sql)
    assert ei.value.sqlstate == "42601", ei.value
    assert ei.value.severity == "ERROR"
    assert r.status == b"I"
    assert r.query("SHOW VERSION")[0][0].lower().startswith("sluice")
    assert s.alive()


def test_empty_query(sluice):
    s = sluice(config=admin_config())
    r = admin_raw(s)
    r.startup(ADMIN, "sluice")
    r.send(pgwire.query_message(""))
    types = []
    while True:
        t, _ = r.recv_msg()
        types.append(t)
        if t == b"Z":
            break
    assert types == [b"I", b"Z"]
    assert r.query("SHOW VERSION")
