"""SHOW ACTIVITY, sluice's pg_stat_activity: states, query text, server_pid
joined with PostgreSQL's own pg_stat_activity, and never a bind parameter."""

import datetime

import pytest

from admin_helpers import admin_config, console, show
from cluster import wait_for
from helpers import Background
from pooler import SLACK

pytestmark = pytest.mark.sluice_only


def activity(a, **match):
    return [r for r in show(a, "ACTIVITY") if all(r[k] == v for k, v in match.items())]


def one_row(a, **match):
    rows = activity(a, **match)
    return rows[0] if len(rows) == 1 else None


def test_activity_states_and_server_pid(sluice, pg, role):
    waitrole = pg.create_role(role + "_w")
    s = sluice(config=admin_config(pool_mode="transaction"), users={waitrole: "pool_size=1"})
    a = console(s)
    t0 = datetime.datetime.now(datetime.timezone.utc)

    sleeper = s.connect(user=role, application_name="sleeper")
    idle_tx = s.connect(user=role, application_name="idle_tx")
    idle = s.connect(user=role, application_name="just_idle")
    holder = s.connect(user=waitrole, application_name="holder")
    waiter = s.connect(user=waitrole, application_name="waiter")

    idle.execute("SELECT 'was here'")
    idle_tx.execute("BEGIN")
    idle_tx_pid = idle_tx.execute("SELECT pg_backend_pid()").fetchone()[0]
    holder.execute("BEGIN")
    holder.execute("SELECT 1")
    job = Background(sleeper.execute, "SELECT pg_sleep(2)")
    wjob = Background(waiter.execute, "SELECT 'waited'")

    # (while a new server syncs the client's parameters, the client is already
    # "active" but its query not yet noted, or noted but not yet sent: wait for
    # the text and for the times it is sent at too)
    row = wait_for(lambda: (lambda r: r if r and r["state"] == "active" and r["server_pid"] and r["query"]
                            and r["query_start"] and r["xact_start"] else None)(
        one_row(a, application_name="sleeper")), timeout=5 * SLACK, what="the sleeper to be active")
    assert row["query"] == "SELECT pg_sleep(2)"
    assert row["datname"] == "testdb" and row["usename"] == role
    assert row["client_addr"] == "127.0.0.1" and row["client_port"] > 0
    assert row["wait_event_type"] is None and row["wait_event"] is None
    for col in ("backend_start", "xact_start", "query_start", "state_change"):
        assert row[col] is not None and abs((row[col] - t0).total_seconds()) < 30 * SLACK, (col, row[col])
    assert row["backend_start"] <= row["query_start"]

    # PostgreSQL's own view: that pid runs that query
    pg_row = pg.execute("SELECT query, state, usename, application_name FROM pg_stat_activity WHERE pid = %s",
                        [row["server_pid"]])
    assert pg_row, f"server_pid {row['server_pid']} is not a PostgreSQL backend"
    assert pg_row[0][0] == "SELECT pg_sleep(2)" and pg_row[0][1] == "active", pg_row
    assert pg_row[0][2] == role and pg_row[0][3] == "sleeper"

    r = one_row(a, application_name="idle_tx")
    assert r["state"] == "idle in transaction", r
    assert r["server_pid"] == idle_tx_pid
    assert r["query"] == "SELECT pg_backend_pid()"
    assert r["xact_start"] is not None

    r = wait_for(lambda: (lambda r: r if r and r["state"] == "waiting" else None)(
        one_row(a, application_name="waiter")), timeout=5 * SLACK, what="the waiter to wait")
    assert r["server_pid"] is None
    assert r["wait_event_type"] is not None and r["wait_event"] is not None, r

    r = one_row(a, application_name="just_idle")
    assert r["state"] == "idle" and r["server_pid"] is None  # transaction mode: no server between queries
    assert r["query"] == "SELECT 'was here'"

    r = one_row(a, application_name="holder")
    assert r["state"] == "idle in transaction"

    # one row per client of the pools (the console is not a pool client)
    assert len(activity(a, usename=role)) == 3 and len(activity(a, usename=waitrole)) == 2

    job.result(timeout=10 * SLACK)
    r = wait_for(lambda: (lambda r: r if r and r["state"] == "idle" else None)(
        one_row(a, application_name="sleeper")), timeout=5 * SLACK, what="the sleeper to be idle")
    assert r["server_pid"] is None and r["query"] == "SELECT pg_sleep(2)"

    holder.execute("COMMIT")
    assert wjob.result(timeout=10 * SLACK)
    idle_tx.execute("ROLLBACK")
    assert one_row(a, application_name="idle_tx")["state"] == "idle"


def test_waiting_client_shows_the_query_it_waits_to_run(sluice, role):
    """A waiting client has sent its query: SHOW ACTIVITY shows that text (as
    pg_stat_activity shows a query blocked on a lock), not the one before."""
    s = sluice(config=admin_config(pool_mode="transaction", default_pool_size=1))
    a = console(s)
    holder = s.connect(user=role)
    waiter = s.connect(user=role, application_name="waiter")
    waiter.execute("SELECT 'before'")
    holder.execute("BEGIN")
    holder.execute("SELECT 1")
    job = Background(waiter.execute, "SELECT 'waited'")
    r = wait_for(lambda: (lambda r: r if r and r["state"] == "waiting" else None)(
        one_row(a, application_name="waiter")), timeout=5 * SLACK, what="the waiter to wait")
    try:
        assert r["query"] == "SELECT 'waited'", r
    finally:
        holder.execute("COMMIT")
        job.result(timeout=10 * SLACK)


def test_aborted_transaction_state(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    c = s.connect(user=role, application_name="aborted")
    c.execute("BEGIN")
    with pytest.raises(Exception):
        c.execute("SELECT 1/0")
    assert one_row(a, application_name="aborted")["state"] == "idle in transaction (aborted)"
    c.execute("ROLLBACK")


def test_bind_parameters_are_never_shown(sluice, pg, role):
    secret = "s3cret-param-90210"
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    c = s.connect(user=role, application_name="with_params")
    job = Background(c.execute, "SELECT pg_sleep(%s), %s::text", [1.5, secret])

    row = wait_for(lambda: (lambda r: r if r and r["state"] == "active" and r["query"] else None)(
        one_row(a, application_name="with_params")), timeout=5 * SLACK, what="the query to be active")
    assert row["query"] == "SELECT pg_sleep($1), $2::text"
    # PostgreSQL's own view shows the same text for that backend
    assert pg.scalar("SELECT query FROM pg_stat_activity WHERE pid = %s", [row["server_pid"]]) == row["query"]
    for item in ("ACTIVITY", "CLIENTS", "SERVERS", "POOLS", "STATS"):
        text = repr(show(a, item))
        assert secret not in text, f"SHOW {item} shows a bind parameter"
    job.result(timeout=10 * SLACK)
    assert secret not in repr(show(a, "ACTIVITY"))
    assert secret not in s.log_text()


def test_long_query_is_truncated(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)
    c = s.connect(user=role, application_name="long")
    sql = "SELECT '" + "x" * 5000 + "' AS long_literal"
    assert len(c.execute(sql).fetchone()[0]) == 5000
    q = one_row(a, application_name="long")["query"]
    assert 64 <= len(q) <= 1024, len(q)  # like track_activity_query_size (1024)
    assert sql.startswith(q)
