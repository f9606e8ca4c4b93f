"""Control commands with PgBouncer's semantics: PAUSE/RESUME, KILL_CLIENT,
RECONNECT/WAIT_CLOSE, DISABLE/ENABLE, KILL, SET, RELOAD, SUSPEND, SHUTDOWN."""

import time

import psycopg
import pytest

import pgwire
from admin_helpers import admin_config, console, pool_row, show
from cluster import wait_for
from helpers import Background
from pooler import SLACK, wait_port_closed

pytestmark = pytest.mark.sluice_only


def _sqlstate(exc):
    return getattr(exc, "sqlstate", None) or (exc.diag.sqlstate if getattr(exc, "diag", None) else None)


def state(a):
    return {r["key"]: r["value"] for r in show(a, "STATE")}


def config_value(a, key):
    return {r["key"]: r["value"] for r in show(a, "CONFIG")}[key]


def db_flags(a, db):
    r = {x["name"]: x for x in show(a, "DATABASES")}[db]
    return r["paused"], r["disabled"]


def pg_pids(pg, role):
    return {r[0] for r in pg.execute("SELECT pid FROM pg_stat_activity WHERE usename = %s", [role])}


def test_pause_holds_queries_and_resume_releases_them(sluice, pg, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    c = s.connect(user=role)
    c.execute("SELECT 1")
    assert len(pg_pids(pg, role)) == 1

    assert a.execute("PAUSE").statusmessage == "PAUSE"
    # PAUSE returned: the idle server is gone
    wait_for(lambda: not pg_pids(pg, role), timeout=5 * SLACK, what="the server to be closed")
    assert state(a) == {"active": "no", "paused": "yes", "suspended": "no"}
    assert db_flags(a, "testdb")[0] == 1

    job = Background(c.execute, "SELECT 'after resume'")
    assert not job.done.wait(1.0), "a query ran while paused"
    assert pool_row(a, "testdb", role)["cl_waiting"] == 1
    # a new client can log in, and its query waits as well
    late = Background(lambda: s.connect(user=role).execute("SELECT 'late'").fetchone()[0])
    assert not late.done.wait(0.5)

    assert a.execute("RESUME").statusmessage == "RESUME"
    assert job.result(timeout=10 * SLACK).fetchone()[0] == "after resume"
    assert late.result(timeout=10 * SLACK) == "late"
    assert state(a)["paused"] == "no"


def test_pause_returns_only_after_servers_are_released(sluice, pg, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    c = s.connect(user=role)
    c.execute("BEGIN")
    pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]

    pause = Background(a.execute, "PAUSE")
    assert not pause.done.wait(1.0), "PAUSE returned while a transaction held a server"
    assert pid in pg_pids(pg, role)
    assert c.execute("SELECT 2").fetchone()[0] == 2  # the transaction goes on
    c.execute("COMMIT")
    assert pause.result(timeout=10 * SLACK).statusmessage == "PAUSE"
    # at the time PAUSE answered, the server was closed
    assert sum(r["sv_active"] + r["sv_idle"] + r["sv_used"] + r["sv_tested"] + r["sv_login"]
               for r in show(a, "POOLS")) == 0
    wait_for(lambda: pid not in pg_pids(pg, role), timeout=5 * SLACK, what="the backend to exit")
    a.execute("RESUME")
    assert c.execute("SELECT 3").fetchone()[0] == 3


def test_pause_one_database(sluice, pg, role):
    dbs = {
        "testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb",
        "otherdb": f"host=127.0.0.1 port={pg.port} dbname=testdb",
    }
    s = sluice(config=admin_config(pool_mode="transaction"), databases=dbs)
    a = console(s)
    c1 = s.connect(user=role, dbname="testdb")
    c2 = s.connect(user=role, dbname="otherdb")
    assert a.execute("PAUSE otherdb").statusmessage == "PAUSE"
    assert db_flags(a, "otherdb") == (1, 0) and db_flags(a, "testdb") == (0, 0)
    assert state(a)["paused"] == "no"
    job = Background(c2.execute, "SELECT 'other'")
    assert c1.execute("SELECT 'test'").fetchone()[0] == "test"
    assert not job.done.wait(1.0)
    a.execute("RESUME otherdb")
    assert job.result(timeout=10 * SLACK).fetchone()[0] == "other"
    assert db_flags(a, "otherdb") == (0, 0)


def test_kill_client_drops_exactly_that_client(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    conns = {n: s.connect(user=role, application_name=n) for n in ("kc_a", "kc_b", "kc_c")}
    conns["kc_b"].execute("BEGIN")
    conns["kc_b"].execute("SELECT 1")  # even with a server linked
    ids = {r["application_name"]: r["id"] for r in show(a, "CLIENTS") if r["user"] == role}
    assert set(ids) == set(conns)

    assert a.execute(f"KILL_CLIENT {ids['kc_b']}").statusmessage == "KILL_CLIENT"
    with pytest.raises(psycopg.OperationalError):
        conns["kc_b"].execute("SELECT 1")
    for n in ("kc_a", "kc_c"):
        assert conns[n].execute("SELECT %s::text", [n]).fetchone()[0] == n
    left = wait_for(lambda: (lambda x: x if len(x) == 2 else None)(
        {r["application_name"] for r in show(a, "CLIENTS") if r["user"] == role}),
        timeout=5 * SLACK, what="two clients left")
    assert left == {"kc_a", "kc_c"}
    # its server was not left dirty: the pool serves again
    assert pool_row(a, "testdb", role)["sv_active"] == 0

    with pytest.raises(psycopg.Error) as ei:
        a.execute(f"KILL_CLIENT {ids['kc_b']}")
    assert _sqlstate(ei.value) == "42704"
    with pytest.raises(psycopg.Error) as ei:
        a.execute("KILL_CLIENT abc")
    assert _sqlstate(ei.value) == "22P02"
    assert len([r for r in show(a, "CLIENTS") if r["user"] == role]) == 2


def test_reconnect_and_wait_close(sluice, pg, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    c1 = s.connect(user=role)
    c2 = s.connect(user=role)
    c2.execute("BEGIN")
    pid2 = c2.execute("SELECT pg_backend_pid()").fetchone()[0]
    pid1 = c1.execute("SELECT pg_backend_pid()").fetchone()[0]  # its server is idle afterwards
    assert pid1 != pid2

    assert a.execute("RECONNECT testdb").statusmessage == "RECONNECT"
    wait_for(lambda: pid1 not in pg_pids(pg, role), timeout=5 * SLACK, what="the idle server to close")
    srv = {r["remote_pid"]: r for r in show(a, "SERVERS") if r["user"] == role}
    assert srv[pid2]["close_needed"] == 1
    assert pid2 in pg_pids(pg, role)

    wc = Background(a.execute, "WAIT_CLOSE testdb")
    assert not wc.done.wait(1.0), "WAIT_CLOSE returned while a server still needed closing"
    # the pool keeps serving meanwhile, on a new connection
    pid3 = c1.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert pid3 not in (pid1, pid2)
    c2.execute("COMMIT")
    assert wc.result(timeout=10 * SLACK).statusmessage == "WAIT_CLOSE"
    wait_for(lambda: pid2 not in pg_pids(pg, role), timeout=5 * SLACK, what="the released server to close")
    assert c2.execute("SELECT pg_backend_pid()").fetchone()[0] not in (pid1, pid2)
    assert all(r["close_needed"] == 0 for r in show(a, "SERVERS"))
    # nothing to wait for: returns at once
    assert a.execute("WAIT_CLOSE").statusmessage == "WAIT_CLOSE"


def test_disable_and_enable(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    existing = s.connect(user=role)
    assert a.execute("DISABLE testdb").statusmessage == "DISABLE"
    assert db_flags(a, "testdb") == (0, 1)
    with pytest.raises(pgwire.PgError) as ei:
        s.raw_login(user=role)
    assert ei.value.sqlstate == "55000", ei.value
    # clients already in keep working
    assert existing.execute("SELECT 1").fetchone()[0] == 1
    # another database is not affected ("*" fallback)
    with s.connect(user=role, dbname="postgres") as other:
        assert other.execute("SELECT current_database()").fetchone()[0] == "postgres"

    assert a.execute("ENABLE testdb").statusmessage == "ENABLE"
    assert db_flags(a, "testdb") == (0, 0)
    with s.connect(user=role) as c:
        assert c.execute("SELECT 2").fetchone()[0] == 2

    with pytest.raises(psycopg.Error) as ei:
        a.execute("DISABLE")
    assert _sqlstate(ei.value) == "42601"


def test_kill_database(sluice, pg, role):
    dbs = {
        "testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb",
        "killdb": f"host=127.0.0.1 port={pg.port} dbname=testdb",
    }
    s = sluice(config=admin_config(pool_mode="session"), databases=dbs)
    a = console(s)
    keep = s.connect(user=role, dbname="testdb")
    keep_pid = keep.execute("SELECT pg_backend_pid()").fetchone()[0]
    victims = [s.connect(user=role, dbname="killdb") for _ in range(2)]
    victim_pids = {v.execute("SELECT pg_backend_pid()").fetchone()[0] for v in victims}

    assert a.execute("KILL killdb").statusmessage == "KILL"
    for v in victims:
        with pytest.raises(psycopg.OperationalError):
            v.execute("SELECT 1")
    wait_for(lambda: not (victim_pids & pg_pids(pg, role)), timeout=5 * SLACK, what="killdb's servers to close")
    assert keep.execute("SELECT pg_backend_pid()").fetchone()[0] == keep_pid
    assert db_flags(a, "killdb")[0] == 1
    # new clients of a killed database wait for RESUME
    late = Background(lambda: s.connect(user=role, dbname="killdb").execute("SELECT 'back'").fetchone()[0])
    assert not late.done.wait(1.0)
    a.execute("RESUME killdb")
    assert late.result(timeout=10 * SLACK) == "back"


def test_set_changes_config(sluice):
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    assert config_value(a, "default_pool_size") == "20"
    assert a.execute("SET default_pool_size = 7").statusmessage.startswith("SET")
    assert config_value(a, "default_pool_size") == "7"
    assert {r["name"]: r["pool_size"] for r in show(a, "DATABASES")}["testdb"] == 7
    a.execute("SET server_reset_query TO 'DISCARD ALL; SELECT 1'")
    assert config_value(a, "server_reset_query") == "DISCARD ALL; SELECT 1"

    for bad, code in (("SET default_pool_size = lots", "22023"),
                      ("SET default_pool_size = -3", "22023"),
                      ("SET no_such_key = 1", "22023"),
                      ("SET pool_mode = sometimes", "22023"),
                      ("SET listen_port = 7000", "22023"),  # not changeable at run time
                      ("SET default_pool_size 7", "42601")):
        with pytest.raises(psycopg.Error) as ei:
            a.execute(bad)
        assert _sqlstate(ei.value) == code, (bad, ei.value)
    assert config_value(a, "default_pool_size") == "7"
    assert config_value(a, "listen_port") == str(s.port)
    assert config_value(a, "pool_mode") == "transaction"


def test_reload_reads_the_edited_file(sluice):
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    s.overrides["default_pool_size"] = 11
    s.write_config()
    assert config_value(a, "default_pool_size") == "20"
    assert a.execute("RELOAD").statusmessage == "RELOAD"
    assert config_value(a, "default_pool_size") == "11"
    # a broken file: an error, the running configuration is kept
    with open(s.config_path, "a") as f:
        f.write("default_pool_size = many\n")
    with pytest.raises(psycopg.Error) as ei:
        a.execute("RELOAD")
    assert _sqlstate(ei.value) is not None
    assert config_value(a, "default_pool_size") == "11"
    assert s.alive()
    with s.connect() as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_suspend_and_resume(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    c = s.connect(user=role)
    c.execute("SELECT 1")
    assert a.execute("SUSPEND").statusmessage == "SUSPEND"
    assert state(a) == {"active": "no", "paused": "yes", "suspended": "yes"}
    held = Background(c.execute, "SELECT 'held'")
    newcomer = Background(lambda: s.connect(user=role).execute("SELECT 'new'").fetchone()[0])
    assert not held.done.wait(1.0)
    assert not newcomer.done.is_set()
    # the console still answers while suspended
    assert console(s).execute("SHOW VERSION").fetchone()
    assert a.execute("RESUME").statusmessage == "RESUME"
    assert held.result(timeout=10 * SLACK).fetchone()[0] == "held"
    assert newcomer.result(timeout=10 * SLACK) == "new"
    assert state(a) == {"active": "yes", "paused": "no", "suspended": "no"}


def test_shutdown_exits(sluice):
    s = sluice(config=admin_config())
    a = console(s)
    c = s.connect()
    assert a.execute("SHUTDOWN").statusmessage == "SHUTDOWN"
    assert s.wait_exit(timeout=10) == 0
    assert wait_port_closed(s.port, timeout=2)
    with pytest.raises(psycopg.OperationalError):
        c.execute("SELECT 1")


def test_shutdown_wait_for_clients(sluice, pg, role):
    pg.execute("CREATE TABLE IF NOT EXISTS t_admin_shutdown (v text)")
    pg.execute("GRANT ALL ON t_admin_shutdown TO PUBLIC")
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    c = s.connect(user=role)
    c.execute("BEGIN")
    c.execute("INSERT INTO t_admin_shutdown VALUES (%s)", [role])
    assert a.execute("SHUTDOWN WAIT_FOR_CLIENTS").statusmessage == "SHUTDOWN"
    time.sleep(0.5)
    assert s.alive(), "exited with a transaction in flight"
    assert wait_port_closed(s.port, timeout=3 * SLACK), "still accepting new clients"
    c.execute("COMMIT")
    assert s.wait_exit(timeout=10) == 0
    assert pg.scalar("SELECT count(*) FROM t_admin_shutdown WHERE v = %s", [role]) == 1


def test_shutdown_wait_for_servers(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    c = s.connect(user=role)
    c.execute("BEGIN")
    c.execute("SELECT 1")
    sd = Background(a.execute, "SHUTDOWN WAIT_FOR_SERVERS")
    assert not sd.done.wait(1.0)
    assert s.alive()
    c.execute("COMMIT")
    assert s.wait_exit(timeout=10) == 0
