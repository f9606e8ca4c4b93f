"""Isolation: a client that leaves at any point of an exchange touches no
other client. With a pool of one server the next client always gets the same
server (or a new one): it must see only its own results, the leaving client's
write must be committed only when PostgreSQL answered its Sync or Query, and
every server must end idle (or closed), never stuck in a transaction or
waiting for a Sync that will never come."""

import struct
import time

import psycopg
import pytest
from psycopg import pq

import pgwire
from admin_helpers import admin_config, console, show
from cluster import wait_for
from pgwire import (
    COPY_DONE, FLUSH, SYNC, TERMINATE, bind_msg, copy_data, describe_msg, execute_msg, parse_msg,
    query_message,
)
from pooler import SLACK

MODES = ["transaction", "session"]


def insert_ext(table, tag):
    """An INSERT as Parse/Bind/Describe/Execute (no Sync)."""
    return (parse_msg(f"INSERT INTO {table} (v) VALUES ($1)") + bind_msg([tag]) + describe_msg()
            + execute_msg())


def read_past(conn, mtype):
    conn.read_until(mtype)


# Each scenario: what the leaving client sends before it vanishes, and whether
# its row may be committed: True (must be), False (must not be), None (either:
# its Sync reached PostgreSQL but the client left before the answer).
def sc_parse(c, t, tag):
    c.send(parse_msg(f"INSERT INTO {t} (v) VALUES ($1)"))
    return False


def sc_bind(c, t, tag):
    c.send(parse_msg(f"INSERT INTO {t} (v) VALUES ($1)") + bind_msg([tag]))
    return False


def sc_describe(c, t, tag):
    c.send(parse_msg(f"INSERT INTO {t} (v) VALUES ($1)") + bind_msg([tag]) + describe_msg())
    return False


def sc_execute(c, t, tag):
    c.send(insert_ext(t, tag))
    return False


def sc_flush(c, t, tag):
    """The INSERT has run (CommandComplete seen); only the Sync is missing."""
    c.send(insert_ext(t, tag) + FLUSH)
    read_past(c, b"C")
    return False


def sc_rows_no_sync(c, t, tag):
    """A query whose rows are still coming when the client leaves (the leak of issue 8)."""
    c.send(insert_ext(t, tag) + parse_msg("SELECT 'LEAK-' || g FROM generate_series(1, 50000) g")
           + bind_msg() + describe_msg() + execute_msg() + FLUSH)
    read_past(c, b"D")
    return False


def sc_sync_unread(c, t, tag):
    c.send(insert_ext(t, tag) + SYNC)
    return None


def sc_sync_answered(c, t, tag):
    c.send(insert_ext(t, tag) + SYNC)
    read_past(c, b"Z")
    return True


def sc_simple_answered(c, t, tag):
    c.query(f"INSERT INTO {t} (v) VALUES ('{tag}')")
    return True


def sc_begin_flush(c, t, tag):
    c.query("BEGIN")
    c.send(insert_ext(t, tag) + FLUSH)
    read_past(c, b"C")
    return False


def sc_begin_synced(c, t, tag):
    """Idle in a transaction, everything answered: rolled back before reuse."""
    c.query("BEGIN")
    c.send(insert_ext(t, tag) + SYNC)
    read_past(c, b"Z")
    assert c.status == b"T"
    return False


def sc_error_pending(c, t, tag):
    """An INSERT, then a failing Parse: the server now ignores all until a Sync."""
    c.send(insert_ext(t, tag) + parse_msg("SELEC broken") + FLUSH)
    read_past(c, b"E")
    return False


def sc_begin_error_pending(c, t, tag):
    c.query("BEGIN")
    c.send(insert_ext(t, tag) + parse_msg("SELEC broken") + bind_msg() + execute_msg() + FLUSH)
    read_past(c, b"E")
    return False


def sc_begin_error_synced(c, t, tag):
    c.query("BEGIN")
    c.send(insert_ext(t, tag) + parse_msg("SELEC broken") + SYNC)
    read_past(c, b"Z")
    assert c.status == b"E"
    return False


def sc_copy_in(c, t, tag):
    c.send(query_message(f"COPY {t} (v) FROM STDIN"))
    read_past(c, b"G")
    c.send(copy_data(f"{tag}\n".encode()) + copy_data(f"{tag}\n".encode()))
    return False


def sc_copy_in_done_unread(c, t, tag):
    c.send(query_message(f"COPY {t} (v) FROM STDIN"))
    read_past(c, b"G")
    c.send(copy_data(f"{tag}\n".encode()) + COPY_DONE)
    return None


