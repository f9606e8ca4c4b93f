"""Known load, true numbers: waiting clients in SHOW POOLS, transaction and
query counts in SHOW STATS, SHOW CLIENTS and SHOW SERVERS against what the
clients and PostgreSQL themselves see."""

import time
from decimal import Decimal

import pytest

from admin_helpers import admin_config, console, fetch_metrics, pool_row, prom_parse, prom_value, show, stats_row
from cluster import wait_for
from helpers import Background
from pooler import SLACK

pytestmark = pytest.mark.sluice_only


def test_waiting_clients_and_maxwait(sluice, role):
    n = 4
    s = sluice(config=admin_config(pool_mode="transaction", default_pool_size=1))
    a = console(s)
    holder = s.connect(user=role)
    waiters = [s.connect(user=role, application_name=f"waiter{i}") for i in range(n)]
    holder.execute("BEGIN")
    holder.execute("SELECT 1")
    wait_before = stats_row(a, "testdb")["total_wait_time"]

    jobs = [Background(w.execute, "SELECT 1") for w in waiters]
    p = wait_for(lambda: (lambda r: r if r and r["cl_waiting"] == n else None)(pool_row(a, "testdb", role)),
                 timeout=10 * SLACK, what=f"cl_waiting = {n}")
    assert p["cl_active"] == 1
    assert (p["sv_active"], p["sv_idle"]) == (1, 0)
    assert not any(j.done.is_set() for j in jobs)
    w1 = p["maxwait"] + p["maxwait_us"] / 1e6
    assert 0 <= p["maxwait_us"] < 1_000_000

    time.sleep(1.2)
    p = pool_row(a, "testdb", role)
    assert p["cl_waiting"] == n, p
    w2 = p["maxwait"] + p["maxwait_us"] / 1e6
    assert p["maxwait"] >= 1, p
    assert w2 - w1 >= 1.0, (w1, w2)

    waiting = [r for r in show(a, "CLIENTS") if r["user"] == role and r["state"] == "waiting"]
    assert sorted(r["application_name"] for r in waiting) == [f"waiter{i}" for i in range(n)]
    assert all(r["wait"] >= 1 for r in waiting), waiting

    holder.execute("COMMIT")
    for j in jobs:
        j.result(timeout=10 * SLACK)
    p = wait_for(lambda: (lambda r: r if r["cl_waiting"] == 0 else None)(pool_row(a, "testdb", role)),
                 timeout=5 * SLACK, what="cl_waiting = 0")
    assert (p["maxwait"], p["maxwait_us"]) == (0, 0)
    # every waiter waited at least the 1.2 s above
    waited = stats_row(a, "testdb")["total_wait_time"] - wait_before
    assert waited >= n * 1_200_000, waited


def test_exact_transaction_and_query_counts(sluice, pg, role):
    dbs = {
        "testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb",
        "statsdb": f"host=127.0.0.1 port={pg.port} dbname=testdb",
    }
    s = sluice(config=admin_config(pool_mode="transaction"), databases=dbs)
    a = console(s)
    # traffic elsewhere must not count for statsdb
    other = s.connect(prepare_threshold=None)
    # every exchange counts here: psycopg's own Parse exchange when it prepares would add one
    c = s.connect(user=role, dbname="statsdb", prepare_threshold=None)
    c.execute("SELECT 1")
    before = stats_row(a, "statsdb", "STATS")
    short_before = stats_row(a, "statsdb", "STATS_TOTALS")
    totals_before = {r["name"]: r["value"] for r in show(a, "TOTALS")}

    k_single = 7
    for i in range(k_single):
        assert c.execute("SELECT %s::int", [i]).fetchone()[0] == i  # extended protocol
        other.execute("SELECT 1")
    c.execute("BEGIN")
    c.execute("SELECT 1")
    c.execute("SELECT 2")
    c.execute("COMMIT")
    c.execute("BEGIN")
    c.execute("SELECT 1")
    c.execute("ROLLBACK")
    k = k_single + 2
    queries = k_single + 4 + 3

    after = stats_row(a, "statsdb", "STATS")
    short = stats_row(a, "statsdb", "STATS_TOTALS")
    # STATS_TOTALS: the same counts under PgBouncer 1.25's short names
    for long_name, short_name in (("total_xact_count", "xact_count"), ("total_query_count", "query_count"),
                                  ("total_received", "bytes_received"), ("total_sent", "bytes_sent"),
                                  ("total_server_assignment_count", "server_assignment_count")):
        assert short[short_name] - short_before[short_name] == after[long_name] - before[long_name]
    assert short["client_connect_count"] >= 1
    assert after["total_xact_count"] - before["total_xact_count"] == k
    assert after["total_query_count"] - before["total_query_count"] == queries
    assert after["total_received"] > before["total_received"]
    assert after["total_sent"] > before["total_sent"]
    assert after["total_xact_time"] >= after["total_query_time"] - before["total_query_time"] > 0
    assert after["total_server_assignment_count"] - before["total_server_assignment_count"] == k
    # TOTALS counts statsdb and testdb together
    totals = {r["name"]: r["value"] for r in show(a, "TOTALS")}
    assert totals["total_xact_count"] - totals_before["total_xact_count"] == k + k_single
    assert totals["total_query_count"] - totals_before["total_query_count"] == queries + k_single
    # /metrics says the same
    m = prom_parse(fetch_metrics(s))
    assert prom_value(m, "sluice_transactions_total", database="statsdb", user=role) == after["total_xact_count"]
    assert prom_value(m, "sluice_queries_total", database="statsdb", user=role) == after["total_query_count"]


