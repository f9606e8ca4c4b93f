"""Wait-time percentiles in SHOW POOLS (wait_p50_us, wait_p99_us, wait_max_us
over the last stats_period) and the log WARNING when a pool's waiters exceed
warn_waiting_clients."""

import re
import time

import pytest

from admin_helpers import admin_config, console, pool_row
from cluster import wait_for
from helpers import Background
from pooler import SLACK

pytestmark = pytest.mark.sluice_only

HOLD = 0.6  # seconds the pool's only server is held while others wait


def hold_and_wait(s, role, n_waiters):
    """Hold the pool's only server in a transaction while n_waiters each send a
    query; release after HOLD seconds once all are waiting; return when all are served."""
    a = console(s)
    holder = s.connect(user=role)
    waiters = [s.connect(user=role) for _ in range(n_waiters)]
    holder.execute("BEGIN")
    holder.execute("SELECT 1")
    jobs = [Background(w.execute, "SELECT 1") for w in waiters]
    wait_for(lambda: (pool_row(a, "testdb", role) or {}).get("cl_waiting") == n_waiters,
             timeout=5 * SLACK, what=f"{n_waiters} waiters")
    time.sleep(HOLD)
    holder.execute("COMMIT")
    for j in jobs:
        j.result(timeout=10 * SLACK)
    for c in [holder] + waiters:
        c.close()
    return a


def test_wait_percentiles_show_real_waits_and_age_out(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction", default_pool_size=1, stats_period=1))
    a = console(s)
    warm = s.connect(user=role)
    warm.execute("SELECT 1")  # the pool exists, the server is open: no wait
    p = pool_row(a, "testdb", role)
    assert p["wait_max_us"] < 200_000, p

    hold_and_wait(s, role, 3)
    p = pool_row(a, "testdb", role)
    # every waiter waited at least HOLD; the histogram's answer is an upper bound
    # of its bucket, clamped to the max seen
    assert p["wait_max_us"] >= HOLD * 1e6 * 0.9, p
    assert p["wait_max_us"] < 10 * SLACK * 1e6, p
    assert p["wait_p99_us"] >= 400_000, p
    assert p["wait_p50_us"] >= 400_000, p
    assert p["wait_p50_us"] <= p["wait_p99_us"] <= p["wait_max_us"], p

    # quick hand-overs only: after two quiet periods the waits have aged out
    def aged_out():
        warm.execute("SELECT 1")
        r = pool_row(a, "testdb", role)
        return r if r["wait_max_us"] < 200_000 and r["wait_p99_us"] < 200_000 else None
    p = wait_for(aged_out, timeout=6 * SLACK, interval=0.2, what="the waits to age out of the stats period")
    assert p["wait_p50_us"] <= p["wait_p99_us"] <= p["wait_max_us"]


def warning_lines(s, role):
    return [line for line in s.log_text().splitlines()
            if "WARNING" in line and role in line and "waiting" in line]


def test_warning_when_waiters_exceed_threshold(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction", default_pool_size=1, warn_waiting_clients=2))
    # at the threshold: no warning
    hold_and_wait(s, role, 2)
    assert warning_lines(s, role) == []
    # above it: one WARNING line naming the pool and the count
    hold_and_wait(s, role, 3)
    lines = wait_for(lambda: warning_lines(s, role), timeout=3 * SLACK, what="a WARNING line")
    assert len(lines) >= 1
    assert "testdb" in lines[0]
    assert re.search(r"\b3 clients waiting\b", lines[0]), lines[0]


def test_warning_threshold_zero_is_off(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction", default_pool_size=1, warn_waiting_clients=0))
    hold_and_wait(s, role, 3)
    time.sleep(0.5)
    assert warning_lines(s, role) == []
