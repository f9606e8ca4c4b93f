"""Pool limits: max_client_conn (53300), per-database and per-user pool sizes,
max_db_connections, max_user_connections, min_pool_size, the reserve pool,
and FIFO order of waiting clients."""

import threading
import time

import pytest

from cluster import wait_for
from helpers import BackendSampler, Background, run_threads
from pgwire import PgError
from pooler import SLACK, expect


def test_max_client_conn(sluice, pg):
    s = sluice(config={"max_client_conn": 5, "pool_mode": "transaction"})
    conns = [s.connect() for _ in range(5)]
    with pytest.raises((PgError, ConnectionError)) as e:
        s.raw().startup("u_app", "testdb")
    if isinstance(e.value, PgError):
        assert e.value.sqlstate == expect("53300", "08P01"), e.value
    # the five are unaffected
    for i, c in enumerate(conns):
        assert c.execute("SELECT %s::int", [i]).fetchone()[0] == i
    # a slot frees up when one leaves
    conns.pop().close()

    def can_connect():
        try:
            with s.connect() as c:
                return c.execute("SELECT 1").fetchone()[0] == 1
        except Exception:
            return False

    wait_for(can_connect, timeout=5 * SLACK, what="a free client slot")


def hold_transactions(pooler, user, n, seconds, dbname="testdb"):
    """n clients each run one transaction that sleeps `seconds`."""

    def client(i):
        with pooler.connect(user=user, dbname=dbname) as c:
            with c.transaction():
                c.execute("SELECT pg_sleep(%s)", [seconds])
        return True

    return run_threads(client, n, timeout=60 * SLACK)


def test_db_entry_pool_size(sluice, pg, role):
    databases = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb pool_size=2"}
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 10}, databases=databases)
    with BackendSampler(pg, role) as sampler:
        _, errors = hold_transactions(s, role, 6, 0.3)
    assert not errors, errors
    assert sampler.max == 2, f"pool_size=2 in the db entry, PostgreSQL saw {sampler.max}"


@pytest.mark.sluice_only  # [users] pool_size is newer than PgBouncer 1.18
def test_users_section_pool_size(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 10}, users={role: "pool_size=3"})
    with BackendSampler(pg, role) as sampler:
        _, errors = hold_transactions(s, role, 8, 0.3)
    assert not errors, errors
    assert sampler.max == 3, f"[users] pool_size=3, PostgreSQL saw {sampler.max}"


def test_users_section_pool_mode(sluice, pg, role):
    """[users] pool_mode=transaction overrides a session default: two clients share one server."""
    s = sluice(config={"pool_mode": "session", "default_pool_size": 1}, users={role: "pool_mode=transaction"})
    a = s.connect(user=role)
    b = s.connect(user=role)
    assert a.execute("SELECT pg_backend_pid()").fetchone()[0] == b.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_max_db_connections(sluice, pg, role):
    other = pg.create_role(role + "_b")
    databases = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb max_db_connections=2"}
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 5}, databases=databases)
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "AND usename IN (%s, %s)"
    )
    peak = [0]
    stop = threading.Event()

    def sample():
        with pg.connect() as c:
            while not stop.is_set():
                peak[0] = max(peak[0], c.execute(sql, [role, other]).fetchone()[0])
                time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    r1 = Background(hold_transactions, s, role, 4, 0.3)
    r2 = Background(hold_transactions, s, other, 4, 0.3)
    for r in (r1, r2):
        _, errors = r.result(60 * SLACK)
        assert not errors, errors
    stop.set()
    t.join(5)
    assert 1 <= peak[0] <= 2, f"max_db_connections=2, PostgreSQL saw {peak[0]} for the database"


def test_max_user_connections(sluice, pg, role):
    databases = {
        "testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb",
        "testdb2": f"host=127.0.0.1 port={pg.port} dbname=testdb",
    }
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 5, "max_user_connections": 2},
               databases=databases)
    with BackendSampler(pg, role) as sampler:
        r1 = Background(hold_transactions, s, role, 4, 0.3, "testdb")
        r2 = Background(hold_transactions, s, role, 4, 0.3, "testdb2")
        for r in (r1, r2):
            _, errors = r.result(60 * SLACK)
            assert not errors, errors
    assert 1 <= sampler.max <= 2, f"max_user_connections=2, PostgreSQL saw {sampler.max}"


def test_min_pool_size(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "min_pool_size": 3, "default_pool_size": 5})
    c = s.connect(user=role)  # the pool exists (and PgBouncer fills it) while a client is there
    c.execute("SELECT 1")
    wait_for(lambda: pg.backends(role) >= 3, timeout=10 * SLACK, what="min_pool_size servers")
    time.sleep(0.5)
    assert pg.backends(role) == 3


def test_reserve_pool(sluice, pg, role):
    """Pool of 1 plus reserve 2: clients that waited reserve_pool_timeout get reserve servers."""
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1, "reserve_pool_size": 2,
                       "reserve_pool_timeout": 0.5})
    with BackendSampler(pg, role) as sampler:
        t0 = time.monotonic()
        _, errors = hold_transactions(s, role, 3, 2.0)
        elapsed = time.monotonic() - t0
    assert not errors, errors
    assert sampler.max == 3, f"expected 1 + 2 reserve servers, PostgreSQL saw {sampler.max}"
    assert elapsed < 5.5 * SLACK, f"3 x 2 s transactions took {elapsed:.1f}s: the reserve was not used"


def test_no_reserve_pool_means_waiting(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1, "reserve_pool_size": 0})
    with BackendSampler(pg, role) as sampler:
        t0 = time.monotonic()
        _, errors = hold_transactions(s, role, 3, 0.5)
        elapsed = time.monotonic() - t0
    assert not errors, errors
    assert sampler.max == 1
    assert elapsed >= 1.4, "three 0.5 s transactions on one server cannot overlap"


def test_waiting_clients_are_served_fifo(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    holder = s.connect(user=role)
    waiters = [s.connect(user=role) for _ in range(4)]
    order = []
    lock = threading.Lock()
    holder.execute("BEGIN")
    holder.execute("SELECT 1")

    def run(i):
        waiters[i].execute("SELECT pg_sleep(0.05)")
        with lock:
            order.append(i)

    bgs = []
    for i in range(4):
        bgs.append(Background(run, i))
        time.sleep(0.2)  # queue them in a known order
    holder.execute("COMMIT")
    for b in bgs:
        b.result(30 * SLACK)
    assert order == [0, 1, 2, 3]
