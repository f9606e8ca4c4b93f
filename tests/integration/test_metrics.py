"""/metrics on the admin port: valid Prometheus text (promtool check metrics),
the documented families, and values that match the load and SHOW."""

import subprocess

import pytest

from admin_helpers import (
    admin_config, console, fetch_metrics, find_promtool, http, pool_row, prom_parse, prom_value, show,
    stats_row,
)
from cluster import wait_for
from helpers import Background
from pooler import SLACK

pytestmark = pytest.mark.sluice_only

FAMILIES = {
    "sluice_build_info": "gauge", "sluice_up": "gauge", "sluice_ready": "gauge",
    "sluice_client_connections": "gauge", "sluice_max_client_connections": "gauge",
    "sluice_server_connections": "gauge", "sluice_uptime_seconds": "gauge",
    "sluice_pool_clients": "gauge", "sluice_pool_servers": "gauge", "sluice_pool_size": "gauge",
    "sluice_pool_maxwait_seconds": "gauge", "sluice_pool_saturation": "gauge",
    "sluice_transactions_total": "counter", "sluice_queries_total": "counter",
    "sluice_server_assignments_total": "counter", "sluice_server_closed_total": "counter",
    "sluice_received_bytes_total": "counter", "sluice_sent_bytes_total": "counter",
    "sluice_transaction_seconds_total": "counter", "sluice_query_seconds_total": "counter",
    "sluice_wait_seconds_total": "counter", "sluice_client_wait_seconds": "histogram",
    "sluice_client_parse_total": "counter", "sluice_server_parse_total": "counter",
    "sluice_bind_total": "counter",
}


