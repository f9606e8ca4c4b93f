"""Debian's prometheus-pgbouncer-exporter (1.7, psycopg2) pointed at sluice's
console exports pgbouncer_* metrics without errors.

What that exporter reads (prometheus_pgbouncer_exporter/collectors.py): it
connects as --pgbouncer-user to database "pgbouncer" and runs SHOW STATS
(database, total_requests, total_received, total_sent, total_query_time),
SHOW POOLS (database, user, cl_active, cl_waiting), SHOW DATABASES (database,
pool_size, reserve_pool) and SHOW LISTS (list/items rows). It collects once at
start-up (prometheus_client's registry describes collectors by collecting), so
a missing column kills it before it listens."""

import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from admin_helpers import ADMIN, admin_config, console, prom_parse, prom_value, show_desc, wait_admin_port
from cluster import free_port
from pooler import SLACK

pytestmark = pytest.mark.sluice_only

EXPORTER = "/usr/bin/prometheus-pgbouncer-exporter"

# what the exporter indexes rows by, per SHOW
READS = {
    "STATS": ["database", "total_requests", "total_received", "total_sent", "total_query_time"],
    "POOLS": ["database", "user", "cl_active", "cl_waiting"],
    "DATABASES": ["database", "pool_size", "reserve_pool"],
}
LISTS = ["databases", "users", "pools", "free_clients", "used_clients", "login_clients", "free_servers",
         "used_servers", "dns_names", "dns_zones", "dns_queries", "dns_pending"]


def test_console_has_every_column_the_exporter_reads(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    with s.connect(user=role) as c:
        c.execute("SELECT 1")
    a = console(s, dbname="pgbouncer", main_port=True)
    missing = []
    for item, cols in READS.items():
        names, _, _ = show_desc(a, item)
        missing += [f"SHOW {item} has no column {c!r}" for c in cols if c not in names]
    _, _, rows = show_desc(a, "LISTS")
    have = {r[0] for r in rows}
    missing += [f"SHOW LISTS has no row {k!r}" for k in LISTS if k not in have]
    assert not missing, "prometheus-pgbouncer-exporter 1.7 needs:\n" + "\n".join(missing)


def start_exporter(s, port, tmpdir):
    if not os.access(EXPORTER, os.X_OK):
        pytest.skip("prometheus-pgbouncer-exporter is not installed (Debian package prometheus-pgbouncer-exporter)")
    log = open(os.path.join(tmpdir, "exporter.log"), "wb")
    proc = subprocess.Popen(
        [EXPORTER, "--pgbouncer-host", "127.0.0.1", "--pgbouncer-port", str(port),
         "--pgbouncer-user", ADMIN, "--host", "127.0.0.1", "--port", str(free_port())],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    return proc, log


def exporter_output(log):
    log.flush()
    with open(log.name, errors="replace") as f:
        return f.read()


def scrape(proc, log, timeout):
    """Fetch the exporter's /metrics (waiting for it to listen); fail with its output if it died."""
    args = proc.args
    url = f"http://127.0.0.1:{args[args.index('--port') + 1]}/metrics"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the exporter exited with {proc.returncode}:\n{exporter_output(log)[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=10 * SLACK) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"the exporter did not listen within {timeout}s:\n{exporter_output(log)[-3000:]}")
            time.sleep(0.1)


@pytest.mark.parametrize("where", ["main port, database pgbouncer", "admin port"])
def test_exporter_exports_sluice_metrics(sluice, role, where):
    s = sluice(config=admin_config(pool_mode="transaction"))
    wait_admin_port(s)
    keep = s.connect(user=role)
    for _ in range(5):
        keep.execute("SELECT 1")
    port = s.port if where.startswith("main") else s.admin_port
    proc, log = start_exporter(s, port, s.dir)
    try:
        status, text = scrape(proc, log, timeout=20 * SLACK)
        assert status == 200, text[:2000]
        m = prom_parse(text)
        assert prom_value(m, "pgbouncer_active_clients", database="testdb", user=role) == 1
        assert prom_value(m, "pgbouncer_waiting_clients", database="testdb", user=role) == 0
        assert prom_value(m, "pgbouncer_requests_total", database="testdb") >= 5
        assert prom_value(m, "pgbouncer_received_bytes_total", database="testdb") > 0
        assert prom_value(m, "pgbouncer_sent_bytes_total", database="testdb") > 0
        assert prom_value(m, "pgbouncer_query_microseconds_total", database="testdb") > 0
        assert prom_value(m, "pgbouncer_pool_size", database="testdb") == 20
        assert prom_value(m, "pgbouncer_pools") >= 1
        assert prom_value(m, "pgbouncer_used_clients") >= 2
        # a second scrape on the same console session sees new traffic
        keep.execute("SELECT 1")
        status, text = scrape(proc, log, timeout=5 * SLACK)
        assert status == 200
        assert prom_value(prom_parse(text), "pgbouncer_requests_total", database="testdb") >= 6
        out = exporter_output(log)
        assert "Traceback" not in out and "Error" not in out, out[-3000:]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
    assert s.alive()