def sc_copy_out(c, t, tag):
    """COPY OUT in the same implicit transaction as an INSERT: left mid-stream."""
    c.send(query_message(f"INSERT INTO {t} (v) VALUES ('{tag}'); "
                         "COPY (SELECT g FROM generate_series(1, 200000) g) TO STDOUT"))
    read_past(c, b"d")
    return False


def sc_simple_streaming(c, t, tag):
    c.send(query_message(f"INSERT INTO {t} (v) VALUES ('{tag}'); "
                         "SELECT repeat('x', 1000) FROM generate_series(1, 50000)"))
    read_past(c, b"D")
    return False


def sc_terminate_unsynced(c, t, tag):
    c.send(insert_ext(t, tag) + TERMINATE)
    return False


def sc_terminate_after_sync(c, t, tag):
    c.send(insert_ext(t, tag) + SYNC)
    read_past(c, b"Z")
    c.send(TERMINATE)
    return True


SCENARIOS = {
    "parse": sc_parse,
    "bind": sc_bind,
    "describe": sc_describe,
    "execute": sc_execute,
    "flush": sc_flush,
    "rows_no_sync": sc_rows_no_sync,
    "sync_unread": sc_sync_unread,
    "sync_answered": sc_sync_answered,
    "simple_answered": sc_simple_answered,
    "begin_flush": sc_begin_flush,
    "begin_synced": sc_begin_synced,
    "error_pending": sc_error_pending,
    "begin_error_pending": sc_begin_error_pending,
    "begin_error_synced": sc_begin_error_synced,
    "copy_in": sc_copy_in,
    "copy_in_done_unread": sc_copy_in_done_unread,
    "copy_out": sc_copy_out,
    "simple_streaming": sc_simple_streaming,
    "terminate_unsynced": sc_terminate_unsynced,
    "terminate_after_sync": sc_terminate_after_sync,
}


def pool_servers(adm, role):
    return [r for r in show(adm, "SERVERS") if r["user"] == role]


def check_next_client(s, role, n):
    """A new client on the same pool gets only its own answers, by both protocols."""
    b = s.raw_login(user=role)
    assert b.extended("SELECT 'B-first-' || $1", [n]) == [[f"B-first-{n}"]]
    assert b.query(f"SELECT 'B-second-{n}'") == [[f"B-second-{n}"]]
    assert b.status == b"I"
    b.terminate()


def check_servers_settle(s, pg, adm, role):
    """Every server of the pool ends idle or closed; PostgreSQL agrees (no
    backend of the role left active or in a transaction)."""
    def settled():
        states = [r["state"] for r in pool_servers(adm, role)]
        busy = pg.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND state <> 'idle'", [role])
        return all(st == "idle" for st in states) and busy == 0

    wait_for(settled, timeout=10 * SLACK, what="servers idle or closed")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_client_leaves_mid_exchange(sluice, pg, role, mode, scenario):
    s = sluice(config=admin_config(pool_mode=mode, default_pool_size=1,
                                   internal_query_timeout=2))
    table = f"iso_{role}"[:60]
    pg.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, v text)")
    pg.execute(f"GRANT ALL ON {table}, {table}_id_seq TO PUBLIC")
    adm = console(s)
    for n in range(2):  # twice: the same server must be reusable after each departure
        tag = f"{scenario}-{n}"
        a = s.raw_login(user=role)
        expect_commit = SCENARIOS[scenario](a, table, tag)
        a.close()
        check_next_client(s, role, n)
        rows = pg.scalar(f"SELECT count(*) FROM {table} WHERE v = %s", [tag])
        if expect_commit is True:
            assert rows >= 1, f"{scenario}: the answered write of the client that left is missing"
        elif expect_commit is False:
            assert rows == 0, f"{scenario}: a write whose Sync was never sent got committed"
        check_servers_settle(s, pg, adm, role)
    assert s.alive()


@pytest.mark.parametrize("mode", MODES)
def test_libpq_pipeline_left_unsynced_leaks_nothing(sluice, pg, role, mode):
    """libpq in pipeline mode sends Parse/Bind/Describe/Execute without a Sync;
    PQfinish then flushes them and leaves. The next client must read its own row."""
    s = sluice(config={"pool_mode": mode, "default_pool_size": 1})
    table = f"pipe_{role}"[:60]
    pg.execute(f"CREATE TABLE {table} (v text)")
    pg.execute(f"GRANT ALL ON {table} TO PUBLIC")
    for i in range(5):
        a = pq.PGconn.connect(s.dsn(user=role).encode())
        assert a.status == pq.ConnStatus.OK, a.error_message
        a.enter_pipeline_mode()
        a.send_query_params(f"INSERT INTO {table} VALUES ($1)".encode(), [f"A-{i}".encode()])
        a.send_query_params(b"SELECT 'LEAK-A-' || $1", [str(i).encode()])
        a.flush()
        a.finish()
        with s.connect(user=role) as b:
            got = b.execute("SELECT 'B-' || %s::text", [str(i)]).fetchone()[0]
            assert got == f"B-{i}", f"client B read {got!r}"
            assert b.execute("SELECT 2").fetchone()[0] == 2
    assert pg.scalar(f"SELECT count(*) FROM {table}") == 0, "an unsynced pipeline was committed"


