"""Cancel requests reach the server running that client's query, over a new
connection; a wrong key cancels nothing, and a key whose client has no server
(any more) cancels nobody else's query."""

import random
import time

import psycopg
import pytest

from cluster import wait_for
from helpers import Background
from pgwire import PgError, query_message, send_cancel
from pooler import SLACK


def wait_running(pg, user, text):
    """Until the pg_sleep of the statement holding `text` has begun. An 'active'
    row is not enough: after a Parse PostgreSQL shows it active while it reads
    the Bind and Execute, and it drops a cancel that comes while it reads."""
    return wait_for(
        lambda: pg.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND state = 'active'"
            " AND wait_event = 'PgSleep' AND query LIKE %s",
            [user, f"%{text}%"],
        ),
        timeout=10 * SLACK,
        what=f"'{text}' running on PostgreSQL",
    )


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_cancel_long_query(sluice, pg, role, mode):
    s = sluice(config={"pool_mode": mode, "default_pool_size": 2})
    conn = s.connect(user=role)
    bg = Background(conn.execute, "SELECT pg_sleep(30) /* cancel-me */")
    wait_running(pg, role, "cancel-me")
    t0 = time.monotonic()
    conn.cancel()
    err = bg.exception(timeout=15 * SLACK)
    elapsed = time.monotonic() - t0
    assert isinstance(err, psycopg.errors.QueryCanceled), repr(err)
    assert err.sqlstate == "57014"
    assert elapsed < 10 * SLACK, f"cancel took {elapsed:.1f}s"
    # the connection (and its server) are fine afterwards
    assert conn.execute("SELECT 'after cancel'").fetchone()[0] == "after cancel"


def test_cancel_with_wrong_key_cancels_nothing(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 2})
    raw = s.raw_login(user=role)
    pid, secret = raw.backend_key
    raw.send(query_message("SELECT pg_sleep(2), 'survived' /* wrong-key */"))
    wait_running(pg, role, "wrong-key")
    # wrong secret, wrong pid, both wrong
    send_cancel(s.port, pid, secret ^ 0x5A5A5A5A)
    send_cancel(s.port, pid ^ 0x00FF00FF, secret)
    send_cancel(s.port, random.randint(1, 2**31 - 1), random.randint(0, 2**32 - 1))
    rows = raw.read_result(timeout=15 * SLACK)
    assert rows == [["", "survived"]]
    # the right key does cancel (so the test above can fail)
    raw.send(query_message("SELECT pg_sleep(30) /* right-key */"))
    wait_running(pg, role, "right-key")
    send_cancel(s.port, pid, secret)
    with pytest.raises(PgError) as e:
        raw.read_result(timeout=15 * SLACK)
    assert e.value.sqlstate == "57014"


def test_cancel_request_gets_no_reply(sluice, pg):
    s = sluice()
    assert send_cancel(s.port, 12345, 67890), "the pooler should close a CancelRequest connection without a reply"
    with s.connect() as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_cancel_of_idle_client_does_not_hit_the_next_user_of_its_server(sluice, pg, role):
    """Client A ran a query and went idle; client B now runs on the same (only)
    server. A's cancel must not cancel B's query."""
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    a = s.connect(user=role)
    b = s.connect(user=role)
    pid_a = a.execute("SELECT pg_backend_pid()").fetchone()[0]
    bg = Background(b.execute, "SELECT pg_sleep(2), pg_backend_pid() /* b-query */")
    wait_running(pg, role, "b-query")
    a.cancel()
    a.cancel()
    cur = bg.result(timeout=15 * SLACK)
    assert cur.fetchone()[1] == pid_a, "test premise: both clients used the one server"


def test_cancel_in_pipeline_of_other_clients(sluice, pg, role):
    """Many clients on a small pool; one cancels its long query; others are untouched."""
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 3})
    victim = s.connect(user=role)
    others = [s.connect(user=role) for _ in range(4)]
    bg = Background(victim.execute, "SELECT pg_sleep(30) /* victim */")
    wait_running(pg, role, "victim")
    victim.cancel()
    for i in range(20):
        o = others[i % len(others)]
        assert o.execute("SELECT %s::int", [i]).fetchone()[0] == i
    assert isinstance(bg.exception(timeout=15 * SLACK), psycopg.errors.QueryCanceled)