def test_averages_per_stats_period(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction", stats_period=2))
    a = console(s)
    c = s.connect(user=role)
    for _ in range(40):
        c.execute("SELECT 1")
    seen = {"avg_xact_count": 0, "avg_query_count": 0, "avg_xact_time": 0, "avg_query_time": 0}
    seen_short = {"xact_count": 0}
    deadline = time.monotonic() + 5 * SLACK
    while time.monotonic() < deadline:
        r = stats_row(a, "testdb", "STATS")
        short = stats_row(a, "testdb", "STATS_AVERAGES")
        for k in seen:
            seen[k] = max(seen[k], r[k])
        seen_short["xact_count"] = max(seen_short["xact_count"], short["xact_count"])
        if seen["avg_xact_count"] >= 10 and seen_short["xact_count"] >= 10:
            break
        time.sleep(0.1)
    # 40 transactions in (at most) two 2 s periods: at least 10 per second in one of them
    assert seen["avg_xact_count"] >= 10, seen
    assert seen["avg_query_count"] >= 10, seen
    assert seen["avg_xact_time"] > 0 and seen["avg_query_time"] > 0, seen
    # an average is per second, never the total
    assert seen["avg_xact_count"] <= 40
    assert 10 <= seen_short["xact_count"] <= 40, seen_short  # STATS_AVERAGES: the same figure


def test_show_clients_application_names(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    conns = {name: s.connect(user=role, application_name=name) for name in ("app_one", "app_two", "app_three")}
    conns["app_two"].execute("SET application_name = 'app_two_renamed'")
    rows = [r for r in show(a, "CLIENTS") if r["user"] == role]
    assert sorted(r["application_name"] for r in rows) == ["app_one", "app_three", "app_two_renamed"]
    assert len({r["id"] for r in rows}) == 3
    assert all(r["database"] == "testdb" and r["state"] == "idle" for r in rows)
    assert len({r["port"] for r in rows}) == 3
    # an open transaction makes a client active and links it to a server
    conns["app_one"].execute("BEGIN")
    pid = conns["app_one"].execute("SELECT pg_backend_pid()").fetchone()[0]
    rows = {r["application_name"]: r for r in show(a, "CLIENTS") if r["user"] == role}
    assert rows["app_one"]["state"] == "active" and rows["app_one"]["link"]
    servers = [r for r in show(a, "SERVERS") if r["user"] == role]
    linked = [r for r in servers if r["ptr"] == rows["app_one"]["link"]]
    assert len(linked) == 1 and linked[0]["remote_pid"] == pid
    assert linked[0]["application_name"] == "app_one"
    conns["app_one"].execute("COMMIT")


def test_show_servers_remote_pid_is_the_backend_pid(sluice, pg, role):
    s = sluice(config=admin_config(pool_mode="session"))
    a = console(s)
    pids = {}
    for i in range(3):
        c = s.connect(user=role, application_name=f"sess{i}")
        pids[f"sess{i}"] = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    servers = [r for r in show(a, "SERVERS") if r["user"] == role]
    assert sorted(r["remote_pid"] for r in servers) == sorted(pids.values())
    by_app = {r["application_name"]: r for r in servers}
    for app, pid in pids.items():
        assert by_app[app]["remote_pid"] == pid
        assert by_app[app]["state"] == "active"  # session mode: linked for the whole session
        assert by_app[app]["database"] == "testdb" and by_app[app]["port"] == pg.port
    # and PostgreSQL agrees those are this role's backends
    pg_pids = {r[0] for r in pg.execute(
        "SELECT pid FROM pg_stat_activity WHERE usename = %s", [role])}
    assert pg_pids == set(pids.values())
    p = pool_row(a, "testdb", role)
    assert (p["cl_active"], p["sv_active"], p["sv_idle"]) == (3, 3, 0)
    users = {r["name"]: r for r in show(a, "USERS")}
    assert users[role]["current_connections"] == 3
    dbs = {r["name"]: r for r in show(a, "DATABASES")}
    assert dbs["testdb"]["current_connections"] == 3
    assert dbs["testdb"]["current_client_connections"] == 3


def test_saturation_shows_a_pool_whose_servers_are_all_busy(sluice, role):
    """SHOW POOLS' saturation and the sluice_pool_saturation gauge: the share of
    the last stats_period in which every server was busy and no other could be
    opened. Two transactions held open on a pool of two for a whole period
    saturate it; an idle pool is not."""
    s = sluice(config=admin_config(pool_mode="transaction", default_pool_size=2, stats_period=1))
    held = [s.connect(user=role, autocommit=False) for _ in range(2)]
    for c in held:
        c.execute("SELECT 1")  # each holds a server until it commits
    a = console(s)

    def saturation():
        return pool_row(a, "testdb", role)["saturation"]
    wait_for(lambda: saturation() >= Decimal("0.9"), timeout=5 * SLACK, what="a saturated period")
    assert prom_value(prom_parse(fetch_metrics(s)), "sluice_pool_saturation", database="testdb", user=role) >= 0.9
    for c in held:
        c.commit()
    wait_for(lambda: saturation() == Decimal("0"), timeout=5 * SLACK, what="a period without saturation")
    assert prom_value(prom_parse(fetch_metrics(s)), "sluice_pool_saturation", database="testdb", user=role) == 0
