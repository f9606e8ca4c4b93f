"""Rolling restart without a gap: with so_reuseport = 1 a second sluice binds
the same port; the old one, sent SIGTERM, stops accepting and drains while the
new one takes the new clients. Under pgbench -C (a new connection for every
transaction, 50 clients, transaction mode) not one transaction fails; a
long-lived client of the old process is closed only between transactions; a
cancel request reaches the process running the query whichever process it is
sent to (peer_id and [peers], as PgBouncer 1.19+)."""

import os
import signal
import socket
import subprocess
import time

import psycopg
import pytest

from cluster import PG_BIN, wait_for
from pgwire import PgError, cancel_request, query_message
from pooler import IS_PGBOUNCER, SANITIZED, SLACK, Pooler

pytestmark = pytest.mark.skipif(IS_PGBOUNCER, reason="two sluice processes on one port")

MIGRATE = "/proc/sys/net/ipv4/tcp_migrate_req"


@pytest.fixture
def migrate_req():
    """The kernel setting that hands connections queued on a closing SO_REUSEPORT
    listener to the other listener of the group (Linux 5.14+; sluice warns without it)."""
    try:
        with open(MIGRATE) as f:
            old = f.read().strip()
        with open(MIGRATE, "w") as f:
            f.write("1")
    except OSError as e:
        pytest.skip(f"cannot set net.ipv4.tcp_migrate_req: {e}")
    yield
    with open(MIGRATE, "w") as f:
        f.write(old)


def pair(sluice, pg, config):
    """Two poolers on one port, each with its own unix socket directory, peers 1 and 2.
    The second is made from the same settings with SLUICE_PEER_ID=2 (not started)."""
    old = sluice(config=config, start=False)
    new = sluice(config=config, start=False, env={"SLUICE_PEER_ID": "2"})
    new.port, new.admin_port = old.port, old.admin_port
    peers = f"[peers]\n1 = host={old.dir} port={old.port}\n2 = host={new.dir} port={old.port}\n"
    for p in (old, new):
        p.extra_ini = peers
        p.write_config()
    return old, new


def cancel_via(path, pid, key):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(cancel_request(pid, key))
    assert s.recv(1) == b""
    s.close()


def socket_path(p):
    return os.path.join(p.dir, f".s.PGSQL.{p.port}")


def test_cancel_reaches_the_process_running_the_query(sluice, pg, role):
    config = {"pool_mode": "transaction", "so_reuseport": 1, "peer_id": 1}
    a, b = pair(sluice, pg, config)
    a.start()
    b.start()
    wait_for(lambda: "started, pid" in b.log_text(), timeout=10 * SLACK, what="the second process")
    for runs_on, sent_to in ((a, b), (b, a), (a, a)):
        raw = runs_on.raw(unix=True)
        raw.startup(role, "testdb")
        pid, key = raw.backend_key
        raw.send(query_message("SELECT pg_sleep(30) /* peer-cancel */"))
        wait_for(lambda: pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                                   "'%/* peer-cancel */' AND state = 'active'") == 1,
                 timeout=5 * SLACK, what="the query to run")
        t0 = time.monotonic()
        cancel_via(socket_path(sent_to), pid, key)
        with pytest.raises(PgError) as e:
            raw.read_result(timeout=10 * SLACK)
        assert e.value.sqlstate == "57014", (runs_on.dir, sent_to.dir)
        assert time.monotonic() - t0 < 5 * SLACK
        raw.close()


def test_rolling_restart_under_pgbench_connect_load(sluice, pg, role, migrate_req, tmp_path):
    config = {"pool_mode": "transaction", "so_reuseport": 1, "peer_id": 1, "default_pool_size": 10,
              "max_client_conn": 200, "log_connections": 0, "log_disconnections": 0}
    old, new = pair(sluice, pg, config)
    old.start()
    script = tmp_path / "tx.sql"
    script.write_text("BEGIN;\nSELECT 1;\nSELECT pg_backend_pid();\nEND;\n")
    duration = 30
    bench = subprocess.Popen(
        [os.path.join(PG_BIN, "pgbench"), "-n", "-C", "-c", "50", "-j", "2", "-T", str(duration),
         "-f", str(script), "-h", "127.0.0.1", "-p", str(old.port), "-U", role, "testdb"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # a long-lived client of the old process
    keeper = old.connect(user=role, autocommit=False)
    keeper.execute("SELECT 1")
    keeper.commit()

    time.sleep(duration / 3)
    new.start()  # the port already accepts (the old process): wait for the new one's own word
    wait_for(lambda: "started, pid" in new.log_text(), timeout=10 * SLACK, what="the new process")
    assert "so_reuseport: net.ipv4.tcp_migrate_req" not in new.log_text()
    keeper.execute("SELECT 'in a transaction'")
    old.signal(signal.SIGTERM)
    wait_for(lambda: "draining" in old.log_text(), timeout=5 * SLACK, what="the old process to drain")
    keeper.commit()  # its transaction was in flight: it finishes
    with pytest.raises(psycopg.OperationalError):
        keeper.execute("SELECT 'after the drain'")  # then it is closed, between transactions
    assert old.wait_exit(duration) == 0

    out, _ = bench.communicate(timeout=(duration + 60) * SLACK)
    assert bench.returncode == 0, out
    assert "number of failed transactions: 0 " in out, out
    done = int(next(l for l in out.splitlines() if l.startswith("number of transactions actually processed"))
               .split(":")[1].split("/")[0])
    assert done > (200 if SANITIZED else 1000), out
    print("pgbench -C across the restart:", *[l for l in out.splitlines()
                                               if l.startswith(("number of", "tps", "latency average"))],
          sep="\n  ")
    assert new.alive()
    with psycopg.connect(host="127.0.0.1", port=new.port, user=role, dbname="testdb") as c:
        assert c.execute("SELECT 'served by the new process'").fetchone()[0]