def test_pool_of_aborted_pipelines_serves_a_new_client(sluice, pg, role):
    """Every server of the pool taken by a client that left inside BEGIN with a
    failed, unsynced statement: a new client is still served at once."""
    size = 5
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": size,
                       "query_wait_timeout": 30})
    leavers = []
    for _ in range(size):
        a = s.raw_login(user=role)
        a.query("BEGIN")
        a.send(parse_msg("SELECT 1/0") + bind_msg() + execute_msg() + FLUSH)
        read_past(a, b"E")
        leavers.append(a)
    for a in leavers:
        a.close()
    start = time.monotonic()
    with s.connect(user=role, connect_timeout=10) as c:
        assert c.execute("SELECT 'served'").fetchone()[0] == "served"
    assert time.monotonic() - start < 1.0 * SLACK
    wait_for(lambda: pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE usename = %s "
                               "AND state LIKE 'idle in transaction%%'", [role]) == 0,
             timeout=5 * SLACK, what="no server left idle in transaction")


def test_backend_fatal_is_the_last_word(sluice, pg, role):
    """pg_terminate_backend: the client gets PostgreSQL's FATAL 57P01 and then
    the connection closes, with no second FATAL from sluice after it."""
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    c = s.raw_login(user=role)
    c.send(query_message("BEGIN; SELECT pg_backend_pid()"))
    pid = int(c.read_result()[0][0])
    pg.execute("SELECT pg_terminate_backend(%s)", [pid])
    closed, msgs = c.wait_closed(timeout=5 * SLACK)
    assert closed
    errors = [pgwire.parse_error_fields(body) for t, body in msgs if t == b"E"]
    assert [e.get("C") for e in errors] == ["57P01"], errors
    # the pool recovers
    with s.connect(user=role) as d:
        assert d.execute("SELECT 1").fetchone()[0] == 1


def test_error_goes_behind_a_half_sent_row(sluice, pg, role):
    """The server dies while a large DataRow is half forwarded: the client sees
    either the complete row and then sluice's error, or just the close -- never
    an error spliced into the row (every message it reads parses)."""
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    c = s.raw_login(user=role)
    c.send(query_message("SELECT pg_backend_pid()"))
    pid = int(c.read_result()[0][0])
    c.send(query_message("SELECT repeat('x', 20000000)"))
    c.read_until(b"T")
    time.sleep(0.2)  # sluice has part of the row: its socket buffer to us is full
    pg.execute("SELECT pg_terminate_backend(%s)", [pid])
    seen = []
    try:
        while True:
            mtype, body = c.recv_msg(timeout=10 * SLACK)
            seen.append(mtype)
            if mtype == b"D":
                assert len(body) > 20000000
    except pgwire.ConnectionClosed:
        pass
    assert all(t in (b"D", b"E", b"C", b"Z", b"N") for t in seen), seen


@pytest.mark.sluice_only
def test_internal_query_timeout_closes_a_stuck_reset(sluice, pg, role):
    """server_reset_query that blocks (waits on a lock another session holds)
    is given up after internal_query_timeout: the server is closed, and the
    pool serves again."""
    table = f"lock_{role}"[:60]
    pg.execute(f"CREATE TABLE {table} (v int)")
    pg.execute(f"GRANT ALL ON {table} TO PUBLIC")
    s = sluice(config=admin_config(pool_mode="session", default_pool_size=1,
                                   server_reset_query=f"SELECT count(*) FROM {table}",
                                   internal_query_timeout=1))
    adm = console(s)
    holder = pg.connect(autocommit=False)
    holder.execute(f"LOCK TABLE {table}")
    try:
        a = s.connect(user=role)
        assert a.execute("SELECT 1").fetchone()[0] == 1
        a.close()  # the reset now waits for the lock
        wait_for(lambda: any(r["state"] == "tested" for r in pool_servers(adm, role)),
                 timeout=5 * SLACK, what="the reset to start")
        wait_for(lambda: pool_servers(adm, role) == [], timeout=5 * SLACK,
                 what="the stuck server to be closed")
        assert "internal_query_timeout" in s.log_text()
    finally:
        holder.rollback()
        holder.close()
    with s.connect(user=role) as b:
        assert b.execute("SELECT 'again'").fetchone()[0] == "again"
