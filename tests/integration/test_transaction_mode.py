"""Transaction pooling: a server belongs to a client only for one transaction
(ReadyForQuery 'I' with nothing outstanding), so many clients share few
servers, and nothing of one client's transaction reaches another."""

import random
import time

import psycopg
import pytest

from helpers import BackendSampler, check_queries_errors_transactions, run_threads

TXN = {"pool_mode": "transaction"}


def test_queries_errors_transactions(sluice, pg):
    s = sluice(config=TXN)
    check_queries_errors_transactions(s, pg, "t_txn_basic")


def test_clients_share_one_server(sluice, pg, role):
    s = sluice(config={**TXN, "default_pool_size": 1})
    a = s.connect(user=role)
    b = s.connect(user=role)
    pids = set()
    for _ in range(5):
        pids.add(a.execute("SELECT pg_backend_pid()").fetchone()[0])
        pids.add(b.execute("SELECT pg_backend_pid()").fetchone()[0])
    assert len(pids) == 1, "two clients over a pool of 1 should use the one server"
    assert pg.backends(role) == 1


@pytest.mark.parametrize("round_robin", [0, 1])
def test_server_round_robin(sluice, pg, role, round_robin):
    """Three idle servers; one client's transactions then get the server
    released last every time (0), or each idle server in turn (1)."""
    s = sluice(config={**TXN, "default_pool_size": 3, "server_round_robin": round_robin})
    holders = [s.connect(user=role, autocommit=False) for _ in range(3)]
    for h in holders:  # three transactions at once: three servers
        h.execute("SELECT 1")
    for h in holders:
        h.commit()
    assert pg.backends(role) == 3
    # one exchange per transaction: psycopg preparing the query would add one and shift the turns
    c = s.connect(user=role, prepare_threshold=None)
    pids = [c.execute("SELECT pg_backend_pid()").fetchone()[0] for _ in range(6)]
    if round_robin:
        assert len(set(pids[:3])) == 3, pids
        assert pids[3:] == pids[:3], pids
    else:
        assert len(set(pids)) == 1, pids


@pytest.mark.timeout(180)
def test_200_clients_over_a_pool_of_5(sluice, pg, role):
    """200 concurrent clients, default_pool_size=5: PostgreSQL never sees more
    than 5 backends for the pool, and every client reads back only its own values."""
    s = sluice(config={**TXN, "default_pool_size": 5, "max_client_conn": 400})
    n_clients, n_xacts = 200, 5

    def client(i):
        conn = s.connect(user=role)
        try:
            for k in range(n_xacts):
                mine = f"client-{i}-xact-{k}"
                with conn.transaction():
                    # a transaction-local setting left by someone else would show here
                    before = conn.execute("SELECT current_setting('my.v', true)").fetchone()[0]
                    assert before in (None, ""), f"client {i} saw a foreign value {before!r}"
                    conn.execute("SELECT set_config('my.v', %s, true)", [mine])
                    if random.random() < 0.3:
                        conn.execute("SELECT pg_sleep(0.005)")
                    got = conn.execute("SELECT current_setting('my.v'), %s::text", [mine]).fetchone()
                    assert got == (mine, mine), f"client {i} read {got!r}, expected {mine!r}"
                # autocommit statements in between, with parameters
                assert conn.execute("SELECT %s::int * 2", [i]).fetchone()[0] == i * 2
            return True
        finally:
            conn.close()

    with BackendSampler(pg, role) as sampler:
        results, errors = run_threads(client, n_clients, timeout=150)
    assert not errors, f"{len(errors)} clients failed, e.g. {next(iter(errors.values()))!r}"
    assert len(results) == n_clients
    assert sampler.samples > 10, "the pg_stat_activity sampler barely ran"
    assert 1 <= sampler.max <= 5, f"PostgreSQL saw {sampler.max} backends for a pool of 5"


def test_mid_transaction_close_with_terminate(sluice, pg, role):
    """A client that leaves (Terminate) inside a transaction: its work is rolled back
    and the next client on the server is not inside that transaction."""
    pg.execute("CREATE TABLE t_mid_term (id int)")
    pg.execute("GRANT ALL ON t_mid_term TO PUBLIC")
    s = sluice(config={**TXN, "default_pool_size": 1})
    a = s.connect(user=role)
    a.execute("BEGIN")
    a.execute("INSERT INTO t_mid_term VALUES (1)")
    a.close()
    b = s.connect(user=role)
    assert b.execute("SELECT count(*) FROM t_mid_term").fetchone()[0] == 0
    assert b.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    b.execute("INSERT INTO t_mid_term VALUES (2)")  # autocommit: committed at once
    assert pg.execute("SELECT id FROM t_mid_term") == [(2,)]