def promtool_check(text):
    tool = find_promtool()
    if tool is None:
        pytest.skip("promtool not found (Debian package prometheus; scripts/test.sh installs it)")
    p = subprocess.run([tool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode == 0, f"promtool check metrics failed:\n{out}"
    return out


def declared_types(text):
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in types, f"family {name} declared twice"
            types[name] = kind
    return types


def test_metrics_pass_promtool_with_real_pools(sluice, pg, role):
    dbs = {
        "testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb",
        "other-db.x": f"host=127.0.0.1 port={pg.port} dbname=testdb",
    }
    s = sluice(config=admin_config(pool_mode="transaction"), databases=dbs)
    # an empty pooler is valid too
    promtool_check(fetch_metrics(s))
    for db in dbs:
        with s.connect(user=role, dbname=db) as c:
            c.execute("SELECT 1")
    status, headers, body = http(s, "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    promtool_check(text)
    types = declared_types(text)
    for name, kind in FAMILIES.items():
        assert types.get(name) == kind, f"{name}: TYPE {types.get(name)!r}, expected {kind}"
    m = prom_parse(text)
    assert prom_value(m, "sluice_up") == 1
    assert prom_value(m, "sluice_ready") == 1
    assert prom_value(m, "sluice_max_client_connections") == 500
    assert prom_value(m, "sluice_uptime_seconds") > 0
    assert any(n == "sluice_build_info" and dict(lb).get("version") for (n, lb), _ in m.items())
    for db in dbs:
        assert prom_value(m, "sluice_transactions_total", database=db, user=role) == 1
        assert prom_value(m, "sluice_pool_size", database=db, user=role) == 20
        assert prom_value(m, "sluice_pool_servers", database=db, user=role, state="idle") == 1


def test_metrics_label_values_are_escaped(sluice, pg):
    weird = 'we"ird\\user'
    ident = '"' + weird.replace('"', '""') + '"'
    pg.execute(f"DROP ROLE IF EXISTS {ident}")
    pg.execute(f"CREATE ROLE {ident} LOGIN")
    try:
        s = sluice(config=admin_config(pool_mode="transaction"))
        with s.connect(user=weird) as c:
            assert c.execute("SELECT current_user").fetchone()[0] == weird
        text = fetch_metrics(s)
        promtool_check(text)
        m = prom_parse(text)
        assert prom_value(m, "sluice_transactions_total", database="testdb", user=weird) == 1
    finally:
        pg.execute(f"DROP ROLE IF EXISTS {ident}")


def test_metrics_follow_the_load(sluice, role):
    n = 3
    s = sluice(config=admin_config(pool_mode="transaction", default_pool_size=1))
    a = console(s)
    holder = s.connect(user=role)
    waiters = [s.connect(user=role) for _ in range(n)]
    holder.execute("BEGIN")
    holder.execute("SELECT 1")
    jobs = [Background(w.execute, "SELECT 1") for w in waiters]
    wait_for(lambda: (pool_row(a, "testdb", role) or {}).get("cl_waiting") == n, timeout=5 * SLACK,
             what="the waiters")
    m = prom_parse(fetch_metrics(s))
    lb = {"database": "testdb", "user": role}
    assert prom_value(m, "sluice_pool_clients", state="waiting", **lb) == n
    assert prom_value(m, "sluice_pool_clients", state="active", **lb) == 1
    assert prom_value(m, "sluice_pool_servers", state="active", **lb) == 1
    assert prom_value(m, "sluice_pool_maxwait_seconds", **lb) > 0
    assert prom_value(m, "sluice_ready") == 1
    hist_before = prom_value(m, "sluice_client_wait_seconds_count", **lb)

    holder.execute("COMMIT")
    for j in jobs:
        j.result(timeout=10 * SLACK)
    text = fetch_metrics(s)
    promtool_check(text)
    m = prom_parse(text)
    assert prom_value(m, "sluice_pool_clients", state="waiting", **lb) == 0
    assert prom_value(m, "sluice_pool_maxwait_seconds", **lb) == 0
    st = stats_row(a, "testdb", "STATS")
    assert prom_value(m, "sluice_transactions_total", **lb) == st["total_xact_count"]
    assert prom_value(m, "sluice_queries_total", **lb) == st["total_query_count"]
    assert prom_value(m, "sluice_server_assignments_total", **lb) == st["total_server_assignment_count"]
    assert prom_value(m, "sluice_received_bytes_total", **lb) == st["total_received"]
    assert prom_value(m, "sluice_sent_bytes_total", **lb) == st["total_sent"]
    assert abs(prom_value(m, "sluice_wait_seconds_total", **lb) - st["total_wait_time"] / 1e6) < 1e-3
    # the histogram: one observation per hand-over, buckets cumulative, +Inf = count
    count = prom_value(m, "sluice_client_wait_seconds_count", **lb)
    assert count - hist_before == n
    assert count == st["total_server_assignment_count"]
    buckets = sorted(
        (float(dict(k[1])["le"]), v) for k, v in m.items()
        if k[0] == "sluice_client_wait_seconds_bucket" and dict(k[1]).get("user") == role
    )
    assert buckets[-1] == (float("inf"), count)
    assert all(a_[1] <= b_[1] for a_, b_ in zip(buckets, buckets[1:])), buckets
    # the waiters waited at least a few ms: not all in the smallest bucket
    assert buckets[0][1] < count
    assert prom_value(m, "sluice_client_wait_seconds_sum", **lb) > 0

    # clients and servers in total, console included (and maybe the scrape's own connection)
    assert prom_value(m, "sluice_client_connections") - len(show(a, "CLIENTS")) in (0, 1)
    assert prom_value(m, "sluice_server_connections") == len(show(a, "SERVERS"))


def test_metrics_ready_gauge_follows_pause(sluice):
    s = sluice(config=admin_config())
    a = console(s)
    a.execute("PAUSE")
    assert prom_value(prom_parse(fetch_metrics(s)), "sluice_ready") == 0
    a.execute("RESUME")
    assert prom_value(prom_parse(fetch_metrics(s)), "sluice_ready") == 1
