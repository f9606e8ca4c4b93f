"""Shutdown as Kubernetes does it: on SIGTERM /readyz turns 503 at once, the
listener keeps accepting for shutdown_delay (endpoints take time to drop the
pod), then in-flight transactions finish, idle clients are closed, and the
process exits 0; shutdown_timeout bounds the drain."""

import signal
import threading
import time

import psycopg
import pytest

from admin_helpers import http
from cluster import wait_for
from pooler import IS_PGBOUNCER, SLACK

pytestmark = pytest.mark.skipif(IS_PGBOUNCER, reason="sluice's shutdown_delay and /readyz")


def readyz(s):
    return http(s, "/readyz", timeout=2 * SLACK)[0]


def test_a_pods_life(sluice, pg, role):
    """The application runs transactions all along, on long-lived connections and
    on a new connection each time; none of them fails across SIGTERM."""
    pg.execute("CREATE TABLE t_pod_life (id serial, who text)")
    pg.execute("GRANT ALL ON t_pod_life, t_pod_life_id_seq TO PUBLIC")
    delay = 2.0
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 4, "shutdown_delay": delay,
                       "shutdown_timeout": 20})
    assert readyz(s) == 200

    stop = threading.Event()
    done = {"long": 0, "short": 0}
    errors = []

    def long_lived(i):
        with s.connect(user=role) as c:
            while not stop.is_set():
                with c.transaction():
                    c.execute("INSERT INTO t_pod_life (who) VALUES (%s)", (f"long{i}",))
                done["long"] += 1
                time.sleep(0.01)

    def short_lived():
        while not stop.is_set():
            with s.connect(user=role) as c:
                c.execute("INSERT INTO t_pod_life (who) VALUES ('short')")
            done["short"] += 1

    def guarded(fn, *a):
        try:
            fn(*a)
        except Exception as e:  # noqa: B902 - every failure of the application counts
            errors.append(repr(e))

    threads = [threading.Thread(target=guarded, args=(long_lived, i)) for i in range(3)]
    threads.append(threading.Thread(target=guarded, args=(short_lived,)))
    for t in threads:
        t.start()
    wait_for(lambda: done["long"] > 10 and done["short"] > 5, timeout=10 * SLACK, what="the application")

    s.signal(signal.SIGTERM)
    t0 = time.monotonic()
    while readyz(s) != 503:
        assert time.monotonic() - t0 < 2 * SLACK, "/readyz still 200 two seconds after SIGTERM"
    became_unready = time.monotonic() - t0
    assert became_unready < 0.1 * SLACK, f"/readyz turned 503 after {became_unready * 1000:.0f} ms"
    assert http(s, "/healthz")[0] == 200

    # during shutdown_delay, new clients are accepted and served
    time.sleep(delay / 2)
    before = dict(done)
    with s.connect(user=role) as late:
        assert late.execute("SELECT 'accepted during shutdown_delay'").fetchone()[0]
    wait_for(lambda: done["long"] > before["long"] and done["short"] > before["short"],
             timeout=5 * SLACK, what="the application to keep working during shutdown_delay")

    # a transaction still open when the drain begins commits
    inflight = s.connect(user=role, autocommit=False)
    inflight.execute("INSERT INTO t_pod_life (who) VALUES ('in flight')")
    # the application is being stopped too, as Kubernetes does at the same moment
    stop.set()
    for t in threads:
        t.join(10 * SLACK)
    assert not errors, errors
    wait_for(lambda: "draining: no new clients" in s.log_text(), timeout=(delay + 5) * SLACK, what="the drain")
    with pytest.raises(psycopg.OperationalError):
        s.connect(user=role, connect_timeout=2)
    assert s.alive(), "a transaction is still open: the drain must wait for it"
    inflight.commit()
    assert s.wait_exit(10) == 0
    assert pg.scalar("SELECT count(*) FROM t_pod_life WHERE who = 'in flight'") == 1
    total = pg.scalar("SELECT count(*) FROM t_pod_life")
    assert total == done["long"] + done["short"] + 1


def test_shutdown_timeout_bounds_the_drain(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "shutdown_timeout": 1})
    stuck = s.connect(user=role, autocommit=False)
    stuck.execute("SELECT 1")  # a transaction that never ends
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)
    assert s.wait_exit(10) == 0
    took = time.monotonic() - t0
    assert 0.9 < took < 5 * SLACK, took
    assert "shutdown_timeout: closing 1 client(s) still in a transaction" in s.log_text()
    with pytest.raises(psycopg.Error):
        stuck.execute("SELECT 1")


def test_second_sigterm_cuts_shutdown_delay_short(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "shutdown_delay": 60})
    c = s.connect(user=role)
    s.signal(signal.SIGTERM)
    wait_for(lambda: readyz(s) == 503, timeout=2 * SLACK, what="/readyz 503")
    assert c.execute("SELECT 1").fetchone()[0] == 1
    s.signal(signal.SIGTERM)
    assert s.wait_exit(10) == 0
    assert "shutdown_delay cut short" in s.log_text()