@pytest.mark.parametrize("state", ["in_transaction", "failed_transaction"])
def test_mid_transaction_socket_closed(sluice, pg, role, state):
    """A client whose socket just goes away (no Terminate) in state T or E."""
    table = f"t_mid_{state}"
    pg.execute(f"CREATE TABLE {table} (id int)")
    pg.execute(f"GRANT ALL ON {table} TO PUBLIC")
    s = sluice(config={**TXN, "default_pool_size": 1})
    raw = s.raw_login(user=role)
    raw.query("BEGIN")
    raw.query(f"INSERT INTO {table} VALUES (1)")
    if state == "failed_transaction":
        with pytest.raises(Exception):
            raw.query("SELECT 1/0")
        assert raw.status == b"E"
    else:
        assert raw.status == b"T"
    raw.close()  # no Terminate: the socket is simply closed
    b = s.connect(user=role)
    for _ in range(3):
        assert b.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
        assert b.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert pg.scalar(f"SELECT count(*) FROM {table}") == 0
    # PostgreSQL has no backend of this pool left idle in a transaction
    time.sleep(0.2)
    assert pg.backends(role, states=["idle in transaction", "idle in transaction (aborted)"]) == 0


def test_pipeline_mode(sluice, pg, role):
    """psycopg pipeline mode (extended protocol, several Syncs in flight) across a
    transaction pool shared by more clients than servers."""
    pg.execute("CREATE TABLE t_pipeline (client int, k int, v text)")
    pg.execute("GRANT ALL ON t_pipeline TO PUBLIC")
    assert psycopg.Pipeline.is_supported()
    s = sluice(config={**TXN, "default_pool_size": 2})
    n_clients, n_batches, per_batch = 12, 5, 8

    def client(i):
        conn = s.connect(user=role)
        try:
            for rnd in range(3):
                with conn.pipeline() as p:
                    curs = []
                    for b in range(n_batches):
                        for k in range(per_batch):
                            cur = conn.cursor()
                            cur.execute("SELECT %s::int, %s::int, %s::text", [i, b * per_batch + k, f"v{i}-{rnd}"])
                            curs.append((cur, b * per_batch + k))
                        p.sync()  # one more Sync outstanding
                    with conn.transaction():
                        conn.execute("SELECT set_config('my.pipe', %s, true)", [str(i)])
                        for k in range(3):
                            conn.execute("INSERT INTO t_pipeline VALUES (%s, %s, %s)", [i, rnd * 10 + k, "x"])
                        tcur = conn.execute("SELECT current_setting('my.pipe')")
                    p.sync()
                    for cur, k in curs:
                        assert cur.fetchone() == (i, k, f"v{i}-{rnd}")
                    assert tcur.fetchone()[0] == str(i)
            return True
        finally:
            conn.close()

    results, errors = run_threads(client, n_clients, timeout=80)
    assert not errors, f"{len(errors)} clients failed, e.g. {next(iter(errors.values()))!r}"
    assert pg.scalar("SELECT count(*) FROM t_pipeline") == n_clients * 3 * 3
    assert pg.scalar("SELECT count(DISTINCT client) FROM t_pipeline") == n_clients


def test_pipeline_error_in_batch(sluice, pg, role):
    """An error inside a pipeline aborts up to the next Sync; the client and the
    shared server carry on."""
    s = sluice(config={**TXN, "default_pool_size": 1})
    a = s.connect(user=role)
    b = s.connect(user=role)
    with pytest.raises(psycopg.errors.DivisionByZero):
        with a.pipeline() as p:
            c1 = a.execute("SELECT 1")
            a.execute("SELECT 1/0")
            a.execute("SELECT 3")
            p.sync()
    assert c1.fetchone()[0] == 1
    assert a.execute("SELECT 'a ok'").fetchone()[0] == "a ok"
    assert b.execute("SELECT 'b ok'").fetchone()[0] == "b ok"
    assert b.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_extended_protocol_types(sluice, pg):
    """Parameters, binary results, NULLs and big values through a transaction pool."""
    s = sluice(config={**TXN, "default_pool_size": 2})
    with s.connect() as c:
        row = c.execute(
            "SELECT %s::int, %s::text, %s::bytea, %s::numeric, %s::text IS NULL",
            [7, "héllo", b"\x00\x01\xff", 3.5, None],
        ).fetchone()
        assert row == (7, "héllo", b"\x00\x01\xff", 3.5, True)
        cur = c.cursor(binary=True)
        assert cur.execute("SELECT %s::bigint", [2**40]).fetchone()[0] == 2**40
        big = "y" * 300_000
        assert c.execute("SELECT length(%s::text)", [big]).fetchone()[0] == 300_000
        assert c.execute("SELECT %s::text", [big]).fetchone()[0] == big
        c.execute("")  # empty query
        cur = c.execute("SELECT 1; SELECT 2", prepare=False)  # multi-statement: never prepared
        assert cur.fetchone()[0] == 1
        assert cur.nextset()
        assert cur.fetchone()[0] == 2
